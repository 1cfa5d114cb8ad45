import CoffreCore
import Hummingbird
import Logging

/// Settings of the keydir service (environment variables):
///
/// | variable | default |
/// |---|---|
/// | `KEYDIR_HTTP_HOST` | `127.0.0.1` |
/// | `KEYDIR_HTTP_PORT` | `8082` |
///
/// plus the common `COFFRE_*` settings (see `CommonConfiguration`).
public struct KeyDirectoryConfiguration: Sendable {
    public var common: CommonConfiguration
    public var listen: HTTPListenConfiguration

    public init(common: CommonConfiguration = .init(), listen: HTTPListenConfiguration = .init(host: "127.0.0.1", port: 8082)) {
        self.common = common
        self.listen = listen
    }

    public init(env: EnvironmentReader) throws(ConfigurationError) {
        common = try CommonConfiguration(env: env)
        listen = try HTTPListenConfiguration(prefix: "KEYDIR", defaultPort: 8082, env: env)
    }
}

public enum KeyDirectoryApp {
    public static let schema = "keydir"

    /// Numbered migrations of the `keydir` schema, applied in order at start-up.
    public static var migrations: [Migration] {
        [Outbox.migration(1)]
    }

    /// Wires the service: shared core (Postgres, migrations, Kafka producer,
    /// outbox relay), middleware, routes.
    public static func build(config: KeyDirectoryConfiguration, logger: Logger) throws(ConfigurationError) -> some ApplicationProtocol {
        let core = try ServiceCore(name: "keydir", schema: schema, common: config.common, migrations: migrations, logger: logger)
        let router = Router(context: CoffreRequestContext.self)
        ServiceCore.addStandardMiddleware(to: router)
        core.addOperationalRoutes(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "coffre-keydir"),
            services: core.services,
            logger: logger
        )
    }
}
