import CoffreCore
import Hummingbird
import Logging

/// Settings of the quota service (environment variables):
///
/// | variable | default |
/// |---|---|
/// | `QUOTA_HTTP_HOST` | `127.0.0.1` |
/// | `QUOTA_HTTP_PORT` | `8084` |
///
/// plus the common `COFFRE_*` settings (see `CommonConfiguration`).
public struct QuotaConfiguration: Sendable {
    public var common: CommonConfiguration
    public var listen: HTTPListenConfiguration

    public init(common: CommonConfiguration = .init(), listen: HTTPListenConfiguration = .init(host: "127.0.0.1", port: 8084)) {
        self.common = common
        self.listen = listen
    }

    public init(env: EnvironmentReader) throws(ConfigurationError) {
        common = try CommonConfiguration(env: env)
        listen = try HTTPListenConfiguration(prefix: "QUOTA", defaultPort: 8084, env: env)
    }
}

public enum QuotaApp {
    public static let schema = "quota"

    /// Numbered migrations of the `quota` schema, applied in order at start-up.
    public static var migrations: [Migration] {
        [Outbox.migration(1)]
    }

    /// Wires the service: shared core (Postgres, migrations, Kafka producer,
    /// outbox relay), middleware, routes.
    public static func build(config: QuotaConfiguration, logger: Logger) throws(ConfigurationError) -> some ApplicationProtocol {
        let core = try ServiceCore(name: "quota", schema: schema, common: config.common, migrations: migrations, logger: logger)
        let router = Router(context: CoffreRequestContext.self)
        ServiceCore.addStandardMiddleware(to: router)
        core.addOperationalRoutes(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "coffre-quota"),
            services: core.services,
            logger: logger
        )
    }
}
