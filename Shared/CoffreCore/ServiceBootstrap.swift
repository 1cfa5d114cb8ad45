import Foundation
import Hummingbird
import Kafka
import Logging

/// What each executable's `@main` calls: set up JSON logs and metrics, build
/// the application, run it until SIGTERM/SIGINT (graceful drain).
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
            let app = try await build(environment, logger)
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
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
