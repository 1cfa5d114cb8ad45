import CoffreCore
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle

/// Settings of the ingest service (environment variables):
///
/// | variable | default |
/// |---|---|
/// | `INGEST_HTTP_HOST` | `127.0.0.1` |
/// | `INGEST_HTTP_PORT` | `8083` |
/// | `INGEST_BLOB_STORE` | `fs` (or `s3`: see `S3Configuration` for `INGEST_S3_*`) |
/// | `INGEST_BLOB_DIR` | `./data/blobs` (the `fs` store's root) |
/// | `INGEST_BLOB_DIRECT_IO` | `true`: the `fs` store writes uploads with `O_DIRECT` (falls back by itself to the page cache where the filesystem refuses it); `false` writes them through the page cache with write-behind |
/// | `INGEST_BLOB_WRITE_BUFFER_BYTES` | `524288`: bytes an upload gathers before one write to the `fs` store (the memory each upload holds; direct writes to a network disk go faster in larger pieces) |
/// | `INGEST_UPLOAD_TTL_SECONDS` | `86400`: an upload's life (`Upload-Expires`) |
/// | `INGEST_CHECKPOINT_BYTES` | `8388608`: bytes between fsyncs within one PATCH |
/// | `INGEST_UPLOAD_LEASE_SECONDS` | `10`: a silent writer's lease lapses after this |
/// | `INGEST_QUOTA_URL` | unset: no quota service, every reservation granted (`UnreservedQuota`) |
/// | `INGEST_MAX_UPLOAD_BYTES` | `50000000000`: the plan limit when no quota service is set |
/// | `INGEST_JANITOR_INTERVAL_MS` | `5000`: expiry sweep and blob deletion |
/// | `INGEST_TRANSFER_FLUSH_MS` | `5000`: `transfer.served` batching |
/// | `INGEST_CONSUMER_GROUP` | `ingest-accounts`: Kafka group of the event consumer |
/// | `INGEST_KEYDIR_URL` | `http://127.0.0.1:8082`: the key directory (share links) |
///
/// plus the common `COFFRE_*` settings (see `CommonConfiguration`).
public struct IngestConfiguration: Sendable {
    public var common: CommonConfiguration
    public var listen: HTTPListenConfiguration
    public var blobStore: String = "fs"
    public var blobDirectory: String = "./data/blobs"
    public var blobDirectIO = true
    public var blobWriteBuffer = 512 << 10
    public var s3: S3Configuration?
    public var uploads = UploadSettings()
    public var maxUploadBytes: Int64 = 50_000_000_000
    public var janitorInterval: Duration = .seconds(5)
    public var transferFlush: Duration = .seconds(5)
    public var consumerGroup = "ingest-accounts"
    public var quotaURL: String?
    public var keydirURL = "http://127.0.0.1:8082"

    public init(common: CommonConfiguration = .init(), listen: HTTPListenConfiguration = .init(host: "127.0.0.1", port: 8083)) {
        self.common = common
        self.listen = listen
    }

    public init(env: EnvironmentReader) throws(ConfigurationError) {
        common = try CommonConfiguration(env: env)
        listen = try HTTPListenConfiguration(prefix: "INGEST", defaultPort: 8083, env: env)
        blobStore = env.string("INGEST_BLOB_STORE", default: "fs")
        guard ["fs", "s3"].contains(blobStore) else {
            throw ConfigurationError(key: "INGEST_BLOB_STORE", problem: "must be fs or s3, not \(blobStore)")
        }
        blobDirectory = env.string("INGEST_BLOB_DIR", default: "./data/blobs")
        blobDirectIO = try env.bool("INGEST_BLOB_DIRECT_IO", default: true)
        blobWriteBuffer = try env.int("INGEST_BLOB_WRITE_BUFFER_BYTES", default: 512 << 10, range: (64 << 10)...(64 << 20))
        if blobStore == "s3" { s3 = try S3Configuration(env: env) }
        uploads.ttlSeconds = Int64(try env.int("INGEST_UPLOAD_TTL_SECONDS", default: 86400, range: 1...(90 * 86400)))
        uploads.checkpointBytes = Int64(try env.int("INGEST_CHECKPOINT_BYTES", default: 8 << 20, range: (64 << 10)...(1 << 30)))
        uploads.leaseSeconds = try env.int("INGEST_UPLOAD_LEASE_SECONDS", default: 10, range: 2...600)
        maxUploadBytes = Int64(try env.int("INGEST_MAX_UPLOAD_BYTES", default: 50_000_000_000, range: 0...Int.max))
        janitorInterval = .milliseconds(try env.int("INGEST_JANITOR_INTERVAL_MS", default: 5000, range: 50...3_600_000))
        transferFlush = .milliseconds(try env.int("INGEST_TRANSFER_FLUSH_MS", default: 5000, range: 50...3_600_000))
        consumerGroup = env.string("INGEST_CONSUMER_GROUP", default: "ingest-accounts")
        quotaURL = env.optionalString("INGEST_QUOTA_URL")
        if let url = quotaURL, URL(string: url)?.host == nil {
            throw ConfigurationError(key: "INGEST_QUOTA_URL", problem: "\(url) is not an http(s) URL")
        }
        keydirURL = env.string("INGEST_KEYDIR_URL", default: "http://127.0.0.1:8082")
        guard URL(string: keydirURL)?.host != nil else {
            throw ConfigurationError(key: "INGEST_KEYDIR_URL", problem: "\(keydirURL) is not an http(s) URL")
        }
    }
}

public enum IngestApp {
    public static let schema = "ingest"

    /// Numbered migrations of the `ingest` schema, applied in order at start-up.
    public static var migrations: [Migration] {
        IngestMigrations.all
    }

    /// Wires the service: shared core (Postgres, migrations, Kafka producer,
    /// outbox relay), the blob store, the tus and tree routes, the janitor,
    /// the transfer meter and the consumer of `account.deleted`, quota's
    /// transfer verdicts and the key directory's share events (grants).
    public static func build(config: IngestConfiguration, logger: Logger) throws(ConfigurationError) -> some ApplicationProtocol {
        let core = try ServiceCore(name: "ingest", schema: schema, common: config.common, migrations: migrations, logger: logger)
        let blobs: any BlobStore
        var lifecycle: [any Service] = []
        do {
            if let s3 = config.s3 {
                let store = try S3BlobStore(configuration: s3, logger: logger)
                lifecycle.append(ShutdownHook { try await store.shutdown() })
                blobs = store
            } else {
                blobs = try FileBlobStore(root: config.blobDirectory, writeBuffer: config.blobWriteBuffer, directIO: config.blobDirectIO)
            }
        } catch {
            throw ConfigurationError(key: config.s3 == nil ? "INGEST_BLOB_DIR" : "INGEST_S3_ENDPOINT", problem: "\(error)")
        }
        let store = IngestStore(postgres: core.postgres, outbox: core.outbox, logger: logger, postgresWait: config.common.postgresWait)
        let quota: any QuotaClient = config.quotaURL.map { HTTPQuotaClient(baseURL: $0, secret: config.common.internalSecret) }
            ?? UnreservedQuota(planLimit: config.maxUploadBytes)
        let uploads = UploadRoutes(store: store, blobs: blobs, quota: quota, settings: config.uploads, logger: logger)
        let meter = TransferMeter(store: store, interval: config.transferFlush, logger: logger)
        let janitor = Janitor(store: store, blobs: blobs, uploads: uploads, interval: config.janitorInterval,
                              ready: core.migrated, logger: logger)
        let accountEvents: IdempotentConsumer
        do {
            accountEvents = try IdempotentConsumer(
                name: "ingest-accounts", groupID: config.consumerGroup, schema: schema, client: core.postgres,
                kafka: ServiceCore.kafkaConfiguration(config.common), topics: ["coffre.accounts", "coffre.quota", "coffre.keydir"],
                logger: logger, startWhen: core.migrated
            ) { events, connection, _ in
                for event in events {
                    if event.type == "coffre.account.deleted" {
                        guard let tenant = UUID(uuidString: event.tenant),
                              let account = event.subject.flatMap({ UUID(uuidString: $0) }) else { continue }
                        try await store.purgeAccount(tenant: tenant, account: account, on: connection)
                    } else if event.type.contains("quota.transfer.") {
                        try await store.applyTransferVerdict(event, on: connection)
                    } else if event.type == "coffre.share.created" || event.type == "coffre.share.revoked" {
                        try await store.applyShareEvent(event, on: connection)
                    }
                }
            }
        } catch {
            throw ConfigurationError(key: "COFFRE_KAFKA_BROKERS", problem: "\(error)")
        }

        let router = Router(context: CoffreRequestContext.self)
        ServiceCore.addStandardMiddleware(to: router)
        router.add(middleware: InternalIdentityMiddleware(secret: config.common.internalSecret))
        core.addOperationalRoutes(to: router)
        uploads.add(to: router)
        NodeRoutes(store: store, blobs: blobs, meter: meter).add(to: router)
        LinkRoutes(store: store, blobs: blobs, meter: meter,
                   directory: KeyDirectoryLinks(baseURL: config.keydirURL, secret: config.common.internalSecret)).add(to: router)
        return Application(
            router: router,
            // Reads of up to 256 KiB, at most ~1.25 MiB waiting per
            // connection (see BulkReadHTTP1Channel): fewer reads and wake-ups
            // per uploaded byte than NIO's 64 KiB reads.
            server: .http1(configuration: .init(), maxRead: 256 * 1024),
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "coffre-ingest"),
            services: core.services + [janitor, meter, accountEvents] + lifecycle,
            logger: logger
        )
    }
}

/// Runs `action` when the service group shuts down (the S3 store's own HTTP client).
struct ShutdownHook: Service {
    let action: @Sendable () async throws -> Void

    func run() async throws {
        try? await gracefulShutdown()
        try await action()
    }
}

extension IngestApp {
    /// Every route the ingest router serves, as "METHOD /path" with `{name}`
    /// parameters: the gateway's route list and OpenAPI document are checked
    /// against it. Builds the router only; nothing connects.
    public static func routeList() -> [String] {
        var logger = Logger(label: "routes")
        logger.logLevel = .critical
        let config = try! PostgresSetup.configuration(url: "postgres://u@127.0.0.1:1/d", poolSize: 1)
        let store = IngestStore(postgres: PostgresClient(configuration: config, backgroundLogger: logger),
                                outbox: Outbox(schema: schema), logger: logger)
        let blobs = try! FileBlobStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("coffre-routes").path)
        let router = Router(context: CoffreRequestContext.self)
        UploadRoutes(store: store, blobs: blobs, quota: UnreservedQuota(planLimit: 0), settings: .init(), logger: logger).add(to: router)
        let meter = TransferMeter(store: store, interval: .seconds(5), logger: logger)
        NodeRoutes(store: store, blobs: blobs, meter: meter).add(to: router)
        LinkRoutes(store: store, blobs: blobs, meter: meter, directory: KeyDirectoryLinks(baseURL: "http://127.0.0.1:1", secret: "")).add(to: router)
        return router.routes.map { "\($0.method.rawValue) \($0.path.description)" }
    }
}
