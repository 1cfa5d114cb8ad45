// How the SDK talks HTTP. `CoffreClient` only ever sees `CoffreTransport`,
// so tests can put a canned (or malicious) server behind it without a socket;
// `HTTPClientTransport` is the real one, over AsyncHTTPClient.
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// One HTTP request as the SDK builds it. `path` starts with `/` and is
/// relative to the server URL.
public struct TransportRequest: Sendable {
    public var method: String
    public var path: String
    /// Header names as sent; at most one value each.
    public var headers: [String: String]
    public var body: [UInt8]?
    /// How long to wait for the response head (the whole request body goes
    /// out before it); nil = the transport's default. Uploads set more.
    public var timeout: Duration?

    public init(method: String, path: String, headers: [String: String] = [:], body: [UInt8]? = nil,
                timeout: Duration? = nil) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// Case-insensitive header lookup.
    public func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }
}

/// One HTTP response. Header names are lowercased.
public struct TransportResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Sends requests to one Coffre server. Implementations throw
/// `CoffreClientError.unreachable` / `.timedOut` for network failures; every
/// HTTP status, error or not, is a response.
public protocol CoffreTransport: Sendable {
    /// The server as shown in messages ("http://127.0.0.1:8080").
    var serverDescription: String { get }
    func send(_ request: TransportRequest) async throws -> TransportResponse
    /// As `send`, but a 2xx response's body is handed to `consume` piece by
    /// piece as it arrives (downloads: nothing is held whole) and the
    /// returned response has an empty body. Other statuses come back whole.
    func send(_ request: TransportRequest, streamingTo consume: ([UInt8]) async throws -> Void) async throws -> TransportResponse
}

extension CoffreTransport {
    /// For transports without streaming (test fakes): the body in one piece.
    public func send(_ request: TransportRequest, streamingTo consume: ([UInt8]) async throws -> Void) async throws -> TransportResponse {
        var response = try await send(request)
        guard (200..<300).contains(response.status) else { return response }
        try await consume(response.body)
        response.body = []
        return response
    }
}

/// The real transport, over AsyncHTTPClient.
public struct HTTPClientTransport: CoffreTransport {
    public let server: URL
    public let httpClient: HTTPClient
    public let timeout: Duration
    /// Collected responses larger than this are refused (the accounts API
    /// answers in kilobytes; a folder listing of some thousand nodes is
    /// under a few MiB). Streamed bodies (downloads) have no limit.
    public let maxResponseBytes: Int
    let logger: Logger

    public init(server: URL, httpClient: HTTPClient = .coffre, timeout: Duration = .seconds(30),
                maxResponseBytes: Int = 8 << 20, logger: Logger = Logger(label: "coffre.sdk")) {
        self.server = server
        self.httpClient = httpClient
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
        self.logger = logger
    }

    public var serverDescription: String { Self.describe(server) }

    static func describe(_ url: URL) -> String {
        var text = url.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    public func send(_ request: TransportRequest) async throws -> TransportResponse {
        try await exchange(request) { response in
            var buffer = try await response.body.collect(upTo: maxResponseBytes)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        }
    }

    public func send(_ request: TransportRequest, streamingTo consume: ([UInt8]) async throws -> Void) async throws -> TransportResponse {
        try await exchange(request) { response in
            guard (200..<300).contains(response.status.code) else {
                var buffer = try await response.body.collect(upTo: maxResponseBytes)
                return buffer.readBytes(length: buffer.readableBytes) ?? []
            }
            for try await var piece in response.body {
                do {
                    try await consume(piece.readBytes(length: piece.readableBytes) ?? [])
                } catch {
                    throw ConsumerFailure(underlying: error)
                }
            }
            return []
        }
    }

    /// One request; `body` reads the response body (and may hand it on).
    private func exchange(_ request: TransportRequest,
                          body readBody: (HTTPClientResponse) async throws -> [UInt8]) async throws -> TransportResponse {
        var http = HTTPClientRequest(url: serverDescription + request.path)
        http.method = .init(rawValue: request.method)
        for (name, value) in request.headers { http.headers.add(name: name, value: value) }
        if let body = request.body {
            http.body = .bytes(body)
        }
        let seconds = (request.timeout ?? timeout).components.seconds
        let started = ContinuousClock.now
        do {
            let response = try await httpClient.execute(http, timeout: .seconds(seconds), logger: logger)
            var headers: [String: String] = [:]
            for header in response.headers where headers[header.name.lowercased()] == nil {
                headers[header.name.lowercased()] = header.value
            }
            let bytes = try await readBody(response)
            logger.debug("coffre request", metadata: [
                "method": .string(request.method), "path": .string(request.path),
                "status": .stringConvertible(response.status.code),
                "elapsed": .string("\(ContinuousClock.now - started)"),
            ])
            return TransportResponse(status: Int(response.status.code), headers: headers, body: bytes)
        } catch let failure as ConsumerFailure {
            throw failure.underlying
        } catch let error as CoffreClientError {
            throw error
        } catch {
            throw NetworkFailure.classify(error, server: serverDescription)
        }
    }
}

/// An error of the caller's body consumer, passed through unclassified.
private struct ConsumerFailure: Error {
    let underlying: any Error
}

/// Turns AsyncHTTPClient / NIO errors into one short sentence.
enum NetworkFailure {
    static func classify(_ error: any Error, server: String) -> CoffreClientError {
        if let http = error as? HTTPClientError {
            if [.connectTimeout, .readTimeout, .writeTimeout, .deadlineExceeded, .getConnectionFromPoolTimeout,
                .tlsHandshakeTimeout].contains(http) {
                return .timedOut(server: server)
            }
            if http == .remoteConnectionClosed {
                return .unreachable(server: server, reason: "connection closed by the server")
            }
            if http == .cancelled || http == .requestStreamCancelled { return .cancelled }
            if [.invalidURL, .emptyHost, .emptyScheme].contains(http) || String(describing: http).contains("unsupportedScheme") {
                return .unreachable(server: server, reason: "not a valid http(s) URL")
            }
        }
        if error is NIOTooManyBytesError { return .invalidResponse("response body too large") }
        if error is CancellationError { return .cancelled }
        if let io = error as? IOError {
            return .unreachable(server: server, reason: describe(errno: io.errnoCode))
        }
        let text = String(describing: error)
        // NIO's connection errors wrap an IOError; their description names the errno.
        if let range = text.range(of: #"errno: (\d+)"#, options: .regularExpression),
           let code = Int32(text[range].dropFirst("errno: ".count)) {
            return .unreachable(server: server, reason: describe(errno: code))
        }
        if text.contains("NIOConnectionError") || text.contains("connectionFailed") {
            return .unreachable(server: server, reason: "connection failed")
        }
        if text.lowercased().contains("resolve") || text.contains("UnknownHost") || text.contains("NXDOMAIN") {
            return .unreachable(server: server, reason: "host name could not be resolved")
        }
        return .unreachable(server: server, reason: text.count > 160 ? String(text.prefix(160)) + "…" : text)
    }

    static func describe(errno code: Int32) -> String {
        String(cString: strerror(code)).lowercased()
    }
}

extension HTTPClient {
    /// The SDK's default client, shared by the process and never shut down.
    /// Unlike `HTTPClient.shared` it does not retry a refused connection until
    /// the request deadline (30 s of silence before "connection refused"), does
    /// not follow redirects (a bearer token must not be replayed elsewhere),
    /// and gives up connecting after 10 s.
    public static let coffre: HTTPClient = {
        var configuration = HTTPClient.Configuration(
            certificateVerification: .fullVerification,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(60)),
            connectionPool: .seconds(60),
            proxy: nil,
            ignoreUncleanSSLShutdown: false,
            decompression: .disabled,
            backgroundActivityLogger: nil)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
