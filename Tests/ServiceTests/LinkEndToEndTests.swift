import AsyncHTTPClient
import CoffreCore
@testable import CoffreSDK
import CoffreTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import PostgresNIO
import Testing

/// Share links end to end at the HTTP level, every service a real process
/// behind the gateway: the owner makes links through keydir, anonymous
/// clients download through ingest, and keydir's claim (one conditional
/// UPDATE) lets exactly N downloads through for a limit of N.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct LinkEndToEndTests {
    @Test func aLinkLimitedToThreeServesExactlyThreeOfTwentyConcurrentDownloads() async throws {
        // A small per-address allowance, to see anonymous downloads stop (last step).
        let stack = try await Stack(ingestEnv: ["INGEST_TRANSFER_FLUSH_MS": "200"], quotaEnv: ["QUOTA_IP_TRANSFER_BYTES": "40000"])
        defer { stack.stop() }
        let slug = uniqueSlug()
        try await stack.createTenant(slug)
        let signup = try await stack.client(tenant: slug).signup(email: uniqueEmail(), password: "correct horse battery staple")
        let token = try #require(await signup.session?.currentAccessToken().token)
        let auth = ["Authorization": "Bearer \(token)"]
        let account = signup.accountID.lowercased()

        // One file of opaque bytes, uploaded through the gateway.
        let node = UUID().uuidString.lowercased()
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var upload = HTTPClientRequest(url: stack.gatewayURL.absoluteString + "/v1/uploads")
        upload.method = .POST
        for (name, value) in auth { upload.headers.add(name: name, value: value) }
        upload.headers.add(name: "Tus-Resumable", value: "1.0.0")
        upload.headers.add(name: "Upload-Length", value: String(bytes.count))
        upload.headers.add(name: "Upload-Metadata", value: "node \(Data(node.utf8).base64EncodedString()),attributes AQID,key BAUG")
        upload.headers.add(name: "Content-Type", value: "application/offset+octet-stream")
        upload.body = .bytes(ByteBuffer(bytes: bytes))
        #expect(try await HTTPClient.shared.execute(upload, timeout: .seconds(30)).status == .created)

        func makeLink(_ extra: [String: Any] = [:]) async throws -> String {
            var body: [String: Any] = ["node_id": node]
            body.merge(extra) { _, n in n }
            let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
            let reply = try await stack.raw(.POST, "/v1/links", body: json, headers: auth)
            guard reply.status == 201, let id = reply.json["id"] as? String else {
                throw ChildProcessError(message: "link: \(reply.status) \(reply.body)")
            }
            return id
        }
        func download(_ id: String) async throws -> Stack.Reply {
            try await stack.raw(.GET, "/v1/links/\(id)/content")
        }

        // 20 concurrent anonymous downloads of a link limited to 3.
        let limited = try await makeLink(["max_downloads": 3])
        let info = try await stack.raw(.GET, "/v1/links/\(limited)")
        #expect(info.status == 200 && info.json["size"] as? Int == bytes.count && info.json["downloads_left"] as? Int == 3, "\(info.body)")
        let replies = try await withThrowingTaskGroup(of: Stack.Reply.self) { group in
            for _ in 0..<20 { group.addTask { try await download(limited) } }
            return try await group.reduce(into: [Stack.Reply]()) { $0.append($1) }
        }
        let served = replies.filter { $0.status == 200 }
        #expect(served.count == 3, "statuses: \(replies.map(\.status))")
        #expect(replies.filter { $0.status == 410 }.count == 17, "statuses: \(replies.map(\.status))")
        // (Stack.Reply keeps the body as text; the length is what survives that.)
        let lengths = served.map { $0.header("Content-Length") }
        #expect(lengths.allSatisfy { $0 == String(bytes.count) }, "\(lengths)")
        let goneTypes = replies.filter { $0.status == 410 }.map { $0.header("Content-Type") ?? "" }
        #expect(goneTypes.allSatisfy { $0 == "application/problem+json" }, "\(goneTypes)")
        #expect(try await stack.raw(.GET, "/v1/links/\(limited)").status == 410)
        let listed = try await stack.raw(.GET, "/v1/links", headers: auth)
        let row = (listed.json["links"] as? [[String: Any]])?.first { $0["id"] as? String == limited }
        #expect(row?["downloads"] as? Int == 3)

        // Expired: served before, 410 after.
        let expiring = try await makeLink(["expires_at": RFC3339.format(Date().addingTimeInterval(3))])
        #expect(try await download(expiring).status == 200)
        try await Task.sleep(for: .seconds(3.5))
        #expect(try await download(expiring).status == 410)

        // Revoked by the owner: 410 at once; anonymous callers cannot revoke.
        let revoked = try await makeLink()
        #expect(try await download(revoked).status == 200)
        #expect(try await stack.raw(.DELETE, "/v1/links/\(revoked)").status == 401)
        #expect(try await stack.raw(.DELETE, "/v1/links/\(revoked)", headers: auth).status == 204)
        #expect(try await download(revoked).status == 410)
        #expect(try await stack.raw(.GET, "/v1/links/\(revoked)").status == 410)

        // Link downloads are metered to the owner, with the client's address.
        let metered = try await TestEnvironment.eventually(timeout: .seconds(20), interval: .milliseconds(250)) {
            try await TestEnvironment.withPostgres(poolSize: 1) { pg in
                let rows = try await pg.query("""
                    SELECT count(*) FROM ingest.outbox WHERE key = \(account)
                      AND convert_from(payload, 'UTF8') LIKE '%coffre.transfer.served%' AND convert_from(payload, 'UTF8') LIKE '%"ip":"127.0.0.1"%'
                    """, logger: TestEnvironment.logger)
                for try await n in rows.decode(Int64.self) { return n > 0 }
                return false
            }
        }
        #expect(metered, "no transfer.served with the client address: \(stack.logs.suffix(1500))")

        // Past the address's allowance (40000 bytes a window; each download
        // is 5000), quota reports the address and ingest refuses its link
        // downloads with 429 + Retry-After, while the owner still downloads.
        let open = try await makeLink()
        var refusal: Stack.Reply?
        for _ in 0..<80 where refusal == nil {
            let reply = try await download(open)
            if reply.status == 429 { refusal = reply } else {
                #expect(reply.status == 200, "\(reply.status) \(reply.body)")
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        let refused = try #require(refusal, "the address was never refused: \(stack.logs.suffix(1500))")
        #expect(refused.body.contains("urn:coffre:problem:address-transfer-quota"), "\(refused.body)")
        #expect(Int(refused.header("Retry-After") ?? "") ?? 0 >= 1)
        #expect(try await stack.raw(.GET, "/v1/nodes/\(node)/content", headers: auth).status == 200)
    }
}
