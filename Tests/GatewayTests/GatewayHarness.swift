import AsyncHTTPClient
import CoffreCore
import CoffreTestSupport
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Sodium
import Synchronization

/// A stand-in for every upstream service: it serves accounts' internal
/// token-key and revocation endpoints, and answers every `/v1/...` request
/// with what it received (headers, verified identity, body size and hash),
/// optionally after a delay or with a large streamed body. A request can
/// choose the answer's status (`X-Fake-Status`) and add headers to it
/// (`X-Fake-Header: Name: value`, repeatable); 204, 304 and HEAD answers
/// have no body. With `X-Fake-Probe: <name>` what became of the request's
/// body (bytes read, whether it ended cleanly) is recorded in `probes`.
/// As accounts it also serves the tenant rows in `tenants`
/// (`GET /internal/v1/tenants/{slug}`; any other slug is a 404).
final class FakeUpstream: Sendable {
    let port = TestEnvironment.freePort()
    let name: String
    let signingKey: TokenSigningKey
    let internalKey: [UInt8]
    let revocations = Mutex<[(seq: Int64, session: UUID, expires: Int64)]>([])
    let inflight = Atomic<Int>(0)
    let tokenKeyFetches = Atomic<Int>(0)
    let unsignedInternalCalls = Atomic<Int>(0)
    let probes = Mutex<[String: BodyOutcome]>([:])
    /// Tenant slug → its `rate_limits` object as JSON (`{}` for none).
    let tenants = Mutex<[String: String]>([:])
    let tenantLookups = Atomic<Int>(0)

    struct BodyOutcome: Sendable {
        var bytes: Int
        /// The body ended with its framing intact (not a broken connection).
        var endedCleanly: Bool
    }

    func probe(_ name: String) -> BodyOutcome? { probes.withLock { $0[name] } }

    init(name: String = "fake", signingKey: TokenSigningKey, internalSecret: String) {
        self.name = name
        self.signingKey = signingKey
        self.internalKey = InternalAuth.key(from: internalSecret)
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func revoke(_ session: UUID) {
        revocations.withLock { list in
            list.append((seq: Int64(list.count + 1), session: session, expires: Int64(Date().timeIntervalSince1970) + 300))
        }
    }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.get("/healthz") { _, _ in "ok" }
        router.get("/internal/v1/token-keys") { request, _ -> Response in
            guard InternalAuth.verify(request.headers, method: "GET", path: request.uri.path, key: self.internalKey) != nil else {
                self.unsignedInternalCalls.add(1, ordering: .relaxed)
                return Response(status: .unauthorized)
            }
            self.tokenKeyFetches.add(1, ordering: .relaxed)
            let json = #"{"keys":[{"kid":"\#(self.signingKey.kid)","public_key":"\#(Sodium.base64URLEncode(self.signingKey.publicKey))"}]}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
        }
        router.get("/internal/v1/revocations") { request, _ -> Response in
            guard InternalAuth.verify(request.headers, method: "GET", path: request.uri.path, key: self.internalKey) != nil else {
                self.unsignedInternalCalls.add(1, ordering: .relaxed)
                return Response(status: .unauthorized)
            }
            let after = Int64(request.uri.queryParameters["after"].map(String.init) ?? "0") ?? 0
            let list = self.revocations.withLock { $0 }
            let entries = list.filter { $0.seq > after }.map {
                #"{"seq":\#($0.seq),"session_id":"\#($0.session.uuidString.lowercased())","expires_at":\#($0.expires)}"#
            }
            let json = #"{"revocations":[\#(entries.joined(separator: ","))],"last":\#(list.last?.seq ?? 0)}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
        }
        router.get("/internal/v1/tenants/{slug}") { request, context -> Response in
            guard InternalAuth.verify(request.headers, method: "GET", path: request.uri.path, key: self.internalKey) != nil else {
                self.unsignedInternalCalls.add(1, ordering: .relaxed)
                return Response(status: .unauthorized)
            }
            self.tenantLookups.add(1, ordering: .relaxed)
            let slug = context.parameters.get("slug") ?? ""
            guard let limits = self.tenants.withLock({ $0[slug] }) else { return Response(status: .notFound) }
            let json = #"{"id":"\#(UUID().uuidString.lowercased())","slug":"\#(slug)","display_name":"\#(slug)","storage_limit_bytes":50000000000,"#
                + #""transfer_allowance_bytes":10000000000,"rate_limits":\#(limits),"created_at":"2013-01-19T00:00:00Z"}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
        }
        let echo: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            self.inflight.add(1, ordering: .relaxed)
            defer { self.inflight.subtract(1, ordering: .relaxed) }
            var bytes: [UInt8] = []
            var firstByteAt: Double?
            let probe = request.headers[HTTPField.Name("X-Fake-Probe")!]
            do {
                for try await chunk in request.body {
                    if firstByteAt == nil { firstByteAt = Date().timeIntervalSince1970 }
                    bytes.append(contentsOf: chunk.readableBytesView)
                }
            } catch {
                if let probe { self.probes.withLock { $0[probe] = BodyOutcome(bytes: bytes.count, endedCleanly: false) } }
                throw error
            }
            if let probe { self.probes.withLock { $0[probe] = BodyOutcome(bytes: bytes.count, endedCleanly: true) } }
            let params = request.uri.queryParameters
            if let delay = params["delay_ms"].flatMap({ Int(String($0)) }) {
                try await Task.sleep(for: .milliseconds(delay))
            }
            if let size = params["download"].flatMap({ Int(String($0)) }) {
                return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: ResponseBody(contentLength: size) { writer in
                    var sent = 0
                    let block = Pattern.block
                    while sent < size {
                        let n = min(block.count, size - sent)
                        try await writer.write(ByteBuffer(bytes: block[0..<n]))
                        sent += n
                    }
                    try await writer.finish(nil)
                })
            }
            let identity = InternalAuth.verify(request.headers, method: request.method.rawValue, path: request.uri.path, key: self.internalKey)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName.lowercased(), default: ""] += (headers[field.name.canonicalName.lowercased()] == nil ? "" : ", ") + field.value }
            if let authority = request.head.authority { headers["host"] = authority }
            let echo = Echo(
                upstream: self.name, method: request.method.rawValue, path: request.uri.path, query: request.uri.query, headers: headers,
                identityVerified: identity != nil, tenantSlug: identity?.tenantSlug, tenantID: identity?.tenantID,
                accountID: identity?.accountID, sessionID: identity?.sessionID,
                bytes: bytes.count, sha256: Pattern.hex(Sodium.sha256(bytes)), firstByteAt: firstByteAt
            )
            var replyHeaders: HTTPFields = [:]
            for line in request.headers[values: HTTPField.Name("X-Fake-Header")!] {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2, let name = HTTPField.Name(parts[0]) { replyHeaders.append(HTTPField(name: name, value: parts[1])) }
            }
            let status = request.headers[HTTPField.Name("X-Fake-Status")!].flatMap { Int($0) }
                .map { HTTPResponse.Status(code: $0, reasonPhrase: $0 == 460 ? "Checksum Mismatch" : "") } ?? .ok
            if [204, 304].contains(status.code) || request.method == .head {
                return Response(status: status, headers: replyHeaders)
            }
            let data = try JSONEncoder().encode(echo)
            replyHeaders[.contentType] = "application/json"
            return Response(status: status, headers: replyHeaders, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        for method in [HTTPRequest.Method.get, .head, .post, .put, .patch, .delete, .options] {
            router.on("/v1/**", method: method, use: echo)
        }
        var logger = Logger(label: "fake-upstream")
        logger.logLevel = .warning
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
    }
}

struct Echo: Codable {
    var upstream: String
    var method: String
    var path: String
    var query: String?
    var headers: [String: String]
    var identityVerified: Bool
    var tenantSlug: String?
    var tenantID: UUID?
    var accountID: UUID?
    var sessionID: UUID?
    var bytes: Int
    var sha256: String
    var firstByteAt: Double?
}

enum Pattern {
    /// 1 MiB of random bytes, repeated to make large bodies.
    static let block: [UInt8] = Sodium.randomBytes(1 << 20)

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func sha256(ofBlocks count: Int) -> String {
        var all: [UInt8] = []
        all.reserveCapacity(count * block.count)
        for _ in 0..<count { all.append(contentsOf: block) }
        return hex(Sodium.sha256(all))
    }
}

/// A response read whole (tests only look at small ones this way).
struct Reply {
    var status: Int
    var headers: HTTPHeaders
    var body: ByteBuffer

    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] }
    var echo: Echo? { try? JSONDecoder().decode(Echo.self, from: Data(buffer: body)) }
    func header(_ name: String) -> String? { headers.first(name: name) }
    var isProblem: Bool { header("content-type") == "application/problem+json" }
}

/// A gateway on a free port in front of fake upstreams, with a client.
struct GatewayHarness: Sendable {
    static let internalSecret = "gateway-tests-" + UUID().uuidString
    let gatewayURL: String
    let upstream: FakeUpstream
    let client: HTTPClient
    let signingKey: TokenSigningKey

    static func run(configure: @Sendable (inout GatewayConfiguration, FakeUpstream) -> Void = { _, _ in },
                    extraUpstreams: [FakeUpstream] = [],
                    readinessPath: String = "/readyz",
                    _ body: @Sendable (GatewayHarness) async throws -> Void) async throws {
        let signingKey = try TokenSigningKey(seed: Sodium.randomBytes(32))
        let upstream = FakeUpstream(signingKey: signingKey, internalSecret: internalSecret)
        let port = TestEnvironment.freePort()
        var config = GatewayConfiguration(
            common: CommonConfiguration(internalSecret: internalSecret),
            listen: .init(host: "127.0.0.1", port: port),
            upstreams: ["accounts": [upstream.url], "keydir": [upstream.url], "ingest": [upstream.url], "quota": [upstream.url]]
        )
        configure(&config, upstream)
        var logger = Logger(label: "gateway-under-test")
        logger.logLevel = .error
        let gateway = try GatewayApp.build(config: config, logger: logger)
        var services: [any Service] = [upstream.application()]
        for extra in extraUpstreams { services.append(extra.application()) }
        services.append(gateway)
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(2), read: .seconds(60))))
        let harness = GatewayHarness(gatewayURL: "http://127.0.0.1:\(port)", upstream: upstream, client: client, signingKey: signingKey)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let up = try await TestEnvironment.eventually(timeout: .seconds(15), interval: .milliseconds(50)) {
                    (try? await harness.send("GET", readinessPath))?.status == 200
                }
                guard up else { throw ChildProcessError(message: "gateway did not become ready") }
                try await body(harness)
            } catch {
                await group.triggerGracefulShutdown()
                try? await client.shutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            try await client.shutdown()
        }
    }

    func token(tenant: UUID = UUID(), account: UUID = UUID(), session: UUID = UUID(), expiresIn: Int64 = 300,
               key: TokenSigningKey? = nil, kid: String? = nil) throws -> String {
        let key = key ?? signingKey
        let now = Int64(Date().timeIntervalSince1970)
        return try AccessToken.sign(AccessClaims(tid: tenant, sub: account, sid: session, iat: now, exp: now + expiresIn, kid: kid ?? key.kid), with: key)
    }

    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: ByteBuffer? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: gatewayURL + path)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: bytes)
    }

    func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
}
