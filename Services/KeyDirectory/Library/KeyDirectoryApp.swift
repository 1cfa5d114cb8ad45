// The key directory: accounts' public keys in an append-only transparency
// log (RFC 6962 tree, C2SP signed checkpoints), user-to-user key shares and
// share links. It stores only public keys, signatures and sealed parcels;
// it never sees a private key or a file key, and never logs key material.
import CoffreCore
import Hummingbird
import KeyTransparency
import Logging
import PostgresNIO

/// Settings of the keydir service (environment variables):
///
/// | variable | default |
/// |---|---|
/// | `KEYDIR_HTTP_HOST` | `127.0.0.1` |
/// | `KEYDIR_HTTP_PORT` | `8082` |
/// | `KEYDIR_LOG_KEY` | derived from `COFFRE_INTERNAL_SECRET` (development; warned about): base64url 32-byte Ed25519 seed signing checkpoints |
/// | `KEYDIR_LOG_ORIGIN` | `coffre.local/keys`: the checkpoints' origin line and key name |
/// | `KEYDIR_BATCH_SIZE` | `1024`: most entries per sequencing pass |
/// | `KEYDIR_SEQUENCE_INTERVAL_MS` | `100`: time between passes when nobody kicks |
/// | `KEYDIR_CHECKPOINT_INTERVAL_MS` | `60000`: the newest checkpoint is re-signed at least this often |
/// | `KEYDIR_PUBLISH_WAIT_MS` | `3000`: how long `POST /v1/keys` waits for its entry before answering 202 |
/// | `KEYDIR_CONSUMER_GROUP` | `keydir`: Kafka group of the account events consumer |
/// | `KEYDIR_ACCOUNTS_TOPIC` | `coffre.accounts` |
/// | `KEYDIR_INGEST_URL` | `http://127.0.0.1:8083`: blob ingest, asked whether a shared or linked node is the caller's |
///
/// plus the common `COFFRE_*` settings (see `CommonConfiguration`).
public struct KeyDirectoryConfiguration: Sendable {
    public var common: CommonConfiguration
    public var listen: HTTPListenConfiguration
    /// base64url Ed25519 seed; nil derives a development key.
    public var logKey: String?
    public var logOrigin = "coffre.local/keys"
    public var sequencer = LogSequencer.Options()
    public var publishWait: Duration = .seconds(3)
    public var consumerGroup = "keydir"
    public var accountsTopic = "coffre.accounts"
    public var ingestURL = "http://127.0.0.1:8083"

    public init(common: CommonConfiguration = .init(), listen: HTTPListenConfiguration = .init(host: "127.0.0.1", port: 8082)) {
        self.common = common
        self.listen = listen
    }

    public init(env: EnvironmentReader) throws(ConfigurationError) {
        common = try CommonConfiguration(env: env)
        listen = try HTTPListenConfiguration(prefix: "KEYDIR", defaultPort: 8082, env: env)
        logKey = env.optionalString("KEYDIR_LOG_KEY")
        logOrigin = env.string("KEYDIR_LOG_ORIGIN", default: "coffre.local/keys")
        sequencer.batchSize = try env.int("KEYDIR_BATCH_SIZE", default: 1024, range: 1...100_000)
        sequencer.interval = .milliseconds(try env.int("KEYDIR_SEQUENCE_INTERVAL_MS", default: 100, range: 5...60_000))
        sequencer.checkpointInterval = .milliseconds(try env.int("KEYDIR_CHECKPOINT_INTERVAL_MS", default: 60_000, range: 1000...86_400_000))
        publishWait = .milliseconds(try env.int("KEYDIR_PUBLISH_WAIT_MS", default: 3000, range: 0...60_000))
        consumerGroup = env.string("KEYDIR_CONSUMER_GROUP", default: "keydir")
        accountsTopic = env.string("KEYDIR_ACCOUNTS_TOPIC", default: "coffre.accounts")
        ingestURL = env.string("KEYDIR_INGEST_URL", default: "http://127.0.0.1:8083")
    }
}

public enum KeyDirectoryApp {
    public static let schema = "keydir"
    /// The account events consumer's key in `processed_events`: the same
    /// whatever the Kafka group, so a new group replaying the topic from
    /// offset 0 queues nothing twice.
    public static let consumerName = "keydir-accounts"

    /// Numbered migrations of the `keydir` schema, applied in order at start-up.
    public static var migrations: [Migration] {
        [
            Outbox.migration(1),
            KeyDirectoryMigrations.log,  // 2: the log and the directory
            SharesModule.migration,  // 3: shares and links (Library/Shares)
            SharesModule.crossTenantMigration,  // 4: cross-tenant shares
        ]
    }

    /// Wires the service: shared core (Postgres, migrations, Kafka producer,
    /// outbox relay), the log sequencer, the account events consumer,
    /// middleware, routes.
    public static func build(config: KeyDirectoryConfiguration, logger: Logger) throws(ConfigurationError) -> some ApplicationProtocol {
        let core = try ServiceCore(name: "keydir", schema: schema, common: config.common, migrations: migrations, logger: logger)
        let signer = try LogKey.signer(origin: config.logOrigin, seed: config.logKey, internalSecret: config.common.internalSecret, logger: logger)
        let sequencer = LogSequencer(postgres: core.postgres, signer: signer, options: config.sequencer, ready: core.migrated, logger: logger)
        let keys = KeyStore(postgres: core.postgres, sequencer: sequencer, publishWait: config.publishWait, logger: logger)
        let events = AccountEvents(keys: keys)
        let consumer: IdempotentConsumer
        do {
            consumer = try IdempotentConsumer(
                name: consumerName, groupID: config.consumerGroup, schema: schema, client: core.postgres,
                kafka: ServiceCore.kafkaConfiguration(config.common), topics: [config.accountsTopic],
                logger: logger, startWhen: core.migrated
            ) { batch, connection, logger in
                try await events.apply(batch, on: connection, logger: logger)
            }
        } catch {
            throw ConfigurationError(key: "COFFRE_KAFKA_BROKERS", problem: "\(error)")
        }

        let router = Router(context: CoffreRequestContext.self)
        ServiceCore.addStandardMiddleware(to: router)
        router.add(middleware: InternalIdentityMiddleware(secret: config.common.internalSecret))
        core.addOperationalRoutes(to: router)
        addRoutes(to: router, keys: keys, signer: signer,
                  shares: .init(ingestURL: config.ingestURL, internalSecret: config.common.internalSecret))
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "coffre-keydir"),
            services: core.services + [sequencer, consumer],
            logger: logger
        )
    }

    /// Every API route of the service. Shares and links (Library/Shares)
    /// register theirs here too; they read accounts' current keys through
    /// `keys.currentKeys(tenant:account:)`.
    static func addRoutes(to router: Router<CoffreRequestContext>, keys: KeyStore, signer: NoteSigner,
                          shares: SharesModule.Settings = .init()) {
        LogRoutes(log: keys.log, signer: signer).add(to: router)
        KeyRoutes(keys: keys).add(to: router)
        SharesModule.add(to: router, keys: keys, settings: shares)
    }
}

extension KeyDirectoryApp {
    /// Every route the keydir router serves, as "METHOD /path" with `{name}`
    /// parameters (for the gateway's route list). Builds the router only;
    /// nothing connects.
    public static func routeList() -> [String] {
        var logger = Logger(label: "routes")
        logger.logLevel = .critical
        let config = try! PostgresSetup.configuration(url: "postgres://u@127.0.0.1:1/d", poolSize: 1)
        let postgres = PostgresClient(configuration: config, backgroundLogger: logger)
        let signer = try! NoteSigner(name: "routes", seed: Array(repeating: 1, count: 32))
        let sequencer = LogSequencer(postgres: postgres, signer: signer, ready: ReadinessFlag(), logger: logger)
        let router = Router(context: CoffreRequestContext.self)
        addRoutes(to: router, keys: KeyStore(postgres: postgres, sequencer: sequencer, publishWait: .zero, logger: logger), signer: signer)
        return router.routes.map { "\($0.method.rawValue) \($0.path.description)" }
    }
}
