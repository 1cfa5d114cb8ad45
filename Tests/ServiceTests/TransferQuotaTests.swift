import AsyncHTTPClient
import CoffreCore
@testable import CoffreSDK
import CoffreTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The transfer allowance end to end, every service a real process: ingest
/// counts served bytes (`transfer.served`), quota sums them in a rolling
/// window and publishes `quota.transfer.exhausted`, ingest then refuses
/// downloads with 429 and `Retry-After`, and serves again once the window
/// has moved past the old downloads.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct TransferQuotaTests {
    @Test func downloadsBeyondTheAllowanceGet429UntilTheWindowMoves() async throws {
        let window = 12
        let stack = try await Stack(ingestEnv: ["INGEST_TRANSFER_FLUSH_MS": "200"],
                                    quotaEnv: ["QUOTA_TRANSFER_WINDOW_SECONDS": String(window), "QUOTA_TRANSFER_BUCKET_SECONDS": "1",
                                               "QUOTA_SWEEP_INTERVAL_MS": "250"])
        defer { stack.stop() }
        let slug = uniqueSlug()
        let created = try await stack.raw(.POST, "/v1/admin/tenants",
                                          body: #"{"slug":"\#(slug)","display_name":"\#(slug)","transfer_allowance_bytes":250000}"#,
                                          headers: ["Authorization": "Bearer \(Stack.adminToken)"])
        #expect(created.status == 201)
        let signup = try await stack.client(tenant: slug).signup(email: uniqueEmail(), password: "correct horse battery staple")
        let token = try #require(await signup.session?.currentAccessToken().token)
        let auth = ["Authorization": "Bearer \(token)"]
        // Quota applies the tenant's plan once it has read tenant.created.
        let planKnown = try await TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(300)) {
            let view = try await stack.raw(.GET, "/v1/quota", headers: auth)
            return (view.json["transfer"] as? [String: Any])?["allowance_bytes"] as? Int == 250_000
        }
        #expect(planKnown, "quota never applied the tenant's plan: \(stack.logs.suffix(2000))")

        // One 100 kB file (its content is opaque to the server).
        let node = UUID().uuidString.lowercased()
        var upload = HTTPClientRequest(url: stack.gatewayURL.absoluteString + "/v1/uploads")
        upload.method = .POST
        for (name, value) in auth { upload.headers.add(name: name, value: value) }
        upload.headers.add(name: "Tus-Resumable", value: "1.0.0")
        upload.headers.add(name: "Upload-Length", value: "100000")
        upload.headers.add(name: "Upload-Metadata", value: "node \(Data(node.utf8).base64EncodedString()),attributes AQID,key BAUG")
        upload.headers.add(name: "Content-Type", value: "application/offset+octet-stream")
        upload.body = .bytes(ByteBuffer(bytes: [UInt8](repeating: 7, count: 100_000)))
        #expect(try await HTTPClient.shared.execute(upload, timeout: .seconds(30)).status == .created)

        // Three downloads use 300 kB of the 250 kB allowance; then 429.
        for _ in 0..<3 {
            #expect(try await stack.raw(.GET, "/v1/nodes/\(node)/content", headers: auth).status == 200)
        }
        var refused: Stack.Reply?
        let blocked = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
            let reply = try await stack.raw(.GET, "/v1/nodes/\(node)/content", headers: auth)
            refused = reply
            return reply.status == 429
        }
        #expect(blocked, "downloads were never refused: \(stack.logs.suffix(2000))")
        let retryAfter = try #require(refused?.header("Retry-After").flatMap(Int.init))
        #expect(retryAfter >= 1 && retryAfter <= window + 1, "Retry-After \(retryAfter) for a \(window) s window")
        #expect(refused?.header("Content-Type") == "application/problem+json")
        let view = try await stack.raw(.GET, "/v1/quota", headers: auth)
        #expect((view.json["transfer"] as? [String: Any])?["exhausted"] as? Bool == true)

        // Once the window has moved past the downloads, they are allowed again.
        try await Task.sleep(for: .seconds(retryAfter))
        let restored = try await TestEnvironment.eventually(timeout: .seconds(20), interval: .milliseconds(250)) {
            try await stack.raw(.GET, "/v1/nodes/\(node)/content", headers: auth).status == 200
        }
        #expect(restored, "downloads stayed refused after Retry-After: \(stack.logs.suffix(2000))")
    }
}
