import CoffreCore
import Gateway

// Reads configuration and runs; everything else is in GatewayApp.build.
await ServiceBootstrap.run(name: "gateway", httpPrefix: "GATEWAY", defaultPort: 8080) { env, logger in
    try GatewayApp.build(config: try GatewayConfiguration(env: env), logger: logger)
}
