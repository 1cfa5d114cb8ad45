import Accounts
import CoffreCore

// Reads configuration and runs; everything else is in AccountsApp.build.
await ServiceBootstrap.run(name: "accounts", httpPrefix: "ACCOUNTS", defaultPort: 8081) { env, logger in
    try AccountsApp.build(config: try AccountsConfiguration(env: env), logger: logger)
}
