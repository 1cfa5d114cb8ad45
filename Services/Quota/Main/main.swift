import Quota
import CoffreCore

// Reads configuration and runs; everything else is in QuotaApp.build.
await ServiceBootstrap.run(name: "quota", httpPrefix: "QUOTA", defaultPort: 8084) { env, logger in
    try QuotaApp.build(config: try QuotaConfiguration(env: env), logger: logger)
}
