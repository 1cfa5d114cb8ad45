import CoffreCore
import CoffreTestSupport
import Foundation
import NIOCore
import Testing
@testable import Gateway

@Suite struct RoutingTests {
    @Test func unknownRoutesAre404ProblemsAndInternalIsNeverRouted() async throws {
        try await GatewayHarness.run { h in
            let auth = [("Authorization", "Bearer " + (try h.token()))]
            for path in ["/v1/nope", "/nope", "/v1/accounts/someone", "/internal/v1/token-keys", "/internal/v1/revocations?after=0",
                         "/v1/uploads/../../internal/v1/token-keys", "/v1/uploads/%2e%2e/x", "/v1"] {
                let reply = try await h.send("GET", path, headers: auth)
                #expect(reply.status == 404, "\(path)")
                #expect(reply.isProblem, "\(path)")
                #expect(reply.echo == nil, "\(path)")
            }
            let wrongMethod = try await h.send("PUT", "/v1/accounts/me", headers: auth)
            #expect(wrongMethod.status == 405 && wrongMethod.isProblem)
            #expect(wrongMethod.header("allow")?.contains("GET") == true)
        }
    }

    /// docs/keydir-api.md: the log and the two share-link reads are public
    /// (no token, and a token sent along is not even checked); everything
    /// else needs a token. No scaffolding prefix is left.
    @Test func keydirRoutesAreDeclared() async throws {
        try await GatewayHarness.run { h in
            let auth = [("Authorization", "Bearer " + (try h.token()))]
            let id = UUID().uuidString.lowercased()
            let open: [(String, String)] = [
                ("GET", "/v1/log/checkpoint"), ("GET", "/v1/log/key"), ("GET", "/v1/log/proof/inclusion?index=0&size=1"),
                ("GET", "/v1/log/proof/consistency?from=1&to=2"), ("GET", "/v1/log/entries/0"),
                ("GET", "/v1/links/\(id)"), ("GET", "/v1/links/\(id)/content"),
            ]
            for (method, path) in open {
                let reply = try await h.send(method, path)
                #expect(reply.status == 200, "\(method) \(path)")
                #expect(reply.echo?.path == String(path.split(separator: "?")[0]), "\(method) \(path)")
                #expect(reply.echo?.accountID == nil, "\(method) \(path) is anonymous")
                let withBadToken = try await h.send(method, path, headers: [("Authorization", "Bearer not-a-token")])
                #expect(withBadToken.status == 200 && withBadToken.echo?.accountID == nil, "\(method) \(path)")
            }
            let owned: [(String, String)] = [
                ("GET", "/v1/keys/accounts/\(id)"), ("GET", "/v1/keys/accounts/\(id)/history"), ("GET", "/v1/keys/lookup?email=a%40b.c"),
                ("POST", "/v1/keys"), ("POST", "/v1/shares"), ("GET", "/v1/shares/incoming"), ("GET", "/v1/shares/outgoing"),
                ("POST", "/v1/shares/\(id)/accept"), ("DELETE", "/v1/shares/\(id)"), ("POST", "/v1/links"), ("GET", "/v1/links"),
                ("DELETE", "/v1/links/\(id)"),
            ]
            for (method, path) in owned {
                let reply = try await h.send(method, path, headers: auth)
                #expect(reply.status == 200, "\(method) \(path)")
                #expect(reply.echo?.path == String(path.split(separator: "?")[0]), "\(method) \(path)")
                #expect(reply.echo?.accountID != nil, "\(method) \(path)")
                #expect(try await h.send(method, path).status == 401, "\(method) \(path) needs a token")
            }
            for path in ["/v1/keys/x", "/v1/log", "/v1/shares", "/v1/links/\(id)/other", "/internal/v1/links/\(id)"] {
                let reply = try await h.send("GET", path, headers: auth)
                #expect(reply.status == 404 || reply.status == 405, "\(path)")
                #expect(reply.isProblem && reply.echo == nil, "\(path)")
            }
            #expect(try await h.send("PUT", "/v1/links/\(id)", headers: auth).status == 405)
            #expect(PublicRoutes.undeclaredPrefixes.isEmpty)
        }
    }

    @Test func ingestRoutesAreDeclared() async throws {
        try await GatewayHarness.run { h in
            let auth = [("Authorization", "Bearer " + (try h.token()))]
            let id = UUID().uuidString.lowercased(), version = UUID().uuidString.lowercased()
            let routes: [(String, String)] = [
                ("POST", "/v1/uploads"), ("HEAD", "/v1/uploads/\(id)"), ("PATCH", "/v1/uploads/\(id)"), ("DELETE", "/v1/uploads/\(id)"),
                ("POST", "/v1/nodes"), ("GET", "/v1/nodes"), ("GET", "/v1/trash"), ("GET", "/v1/nodes/\(id)"),
                ("PATCH", "/v1/nodes/\(id)"), ("DELETE", "/v1/nodes/\(id)"), ("POST", "/v1/nodes/\(id)/restore"),
                ("GET", "/v1/nodes/\(id)/versions"), ("POST", "/v1/nodes/\(id)/versions/\(version)/restore"),
                ("DELETE", "/v1/nodes/\(id)/versions/\(version)"), ("GET", "/v1/nodes/\(id)/content"),
            ]
            for (method, path) in routes {
                let reply = try await h.send(method, path, headers: auth)
                #expect(reply.status == 200, "\(method) \(path)")
                if method != "HEAD" { #expect(reply.echo?.path == path, "\(method) \(path)") }
                let anonymous = try await h.send(method, path)
                #expect(anonymous.status == 401, "\(method) \(path) needs a token")
            }
            // The scaffolding prefixes are gone: unknown ingest paths are the gateway's 404s.
            for path in ["/v1/files/2", "/v1/downloads/3", "/v1/blobs/4", "/v1/uploads/\(id)/x", "/v1/nodes/\(id)/other"] {
                let reply = try await h.send("GET", path, headers: auth)
                #expect(reply.status == 404 && reply.isProblem && reply.echo == nil, "\(path)")
            }
            for (method, path) in [("GET", "/v1/uploads"), ("GET", "/v1/uploads/\(id)"), ("PUT", "/v1/nodes/\(id)"), ("POST", "/v1/trash")] {
                let reply = try await h.send(method, path, headers: auth)
                #expect(reply.status == 405 && reply.isProblem && reply.echo == nil, "\(method) \(path)")
            }
        }
    }

    /// docs/quota-api.md: `/v1/quota` needs a token; the operator routes
    /// keep their `Authorization` for quota to check; the rest of the
    /// prefix (and quota's /internal) is the gateway's 404.
    @Test func quotaRoutesAreDeclared() async throws {
        try await GatewayHarness.run { h in
            let auth = [("Authorization", "Bearer " + (try h.token()))]
            let mine = try await h.send("GET", "/v1/quota", headers: auth)
            #expect(mine.status == 200 && mine.echo?.path == "/v1/quota" && mine.echo?.identityVerified == true)
            #expect(try await h.send("GET", "/v1/quota").status == 401)
            let tenant = UUID().uuidString.lowercased(), account = UUID().uuidString.lowercased()
            let admin: [(String, String)] = [
                ("GET", "/v1/admin/quota/tenants"), ("GET", "/v1/admin/quota/tenants/\(tenant)"),
                ("GET", "/v1/admin/quota/tenants/\(tenant)/accounts/\(account)"),
                ("PUT", "/v1/admin/quota/tenants/\(tenant)/accounts/\(account)"), ("POST", "/v1/admin/quota/reconcile"),
            ]
            for (method, path) in admin {
                let reply = try await h.send(method, path, headers: [("Authorization", "Bearer operator-secret")])
                let echo = try #require(reply.echo, "\(method) \(path): \(reply.status)")
                #expect(echo.path == path && echo.headers["authorization"] == "Bearer operator-secret", "\(method) \(path)")
                #expect(echo.accountID == nil, "\(method) \(path)")
            }
            for path in ["/v1/quota/other", "/v1/admin/quota", "/v1/admin/quota/tenants/\(tenant)/accounts",
                         "/internal/v1/limits", "/internal/v1/reservations"] {
                let reply = try await h.send("GET", path, headers: auth)
                #expect(reply.status == 404 && reply.isProblem && reply.echo == nil, "\(path)")
            }
            for (method, path) in [("POST", "/v1/quota"), ("DELETE", "/v1/admin/quota/tenants/\(tenant)"), ("GET", "/v1/admin/quota/reconcile")] {
                let reply = try await h.send(method, path, headers: auth)
                #expect(reply.status == 405 && reply.isProblem && reply.echo == nil, "\(method) \(path)")
            }
            #expect(!PublicRoutes.undeclaredPrefixes.contains { $0.target == .quota })
        }
    }

    @Test func roundRobinSkipsDeadInstances() async throws {
        let second = FakeUpstream(name: "second", signingKey: try TokenSigningKey(seed: Array(repeating: 1, count: 32)), internalSecret: GatewayHarness.internalSecret)
        let dead = "http://127.0.0.1:\(CoffreTestSupportPorts.free())"
        try await GatewayHarness.run(configure: { config, upstream in
            config.upstreams["ingest"] = [dead, upstream.url, second.url]
            config.upstreams["quota"] = [dead]
        }, extraUpstreams: [second], readinessPath: "/healthz") { h in
            try await Self.checkRoundRobin(h)
        }
    }

    static func checkRoundRobin(_ h: GatewayHarness) async throws {
        let auth = [("Authorization", "Bearer " + (try h.token()))]
        // Not ready by design (quota has no live instance): wait for the token keys.
        let keysLoaded = try await TestEnvironment.eventually(timeout: .seconds(10)) {
            try await h.send("GET", "/v1/nodes/x", headers: auth).status == 200
        }
        #expect(keysLoaded)
        let ready = try await h.send("GET", "/readyz")
        #expect(ready.status == 503 && ready.isProblem)
        var names: [String] = []
        for _ in 0..<8 {
            let reply = try await h.send("GET", "/v1/nodes/x", headers: auth)
            #expect(reply.status == 200)
            names.append(reply.echo?.upstream ?? "none")
        }
        let fake = names.filter { $0 == "fake" }.count
        let second = names.filter { $0 == "second" }.count
        #expect(fake >= 2 && second >= 2 && fake + second == 8)
        let none = try await h.send("GET", "/v1/quota", headers: auth)
        #expect(none.status == 503 && none.isProblem)
        #expect(none.header("retry-after") != nil)
    }

    @Test func bodySizeLimitOnJSONRoutes() async throws {
        try await GatewayHarness.run(configure: { config, _ in config.maxJSONBodyBytes = 4096 }) { h in
            let big = ByteBuffer(repeating: UInt8(ascii: "a"), count: 5000)
            let reply = try await h.send("POST", "/v1/auth/login", headers: [("Content-Type", "application/json")], body: big)
            #expect(reply.status == 413 && reply.isProblem)
            #expect(reply.json?["type"] as? String == "urn:coffre:problem:too-large")
            let small = try await h.send("POST", "/v1/auth/login", headers: [("Content-Type", "application/json")], body: ByteBuffer(string: "{}"))
            #expect(small.status == 200 && small.echo?.bytes == 2)
        }
    }

    @Test func chunkedBodiesAreBoundedToo() async throws {
        try await GatewayHarness.run(configure: { config, _ in config.maxJSONBodyBytes = 4096 }) { h in
            var request = HTTPClientRequest(url: h.gatewayURL + "/v1/auth/login")
            request.method = .POST
            let chunks = (0..<10).map { _ in ByteBuffer(repeating: 0x61, count: 1000) }
            request.body = .stream(chunks.async, length: .unknown)
            let response = try await h.client.execute(request, timeout: .seconds(10))
            #expect(response.status.code == 413)
        }
    }

    /// A small JSON body is read whole before anything goes upstream: one
    /// cut short (the client half-closes after 40 of its 200 bytes) never
    /// reaches the service, not even as a broken request, and the gateway
    /// carries on. (Streamed, as before, the service saw a request whose
    /// body broke off.)
    @Test func aJSONBodyCutShortNeverReachesTheService() async throws {
        try await GatewayHarness.run { h in
            let port = Int(h.gatewayURL.split(separator: ":").last!)!
            let head = "POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                + "X-Fake-Probe: cut-json\r\nContent-Length: 200\r\n\r\n"
            let answer = try await RawTCP.exchange(port: port, head + String(repeating: "a", count: 40), halfCloseAfter: 0.3)
            #expect(!answer.hasPrefix("HTTP/1.1 2"), "\(answer)")
            try await Task.sleep(for: .milliseconds(500))
            #expect(h.upstream.probe("cut-json") == nil, "the service saw a request for a body that never arrived whole")
            #expect(h.upstream.inflight.load(ordering: .relaxed) == 0)
            let whole = try await h.send("POST", "/v1/auth/login", headers: [("Content-Type", "application/json"), ("X-Fake-Probe", "whole-json")],
                                         body: ByteBuffer(string: #"{"email":"a@example.com"}"#))
            #expect(whole.status == 200 && whole.echo?.bytes == 25)
            #expect(h.upstream.probe("whole-json")?.endedCleanly == true)
        }
    }

    @Test func upstreamSilenceIs504() async throws {
        try await GatewayHarness.run(configure: { config, _ in config.upstreamTimeout = .seconds(1) }) { h in
            let auth = [("Authorization", "Bearer " + (try h.token()))]
            let reply = try await h.send("GET", "/v1/quota?delay_ms=2500", headers: auth)
            #expect(reply.status == 504 && reply.isProblem)
        }
    }

    @Test func corsPreflightAndExposedHeaders() async throws {
        try await GatewayHarness.run(configure: { config, _ in config.corsOrigins = ["https://app.example"] }) { h in
            let preflight = try await h.send("OPTIONS", "/v1/accounts/me", headers: [
                ("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET"),
            ])
            #expect(preflight.status == 204)
            #expect(preflight.header("access-control-allow-origin") == "https://app.example")
            #expect(preflight.header("access-control-allow-headers")?.lowercased().contains("authorization") == true)
            let actual = try await h.send("GET", "/v1/accounts/me", headers: [("Origin", "https://app.example")])
            #expect(actual.status == 401)
            #expect(actual.header("access-control-allow-origin") == "https://app.example")
            #expect(actual.header("access-control-expose-headers")?.contains("Retry-After") == true)
            let foreign = try await h.send("GET", "/v1/accounts/me", headers: [("Origin", "https://evil.example")])
            #expect(foreign.header("access-control-allow-origin") == nil)
        }
    }

    @Test func operationalRoutes() async throws {
        try await GatewayHarness.run { h in
            #expect(try await h.send("GET", "/healthz").status == 200)
            #expect(try await h.send("GET", "/readyz").status == 200)
            let doc = try await h.send("GET", "/openapi.json")
            #expect(doc.status == 200 && doc.header("content-type") == "application/json")
            #expect(doc.json?["openapi"] as? String == "3.1.0")
            #expect(try await h.send("GET", "/openapi.yaml").status == 200)
        }
    }
}

import AsyncHTTPClient
import CoffreTestSupport

enum CoffreTestSupportPorts {
    static func free() -> Int { TestEnvironment.freePort() }
}

extension Array where Element == ByteBuffer {
    var async: AsyncBuffers { AsyncBuffers(buffers: self) }
}

struct AsyncBuffers: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffers: [ByteBuffer]
    struct AsyncIterator: AsyncIteratorProtocol {
        var index = 0
        let buffers: [ByteBuffer]
        mutating func next() async -> ByteBuffer? {
            guard index < buffers.count else { return nil }
            defer { index += 1 }
            return buffers[index]
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffers: buffers) }
}
