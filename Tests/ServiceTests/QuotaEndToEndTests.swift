import CoffreSDK
import CoffreTestSupport
import Foundation
import Sodium
import Testing

/// Quota through the whole stack (accounts, quota, ingest, gateway as
/// processes), as users and operators meet it: a tenant's plan reaches quota
/// by `tenant.created`; an upload that does not fit is refused at creation
/// with a 507 problem before any byte; committed uploads show as used once
/// `blob.committed` is consumed, downloads as transfer, and a purge frees the
/// bytes again; `coffre quota` prints it all.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct QuotaEndToEndTests {
    static let limit: Int64 = 200_000

    @Test func uploadsStayWithinTheTenantsPlanAndPurgesFreeTheSpace() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let scratch = NSTemporaryDirectory() + TestEnvironment.unique("quotascratch")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        func file(_ name: String, size: Int) throws -> String {
            let path = scratch + "/" + name
            FileManager.default.createFile(atPath: path, contents: Data(Sodium.randomBytes(size)))
            return path
        }

        // The operator creates a tenant with a small plan.
        let admin = ["Authorization": "Bearer \(Stack.adminToken)"]
        let slug = uniqueSlug()
        let created = try await stack.raw(.POST, "/v1/admin/tenants", body: #"""
            {"slug":"\#(slug)","display_name":"Quota e2e","storage_limit_bytes":\#(Self.limit)}
            """#, headers: admin)
        #expect(created.status == 201, "\(created.body)")
        let tenantID = try #require(created.json["id"] as? String).lowercased()

        let client = stack.client(tenant: slug)
        let email = uniqueEmail()
        let password = "quota e2e \(UUID())"
        let signup = try await client.signup(email: email, password: password)
        let session = try #require(signup.session, "login after signup failed: \(String(describing: signup.loginError))")

        // Quota learns the plan from tenant.created (its own consumer, so eventually).
        let planKnown = try await TestEnvironment.eventually(timeout: .seconds(120), interval: .milliseconds(250)) {
            try await client.quota(session).limitBytes == Self.limit
        }
        #expect(planKnown, "quota never applied the tenant's plan: \(stack.logs.suffix(2000))")
        let fresh = try await client.quota(session)
        #expect(fresh.tenantID == tenantID && fresh.accountID == signup.accountID)
        #expect(fresh.usedBytes == 0 && fresh.reservedBytes == 0 && fresh.availableBytes == Self.limit && !fresh.closed)

        // The operator routes answer through the gateway; quota checks the admin token itself.
        let totals = try await stack.raw(.GET, "/v1/admin/quota/tenants/\(tenantID)", headers: admin)
        #expect(totals.status == 200 && totals.json["plan_storage_limit_bytes"] as? Int == Int(Self.limit)
                && totals.json["plan_source"] as? String == "event", "\(totals.status) \(totals.body)")
        let viewed = try await stack.raw(.GET, "/v1/admin/quota/tenants/\(tenantID)/accounts/\(signup.accountID)", headers: admin)
        #expect(viewed.status == 200 && viewed.json["limit_bytes"] as? Int == Int(Self.limit), "\(viewed.body)")
        let anonymous = try await stack.raw(.GET, "/v1/admin/quota/tenants")
        #expect(anonymous.status == 401 && anonymous.header("content-type")?.contains("problem+json") == true)
        let userToken = try await stack.raw(.GET, "/v1/admin/quota/tenants",
                                            headers: ["Authorization": "Bearer \((await session.state).accessToken)"])
        #expect(userToken.status == 401, "a user's token is not the admin token")

        // An upload larger than the whole plan is a property of the request: 413.
        let tooLarge = try await createUpload(stack, session, length: Self.limit + 1)
        #expect(tooLarge.status == 413, "\(tooLarge.body)")

        // A file that fits is stored; the bytes are reserved at creation and settle as used.
        let first = try await client.upload(session, file: try file("first.bin", size: 120_000), toFolder: nil)
        let held = try await client.quota(session)
        #expect(held.usedBytes + held.reservedBytes == first.encryptedSize, "used \(held.usedBytes), reserved \(held.reservedBytes)")
        let settled = try await TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            let usage = try await client.quota(session)
            return usage.usedBytes == first.encryptedSize && usage.reservedBytes == 0
        }
        let afterCommit = try await client.quota(session)
        #expect(settled, "blob.committed never reached the ledger: \(afterCommit.json)")
        let remaining = Self.limit - first.encryptedSize

        // What no longer fits is refused at creation: 507 problem+json, nothing reserved, no node.
        let node = UUID().uuidString.lowercased()
        let refused = try await createUpload(stack, session, length: remaining + 1, node: node)
        #expect(refused.status == 507, "\(refused.status) \(refused.body)")
        #expect(refused.header("content-type")?.hasPrefix("application/problem+json") == true)
        #expect(refused.json["type"] as? String == "urn:coffre:problem:quota-exceeded")
        #expect(refused.json["status"] as? Int == 507)
        #expect(refused.json["remaining_bytes"] as? Int == Int(remaining), "\(refused.body)")
        #expect(refused.json["requested_bytes"] as? Int == Int(remaining + 1), "\(refused.body)")
        #expect(refused.header("location") == nil)
        let afterRefusal = try await client.quota(session)
        #expect(afterRefusal.usedBytes == first.encryptedSize && afterRefusal.reservedBytes == 0)
        let noNode = try await stack.raw(.GET, "/v1/nodes/\(node)", headers: try await bearer(session))
        #expect(noNode.status == 404, "\(noNode.status) \(noNode.body)")

        // The SDK gives up at once (a 507 is not worth retrying) with the server's problem.
        let secondFile = try file("second.bin", size: 100_000)
        let started = ContinuousClock.now
        do {
            _ = try await client.upload(session, file: secondFile, toFolder: nil)
            Issue.record("an upload past the quota succeeded")
        } catch let error as CoffreAPIError {
            #expect(error.status == 507 && error.type == "urn:coffre:problem:quota-exceeded", "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(3), "the refused upload was retried (backoff starts at 0.5 s)")

        // A download counts as transfer.
        let content = try await stack.raw(.GET, "/v1/nodes/\(first.nodeID)/content", headers: try await bearer(session))
        #expect(content.status == 200)
        let served = try await TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(250)) {
            let transfer = try await client.quota(session).transfer
            return transfer.usedBytes >= first.encryptedSize && transfer.windowReset != nil
        }
        let afterDownload = try await client.quota(session)
        #expect(served, "transfer.served never reached quota: \(afterDownload.json)")

        // `coffre quota`, as a user runs it.
        let cli = try CLIUser(stack: stack, email: email, password: password)
        defer { cli.cleanUp() }
        let login = try await cli.run(["login", "--tenant", slug, "--email", email])
        #expect(login.status == 0, "\(login.output)")
        let shown = try await cli.run(["quota"], passwordStdin: false)
        #expect(shown.status == 0, "\(shown.output)")
        for line in ["used:", "reserved:", "limit:", "available:", "transfer used:", "window reset:"] {
            #expect(shown.output.contains(line), "\(line) missing: \(shown.output)")
        }
        #expect(shown.output.contains("(\(first.encryptedSize) bytes)"), "\(shown.output)")
        #expect(shown.output.contains("195.3 KiB (200000 bytes)"), "\(shown.output)")
        let lines = shown.output.split(separator: "\n")
        let transferLine = lines.first { $0.hasPrefix("transfer used:") }
        #expect(transferLine?.contains(" of ") == true && transferLine?.hasSuffix(" per 6 h") == true, "\(shown.output)")
        let resetLine = lines.first { $0.hasPrefix("window reset:") }
        #expect(resetLine?.hasSuffix(" -") == false && resetLine?.contains("(in ") == true, "\(shown.output)")
        let json = try await cli.run(["quota", "--json"], passwordStdin: false)
        #expect(json.status == 0, "\(json.output)")
        let raw = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "\(json.output)")
        #expect(raw["used_bytes"] as? Int == Int(first.encryptedSize) && raw["limit_bytes"] as? Int == Int(Self.limit))
        #expect((raw["transfer"] as? [String: Any])?["window_reset"] is String)

        // `coffre put` of what does not fit: one clear line, no retries.
        let put = try await cli.run(["put", secondFile, "/"], password: password)
        #expect(put.status == 1, "\(put.output)")
        #expect(put.output.contains("coffre: server refused: 507"), "\(put.output)")

        // Purging the file frees its bytes once blob.deleted is consumed; then the second file fits.
        try await client.purge(session, id: first.nodeID)
        let freed = try await TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            try await client.quota(session).usedBytes == 0
        }
        let afterPurge = try await client.quota(session)
        #expect(freed, "blob.deleted never reached the ledger: \(afterPurge.json)")
        let second = try await client.upload(session, file: secondFile, toFolder: nil)
        let settledAgain = try await TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            let usage = try await client.quota(session)
            return usage.usedBytes == second.encryptedSize && usage.reservedBytes == 0
        }
        #expect(settledAgain)
        let after = try await cli.run(["quota"], passwordStdin: false)
        #expect(after.output.contains("(\(second.encryptedSize) bytes)"), "\(after.output)")
    }

    /// A tus creation request (no body) for a new file, through the gateway.
    func createUpload(_ stack: Stack, _ session: Session, length: Int64, node: String = UUID().uuidString.lowercased()) async throws -> Stack.Reply {
        let metadata = [("node", Array(node.utf8)), ("attributes", Sodium.randomBytes(48)), ("key", Sodium.randomBytes(72))]
            .map { "\($0.0) \(Data($0.1).base64EncodedString())" }.joined(separator: ",")
        var headers = try await bearer(session)
        headers["Tus-Resumable"] = "1.0.0"
        headers["Upload-Length"] = String(length)
        headers["Upload-Metadata"] = metadata
        return try await stack.raw(.POST, "/v1/uploads", headers: headers)
    }

    func bearer(_ session: Session) async throws -> [String: String] {
        ["Authorization": "Bearer \((await session.state).accessToken)"]
    }
}
