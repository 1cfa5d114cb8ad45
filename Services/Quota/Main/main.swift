import CoffreCore
import Foundation
import Logging
import Quota

// Reads configuration and runs; everything else is in QuotaApp.
// `quota reconcile [--repair]` runs one reconciliation and exits.
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "reconcile" {
    let env = EnvironmentReader()
    CoffreLogging.bootstrap(service: "quota", level: env.string("COFFRE_LOG_LEVEL", default: "info"))
    let logger = Logger(label: "coffre.quota")
    do {
        let config = try QuotaConfiguration(env: env)
        exit(await QuotaApp.reconcile(config: config, repair: arguments.contains("--repair"), logger: logger))
    } catch {
        logger.error("bad configuration: \(error)")
        exit(2)
    }
}
await ServiceBootstrap.run(name: "quota", httpPrefix: "QUOTA", defaultPort: 8084) { env, logger in
    try QuotaApp.build(config: try QuotaConfiguration(env: env), logger: logger)
}
