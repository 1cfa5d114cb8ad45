import CoffreCore
import CoffreTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import NIOCore
@testable import Quota
import Testing

/// Ledgers from the event stream: replay, crash and restart, reconciliation.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct LedgerEventTests {
    typealias H = QuotaHarness

    /// Applying the script gives the modelled ledgers; a fresh consumer group
    /// replaying both topics from offset 0, plus every event produced a
    /// second time, changes nothing.
    @Test func replayFromOffsetZeroLeavesLedgersUnchanged() async throws {
        var draft = EventScript.random(accountCount: 8, perAccount: 40, seed: 7)
        // The deleted account's ledger closes; events after it still count.
        let closing = draft.accounts[0]
        draft.add("coffre.account.deleted", account: closing, topic: draft.accountsTopic, data: [:])
        draft.expected[closing]?.closed = true
        let script = draft
        try script.createTopics()
        try await script.produce()
        let first = TestEnvironment.unique("quota_g1")
        try await H.run(tweak: { $0.consumerGroup = first; $0.accountsTopic = script.accountsTopic; $0.blobsTopic = script.blobsTopic }) { _ in
            let applied = try await script.waitUntilApplied()
            #expect(applied)
        }
        let before = try await Ledgers.read(tenant: script.tenant, accounts: script.accounts)
        #expect(before == script.expected)

        // Duplicates, then one sentinel per account key (same partition, after them).
        var sentinels = EventScript(accountsTopic: script.accountsTopic, blobsTopic: script.blobsTopic, tenant: script.tenant)
        for account in script.accounts {
            sentinels.add("coffre.account.created", account: account, topic: script.accountsTopic, data: [:])
            sentinels.add("coffre.account.created", account: account, topic: script.blobsTopic, data: [:])
        }
        let sentinelEvents = sentinels
        try await script.produce(script.messages + sentinels.messages)
        let second = TestEnvironment.unique("quota_g2")
        try await H.run(tweak: { $0.consumerGroup = second; $0.accountsTopic = script.accountsTopic; $0.blobsTopic = script.blobsTopic }) { _ in
            let applied = try await sentinelEvents.waitUntilApplied()
            #expect(applied)
        }
        #expect(try await Ledgers.read(tenant: script.tenant, accounts: script.accounts) == before)
    }

    /// The quota executable killed with SIGKILL mid-stream and started again
    /// ends with exactly the ledgers of an uninterrupted run (the model).
    @Test func killedMidStreamAndRestartedGivesTheSameLedgers() async throws {
        let script = EventScript.random(accountCount: 40, perAccount: 400, seed: 11)
        try script.createTopics()
        try await script.produce()
        let port = TestEnvironment.freePort()
        let env = [
            "COFFRE_POSTGRES_URL": TestEnvironment.postgresURL!, "COFFRE_KAFKA_BROKERS": TestEnvironment.kafkaBrokers!,
            "QUOTA_HTTP_PORT": String(port), "QUOTA_CONSUMER_GROUP": TestEnvironment.unique("quota_kill"),
            "QUOTA_ACCOUNTS_TOPIC": script.accountsTopic, "QUOTA_BLOBS_TOPIC": script.blobsTopic, "COFFRE_LOG_LEVEL": "warning",
        ]
        let child = try ChildProcess.coffre("quota", [], environment: env)
        defer { child.stop() }
        let started = try await TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(20)) {
            try await Ledgers.processed(script.ids) > 0
        }
        #expect(started, "quota never consumed: \(child.output.suffix(1500))")
        child.signal(SIGKILL)
        _ = await child.wait(timeout: .seconds(10))
        let atKill = try await Ledgers.processed(script.ids)
        #expect(atKill < script.ids.count, "the consumer finished before the kill; the test proved nothing")

        let again = try ChildProcess.coffre("quota", [], environment: env)
        defer { again.stop() }
        #expect(try await script.waitUntilApplied(timeout: .seconds(180)), "not all applied: \(again.output.suffix(1500))")
        #expect(try await Ledgers.read(tenant: script.tenant, accounts: script.accounts) == script.expected)
        again.signal(SIGTERM)
        _ = await again.wait(timeout: .seconds(20))
    }

    /// Real ingest in-process: uploads and purges, the ledger follows from
    /// its events, reconciliation against its usage endpoint finds no drift;
    /// a corrupted ledger is reported and repaired.
    @Test func reconciliationAgainstRealIngestFindsNoDrift() async throws {
        var ingestLogger = Logger(label: "ingest-test")
        ingestLogger.logLevel = .warning
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coffre-quota-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var ingestConfig = IngestConfiguration(
            common: CommonConfiguration(postgresURL: TestEnvironment.postgresURL!, postgresPoolSize: 6,
                                        kafkaBrokers: TestEnvironment.kafkaBrokers!, internalSecret: H.secret),
            listen: .init(host: "127.0.0.1", port: TestEnvironment.freePort()))
        ingestConfig.blobDirectory = dir
        ingestConfig.janitorInterval = .milliseconds(200)
        let ingest = try IngestApp.build(config: ingestConfig, logger: ingestLogger)
        try await LiveService.run(ingest, name: "ingest", port: ingestConfig.listen.port, logger: ingestLogger) { ingestClient in
            let up = try await TestEnvironment.eventually(timeout: .seconds(30)) {
                try await ingestClient.execute(uri: "/readyz", method: .get).status == .ok
            }
            #expect(up)
            let key = InternalAuth.key(from: H.secret)
            func call(_ method: HTTPRequest.Method, _ path: String, _ user: VerifiedIdentity, body: [UInt8]? = nil,
                      headers extra: HTTPFields = [:]) async throws -> (HTTPResponse.Status, HTTPFields) {
                var headers = extra
                InternalAuth.sign(user, method: method.rawValue, path: path, key: key, into: &headers)
                return try await ingestClient.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) }) {
                    ($0.status, $0.headers)
                }
            }
            let tenant = UUID()
            let users = (0..<3).map { _ in H.user(tenant: tenant) }
            var modelled: [UUID: Int64] = [:]
            var versions: [(VerifiedIdentity, String, String, Int64)] = []
            for (i, user) in users.enumerated() {
                for j in 0..<4 {
                    let node = UUID()
                    // Two versions of each file; the older one is purged below.
                    for round in 0..<2 {
                        let size = 1000 * (i + 1) + 37 * j + 11 * round
                        var pairs: [String: [UInt8]] = ["node": Array(node.lower.utf8)]
                        if round == 0 { pairs["attributes"] = [UInt8](repeating: 7, count: 40); pairs["key"] = [UInt8](repeating: 9, count: 72) }
                        let metadata = pairs.sorted { $0.key < $1.key }.map { "\($0.key) \(Data($0.value).base64EncodedString())" }.joined(separator: ",")
                        let (status, headers) = try await call(.post, "/v1/uploads", user, body: [UInt8](repeating: UInt8(j), count: size), headers: [
                            HTTPField.Name("Tus-Resumable")!: "1.0.0", HTTPField.Name("Upload-Length")!: String(size),
                            HTTPField.Name("Upload-Metadata")!: metadata, .contentType: "application/offset+octet-stream",
                        ])
                        #expect(status == .created)
                        let version = try #require(headers[HTTPField.Name("Coffre-Version-Id")!])
                        if round == 0 { versions.append((user, node.lower, version, Int64(size))) }
                        modelled[user.accountID!, default: 0] += Int64(size)
                    }
                }
            }
            // Purge the older versions: blob.deleted frees their bytes.
            for (user, node, version, size) in versions {
                let (status, _) = try await call(.delete, "/v1/nodes/\(node)/versions/\(version)", user)
                #expect(status == .noContent)
                modelled[user.accountID!, default: 0] -= size
            }
            let expected = modelled
            // A group of its own: a quota process elsewhere on the shared broker
            // may hold the default group's partitions.
            let group = TestEnvironment.unique("quota_rec")
            try await H.run(tweak: { $0.ingestURL = "http://127.0.0.1:\(ingestClient.port)"; $0.consumerGroup = group }) { h in
                let accounts = users.map { $0.accountID! }
                let caughtUp = try await TestEnvironment.eventually(timeout: .seconds(120), interval: .milliseconds(250)) {
                    let ledgers = try await Ledgers.read(tenant: tenant, accounts: accounts)
                    return accounts.allSatisfy { ledgers[$0]?.used == expected[$0] }
                }
                #expect(caughtUp, "ledgers never matched the uploads and purges")
                // Every tenant quota knows (the whole test run's), then this one only.
                func drift(repair: Bool = false, onlyThisTenant: Bool = true) async throws -> [[String: Any]] {
                    let query = [repair ? "repair=true" : nil, onlyThisTenant ? "tenant=\(tenant.lower)" : nil].compactMap { $0 }
                    let reply = try await h.call(.post, "/v1/admin/quota/reconcile?\(query.joined(separator: "&"))", admin: true)
                    #expect(reply.status == .ok, "\(reply.text)")
                    if onlyThisTenant { #expect(reply.json["tenants_checked"] as? Int == 1, "\(reply.text)") }
                    return (reply.json["drift"] as? [[String: Any]] ?? []).filter { $0["tenant_id"] as? String == tenant.lower }
                }
                #expect(try await drift(onlyThisTenant: false).isEmpty)
                #expect(try await drift().isEmpty)
                // Corrupt one ledger behind quota's back: reported, repaired, gone.
                try await TestEnvironment.withPostgres(poolSize: 1) { pg in
                    try await pg.withTransaction(logger: TestEnvironment.logger) { connection in
                        try await connection.query("SELECT set_config('coffre.tenant_id', \(tenant.lower), true)", logger: TestEnvironment.logger)
                        try await connection.query("UPDATE quota.ledgers SET used = used + 555 WHERE account_id = \(accounts[1])", logger: TestEnvironment.logger)
                    }
                }
                // A bad tenant id is refused before anything is repaired: the corruption is still found below.
                let badTenant = try await h.call(.post, "/v1/admin/quota/reconcile?repair=true&tenant=not-a-uuid", admin: true)
                #expect(badTenant.status == .badRequest && badTenant.json["type"] as? String == "urn:coffre:problem:invalid-id", "\(badTenant.text)")
                let found = try await drift(repair: true)
                #expect(found.count == 1)
                #expect(found.first?["difference"] as? Int == 555)
                #expect(try await drift().isEmpty)
                #expect(try await Ledgers.read(tenant: tenant, accounts: [accounts[1]])[accounts[1]]?.used == expected[accounts[1]])
            }
        }
    }

    /// transfer.served past the allowance emits quota.transfer.exhausted once,
    /// with the time the window frees up.
    @Test func transferAllowanceExhaustionIsPublished() async throws {
        var draft = EventScript()
        let account = UUID()
        draft.accounts = [account]
        draft.add("coffre.account.created", account: account, topic: draft.accountsTopic, data: [:])
        let now = RFC3339.format(Date())
        for _ in 0..<3 {
            draft.add("coffre.transfer.served", account: account, topic: draft.blobsTopic, data: [
                "bytes": .int(400), "from": .string(now), "to": .string(now),
            ])
        }
        let script = draft
        try script.createTopics()
        try await H.run(tweak: {
            $0.consumerGroup = TestEnvironment.unique("quota_tr"); $0.accountsTopic = script.accountsTopic; $0.blobsTopic = script.blobsTopic
        }) { h in
            try await h.setLimit(H.user(tenant: script.tenant, account: account), storage: nil, transfer: 1000)
            try await script.produce()
            #expect(try await script.waitUntilApplied())
            #expect(try await Ledgers.outboxCount(type: "coffre.quota.transfer.exhausted", account: account) == 1)
            let view = try await h.quota(H.user(tenant: script.tenant, account: account))
            let transfer = view["transfer"] as? [String: Any]
            #expect(transfer?["exhausted"] as? Bool == true)
            #expect(transfer?["used_bytes"] as? Int == 1200)
            // Raising the allowance restores it at once.
            try await h.setLimit(H.user(tenant: script.tenant, account: account), storage: nil, transfer: 5000)
            #expect(try await Ledgers.outboxCount(type: "coffre.quota.transfer.restored", account: account) == 1)
        }
    }

    /// Anonymous share-link downloads carry the client's address: past the
    /// per-address allowance that address (and only it) is reported
    /// exhausted, while the owner's own allowance is far from used.
    @Test func anAddressPastItsAllowanceIsPublishedAlone() async throws {
        var draft = EventScript()
        let account = UUID()
        draft.accounts = [account]
        draft.add("coffre.account.created", account: account, topic: draft.accountsTopic, data: [:])
        let now = RFC3339.format(Date())
        let greedy = "203.0.113.7", modest = "2001:db8::5"
        for ip in [greedy, greedy, greedy, modest, modest] {
            draft.add("coffre.transfer.served", account: account, topic: draft.blobsTopic, data: [
                "bytes": .int(400), "from": .string(now), "to": .string(now), "ip": .string(ip),
            ])
        }
        let script = draft
        try script.createTopics()
        try await H.run(tweak: {
            $0.consumerGroup = TestEnvironment.unique("quota_ip"); $0.accountsTopic = script.accountsTopic; $0.blobsTopic = script.blobsTopic
            $0.policy.ipTransferBytes = 1000
        }) { h in
            try await script.produce()
            #expect(try await script.waitUntilApplied())
            let (exhausted, blocked) = try await TestEnvironment.withPostgres(poolSize: 1) { pg in
                let events = try await pg.query("""
                    SELECT key, convert_from(payload, 'UTF8') FROM quota.outbox
                    WHERE key LIKE 'ip:%' AND convert_from(payload, 'UTF8') LIKE '%"type":"coffre.quota.transfer.exhausted"%'
                      AND convert_from(payload, 'UTF8') LIKE \("%\"tenant\":\"\(script.tenant.lower)\"%")
                    """, logger: TestEnvironment.logger)
                var keys: [String] = []
                for try await (key, payload) in events.decode((String, String).self) {
                    keys.append(key)
                    #expect(payload.contains("\"retry_after_seconds\""))
                }
                // address_blocks is under row-level security: read it as the tenant.
                let n = try await pg.withTenant(script.tenant, logger: TestEnvironment.logger) { connection in
                    let rows = try await connection.query("""
                        SELECT count(*) FROM quota.address_blocks WHERE ip = \(greedy)
                        """, logger: TestEnvironment.logger)
                    var n: Int64 = 0
                    for try await count in rows.decode(Int64.self) { n = count }
                    return n
                }
                return (keys, n)
            }
            #expect(exhausted.filter { $0 == "ip:\(greedy)" }.count == 1)
            #expect(!exhausted.contains("ip:\(modest)"))
            #expect(blocked == 1)
            #expect(try await Ledgers.outboxCount(type: "coffre.quota.transfer.exhausted", account: account) == 0)
            let view = try await h.quota(H.user(tenant: script.tenant, account: account))
            #expect((view["transfer"] as? [String: Any])?["used_bytes"] as? Int == 2000)
        }
    }
}
