import AsyncHTTPClient
import CoffreCore
import CoffreTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing
@testable import Gateway

/// What tus uploads and downloads need from the gateway's proxy path: their
/// headers and statuses cross unchanged, HEAD and 204 answers keep HTTP's
/// framing, bodies stream without limit, a broken or stalled upload is
/// aborted upstream, and transfers do not crowd out API requests.
@Suite struct IngestProxyTests {
    static let tusRequestHeaders: [(String, String)] = [
        ("Tus-Resumable", "1.0.0"), ("Upload-Offset", "1048576"), ("Upload-Length", "5242880"),
        ("Upload-Metadata", "node MTIz,parent NDU2,attributes YWJj,key ZGVm"), ("Upload-Checksum", "sha256 n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="),
        ("Range", "bytes=0-99"), ("If-None-Match", "\"0b6d0c8e-0000-4000-8000-000000000000\""),
        ("Content-Type", "application/offset+octet-stream"),
    ]

    static let ingestResponseHeaders: [(String, String)] = [
        ("Location", "/v1/uploads/5f0f8f0e-1111-4000-8000-000000000000"), ("Upload-Offset", "2097152"), ("Upload-Length", "5242880"),
        ("Upload-Expires", "Wed, 25 Jun 2031 16:00:00 GMT"), ("Tus-Resumable", "1.0.0"), ("Tus-Version", "1.0.0"),
        ("Tus-Extension", "creation,creation-with-upload,termination,checksum,expiration"), ("Tus-Max-Size", "53687091200"),
        ("Tus-Checksum-Algorithm", "sha1,sha256"), ("Coffre-Node-Id", "6a0a3a0e-2222-4000-8000-000000000000"),
        ("Coffre-Version-Id", "7b0b4b0e-3333-4000-8000-000000000000"), ("ETag", "\"7b0b4b0e-3333-4000-8000-000000000000\""),
        ("Content-Range", "bytes 0-99/5242880"), ("Accept-Ranges", "bytes"), ("Cache-Control", "no-store"),
    ]

    static func fakeReply(_ headers: [(String, String)]) -> [(String, String)] {
        headers.map { ("X-Fake-Header", "\($0.0): \($0.1)") }
    }

    @Test func tusAndDownloadHeadersCrossBothWays() async throws {
        try await GatewayHarness.run { h in
            let auth = [("Authorization", "Bearer " + (try h.token()))]
            let id = UUID().uuidString.lowercased()
            for (method, path) in [("PATCH", "/v1/uploads/\(id)"), ("POST", "/v1/uploads"), ("GET", "/v1/nodes/\(id)/content")] {
                let reply = try await h.send(method, path, headers: auth + Self.tusRequestHeaders + Self.fakeReply(Self.ingestResponseHeaders),
                                             body: ByteBuffer(string: "ciphertext"))
                #expect(reply.status == 200, "\(method) \(path)")
                let echo = try #require(reply.echo, "\(method) \(path)")
                for (name, value) in Self.tusRequestHeaders {
                    #expect(echo.headers[name.lowercased()] == value, "\(method) \(path): request header \(name)")
                }
                #expect(echo.bytes == 10)
                for (name, value) in Self.ingestResponseHeaders {
                    #expect(reply.header(name) == value, "\(method) \(path): response header \(name)")
                }
            }
        }
    }

    @Test func statusesPassThroughUnchanged() async throws {
        try await GatewayHarness.run { h in
            let auth = [("Authorization", "Bearer " + (try h.token()))]
            let id = UUID().uuidString.lowercased()
            for status in [201, 204, 206, 304, 400, 403, 404, 409, 410, 412, 413, 415, 416, 423, 460, 507] {
                let reply = try await h.send("PATCH", "/v1/uploads/\(id)", headers: auth + [("X-Fake-Status", String(status))],
                                             body: ByteBuffer(string: "x"))
                #expect(reply.status == status, "\(status)")
                if ![204, 304].contains(status) {
                    // The service's own answer, not a problem the gateway made up.
                    #expect(reply.echo?.path == "/v1/uploads/\(id)", "\(status)")
                } else {
                    #expect(reply.body.readableBytes == 0, "\(status)")
                }
            }
        }
    }

    @Test func headAnd204KeepHTTPFraming() async throws {
        try await GatewayHarness.run { h in
            let port = Int(h.gatewayURL.split(separator: ":").last!)!
            let token = try h.token()
            let id = UUID().uuidString.lowercased()
            // Two requests on one connection: the second is read right only if
            // the first answer has no stray body or chunk framing.
            let head = "HEAD /v1/uploads/\(id) HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer \(token)\r\nTus-Resumable: 1.0.0\r\n"
                + "X-Fake-Header: Upload-Offset: 4096\r\nX-Fake-Header: Upload-Length: 8192\r\nX-Fake-Header: Tus-Resumable: 1.0.0\r\n\r\n"
            let patch = "PATCH /v1/uploads/\(id) HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer \(token)\r\nTus-Resumable: 1.0.0\r\n"
                + "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 4096\r\nContent-Length: 4\r\nX-Fake-Status: 204\r\n"
                + "X-Fake-Header: Upload-Offset: 4100\r\nConnection: close\r\n\r\nabcd"
            let raw = try await RawTCP.exchange(port: port, head + patch)
            let answers = raw.components(separatedBy: "HTTP/1.1 ")
            #expect(answers.count == 3, "\(raw)")
            guard answers.count == 3 else { return }
            let headAnswer = answers[1].lowercased(), patchAnswer = answers[2].lowercased()
            #expect(headAnswer.hasPrefix("200"))
            #expect(headAnswer.contains("upload-offset: 4096\r\n") && headAnswer.contains("upload-length: 8192\r\n"))
            #expect(headAnswer.contains("tus-resumable: 1.0.0\r\n"))
            #expect(headAnswer.hasSuffix("\r\n\r\n"), "a HEAD answer has no body: \(answers[1])")
            #expect(!headAnswer.contains("transfer-encoding"))
            #expect(patchAnswer.hasPrefix("204"))
            #expect(patchAnswer.contains("upload-offset: 4100\r\n"))
            #expect(patchAnswer.hasSuffix("\r\n\r\n"), "a 204 has no body: \(answers[2])")
            #expect(!patchAnswer.contains("transfer-encoding"))
        }
    }

    @Test func optionsReachesIngestWithOrWithoutToken() async throws {
        try await GatewayHarness.run(configure: { config, _ in config.corsOrigins = ["https://app.example"] }) { h in
            let anonymous = try await h.send("OPTIONS", "/v1/uploads")
            #expect(anonymous.status == 200)
            let echo = try #require(anonymous.echo)
            #expect(echo.method == "OPTIONS" && echo.identityVerified && echo.accountID == nil && echo.tenantID == nil)

            let account = UUID()
            let signedIn = try #require(try await h.send("OPTIONS", "/v1/uploads",
                                                         headers: [("Authorization", "Bearer " + (try h.token(account: account)))]).echo)
            #expect(signedIn.accountID == account)
            #expect(signedIn.headers["authorization"] == nil)

            let badToken = try await h.send("OPTIONS", "/v1/uploads", headers: [("Authorization", "Bearer nonsense")])
            #expect(badToken.status == 401 && badToken.isProblem && badToken.echo == nil, "a token that is sent must be valid")

            // From a browser: the actual OPTIONS request goes to ingest, with CORS headers on the answer...
            let fromPage = try await h.send("OPTIONS", "/v1/uploads", headers: [("Origin", "https://app.example")]
                                            + Self.fakeReply([("Tus-Version", "1.0.0")]))
            #expect(fromPage.echo?.method == "OPTIONS")
            #expect(fromPage.header("tus-version") == "1.0.0")
            #expect(fromPage.header("access-control-allow-origin") == "https://app.example")
            #expect(fromPage.header("access-control-expose-headers")?.contains("Tus-Version") == true)

            // ...and its preflight is answered by the gateway.
            let preflight = try await h.send("OPTIONS", "/v1/uploads/\(UUID().uuidString.lowercased())", headers: [
                ("Origin", "https://app.example"), ("Access-Control-Request-Method", "PATCH"),
                ("Access-Control-Request-Headers", "authorization, tus-resumable, upload-offset, content-type"),
            ])
            #expect(preflight.status == 204 && preflight.echo == nil)
            #expect(preflight.header("access-control-allow-origin") == "https://app.example")
            let methods = Set((preflight.header("access-control-allow-methods") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            #expect(methods.isSuperset(of: ["HEAD", "PATCH", "DELETE", "OPTIONS", "POST", "GET"]))
            let allowed = Set((preflight.header("access-control-allow-headers") ?? "").lowercased().split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) })
            #expect(allowed.isSuperset(of: ["authorization", "content-type", "tus-resumable", "upload-offset", "upload-length",
                                            "upload-metadata", "upload-checksum", "range", "if-none-match"]))

            let foreign = try await h.send("OPTIONS", "/v1/uploads", headers: [("Origin", "https://evil.example"),
                                                                                ("Access-Control-Request-Method", "PATCH")])
            #expect(foreign.header("access-control-allow-origin") == nil)
        }
    }

    @Test func corsExposesTusCoffreAndRangeHeaders() async throws {
        try await GatewayHarness.run { h in
            let reply = try await h.send("GET", "/v1/nodes/\(UUID().uuidString.lowercased())/content",
                                         headers: [("Origin", "https://anywhere.example"), ("Authorization", "Bearer " + (try h.token()))])
            #expect(reply.status == 200)
            #expect(reply.header("access-control-allow-origin") == "*")
            let exposed = Set((reply.header("access-control-expose-headers") ?? "").lowercased().split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) })
            for name in ["location", "upload-offset", "upload-length", "upload-expires", "tus-resumable", "tus-version", "tus-extension",
                         "tus-max-size", "tus-checksum-algorithm", "coffre-node-id", "coffre-version-id", "etag", "content-range",
                         "accept-ranges", "retry-after", "x-request-id"] {
                #expect(exposed.contains(name), "\(name)")
            }
            // Errors made by the gateway itself carry them too.
            let refused = try await h.send("PATCH", "/v1/uploads/x", headers: [("Origin", "https://anywhere.example")])
            #expect(refused.status == 401 && refused.header("access-control-expose-headers")?.contains("Upload-Offset") == true)
        }
    }

    @Test func uploadBodiesHaveNoSizeLimit() async throws {
        try await GatewayHarness.run(configure: { config, _ in config.maxJSONBodyBytes = 4096 }) { h in
            let auth = [("Authorization", "Bearer " + (try h.token())), ("Content-Type", "application/offset+octet-stream"),
                        ("Tus-Resumable", "1.0.0")]
            for (method, path, chunked) in [("PATCH", "/v1/uploads/\(UUID().uuidString.lowercased())", false),
                                            ("PATCH", "/v1/uploads/\(UUID().uuidString.lowercased())", true),
                                            ("POST", "/v1/uploads", false)] {
                var request = HTTPClientRequest(url: h.gatewayURL + path)
                request.method = HTTPMethod(rawValue: method)
                for (name, value) in auth { request.headers.add(name: name, value: value) }
                request.body = .stream(Blocks(count: 3), length: chunked ? .unknown : .known(Int64(3 << 20)))
                let response = try await h.client.execute(request, timeout: .seconds(30))
                let echo = try JSONDecoder().decode(Echo.self, from: Data(buffer: try await response.body.collect(upTo: 1 << 20)))
                #expect(response.status == .ok, "\(method) \(path)")
                #expect(echo.bytes == 3 << 20 && echo.sha256 == Pattern.sha256(ofBlocks: 3), "\(method) \(path)")
                #expect(echo.headers["content-type"] == "application/offset+octet-stream")
            }
            // A JSON route keeps its limit.
            let big = try await h.send("PATCH", "/v1/nodes/x", headers: [("Authorization", auth[0].1)], body: ByteBuffer(repeating: 0x61, count: 5000))
            #expect(big.status == 413)
        }
    }

    @Test(arguments: [true, false])
    func clientThatDisconnectsMidPatchAbortsTheUpstreamRequest(chunked: Bool) async throws {
        try await GatewayHarness.run { h in
            let probe = "disconnect-\(chunked)"
            var request = HTTPClientRequest(url: h.gatewayURL + "/v1/uploads/\(UUID().uuidString.lowercased())")
            request.method = .PATCH
            request.headers.add(name: "Authorization", value: "Bearer " + (try h.token()))
            request.headers.add(name: "Content-Type", value: "application/offset+octet-stream")
            request.headers.add(name: "X-Fake-Probe", value: probe)
            request.body = .stream(Blocks(count: 8, failAfter: 3), length: chunked ? .unknown : .known(Int64(8 << 20)))
            await #expect(throws: (any Error).self) { _ = try await h.client.execute(request, timeout: .seconds(30)) }
            let seen = try await TestEnvironment.eventually(timeout: .seconds(10), interval: .milliseconds(50)) { h.upstream.probe(probe) != nil }
            #expect(seen, "the upstream request must end, not hang")
            let outcome = try #require(h.upstream.probe(probe))
            #expect(!outcome.endedCleanly, "ingest must see a broken body, never a complete short one")
            #expect(outcome.bytes < 8 << 20)
            // The slot is given back and the gateway carries on.
            let idle = try await TestEnvironment.eventually(timeout: .seconds(5)) { h.upstream.inflight.load(ordering: .relaxed) == 0 }
            #expect(idle)
            #expect(try await h.send("GET", "/v1/nodes", headers: [("Authorization", "Bearer " + (try h.token()))]).status == 200)
        }
    }

    @Test func stalledUploadIsCutOffByTheIdleTimeout() async throws {
        try await GatewayHarness.run(configure: { config, _ in config.clientIdleTimeout = .seconds(1) }) { h in
            var request = HTTPClientRequest(url: h.gatewayURL + "/v1/uploads/\(UUID().uuidString.lowercased())")
            request.method = .PATCH
            request.headers.add(name: "Authorization", value: "Bearer " + (try h.token()))
            request.headers.add(name: "Content-Type", value: "application/offset+octet-stream")
            request.headers.add(name: "X-Fake-Probe", value: "stall")
            request.body = .stream(Blocks(count: 4, pauseAfter: 1, pause: .seconds(4)), length: .known(Int64(4 << 20)))
            let started = ContinuousClock.now
            let client = Task { try await h.client.execute(request, timeout: .seconds(30)) }
            let seen = try await TestEnvironment.eventually(timeout: .seconds(3.5), interval: .milliseconds(50)) { h.upstream.probe("stall") != nil }
            #expect(seen, "the gateway must give up on a silent client and abort upstream")
            #expect(ContinuousClock.now - started < .seconds(3.5))
            #expect(h.upstream.probe("stall")?.endedCleanly == false)
            _ = try? await client.value
        }
    }

    @Test func transfersDoNotTakeRequestSlots() async throws {
        try await GatewayHarness.run(configure: { config, _ in
            config.maxInflightPerService = 1
            config.maxInflight = 1
            config.maxTransfers = 2
        }) { h in
            let token = try h.token()
            func upload(pause: Duration) async throws -> HTTPClientResponse {
                var request = HTTPClientRequest(url: h.gatewayURL + "/v1/uploads/\(UUID().uuidString.lowercased())")
                request.method = .PATCH
                request.headers.add(name: "Authorization", value: "Bearer " + token)
                request.headers.add(name: "Content-Type", value: "application/offset+octet-stream")
                request.body = .stream(Blocks(count: 2, pauseAfter: 1, pause: pause), length: .known(Int64(2 << 20)))
                return try await h.client.execute(request, timeout: .seconds(30))
            }
            try await withThrowingTaskGroup(of: UInt.self) { group in
                for _ in 0..<2 { group.addTask { try await upload(pause: .milliseconds(1500)).status.code } }
                let busy = try await TestEnvironment.eventually(timeout: .seconds(5), interval: .milliseconds(20)) {
                    h.upstream.inflight.load(ordering: .relaxed) >= 2
                }
                #expect(busy)
                // Two long uploads in flight: API requests to ingest still get in...
                let auth = [("Authorization", "Bearer " + token)]
                #expect(try await h.send("GET", "/v1/nodes", headers: auth).status == 200)
                #expect(try await h.send("POST", "/v1/uploads", headers: auth + [("Upload-Length", "10")]).status == 200,
                        "a creation without a body is an ordinary request")
                // ...while a third transfer is shed at once.
                let shed = try await upload(pause: .zero)
                #expect(shed.status == .serviceUnavailable)
                #expect(shed.headers.first(name: "retry-after") == "1")
                for try await status in group { #expect(status == 200) }
            }
            #expect(try await upload(pause: .zero).status == .ok)
        }
    }

    @Test func routeTable() {
        let ingest = PublicRoutes.all.filter { $0.target == .ingest }
        #expect(Set(ingest.filter(\.streamsBody).map(\.description)) == ["POST /v1/uploads", "PATCH /v1/uploads/{id}"])
        #expect(Set(ingest.filter(\.streamsResponse).map(\.description)) == ["GET /v1/nodes/{id}/content", "GET /v1/links/{id}/content"])
        #expect(ingest.allSatisfy { !$0.rateLimited })
        // tus discovery, and the anonymous share-link reads (docs/keydir-api.md).
        #expect(ingest.filter { $0.access == .optionalToken }.map(\.description) == ["OPTIONS /v1/uploads"])
        #expect(Set(ingest.filter { $0.access == .open }.map(\.description)) == ["GET /v1/links/{id}", "GET /v1/links/{id}/content"])
        #expect(ingest.filter { $0.access != .token }.count == 3)
        #expect(!PublicRoutes.undeclaredPrefixes.contains { $0.target == .ingest })
    }
}

/// `count` blocks of the test pattern; optionally a pause after
/// `pauseAfter` blocks, or an error after `failAfter` (the client breaks off).
struct Blocks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    struct Broken: Error {}
    let count: Int
    var failAfter: Int? = nil
    var pauseAfter: Int? = nil
    var pause: Duration = .zero

    struct AsyncIterator: AsyncIteratorProtocol {
        let blocks: Blocks
        var sent = 0
        mutating func next() async throws -> ByteBuffer? {
            if sent == blocks.failAfter { throw Broken() }
            if sent == blocks.pauseAfter { try await Task.sleep(for: blocks.pause) }
            guard sent < blocks.count else { return nil }
            sent += 1
            return ByteBuffer(bytes: Pattern.block)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(blocks: self) }
}
