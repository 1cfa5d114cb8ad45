import CoffreCore
import Hummingbird
import Logging
import PostgresNIO

/// Settings of the accounts service (environment variables):
///
/// | variable | default |
/// |---|---|
/// | `ACCOUNTS_HTTP_HOST` | `127.0.0.1` |
/// | `ACCOUNTS_HTTP_PORT` | `8081` |
/// | `COFFRE_ADMIN_TOKEN` | unset: operator routes refuse everyone |
/// | `ACCOUNTS_TOKEN_SIGNING_SEED` | derived from `COFFRE_INTERNAL_SECRET` (development) |
/// | `ACCOUNTS_VERIFIER_PEPPER` | derived from `COFFRE_INTERNAL_SECRET` (development) |
/// | `ACCOUNTS_TOTP_KEY` | derived from `COFFRE_INTERNAL_SECRET` (development) |
/// | `ACCOUNTS_SIGNUP_BATCH_MAX` | `64`: most signups written in one statement (1: one each) |
/// | `ACCOUNTS_SIGNUP_WRITERS` | `1`: most signup statements in flight at once |
///
/// plus the common `COFFRE_*` settings (see `CommonConfiguration`).
public struct AccountsConfiguration: Sendable {
    public var common: CommonConfiguration
    public var listen: HTTPListenConfiguration
    public var adminToken: String?
    public var signingSeed: String?
    public var pepper: String?
    /// Seals TOTP seeds at rest (see `TOTPSealer`). Changing it makes every
    /// enrolled second factor unreadable: logins with one then fail closed.
    public var totpKey: String?
    /// Group commit of signups (see `SignupCommitter`).
    public var signupBatchMax: Int
    public var signupWriters: Int

    public init(common: CommonConfiguration = .init(), listen: HTTPListenConfiguration = .init(host: "127.0.0.1", port: 8081),
                adminToken: String? = nil, signingSeed: String? = nil, pepper: String? = nil, totpKey: String? = nil,
                signupBatchMax: Int = 64, signupWriters: Int = 1) {
        self.common = common
        self.listen = listen
        self.adminToken = adminToken
        self.signingSeed = signingSeed
        self.pepper = pepper
        self.totpKey = totpKey
        self.signupBatchMax = signupBatchMax
        self.signupWriters = signupWriters
    }

    public init(env: EnvironmentReader) throws(ConfigurationError) {
        common = try CommonConfiguration(env: env)
        listen = try HTTPListenConfiguration(prefix: "ACCOUNTS", defaultPort: 8081, env: env)
        adminToken = env.optionalString("COFFRE_ADMIN_TOKEN")
        signingSeed = env.optionalString("ACCOUNTS_TOKEN_SIGNING_SEED")
        pepper = env.optionalString("ACCOUNTS_VERIFIER_PEPPER")
        totpKey = env.optionalString("ACCOUNTS_TOTP_KEY")
        signupBatchMax = try env.int("ACCOUNTS_SIGNUP_BATCH_MAX", default: 64, range: 1...1000)
        signupWriters = try env.int("ACCOUNTS_SIGNUP_WRITERS", default: 1, range: 1...256)
    }
}

public enum AccountsApp {
    public static let schema = "accounts"

    /// Numbered migrations of the `accounts` schema, applied in order at start-up.
    public static var migrations: [Migration] {
        AccountsMigrations.all
    }

    /// Wires the service: shared core (Postgres, migrations, Kafka producer,
    /// outbox relay), middleware, routes.
    public static func build(config: AccountsConfiguration, logger: Logger) throws(ConfigurationError) -> some ApplicationProtocol {
        let core = try ServiceCore(name: "accounts", schema: schema, common: config.common, migrations: migrations, logger: logger)
        let signingKey = try TokenSigningKey.fromConfiguration(seed: config.signingSeed, internalSecret: config.common.internalSecret)
        let pepper = KeyedHash.hash(Array("coffre-verifier-pepper".utf8), key: InternalAuth.key(from: config.pepper ?? config.common.internalSecret))
        let totp = TOTPSealer(key: TOTPSealer.key(from: config.totpKey ?? config.common.internalSecret))
        let signups = SignupCommitter(postgres: core.postgres, topic: AccountsStore.topic,
                                      options: .init(maxBatch: config.signupBatchMax, maxRunning: config.signupWriters,
                                                     leaseTimeout: config.common.postgresWait), logger: logger)
        let store = AccountsStore(postgres: core.postgres, outbox: core.outbox, hasher: VerifierHasher(pepper: pepper), totp: totp,
                                  signingKey: signingKey, signups: signups, logger: logger, postgresWait: config.common.postgresWait)
        let router = Router(context: CoffreRequestContext.self)
        ServiceCore.addStandardMiddleware(to: router)
        router.add(middleware: InternalIdentityMiddleware(secret: config.common.internalSecret))
        core.addOperationalRoutes(to: router)
        AccountsRoutes(store: store, adminToken: config.adminToken).add(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "coffre-accounts"),
            services: core.services,
            logger: logger
        )
    }
}

extension AccountsApp {
    /// Every route the accounts router serves, as "METHOD /path" with
    /// `{name}` parameters: the gateway's route list and OpenAPI document are
    /// checked against it. Builds the router only; nothing connects.
    public static func routeList() -> [String] {
        var logger = Logger(label: "routes")
        logger.logLevel = .critical
        let config = try! PostgresSetup.configuration(url: "postgres://u@127.0.0.1:1/d", poolSize: 1)
        let postgres = PostgresClient(configuration: config, backgroundLogger: logger)
        let store = AccountsStore(postgres: postgres,
                                  outbox: Outbox(schema: schema), hasher: VerifierHasher(pepper: []),
                                  totp: TOTPSealer(key: Array(repeating: 1, count: 32)),
                                  signingKey: try! TokenSigningKey(seed: Array(repeating: 1, count: 32)),
                                  signups: SignupCommitter(postgres: postgres, topic: AccountsStore.topic, options: .init(), logger: logger),
                                  logger: logger)
        let router = Router(context: CoffreRequestContext.self)
        AccountsRoutes(store: store, adminToken: nil).add(to: router)
        return router.routes.map { "\($0.method.rawValue) \($0.path.description)" }
    }
}
