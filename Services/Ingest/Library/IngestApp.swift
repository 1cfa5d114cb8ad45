import CoffreCore
import Hummingbird
import Logging

/// Settings of the ingest service (environment variables):
///
/// | variable | default |
/// |---|---|
/// | `INGEST_HTTP_HOST` | `127.0.0.1` |
/// | `INGEST_HTTP_PORT` | `8083` |
///
/// plus the common `COFFRE_*` settings (see `CommonConfiguration`).
public struct IngestConfiguration: Sendable {
    public var common: CommonConfiguration
    public var listen: HTTPListenConfiguration

    public init(common: CommonConfiguration = .init(), listen: HTTPListenConfiguration = .init(host: "127.0.0.1", port: 8083)) {
        self.common = common
        self.listen = listen
    }

    public init(env: EnvironmentReader) throws(ConfigurationError) {
        common = try CommonConfiguration(env: env)
        listen = try HTTPListenConfiguration(prefix: "INGEST", defaultPort: 8083, env: env)
    }
}

public enum IngestApp {
    public static let schema = "ingest"

    /// Numbered migrations of the `ingest` schema, applied in order at start-up.
    public static var migrations: [Migration] {
        [Outbox.migration(1)]
    }

    /// Wires the service: shared core (Postgres, migrations, Kafka producer,
    /// outbox relay), middleware, routes.
    public static func build(config: IngestConfiguration, logger: Logger) throws(ConfigurationError) -> some ApplicationProtocol {
        let core = try ServiceCore(name: "ingest", schema: schema, common: config.common, migrations: migrations, logger: logger)
        let router = Router(context: CoffreRequestContext.self)
        ServiceCore.addStandardMiddleware(to: router)
        core.addOperationalRoutes(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "coffre-ingest"),
            services: core.services,
            logger: logger
        )
    }
}
