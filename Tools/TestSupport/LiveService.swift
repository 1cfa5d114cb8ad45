import AsyncHTTPClient
import Foundation
import HTTPTypes
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A service (a Hummingbird application and the background services it
/// carries) run in-process on a real socket for the length of a test, with
/// a bound on every wait.
///
/// This replaces HummingbirdTesting's live mode, whose waits have none: it
/// waits for the server's port with no timeout (a service that fails before
/// it binds hangs the test), its client's request timeout cannot end a
/// request whose response never comes (the promise it awaits ignores
/// cancellation), and it waits for the service to stop for as long as that
/// takes. In CI the suite hung twice in tests built on it and was stopped
/// at the job's time limit, with nothing in the log to say where. Here a
/// service that fails to start fails the test with its own error, a request
/// times out like any HTTP client's, and a service that does not stop is
/// reported on stderr and left behind, so the rest of the suite still runs.
public enum LiveService {
    /// How long a service gets to answer `/healthz`, and to stop.
    public static let startTimeout: Duration = .seconds(30)
    public static let stopTimeout: Duration = .seconds(20)

    /// Runs `service`, which listens on `port` (chosen by the caller with
    /// `TestEnvironment.freePort()`, so it is known before the service
    /// starts), until `body` returns; then shuts it down gracefully, as
    /// SIGTERM would.
    public static func run<S: Service, T>(_ service: S, name: String, port: Int, logger: Logger,
                                          _ body: (LiveClient) async throws -> T) async throws -> T {
        let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        let outcome = Outcome()
        let task = Task {
            do {
                try await group.run()
                outcome.end(nil)
            } catch {
                outcome.end(error)
            }
        }
        let client = LiveClient(port: port)
        TestEnvironment.trace("\(name): starting on port \(port)")
        do {
            try await waitUntilAnswering(client, name: name, outcome: outcome)
            TestEnvironment.trace("\(name): answering")
            let value = try await body(client)
            await stop(group, task, name: name, outcome: outcome)
            return value
        } catch {
            await stop(group, task, name: name, outcome: outcome)
            throw error
        }
    }

    static func waitUntilAnswering(_ client: LiveClient, name: String, outcome: Outcome) async throws {
        let deadline = ContinuousClock.now + startTimeout
        while true {
            if let ended = outcome.ended {
                throw LiveServiceError(message: "\(name) stopped before it answered /healthz: \(ended.map { String(reflecting: $0) } ?? "no error")")
            }
            if (try? await client.execute(uri: "/healthz", method: .get, timeout: .seconds(2)))?.status == .ok { return }
            guard ContinuousClock.now < deadline else {
                throw LiveServiceError(message: "\(name) did not answer /healthz on port \(client.port) within \(startTimeout)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func stop(_ group: ServiceGroup, _ task: Task<Void, Never>, name: String, outcome: Outcome) async {
        TestEnvironment.trace("\(name): stopping")
        await group.triggerGracefulShutdown()
        if await outcome.waitForEnd(within: stopTimeout) {
            TestEnvironment.trace("\(name): stopped")
            return
        }
        report("\(name) did not stop within \(stopTimeout) of a graceful shutdown; cancelling it")
        task.cancel()
        if await outcome.waitForEnd(within: .seconds(10)) { return }
        report("\(name) did not stop when cancelled either; leaving it behind")
    }

    static func report(_ message: String) {
        FileHandle.standardError.write(Data("LiveService: \(message)\n".utf8))
    }

    /// How the service's run ended, once it has.
    final class Outcome: Sendable {
        private let state = Mutex<(ended: Bool, error: (any Error)?)>((false, nil))

        func end(_ error: (any Error)?) { state.withLock { $0 = (true, error) } }

        /// nil while running; `.some(error)` (nil error: a clean stop) after.
        var ended: (any Error)?? {
            state.withLock { $0.ended ? .some($0.error) : nil }
        }

        func waitForEnd(within timeout: Duration) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if ended != nil { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return ended != nil
        }
    }
}

public struct LiveServiceError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Requests to a `LiveService` over a real socket, through AsyncHTTPClient:
/// each has a deadline and can be cancelled.
public struct LiveClient: Sendable {
    public let port: Int

    public struct Response: Sendable {
        public let status: HTTPResponse.Status
        public let headers: HTTPFields
        public let body: ByteBuffer
    }

    public func execute(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil,
                        timeout: Duration = .seconds(60)) async throws -> Response {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(uri)")
        request.method = .init(rawValue: method.rawValue)
        for field in headers { request.headers.add(name: field.name.rawName, value: field.value) }
        if let body { request.body = .bytes(body) }
        let response = try await HTTPClient.shared.execute(request, timeout: TimeAmount(timeout))
        let bytes = try await response.body.collect(upTo: 512 << 20)
        var fields = HTTPFields()
        for (name, value) in response.headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        return Response(status: HTTPResponse.Status(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase),
                        headers: fields, body: bytes)
    }

    public func execute<T>(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil,
                           _ read: (Response) throws -> T) async throws -> T {
        try read(try await execute(uri: uri, method: method, headers: headers, body: body))
    }
}
