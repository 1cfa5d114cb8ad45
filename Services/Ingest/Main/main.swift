import Ingest
import CoffreCore

// Reads configuration and runs; everything else is in IngestApp.build.
await ServiceBootstrap.run(name: "ingest", httpPrefix: "INGEST", defaultPort: 8083) { env, logger in
    try IngestApp.build(config: try IngestConfiguration(env: env), logger: logger)
}
