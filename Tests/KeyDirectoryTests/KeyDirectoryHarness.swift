import CoffreCore
import CoffreTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import Kafka
@testable import KeyDirectory
import KeyTransparency
import Logging
import NIOCore
import PostgresNIO
import Sodium

/// Runs the keydir service in-process on a real socket against the test
/// Postgres and broker, reading account events from a topic of the test's
/// own, and signs requests the way the gateway does. Every instance shares
/// the one log of the test database (like replicas of one deployment).
struct KeyDirectoryHarness {
    static let secret = "keydir-test-secret"
    /// The log key every test instance signs with (pinned by the tests).
    static let logSeed = [UInt8](repeating: 7, count: 32)
    static let origin = "test.coffre.local/keys"
    let client: LiveClient
    let key = InternalAuth.key(from: KeyDirectoryHarness.secret)

    static var verifierKey: String { try! NoteSigner(name: origin, seed: logSeed).verifierKey }
    static var verifier: NoteVerifier { try! NoteVerifier(verifierKey: verifierKey) }

    static func config(topic: String, tweak: (inout KeyDirectoryConfiguration) -> Void = { _ in }) -> KeyDirectoryConfiguration {
        var config = KeyDirectoryConfiguration(
            common: CommonConfiguration(postgresURL: TestEnvironment.postgresURL!, postgresPoolSize: 8,
                                        kafkaBrokers: TestEnvironment.kafkaBrokers!, internalSecret: secret),
            listen: .init(host: "127.0.0.1", port: 0))
        config.logKey = Base64URL.encode(logSeed)
        config.logOrigin = origin
        config.sequencer.interval = .milliseconds(20)
        config.sequencer.checkpointInterval = .seconds(1)
        config.publishWait = .seconds(5)
        config.accountsTopic = topic
        config.consumerGroup = TestEnvironment.unique("keydir")
        tweak(&config)
        return config
    }

    /// A fresh topic for account events (3 partitions, like the real one has several).
    static func newTopic() throws -> String {
        let topic = TestEnvironment.unique("kdacc").replacingOccurrences(of: "_", with: ".")
        try TestEnvironment.createTopic(topic, partitions: 3)
        return topic
    }

    static func run(topic: String, tweak: (inout KeyDirectoryConfiguration) -> Void = { _ in },
                    _ body: @Sendable (KeyDirectoryHarness) async throws -> Void) async throws {
        var logger = Logger(label: "keydir-test")
        logger.logLevel = .warning
        let port = TestEnvironment.freePort()
        let app = try KeyDirectoryApp.build(config: config(topic: topic, tweak: { $0.listen.port = port; tweak(&$0) }), logger: logger)
        try await LiveService.run(app, name: "keydir", port: port, logger: logger) { client in
            let harness = KeyDirectoryHarness(client: client)
            let ready = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                try await client.execute(uri: "/readyz", method: .get).status == .ok
            }
            guard ready else { throw ChildProcessError(message: "keydir never became ready") }
            // The first sequencer pass signs a checkpoint even of an empty log.
            let checkpoint = try await TestEnvironment.eventually(timeout: .seconds(10)) {
                try await client.execute(uri: "/v1/log/checkpoint", method: .get).status == .ok
            }
            guard checkpoint else { throw ChildProcessError(message: "keydir never signed a checkpoint") }
            try await body(harness)
        }
    }

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

    func call(_ method: HTTPRequest.Method, _ path: String, as identity: VerifiedIdentity? = nil,
              json: Any? = nil, raw: String? = nil) async throws -> Reply {
        var headers = HTTPFields()
        if let identity {
            let pathOnly = String(path.split(separator: "?", maxSplits: 1).first ?? "")
            InternalAuth.sign(identity, method: method.rawValue, path: pathOnly, key: key, into: &headers)
        }
        var body: ByteBuffer?
        if let json { body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)) }
        if let raw { body = ByteBuffer(string: raw) }
        if body != nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: path, method: method, headers: headers, body: body) { response in
            Reply(status: response.status, headers: response.headers, body: Array(buffer: response.body))
        }
    }

    /// The newest checkpoint, verified with the pinned key.
    func checkpoint() async throws -> (note: String, checkpoint: Checkpoint) {
        let reply = try await call(.get, "/v1/log/checkpoint")
        guard reply.status == .ok else { throw ChildProcessError(message: "checkpoint: \(reply.status) \(reply.text)") }
        return (reply.text, try Self.verifier.verify(note: reply.text))
    }

    /// Publishes fresh keys for `identity` through `POST /v1/keys`.
    @discardableResult
    func publish(_ identity: VerifiedIdentity, _ keys: TestKeys = TestKeys(), version: Int = 1) async throws -> (keys: TestKeys, reply: Reply) {
        let reply = try await call(.post, "/v1/keys", as: identity, json: keys.publishBody(version: version))
        guard reply.status == .created else { throw ChildProcessError(message: "publish: \(reply.status) \(reply.text)") }
        return (keys, reply)
    }

    /// Polls the account's lookup until it shows `version`.
    func waitForVersion(_ version: Int, of account: UUID, as identity: VerifiedIdentity, timeout: Duration = .seconds(30)) async throws -> Reply? {
        var last: Reply?
        let reached = try await TestEnvironment.eventually(timeout: timeout, interval: .milliseconds(100)) {
            last = try await call(.get, "/v1/keys/accounts/\(account.lower)", as: identity)
            return last?.status == .ok && (last?.json["version"] as? Int) == version
        }
        return reached ? last : nil
    }
}

/// A client's key pairs, and the signatures the directory checks.
struct TestKeys: Sendable {
    let x25519: [UInt8]
    let ed25519: [UInt8]
    let ed25519Secret: [UInt8]

    init() {
        x25519 = Sodium.Box.keyPair().publicKey
        let signing = Sodium.Sign.keyPair()
        ed25519 = signing.publicKey
        ed25519Secret = signing.secretKey
    }

    var x: String { Base64URL.encode(x25519) }
    var ed: String { Base64URL.encode(ed25519) }
    var selfSignature: String {
        Base64URL.encode(try! Sodium.Sign.detached(KeyLogEntry.selfSignedMessage(x25519: x, ed25519: ed), secretKey: ed25519Secret))
    }

    /// This (previous) key's signature over a transition to `next` (nil for a revoke).
    func transition(account: UUID, action: KeyLogEntry.Action, version: Int, to next: TestKeys?) -> String {
        let message = KeyLogEntry.transitionMessage(account: account.lower, action: action, version: UInt64(version),
                                                    x25519: next?.x, ed25519: next?.ed)
        return Base64URL.encode(try! Sodium.Sign.detached(message, secretKey: ed25519Secret))
    }

    func publishBody(version: Int = 1) -> [String: Any] {
        ["action": "publish", "version": version, "x25519": x, "ed25519": ed, "self_signature": selfSignature]
    }

    /// `next`'s rotate body, signed by `self` (the previous keys).
    func rotateBody(to next: TestKeys, account: UUID, version: Int) -> [String: Any] {
        ["action": "rotate", "version": version, "x25519": next.x, "ed25519": next.ed, "self_signature": next.selfSignature,
         "prev_signature": transition(account: account, action: .rotate, version: version, to: next)]
    }

    func revokeBody(account: UUID, version: Int) -> [String: Any] {
        ["action": "revoke", "version": version, "prev_signature": transition(account: account, action: .revoke, version: version, to: nil)]
    }
}

/// Account events shaped exactly like accounts' (AccountsStore.signup / deleteAccount).
enum AccountEventsScript {
    static func created(tenant: UUID, account: UUID, email: String, keys: TestKeys, selfSignature: String? = nil) -> CloudEvent {
        CloudEvent(source: "/coffre/accounts", type: "coffre.account.created", subject: account.lower, tenant: tenant.lower, data: .object([
            "tenant_id": .string(tenant.lower), "account_id": .string(account.lower), "email": .string(email),
            "public_keys": .object([
                "x25519": .string(keys.x), "ed25519": .string(keys.ed), "self_signature": .string(selfSignature ?? keys.selfSignature),
            ]),
        ]))
    }

    static func deleted(tenant: UUID, account: UUID) -> CloudEvent {
        CloudEvent(source: "/coffre/accounts", type: "coffre.account.deleted", subject: account.lower, tenant: tenant.lower, data: .object([
            "tenant_id": .string(tenant.lower), "account_id": .string(account.lower),
        ]))
    }

    /// Keyed by account id like accounts' outbox, unless `key` is given.
    static func produce(_ events: [CloudEvent], topic: String, key: String? = nil) async throws {
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: TestEnvironment.kafkaBrokers!), logger: TestEnvironment.logger)
        let messages = try events.map { KafkaOutgoingMessage(topic: topic, key: key ?? $0.subject ?? "", value: try $0.encoded()) }
        for result in await producer.send(messages) { _ = try result.get() }
    }
}

/// Direct reads of the keydir schema (what the API must not be trusted to say about itself).
enum KeyDirectoryDB {
    static func count(_ sql: String, _ account: UUID) async throws -> Int {
        try await TestEnvironment.withPostgres(poolSize: 1) { pg in
            var query = PostgresQuery(unsafeSQL: sql)
            query.binds.append(account)
            let rows = try await pg.query(query, logger: TestEnvironment.logger)
            for try await n in rows.decode(Int64.self) { return Int(n) }
            return 0
        }
    }

    static func entries(of account: UUID) async throws -> Int {
        try await count("SELECT count(*) FROM keydir.entries WHERE account_id = $1", account)
    }

    static func queued(of account: UUID) async throws -> Int {
        try await count("SELECT count(*) FROM keydir.queue WHERE account_id = $1", account)
    }

    static func processed(_ id: UUID) async throws -> Bool {
        try await TestEnvironment.withPostgres(poolSize: 1) { pg in
            let rows = try await pg.query("""
                SELECT count(*) FROM keydir.processed_events WHERE consumer = \(KeyDirectoryApp.consumerName) AND event_id = \(id)
                """, logger: TestEnvironment.logger)
            for try await n in rows.decode(Int64.self) { return n > 0 }
            return false
        }
    }
}
