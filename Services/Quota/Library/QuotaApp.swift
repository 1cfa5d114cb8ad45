import CoffreCore
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle

/// Settings of the quota service (environment variables):
///
/// | variable | default |
/// |---|---|
/// | `QUOTA_HTTP_HOST` | `127.0.0.1` |
/// | `QUOTA_HTTP_PORT` | `8084` |
/// | `COFFRE_ADMIN_TOKEN` | unset: operator routes refuse everyone |
/// | `QUOTA_DEFAULT_STORAGE_BYTES` | `50000000000`: an account's limit until its tenant's plan is known |
/// | `QUOTA_DEFAULT_TRANSFER_BYTES` | `10000000000`: transfer allowance per window, likewise |
/// | `QUOTA_IP_TRANSFER_BYTES` | `5000000000`: per window, per client IP address downloading share links |
/// | `QUOTA_TRANSFER_WINDOW_SECONDS` | `21600` (6 h, rolling) |
/// | `QUOTA_TRANSFER_BUCKET_SECONDS` | `300`: the window's granularity |
/// | `QUOTA_SWEEP_INTERVAL_MS` | `5000`: expired reservations, transfer restoration |
/// | `QUOTA_INGEST_URL` | unset: reconciliation unavailable |
/// | `QUOTA_CONSUMER_GROUP` | `quota`: Kafka group of the ledger consumer |
/// | `QUOTA_ACCOUNTS_TOPIC`, `QUOTA_BLOBS_TOPIC` | `coffre.accounts`, `coffre.blobs` |
///
/// plus the common `COFFRE_*` settings (see `CommonConfiguration`).
public struct QuotaConfiguration: Sendable {
    public var common: CommonConfiguration
    public var listen: HTTPListenConfiguration
    public var adminToken: String?
    public var policy = QuotaPolicy()
    public var sweepInterval: Duration = .seconds(5)
    public var ingestURL: String?
    public var consumerGroup = "quota"
    public var accountsTopic = "coffre.accounts"
    public var blobsTopic = "coffre.blobs"

    public init(common: CommonConfiguration = .init(), listen: HTTPListenConfiguration = .init(host: "127.0.0.1", port: 8084),
                adminToken: String? = nil) {
        self.common = common
        self.listen = listen
        self.adminToken = adminToken
    }

    public init(env: EnvironmentReader) throws(ConfigurationError) {
        common = try CommonConfiguration(env: env)
        listen = try HTTPListenConfiguration(prefix: "QUOTA", defaultPort: 8084, env: env)
        adminToken = env.optionalString("COFFRE_ADMIN_TOKEN")
        policy.defaultStorageBytes = Int64(try env.int("QUOTA_DEFAULT_STORAGE_BYTES", default: 50_000_000_000, range: 0...Int.max))
        policy.defaultTransferBytes = Int64(try env.int("QUOTA_DEFAULT_TRANSFER_BYTES", default: 10_000_000_000, range: 0...Int.max))
        policy.ipTransferBytes = Int64(try env.int("QUOTA_IP_TRANSFER_BYTES", default: 5_000_000_000, range: 0...Int.max))
        policy.transferWindowSeconds = Int64(try env.int("QUOTA_TRANSFER_WINDOW_SECONDS", default: 21600, range: 1...(30 * 86400)))
        policy.transferBucketSeconds = Int64(try env.int("QUOTA_TRANSFER_BUCKET_SECONDS", default: 300, range: 1...86400))
        sweepInterval = .milliseconds(try env.int("QUOTA_SWEEP_INTERVAL_MS", default: 5000, range: 50...3_600_000))
        ingestURL = env.optionalString("QUOTA_INGEST_URL")
        consumerGroup = env.string("QUOTA_CONSUMER_GROUP", default: "quota")
        accountsTopic = env.string("QUOTA_ACCOUNTS_TOPIC", default: "coffre.accounts")
        blobsTopic = env.string("QUOTA_BLOBS_TOPIC", default: "coffre.blobs")
    }
}

public enum QuotaApp {
    public static let schema = "quota"
    /// The ledger consumer's key in `processed_events`. It stays the same
    /// whatever the Kafka group, so a new group replaying the topics from
    /// offset 0 finds every event already applied.
    public static let consumerName = "quota-ledgers"

    /// Numbered migrations of the `quota` schema, applied in order at start-up.
    public static var migrations: [Migration] {
        QuotaMigrations.all
    }

    /// Wires the service: shared core (Postgres, migrations, Kafka producer,
    /// outbox relay), the ledger consumer, the sweeper, middleware, routes.
    public static func build(config: QuotaConfiguration, logger: Logger) throws(ConfigurationError) -> some ApplicationProtocol {
        let core = try ServiceCore(name: "quota", schema: schema, common: config.common, migrations: migrations, logger: logger)
        let store = QuotaStore(postgres: core.postgres, outbox: core.outbox, policy: config.policy, logger: logger)
        let events = LedgerEvents(store: store)
        let consumer: IdempotentConsumer
        do {
            consumer = try IdempotentConsumer(
                name: consumerName, groupID: config.consumerGroup, schema: schema, client: core.postgres,
                kafka: ServiceCore.kafkaConfiguration(config.common), topics: [config.accountsTopic, config.blobsTopic],
                logger: logger, startWhen: core.migrated
            ) { batch, connection, logger in
                try await events.apply(batch, on: connection, logger: logger)
            }
        } catch {
            throw ConfigurationError(key: "COFFRE_KAFKA_BROKERS", problem: "\(error)")
        }
        let sweeper = Sweeper(store: store, interval: config.sweepInterval, ready: core.migrated, logger: logger)
        let reconciler = reconciler(config: config, store: store, logger: logger)

        let router = Router(context: CoffreRequestContext.self)
        ServiceCore.addStandardMiddleware(to: router)
        router.add(middleware: InternalIdentityMiddleware(secret: config.common.internalSecret))
        core.addOperationalRoutes(to: router)
        QuotaRoutes(store: store, reconciler: reconciler, adminToken: config.adminToken).add(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "coffre-quota"),
            services: core.services + [consumer, sweeper],
            logger: logger
        )
    }

    static func reconciler(config: QuotaConfiguration, store: QuotaStore, logger: Logger) -> Reconciler? {
        config.ingestURL.map {
            Reconciler(store: store, ingestURL: $0, key: InternalAuth.key(from: config.common.internalSecret), logger: logger)
        }
    }

    /// `quota reconcile [--repair]`: one reconciliation against the running
    /// ingest, printed as JSON. Returns the exit status: 0 without drift, 1
    /// with drift (even repaired), 2 when it could not run.
    public static func reconcile(config: QuotaConfiguration, repair: Bool, logger: Logger) async -> Int32 {
        guard config.ingestURL != nil else {
            logger.error("reconciliation needs QUOTA_INGEST_URL")
            return 2
        }
        do {
            let pg = try PostgresSetup.configuration(url: config.common.postgresURL, poolSize: 2)
            let client = PostgresClient(configuration: pg, backgroundLogger: logger)
            let store = QuotaStore(postgres: client, outbox: Outbox(schema: schema), policy: config.policy, logger: logger)
            let report = try await withThrowingTaskGroup(of: ReconciliationReport?.self) { group in
                group.addTask { await client.run(); return nil }
                defer { group.cancelAll() }
                return try await reconciler(config: config, store: store, logger: logger)!.run(repair: repair)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return report.drift.isEmpty && report.failed_tenants.isEmpty ? 0 : 1
        } catch {
            logger.error("reconciliation failed", metadata: ["error": .string(String(describing: error))])
            return 2
        }
    }
}

extension QuotaApp {
    /// Every route the quota router serves, as "METHOD /path" with `{name}`
    /// parameters (for the gateway's route list). Builds the router only.
    public static func routeList() -> [String] {
        var logger = Logger(label: "routes")
        logger.logLevel = .critical
        let config = try! PostgresSetup.configuration(url: "postgres://u@127.0.0.1:1/d", poolSize: 1)
        let store = QuotaStore(postgres: PostgresClient(configuration: config, backgroundLogger: logger),
                               outbox: Outbox(schema: schema), policy: .init(), logger: logger)
        let router = Router(context: CoffreRequestContext.self)
        QuotaRoutes(store: store, reconciler: nil, adminToken: nil).add(to: router)
        return router.routes.map { "\($0.method.rawValue) \($0.path.description)" }
    }
}
