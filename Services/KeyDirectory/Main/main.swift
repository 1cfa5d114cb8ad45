import KeyDirectory
import CoffreCore

// Reads configuration and runs; everything else is in KeyDirectoryApp.build.
await ServiceBootstrap.run(name: "keydir", httpPrefix: "KEYDIR", defaultPort: 8082) { env, logger in
    try KeyDirectoryApp.build(config: try KeyDirectoryConfiguration(env: env), logger: logger)
}
