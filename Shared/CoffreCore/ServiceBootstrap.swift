import Foundation
import Hummingbird
import Kafka
import Logging
import ServiceLifecycle
import Synchronization

/// What each executable's `@main` calls: set up JSON logs and metrics, build
/// the application, run it until SIGTERM/SIGINT (graceful drain, bounded:
/// see `shutdownGroup`).
///
/// Bad configuration never turns into a crash loop with a stack trace: the
/// problem is logged once, clearly, and the process keeps serving
/// `/healthz` (200) and `/readyz` (503 with the reason) on its port so an
/// operator sees why it is not ready.
public enum ServiceBootstrap {
    public static func run<App: ApplicationProtocol>(
        name: String,
        httpPrefix: String,
        defaultPort: Int,
        environment: EnvironmentReader = EnvironmentReader(),
        build: (EnvironmentReader, Logger) async throws -> App
    ) async {
        CoffreLogging.bootstrap(service: name, level: environment.string("COFFRE_LOG_LEVEL", default: "info"))
        CoffreMetrics.bootstrap()
        let logger = Logger(label: "coffre.\(name)")
        logger.info("starting", metadata: ["librdkafka": .string(KafkaProducer.librdkafkaVersion)])
        do {
            let grace = try shutdownGraceSeconds(environment)
            let app = try await build(environment, logger)
            let deadline = ShutdownDeadline(after: .seconds(grace + 5)) {
                logger.error("shutdown did not finish in time; exiting", metadata: ["seconds": "\(grace + 5)"])
                exit(1)
            }
            try await shutdownGroup(app, grace: .seconds(grace), deadline: deadline, logger: logger).run()
            deadline.disarm()
            logger.info("stopped")
        } catch let error as ConfigurationError {
            logger.error("bad configuration: \(error.key): \(error.problem)", metadata: ["setting": .string(error.key)])
            await runDegraded(name: name, httpPrefix: httpPrefix, defaultPort: defaultPort, environment: environment,
                              reason: "configuration \(error.key): \(error.problem)", logger: logger)
        } catch {
            logger.critical("service failed", metadata: ["error": .string(String(describing: error))])
            exit(1)
        }
    }

    /// `COFFRE_SHUTDOWN_GRACE_SECONDS`: how long a SIGTERM'd service may
    /// drain (default 20, 1 to 3600). Read before the application is built,
    /// so a bad value puts the service in degraded mode like any other.
    public static func shutdownGraceSeconds(_ environment: EnvironmentReader) throws -> Int {
        try environment.int("COFFRE_SHUTDOWN_GRACE_SECONDS", default: 20, range: 1...3600)
    }

    /// Runs `app` until SIGTERM or SIGINT, then drains it: in-flight requests
    /// may finish for `grace`, after which whatever still runs is cancelled,
    /// and if even that does not end it, `deadline` ends the process. Without
    /// the bounds, accounts with requests in flight when its Postgres went
    /// away did not stop on SIGTERM at all (only SIGKILL ended it). The
    /// default grace (20 s) plus 5 s leaves the process done before docker
    /// compose's `stop_grace_period` (30 s) runs out.
    public static func shutdownGroup(_ app: any Service, grace: Duration, deadline: ShutdownDeadline, logger: Logger) -> ServiceGroup {
        // Services are told to shut down last first: the deadline starts its clock at once.
        var configuration = ServiceGroupConfiguration(services: [app, deadline], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = grace
        return ServiceGroup(configuration: configuration)
    }

    /// Serves only the operational routes, with `/readyz` failing for `reason`.
    static func runDegraded(name: String, httpPrefix: String, defaultPort: Int, environment: EnvironmentReader,
                            reason: String, logger: Logger) async {
        guard let listen = try? HTTPListenConfiguration(prefix: httpPrefix, defaultPort: defaultPort, env: environment) else {
            logger.critical("cannot even read the HTTP listen settings; exiting")
            exit(78)  // EX_CONFIG
        }
        let router = Router(context: CoffreRequestContext.self)
        ServiceCore.addStandardMiddleware(to: router)
        var checks = ReadinessChecks()
        checks.add("configuration") { reason }
        OperationalRoutes.add(to: router, readiness: checks)
        let app = Application(router: router, configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: name), logger: logger)
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            logger.critical("cannot serve /readyz either", metadata: ["error": .string(String(describing: error))])
            exit(78)
        }
    }
}

/// Ends the process a fixed time after a graceful shutdown began, should the
/// service group not have finished by then (a task that ignores both the
/// shutdown and the cancellation that follows it). ServiceGroup's own bound
/// on cancellation is a `fatalError`, whose crash report dumps memory around
/// the registers into the log; this says one line and exits instead.
public final class ShutdownDeadline: Service, Sendable {
    private let delay: Duration
    private let expired: @Sendable () -> Void
    private let disarmed = Atomic<Bool>(false)

    public init(after delay: Duration, onExpiry expired: @escaping @Sendable () -> Void) {
        self.delay = delay
        self.expired = expired
    }

    public func run() async throws {
        // Returns when the shutdown begins (or throws when cancelled: no shutdown, no deadline).
        try await gracefulShutdown()
        let c = delay.components
        let nanoseconds = Int(c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [self] in
            if !disarmed.load(ordering: .acquiring) { expired() }
        }
    }

    /// The group finished in time: the deadline no longer applies.
    public func disarm() {
        disarmed.store(true, ordering: .releasing)
    }
}
