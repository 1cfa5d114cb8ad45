import CoffreCore
import CoffreTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Kafka
import Logging
import NIOCore
import PostgresNIO
@testable import Quota

/// Runs the quota service in-process on a real socket (so `HTTPQuotaClient`
/// reaches it as ingest would), against the test Postgres and broker, and
/// signs requests the way the gateway and ingest do.
struct QuotaHarness {
    static let secret = "quota-test-secret"
    static let adminToken = "quota-admin-token"
    let client: LiveClient
    let key = InternalAuth.key(from: QuotaHarness.secret)

    static func config(tweak: (inout QuotaConfiguration) -> Void = { _ in }) -> QuotaConfiguration {
        var config = QuotaConfiguration(
            common: CommonConfiguration(postgresURL: TestEnvironment.postgresURL!, postgresPoolSize: 10,
                                        kafkaBrokers: TestEnvironment.kafkaBrokers!, internalSecret: secret),
            listen: .init(host: "127.0.0.1", port: 0), adminToken: adminToken)
        config.sweepInterval = .milliseconds(200)
        tweak(&config)
        return config
    }

    static func run(tweak: (inout QuotaConfiguration) -> Void = { _ in }, _ body: @Sendable (QuotaHarness) async throws -> Void) async throws {
        var logger = Logger(label: "quota-test")
        logger.logLevel = .warning
        let port = TestEnvironment.freePort()
        let app = try QuotaApp.build(config: config(tweak: { $0.listen.port = port; tweak(&$0) }), logger: logger)
        try await LiveService.run(app, name: "quota", port: port, logger: logger) { client in
            let harness = QuotaHarness(client: client)
            let ready = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                try await client.execute(uri: "/readyz", method: .get).status == .ok
            }
            guard ready else { throw ChildProcessError(message: "quota never became ready") }
            try await body(harness)
        }
    }

    var baseURL: String { "http://127.0.0.1:\(client.port)" }
    var quotaClient: HTTPQuotaClient { HTTPQuotaClient(baseURL: baseURL, secret: Self.secret, limitTTL: 0) }

    struct Reply {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: [UInt8]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func user(tenant: UUID = UUID(), account: UUID = UUID()) -> VerifiedIdentity {
        VerifiedIdentity(tenantID: tenant, accountID: account, sessionID: UUID())
    }

    func call(_ method: HTTPRequest.Method, _ path: String, as identity: VerifiedIdentity? = nil, admin: Bool = false,
              json: Any? = nil, raw: String? = nil) async throws -> Reply {
        var headers = HTTPFields()
        if let identity {
            let pathOnly = String(path.split(separator: "?", maxSplits: 1).first ?? "")
            InternalAuth.sign(identity, method: method.rawValue, path: pathOnly, key: key, into: &headers)
        }
        if admin { headers[.authorization] = "Bearer \(Self.adminToken)" }
        var body: ByteBuffer?
        if let json { body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)) }
        if let raw { body = ByteBuffer(string: raw) }
        if body != nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: path, method: method, headers: headers, body: body) { response in
            Reply(status: response.status, headers: response.headers, body: Array(buffer: response.body))
        }
    }

    /// Sets an account's storage limit through the operator API.
    func setLimit(_ identity: VerifiedIdentity, storage: Int64?, transfer: Int64? = nil) async throws {
        var body: [String: Any] = [:]
        if let storage { body["storage_limit_bytes"] = storage }
        if let transfer { body["transfer_allowance_bytes"] = transfer }
        let reply = try await call(.put, "/v1/admin/quota/tenants/\(identity.tenantID!.lower)/accounts/\(identity.accountID!.lower)",
                                   admin: true, json: body)
        guard reply.status == .ok else { throw ChildProcessError(message: "override: \(reply.status) \(reply.text)") }
    }

    func quota(_ identity: VerifiedIdentity) async throws -> [String: Any] {
        let reply = try await call(.get, "/v1/quota", as: identity)
        guard reply.status == .ok else { throw ChildProcessError(message: "quota: \(reply.status) \(reply.text)") }
        return reply.json
    }
}

/// A ledger as the tests compare it.
struct LedgerRow: Equatable, CustomStringConvertible {
    var used: Int64
    var reserved: Int64
    var limit: Int64
    var transfer: Int64
    var closed: Bool
    var description: String { "used \(used) reserved \(reserved) limit \(limit) transfer \(transfer)\(closed ? " closed" : "")" }
}

enum Ledgers {
    /// The ledgers of `accounts` (of `tenant`), read directly under its RLS tenant.
    static func read(tenant: UUID, accounts: [UUID]) async throws -> [UUID: LedgerRow] {
        try await TestEnvironment.withPostgres(poolSize: 1) { pg in
            try await pg.withTransaction(logger: TestEnvironment.logger) { connection in
                try await connection.query("SELECT set_config('coffre.tenant_id', \(tenant.lower), true)", logger: TestEnvironment.logger)
                let rows = try await connection.query("""
                    SELECT l.account_id, l.used, l.reserved, COALESCE(l.storage_override, l.storage_limit), l.closed_at IS NOT NULL,
                           COALESCE((SELECT sum(bytes) FROM quota.transfer_buckets b WHERE b.account_id = l.account_id), 0)::bigint
                    FROM quota.ledgers l WHERE l.account_id = ANY(\(accounts))
                    """, logger: TestEnvironment.logger)
                var result: [UUID: LedgerRow] = [:]
                for try await (account, used, reserved, limit, closed, transfer) in rows.decode((UUID, Int64, Int64, Int64, Bool, Int64).self) {
                    result[account] = LedgerRow(used: used, reserved: reserved, limit: limit, transfer: transfer, closed: closed)
                }
                return result
            }
        }
    }

    /// How many of `ids` the ledger consumer has recorded as processed.
    static func processed(_ ids: [UUID]) async throws -> Int {
        try await TestEnvironment.withPostgres(poolSize: 1) { pg in
            let rows = try await pg.query("""
                SELECT count(*) FROM quota.processed_events WHERE consumer = \(QuotaApp.consumerName) AND event_id = ANY(\(ids))
                """, logger: TestEnvironment.logger)
            for try await n in rows.decode(Int64.self) { return Int(n) }
            return 0
        }
    }

    /// Outbox rows of the quota schema of `type` about `account`.
    static func outboxCount(type: String, account: UUID) async throws -> Int {
        try await TestEnvironment.withPostgres(poolSize: 1) { pg in
            let rows = try await pg.query("""
                SELECT count(*) FROM quota.outbox WHERE key = \(account.lower)
                  AND convert_from(payload, 'UTF8') LIKE \("%\"type\":\"\(type)\"%")
                """, logger: TestEnvironment.logger)
            for try await n in rows.decode(Int64.self) { return Int(n) }
            return 0
        }
    }
}

/// Deterministic random numbers for the property tests (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Synthetic events shaped exactly like accounts' and ingest's, on a test's
/// private topics, with a model of the ledgers they must produce.
struct EventScript {
    var accountsTopic = TestEnvironment.unique("qacc").replacingOccurrences(of: "_", with: ".")
    var blobsTopic = TestEnvironment.unique("qblob").replacingOccurrences(of: "_", with: ".")
    var tenant = UUID()
    var accounts: [UUID] = []
    var messages: [KafkaOutgoingMessage] = []
    var ids: [UUID] = []
    var expected: [UUID: LedgerRow] = [:]
    init() {}
    init(accountsTopic: String, blobsTopic: String, tenant: UUID) {
        self.accountsTopic = accountsTopic
        self.blobsTopic = blobsTopic
        self.tenant = tenant
    }

    static let planStorage: Int64 = 7_000_000_000
    static let planTransfer: Int64 = 3_000_000_000

    func createTopics() throws {
        try TestEnvironment.createTopic(accountsTopic, partitions: 3)
        try TestEnvironment.createTopic(blobsTopic, partitions: 3)
    }

    mutating func add(_ type: String, account: UUID?, topic: String, data: [String: JSONValue]) {
        let subject = account ?? tenant
        var data = data
        data["tenant_id"] = .string(tenant.lower)
        if let account { data["account_id"] = .string(account.lower) }
        let event = CloudEvent(source: "/tests", type: type, subject: subject.lower, tenant: tenant.lower, data: .object(data))
        messages.append(KafkaOutgoingMessage(topic: topic, key: subject.lower, value: try! event.encoded()))
        ids.append(event.id)
    }

    /// A tenant with `accountCount` accounts and `perAccount` random commits
    /// and deletes each (unknown reservations: usage counts anyway).
    static func random(accountCount: Int, perAccount: Int, seed: UInt64) -> EventScript {
        var rng = SeededGenerator(seed: seed)
        var script = EventScript()
        script.add("coffre.tenant.created", account: nil, topic: script.accountsTopic, data: [
            "slug": .string("t\(seed)"), "storage_limit_bytes": .int(planStorage), "transfer_allowance_bytes": .int(planTransfer),
        ])
        for _ in 0..<accountCount {
            let account = UUID()
            script.accounts.append(account)
            script.add("coffre.account.created", account: account, topic: script.accountsTopic, data: [:])
            var used: Int64 = 0, transfer: Int64 = 0
            var live: [Int64] = []
            for _ in 0..<perAccount {
                if !live.isEmpty, Int.random(in: 0..<4, using: &rng) == 0 {
                    let bytes = live.remove(at: Int.random(in: 0..<live.count, using: &rng))
                    used -= bytes
                    script.add("coffre.blob.deleted", account: account, topic: script.blobsTopic, data: [
                        "node_id": .string(UUID().lower), "version_id": .string(UUID().lower), "bytes": .int(bytes),
                    ])
                } else if Int.random(in: 0..<6, using: &rng) == 0 {
                    let bytes = Int64.random(in: 1...50_000, using: &rng)
                    transfer += bytes
                    let now = RFC3339.format(Date())
                    script.add("coffre.transfer.served", account: account, topic: script.blobsTopic, data: [
                        "bytes": .int(bytes), "from": .string(now), "to": .string(now),
                    ])
                } else {
                    let bytes = Int64.random(in: 0...5_000_000, using: &rng)
                    live.append(bytes)
                    used += bytes
                    let version = UUID()
                    script.add("coffre.blob.committed", account: account, topic: script.blobsTopic, data: [
                        "node_id": .string(UUID().lower), "version_id": .string(version.lower), "upload_id": .string(version.lower),
                        "bytes": .int(bytes), "reservation_id": .string(UUID().lower),
                    ])
                }
            }
            script.expected[account] = LedgerRow(used: used, reserved: 0, limit: planStorage, transfer: transfer, closed: false)
        }
        return script
    }

    func produce(_ messages: [KafkaOutgoingMessage]? = nil) async throws {
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: TestEnvironment.kafkaBrokers!), logger: TestEnvironment.logger)
        let all = messages ?? self.messages
        for start in stride(from: 0, to: all.count, by: 5000) {
            for result in await producer.send(Array(all[start..<min(start + 5000, all.count)])) { _ = try result.get() }
        }
    }

    func waitUntilApplied(_ ids: [UUID]? = nil, timeout: Duration = .seconds(90)) async throws -> Bool {
        let ids = ids ?? self.ids
        return try await TestEnvironment.eventually(timeout: timeout, interval: .milliseconds(200)) {
            try await Ledgers.processed(ids) == ids.count
        }
    }
}
