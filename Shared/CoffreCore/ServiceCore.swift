import Foundation
import Hummingbird
import Kafka
import Logging
import Metrics
import PostgresNIO
import Prometheus
import ServiceLifecycle

/// The pieces every Coffre service is made of, wired once: the Postgres
/// pool, the migrations of the service's schema, the Kafka producer, the
/// outbox relay, and the readiness checks behind `/readyz`.
///
/// `services` lists them in dependency order for the ServiceGroup (the HTTP
/// server comes after them and so stops first on SIGTERM).
public final class ServiceCore: Sendable {
    public let name: String
    public let schema: String
    public let common: CommonConfiguration
    public let logger: Logger
    public let postgres: PostgresClient
    public let producer: KafkaProducer
    public let outbox: Outbox
    public let migrator: Migrator
    /// Set once the schema's migrations are applied; relays and consumers wait for it.
    public let migrated = ReadinessFlag()
    public let relay: OutboxRelay
    private let extraReadiness: ReadinessChecks

    public init(name: String, schema: String, common: CommonConfiguration, migrations: [Migration], logger: Logger,
                relayOptions: OutboxRelay.Options = .init(), extraReadiness: ReadinessChecks = .init()) throws(ConfigurationError) {
        self.name = name
        self.schema = schema
        self.common = common
        self.logger = logger
        let pgConfig = try PostgresSetup.configuration(url: common.postgresURL, poolSize: common.postgresPoolSize)
        // The pool logs every failed connection attempt at info; keep its
        // background chatter to warnings, MigrationRunner and /readyz say the rest.
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .warning)
        self.postgres = PostgresClient(configuration: pgConfig, backgroundLogger: poolLogger)
        do {
            self.producer = try KafkaProducer(configuration: Self.kafkaConfiguration(common), logger: logger)
        } catch {
            throw ConfigurationError(key: "COFFRE_KAFKA_BROKERS", problem: "\(error)")
        }
        self.outbox = Outbox(schema: schema)
        self.migrator = Migrator(schema: schema, migrations: migrations)
        var relayOptions = relayOptions
        relayOptions.leaseTimeout = common.postgresWait
        self.relay = OutboxRelay(client: postgres, schema: schema, producer: producer, logger: logger,
                                 options: relayOptions, startWhen: migrated)
        self.extraReadiness = extraReadiness
        if common.internalSecret == CommonConfiguration.developmentInternalSecret {
            logger.warning("COFFRE_INTERNAL_SECRET is the development default; set it in production")
        }
    }

    public static func kafkaConfiguration(_ common: CommonConfiguration) -> KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: common.kafkaBrokers)
    }

    /// Long-running parts in start order: pool, producer, migrations, relay.
    public var services: [any Service] {
        [postgres, producer, MigrationRunner(core: self), relay]
    }

    /// Postgres reachable, migrations applied, a Kafka broker answering.
    public var readiness: ReadinessChecks {
        var checks = extraReadiness
        let postgres = self.postgres
        let logger = self.logger
        let migrated = self.migrated
        let producer = self.producer
        checks.add("postgres") {
            do {
                try await withTimeout(.seconds(2)) {
                    try await postgres.query("SELECT 1", logger: logger)
                }
                return nil
            } catch {
                return "not reachable"
            }
        }
        checks.add("migrations") { migrated.isSet ? nil : "not applied yet" }
        checks.add("kafka") { await producer.isConnected(timeout: .seconds(2)) ? nil : "no broker answered" }
        return checks
    }

    /// `/healthz`, `/readyz` and `/metrics` on `router`, then a gate that
    /// holds every route added after it until the schema's migrations are
    /// applied (`MigrationGate`). Add the service's own routes after this.
    public func addOperationalRoutes(to router: Router<CoffreRequestContext>) {
        OperationalRoutes.add(to: router, readiness: readiness)
        router.add(middleware: MigrationGate(migrated: migrated, wait: common.postgresWait))
    }

    /// The standard middleware stack: metrics, request ids, problem+json.
    public static func addStandardMiddleware(to router: Router<CoffreRequestContext>) {
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: ProblemMiddleware())
    }
}

/// Holds a request that arrives before the service's migrations are
/// applied (start-up, or Postgres unreachable since start) for at most
/// `wait`, then answers as if the database were unreachable (503
/// problem+json with `Retry-After`; nothing was done), instead of letting
/// the route run against tables that do not exist yet (a 500). Only routes
/// added after it are gated, so `/readyz` keeps saying why.
struct MigrationGate<Context: RequestContext>: RouterMiddleware {
    let migrated: ReadinessFlag
    let wait: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if !migrated.isSet {
            guard await migrated.wait(upTo: wait) else { throw DatabaseUnavailable(waited: wait) }
        }
        return try await next(request, context)
    }
}

/// Applies the service's migrations, retrying while Postgres is unreachable
/// (the service keeps answering `/readyz` with 503 meanwhile), then finishes.
struct MigrationRunner: Service {
    let core: ServiceCore

    func run() async throws {
        var delay: Duration = .milliseconds(250)
        var attempt = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            attempt += 1
            do {
                // The pool waits for a connection without end while Postgres is
                // unreachable; bound each attempt so the operator hears why.
                let core = self.core
                let applied = try await withTimeout(.seconds(3)) {
                    try await core.migrator.migrate(core.postgres, logger: core.logger)
                }
                core.migrated.set()
                core.logger.info("schema ready", metadata: ["schema": .string(core.schema), "applied": "\(applied)"])
                // Stay alive until shutdown: ServiceGroup treats a returning
                // service as finished, which is fine, but keep it simple and uniform.
                try? await gracefulShutdown()
                return
            } catch {
                if attempt == 1 || attempt % 20 == 0 {
                    core.logger.error("cannot apply migrations; retrying", metadata: [
                        "schema": .string(core.schema), "attempt": "\(attempt)", "error": .string(Self.describe(error)),
                    ])
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        if error is TimeoutError { return "postgres not reachable (no connection within 3 s)" }
        if let psql = error as? PSQLError {
            if let message = psql.serverInfo?[.message] { return "postgres: \(message)" }
            return "postgres: \(psql.code)"
        }
        return String(describing: error)
    }
}

public enum OperationalRoutes {
    public static func add(to router: Router<CoffreRequestContext>, readiness: ReadinessChecks) {
        router.get("/healthz") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("/readyz") { _, _ -> Response in
            let failures = await readiness.failures()
            if failures.isEmpty {
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ready"}"#)))
            }
            var problem = Problem.unavailable("not ready: " + failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "; "), retryAfter: 5)
            problem.type = "urn:coffre:problem:not-ready"
            problem.extensions["checks"] = .object(failures.mapValues { .string($0) })
            throw problem
        }
        router.get("/metrics") { _, _ -> Response in
            let bytes = CoffreMetrics.registry.emitToBuffer()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}

public enum CoffreMetrics {
    public static let registry = PrometheusCollectorRegistry()

    /// Routes swift-metrics to the Prometheus registry. Call once per process.
    public static func bootstrap() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }
}

public struct TimeoutError: Error, CustomStringConvertible {
    public var description: String { "timed out" }
}

/// Runs `body`, failing with `TimeoutError` if it takes longer than `duration`.
public func withTimeout<T: Sendable>(_ duration: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: duration)
            throw TimeoutError()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Waits `duration` between rounds of a background loop, but wakes as soon as
/// the service group begins a graceful shutdown (or the task is cancelled),
/// so SIGTERM is not held up by a long sweep or flush interval.
public func pauseUnlessShuttingDown(for duration: Duration) async {
    try? await cancelWhenGracefulShutdown {
        try await Task.sleep(for: duration)
    }
}
