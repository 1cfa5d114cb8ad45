import AsyncHTTPClient
import CoffreCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Streams a request to one instance of a service and the answer back.
/// Neither body is ever held whole in memory: the client's body is read
/// from the socket as the upstream connection accepts it (backpressure on
/// both sides), and the upstream's response body is written out as it comes.
struct Proxy: Sendable {
    let client: HTTPClient
    let upstreams: Upstreams
    let identityKey: [UInt8]

    /// What to send, already filtered (see `ForwardedHeaders`).
    struct Outgoing {
        var method: HTTPRequest.Method
        var path: String
        var query: String?
        var headers: HTTPFields
        var identity: VerifiedIdentity
        var body: Body
    }

    enum Body {
        case none
        case buffered(ByteBuffer)
        case stream(RequestBody, length: Int?)
    }

    /// Sends `outgoing` to `service`, trying the next instance when one
    /// refuses the connection (only possible while none of the body has been
    /// read, so an upload is never half-sent to two instances).
    ///
    /// When the client's body breaks off (the client went away, its
    /// connection went idle, or it sent fewer bytes than its
    /// `Content-Length`), the upstream request is aborted and its connection
    /// closed, so the service sees its body end early instead of waiting for
    /// bytes that will never come, and never takes a cut-off body for a whole one.
    func forward(_ outgoing: Outgoing, to service: String, permit: InflightPermit, logger: Logger) async throws -> Response {
        guard let pool = upstreams[service], !pool.instances.isEmpty else {
            throw Problem.unavailable("No \(service) instance is configured.", retryAfter: 5)
        }
        let progress = BodyProgress()
        var connectFailures = 0
        for index in pool.attemptOrder() {
            let instance = pool.instances[index]
            let upstreamPath = instance.basePath + outgoing.path
            var headers = outgoing.headers
            InternalAuth.sign(outgoing.identity, method: outgoing.method.rawValue, path: upstreamPath, key: identityKey, into: &headers)
            var request = HTTPClientRequest(url: instance.origin + upstreamPath + (outgoing.query.map { "?" + $0 } ?? ""))
            request.method = HTTPMethod(rawValue: outgoing.method.rawValue)
            request.headers = ForwardedHeaders.nioHeaders(headers)
            switch outgoing.body {
            case .none: break
            case .buffered(let buffer): request.body = .bytes(buffer)
            case .stream(let body, let length):
                request.body = .stream(TrackedBody(base: body, length: length, progress: progress),
                                       length: length.map { .known(Int64($0)) } ?? .unknown)
            }
            do {
                // No overall deadline: the idle read timeout of the client
                // (GATEWAY_UPSTREAM_TIMEOUT_SECONDS) starts once the request
                // is fully sent, so a long upload is fine, a silent upstream is not.
                let response = try await client.execute(request, deadline: .distantFuture, logger: nil)
                pool.markUp(index)
                return Self.response(from: response, permit: permit)
            } catch {
                if progress.isBroken {
                    // Not the upstream's fault, and most likely nobody is left to read the answer.
                    logger.debug("client body broke off; upstream request aborted", metadata: ["service": .string(service)])
                    throw Self.incompleteBody
                }
                if Self.isConnectFailure(error) {
                    pool.markDown(index)
                    connectFailures += 1
                    logger.warning("upstream refused the connection", metadata: ["service": .string(service), "instance": .string(instance.origin)])
                    if !progress.isStarted { continue }
                }
                throw Self.problem(for: error, service: service, connectFailures: connectFailures, logger: logger)
            }
        }
        throw Problem.unavailable("No \(service) instance is reachable.", retryAfter: 2)
    }

    /// The client's body ended before its declared length.
    static let incompleteBody = Problem.badRequest("The request body ended before it was complete.", type: "urn:coffre:problem:incomplete-body")

    static func response(from upstream: HTTPClientResponse, permit: InflightPermit) -> Response {
        let headers = ForwardedHeaders.downstreamResponse(from: upstream.headers)
        let status = HTTPResponse.Status(code: Int(upstream.status.code), reasonPhrase: upstream.status.reasonPhrase)
        let length = upstream.headers.first(name: "content-length").flatMap { Int($0) }
        let body = upstream.body
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: length) { writer in
            // The slot is held until the body has been streamed; if the
            // client goes away mid-body the write throws, the upstream
            // request is cancelled with it and the permit is released.
            defer { permit.release() }
            for try await chunk in body {
                try await writer.write(chunk)
            }
            try await writer.finish(nil)
        })
    }

    /// A refused or timed-out connect: nothing reached the instance.
    static func isConnectFailure(_ error: any Error) -> Bool {
        switch error {
        case is NIOConnectionError: return true
        case let error as ChannelError: if case .connectTimeout = error { return true }
        case let error as HTTPClientError: return error == .connectTimeout
        case let error as IOError: return [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode)
        default: break
        }
        return false
    }

    static func problem(for error: any Error, service: String, connectFailures: Int, logger: Logger) -> any Error {
        if let error = error as? HTTPClientError, error == .readTimeout {
            logger.warning("upstream timed out", metadata: ["service": .string(service)])
            return Problem(.gatewayTimeout, type: "urn:coffre:problem:upstream-timeout", title: "Gateway timeout",
                           detail: "The \(service) service did not answer in time.")
        }
        // A client that stopped sending its body is not the upstream's fault.
        if error is CancellationError { return error }
        if let hb = error as? HTTPError { return hb }
        logger.warning("upstream request failed", metadata: ["service": .string(service), "error": .string(String(describing: error))])
        return Problem(.badGateway, type: "urn:coffre:problem:bad-gateway", title: "Bad gateway",
                       detail: "The \(service) service could not be reached or gave no valid answer.")
    }
}

/// What became of the client's body as the HTTP client read it: whether
/// reading began (a failed attempt may be retried on another instance only
/// before that) and whether it broke off.
final class BodyProgress: Sendable {
    private let started = Atomic<Bool>(false)
    private let broken = Atomic<Bool>(false)
    var isStarted: Bool { started.load(ordering: .acquiring) }
    var isBroken: Bool { broken.load(ordering: .acquiring) }
    /// True for the first caller only: the client's body can be read once.
    func claim() -> Bool {
        started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
    func markBroken() { broken.store(true, ordering: .releasing) }
}

/// The body ended short of its `Content-Length`.
struct IncompleteBody: Error {}

/// The HTTP client asked for the client's body a second time (it retries a
/// request on a fresh connection when the pooled one closed under it) after
/// the first attempt had begun to read it: the bytes already read are gone.
struct BodyAlreadyRead: Error {}

/// The client's body as the HTTP client reads it. A read error (the client
/// disconnected, or the idle timeout closed its connection) is rethrown to
/// the HTTP client, which then aborts the upstream request rather than
/// finishing it. An end short of the declared length is made such an error
/// here (the HTTP client would abort too, but report it as its own length
/// mismatch), so every break-off is known to be the client's doing.
///
/// The client's body is a single-pass stream (Hummingbird's request body
/// allows one iterator; a second one is a fatal error, which took the
/// gateway down once in CI when the HTTP client retried a request). So the
/// body is claimed by the first iterator that actually reads: an attempt
/// that made an iterator and never read leaves it for the next attempt, and
/// a later attempt after reading began fails with `BodyAlreadyRead`.
struct TrackedBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let length: Int?
    let progress: BodyProgress

    struct AsyncIterator: AsyncIteratorProtocol {
        let source: Base
        var base: Base.AsyncIterator?
        var remaining: Int?
        let progress: BodyProgress

        mutating func next() async throws -> ByteBuffer? {
            if base == nil {
                guard progress.claim() else { throw BodyAlreadyRead() }
                base = source.makeAsyncIterator()
            }
            do {
                guard let chunk = try await base!.next() else {
                    if let remaining, remaining > 0 { throw IncompleteBody() }
                    return nil
                }
                remaining? -= chunk.readableBytes
                return chunk
            } catch {
                progress.markBroken()
                throw error
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(source: base, base: nil, remaining: length, progress: progress)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let c = duration.components
        self = .nanoseconds(c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000)
    }
}
