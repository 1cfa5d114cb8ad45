import CoffreCore
import Hummingbird

/// Shares and share links, mounted by `KeyDirectoryApp.addRoutes` with one
/// call: the routes, their store (the service's Postgres and outbox, and the
/// directory's `KeyStore` for accounts' current keys), and the client of
/// blob ingest's internal node route (`KEYDIR_INGEST_URL`).
enum SharesModule {
    /// Migration 3 of the `keydir` schema.
    static var migration: Migration { SharesMigration.migration }
    /// Migration 4: shares across tenants that allow them.
    static var crossTenantMigration: Migration { CrossTenantMigration.migration }

    /// Where blob ingest is and the secret that signs calls to it.
    struct Settings: Sendable {
        var ingestURL = "http://127.0.0.1:8083"
        var internalSecret = ""
    }

    static func add(to router: Router<CoffreRequestContext>, keys: KeyStore, settings: Settings) {
        let store = SharesStore(postgres: keys.postgres, outbox: Outbox(schema: KeyDirectoryApp.schema), logger: keys.logger, keys: keys)
        let nodes = IngestNodes(baseURL: settings.ingestURL, secret: settings.internalSecret)
        ShareRoutes(store: store, nodes: nodes).add(to: router)
        LinkRoutes(store: store, nodes: nodes).add(to: router)
    }
}
