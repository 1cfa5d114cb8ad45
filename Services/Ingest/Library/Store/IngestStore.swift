import CoffreCore
import Foundation
import Logging
import PostgresNIO

/// Every read and write of the `ingest` schema. Account data is only touched
/// inside `withTenant` (row-level security set for the transaction), and
/// every query also names the account, so one account never sees another's
/// nodes, in the same tenant or not.
struct IngestStore: Sendable {
    let postgres: PostgresClient
    let outbox: Outbox
    let logger: Logger
    /// How long a request waits for a Postgres connection before it is
    /// answered 503 (`COFFRE_POSTGRES_WAIT_SECONDS`).
    var postgresWait: Duration = .seconds(5)
    static let topic = "coffre.blobs"
    static let source = "/coffre/ingest"

    func withTenant<T: Sendable>(_ tenantID: UUID, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await postgres.withTenant(tenantID, leaseTimeout: postgresWait, logger: logger, body)
    }

    /// One connection outside any tenant (blob deletion, cross-tenant
    /// grants), with the same bounded wait.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await postgres.withConnection(leaseTimeout: postgresWait, body)
    }

    func emit(_ type: String, tenant: UUID, account: UUID, data: [String: JSONValue], on connection: PostgresConnection) async throws {
        try await outbox.enqueueAccountEvent(type, source: Self.source, topic: Self.topic, tenant: tenant, account: account,
                                             data: data, on: connection, logger: logger)
    }

    // MARK: nodes

    static let nodeColumns = "id, parent_id, kind, attributes, wrapped_key, size, current_version, created_at, updated_at, trashed_at"

    static func decodeNodes(_ rows: PostgresRowSequence) async throws -> [NodeView] {
        var nodes: [NodeView] = []
        for try await (id, parent, kind, attributes, key, size, version, created, updated, trashed)
            in rows.decode((UUID, UUID?, String, Data, Data, Int64, UUID?, Date, Date, Date?).self) {
            nodes.append(NodeView(id: id.lower, parent_id: parent?.lower, kind: kind,
                                  attributes: attributes.base64EncodedString(), wrapped_key: key.base64EncodedString(),
                                  size: size, current_version: version?.lower, created_at: created, updated_at: updated, trashed_at: trashed))
        }
        return nodes
    }

    /// The caller's node, or 404 (also for another account's or tenant's).
    func node(_ id: UUID, of user: AuthenticatedUser, on connection: PostgresConnection) async throws -> NodeView {
        let rows = try await connection.query("""
            SELECT \(unescaped: Self.nodeColumns) FROM ingest.nodes WHERE id = \(id) AND account_id = \(user.accountID)
            """, logger: logger)
        guard let node = try await Self.decodeNodes(rows).first else { throw Problem.notFound("No such node.") }
        return node
    }

    func node(_ id: UUID, of user: AuthenticatedUser) async throws -> NodeView {
        try await withTenant(user.tenantID) { try await node(id, of: user, on: $0) }
    }

    /// A folder of the caller's to put something in (nil = the root).
    func requireFolder(_ id: UUID?, of user: AuthenticatedUser, on connection: PostgresConnection) async throws {
        guard let id else { return }
        let parent = try await node(id, of: user, on: connection)
        guard parent.kind == "folder" else { throw Problem.conflict("\(id.lower) is a file, not a folder", type: "urn:coffre:problem:not-a-folder") }
    }

    func createFolder(_ request: CreateFolderRequest, user: AuthenticatedUser) async throws -> NodeView {
        guard request.kind == "folder" else {
            throw Problem.badRequest("kind must be \"folder\": files are created by uploads (POST /v1/uploads)")
        }
        let id = try request.id.map { try Validate.uuid($0, "id") } ?? UUID()
        let parent = try request.parent_id.map { try Validate.uuid($0, "parent_id") }
        let attributes = try Validate.opaque(request.attributes, "attributes")
        let key = try Validate.opaque(request.wrapped_key, "wrapped_key")
        return try await withTenant(user.tenantID) { connection in
            try await requireFolder(parent, of: user, on: connection)
            let rows = try await connection.query("""
                INSERT INTO ingest.nodes (id, tenant_id, account_id, parent_id, kind, attributes, wrapped_key)
                VALUES (\(id), \(user.tenantID), \(user.accountID), \(parent), 'folder', \(Data(attributes)), \(Data(key)))
                ON CONFLICT (id) DO NOTHING
                RETURNING \(unescaped: Self.nodeColumns)
                """, logger: logger)
            guard let node = try await Self.decodeNodes(rows).first else {
                throw Problem.conflict("a node with id \(id.lower) exists", type: "urn:coffre:problem:node-exists")
            }
            return node
        }
    }

    func children(of parent: UUID?, user: AuthenticatedUser) async throws -> [NodeView] {
        try await withTenant(user.tenantID) { connection in
            try await requireFolder(parent, of: user, on: connection)
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.nodeColumns) FROM ingest.nodes
                WHERE account_id = \(user.accountID) AND parent_id IS NOT DISTINCT FROM \(parent) AND trashed_at IS NULL
                ORDER BY created_at, id
                """, logger: logger)
            return try await Self.decodeNodes(rows)
        }
    }

    func trash(user: AuthenticatedUser) async throws -> [NodeView] {
        try await withTenant(user.tenantID) { connection in
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.nodeColumns) FROM ingest.nodes
                WHERE account_id = \(user.accountID) AND trashed_at IS NOT NULL ORDER BY trashed_at DESC, id
                """, logger: logger)
            return try await Self.decodeNodes(rows)
        }
    }

    /// True when `candidate` is `node` or below it.
    func isWithin(_ candidate: UUID, subtreeOf node: UUID, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query("""
            WITH RECURSIVE up(id, parent_id) AS (
                SELECT id, parent_id FROM ingest.nodes WHERE id = \(candidate)
                UNION ALL
                SELECT n.id, n.parent_id FROM ingest.nodes n JOIN up ON n.id = up.parent_id
            )
            SELECT count(*) FROM up WHERE id = \(node)
            """, logger: logger)
        for try await count in rows.decode(Int64.self) { return count > 0 }
        return false
    }

    func update(_ id: UUID, _ request: UpdateNodeRequest, user: AuthenticatedUser) async throws -> NodeView {
        let attributes = try request.attributes.map { try Validate.opaque($0, "attributes") }
        return try await withTenant(user.tenantID) { connection in
            var node = try await node(id, of: user, on: connection)
            if case .some(let newParent) = request.parentChange {
                try await requireFolder(newParent, of: user, on: connection)
                if let newParent, try await isWithin(newParent, subtreeOf: id, on: connection) {
                    throw Problem.conflict("cannot move a folder into itself or one of its descendants", type: "urn:coffre:problem:cycle")
                }
                try await connection.query("""
                    UPDATE ingest.nodes SET parent_id = \(newParent), updated_at = now() WHERE id = \(id) AND account_id = \(user.accountID)
                    """, logger: logger)
            }
            if let attributes {
                try await connection.query("""
                    UPDATE ingest.nodes SET attributes = \(Data(attributes)), updated_at = now() WHERE id = \(id) AND account_id = \(user.accountID)
                    """, logger: logger)
            }
            node = try await self.node(id, of: user, on: connection)
            return node
        }
    }

    func moveToTrash(_ id: UUID, user: AuthenticatedUser) async throws -> NodeView {
        try await withTenant(user.tenantID) { connection in
            _ = try await node(id, of: user, on: connection)
            try await connection.query("""
                UPDATE ingest.nodes SET trashed_at = COALESCE(trashed_at, now()), updated_at = now()
                WHERE id = \(id) AND account_id = \(user.accountID)
                """, logger: logger)
            return try await node(id, of: user, on: connection)
        }
    }

    /// Back where it was; to the root when an ancestor is itself in the trash.
    func restore(_ id: UUID, user: AuthenticatedUser) async throws -> NodeView {
        try await withTenant(user.tenantID) { connection in
            let current = try await node(id, of: user, on: connection)
            guard current.trashed_at != nil else { throw Problem.conflict("the node is not in the trash", type: "urn:coffre:problem:not-trashed") }
            let rows = try await connection.query("""
                WITH RECURSIVE up(id, parent_id, trashed_at) AS (
                    SELECT id, parent_id, trashed_at FROM ingest.nodes WHERE id = (SELECT parent_id FROM ingest.nodes WHERE id = \(id))
                    UNION ALL
                    SELECT n.id, n.parent_id, n.trashed_at FROM ingest.nodes n JOIN up ON n.id = up.parent_id
                )
                SELECT count(*) FROM up WHERE trashed_at IS NOT NULL
                """, logger: logger)
            var ancestorTrashed = false
            for try await count in rows.decode(Int64.self) { ancestorTrashed = count > 0 }
            try await connection.query("""
                UPDATE ingest.nodes SET trashed_at = NULL, updated_at = now(),
                    parent_id = CASE WHEN \(ancestorTrashed) THEN NULL ELSE parent_id END
                WHERE id = \(id) AND account_id = \(user.accountID)
                """, logger: logger)
            return try await node(id, of: user, on: connection)
        }
    }

    /// Removes the node, its subtree and every version; their blobs go to the
    /// reaper and each gets a `blob.deleted` event (quota frees the bytes).
    func purge(_ id: UUID, user: AuthenticatedUser) async throws {
        try await withTenant(user.tenantID) { connection in
            _ = try await node(id, of: user, on: connection)
            let rows = try await connection.query("""
                WITH RECURSIVE sub(id) AS (
                    SELECT id FROM ingest.nodes WHERE id = \(id) AND account_id = \(user.accountID)
                    UNION ALL
                    SELECT n.id FROM ingest.nodes n JOIN sub ON n.parent_id = sub.id
                )
                SELECT v.id, v.node_id, v.size, v.blob_key FROM ingest.versions v JOIN sub ON v.node_id = sub.id
                """, logger: logger)
            var doomed: [(UUID, UUID, Int64, String)] = []
            for try await row in rows.decode((UUID, UUID, Int64, String).self) { doomed.append(row) }
            try await discard(versions: doomed, tenant: user.tenantID, account: user.accountID, on: connection)
            try await connection.query("DELETE FROM ingest.nodes WHERE id = \(id) AND account_id = \(user.accountID)", logger: logger)
        }
    }

    /// Queues blobs for deletion and emits one `blob.deleted` per version.
    func discard(versions: [(id: UUID, node: UUID, size: Int64, key: String)], tenant: UUID, account: UUID,
                 on connection: PostgresConnection) async throws {
        for version in versions {
            try await connection.query("""
                INSERT INTO ingest.blob_trash (blob_key, tenant_id) VALUES (\(version.key), \(tenant)) ON CONFLICT DO NOTHING
                """, logger: logger)
            try await emit("coffre.blob.deleted", tenant: tenant, account: account, data: [
                "node_id": .string(version.node.lower), "version_id": .string(version.id.lower), "bytes": .int(version.size),
            ], on: connection)
        }
    }

    // MARK: versions

    func versions(of id: UUID, user: AuthenticatedUser) async throws -> [VersionView] {
        try await withTenant(user.tenantID) { connection in
            let node = try await node(id, of: user, on: connection)
            let rows = try await connection.query("""
                SELECT id, size, created_at FROM ingest.versions WHERE node_id = \(id) AND account_id = \(user.accountID)
                ORDER BY created_at DESC, id
                """, logger: logger)
            var versions: [VersionView] = []
            for try await (vid, size, created) in rows.decode((UUID, Int64, Date).self) {
                versions.append(VersionView(id: vid.lower, size: size, created_at: created, current: vid.lower == node.current_version))
            }
            return versions
        }
    }

    func restoreVersion(_ version: UUID, of id: UUID, user: AuthenticatedUser) async throws -> NodeView {
        try await withTenant(user.tenantID) { connection in
            _ = try await node(id, of: user, on: connection)
            let rows = try await connection.query("""
                UPDATE ingest.nodes n SET current_version = v.id, size = v.size, updated_at = now()
                FROM ingest.versions v
                WHERE n.id = \(id) AND n.account_id = \(user.accountID) AND v.id = \(version) AND v.node_id = n.id
                RETURNING n.id
                """, logger: logger)
            var found = false
            for try await _ in rows { found = true }
            guard found else { throw Problem.notFound("No such version.") }
            return try await node(id, of: user, on: connection)
        }
    }

    func purgeVersion(_ version: UUID, of id: UUID, user: AuthenticatedUser) async throws {
        try await withTenant(user.tenantID) { connection in
            let node = try await node(id, of: user, on: connection)
            guard node.current_version != version.lower else {
                throw Problem.conflict("the current version cannot be purged; restore another one first or purge the node",
                                       type: "urn:coffre:problem:current-version")
            }
            let rows = try await connection.query("""
                DELETE FROM ingest.versions WHERE id = \(version) AND node_id = \(id) AND account_id = \(user.accountID)
                RETURNING id, node_id, size, blob_key
                """, logger: logger)
            var doomed: [(UUID, UUID, Int64, String)] = []
            for try await row in rows.decode((UUID, UUID, Int64, String).self) { doomed.append(row) }
            guard !doomed.isEmpty else { throw Problem.notFound("No such version.") }
            try await discard(versions: doomed, tenant: user.tenantID, account: user.accountID, on: connection)
        }
    }

    // MARK: downloads

    /// The blob to serve for `id` (its current version or `version`), if the
    /// caller owns the node or holds a live grant on it or on one of its
    /// folders (`access`).
    func blobForDownload(_ id: UUID, version: UUID?, user: AuthenticatedUser) async throws -> ServedBlob {
        try await withReadable(id, user: user, notFound: "No such file or version.") { connection, _ in
            let rows = try await connection.query("""
                SELECT n.account_id, v.id, v.size, v.blob_key FROM ingest.nodes n
                JOIN ingest.versions v ON v.node_id = n.id AND v.id = COALESCE(\(version), n.current_version)
                WHERE n.id = \(id) AND n.kind = 'file'
                """, logger: logger)
            for try await (owner, vid, size, key) in rows.decode((UUID, UUID, Int64, String).self) {
                return ServedBlob(ownerAccount: owner, versionID: vid, size: size, blobKey: key)
            }
            throw Problem.notFound("No such file or version.")
        }
    }

    // MARK: transfer allowance (events from quota)

    /// The account (`account_id`) or, with `scope: "ip"`, the client address
    /// (`ip`, share-link downloads) the verdict is about. The SQL that keys
    /// each kind of block lives here, once.
    enum BlockSubject {
        case account(UUID)
        case address(String)

        init?(_ data: [String: JSONValue]) {
            if data["scope"] == .string("ip") {
                guard case .string(let ip)? = data["ip"], !ip.isEmpty else { return nil }
                self = .address(ip)
            } else {
                guard case .string(let raw)? = data["account_id"], let account = UUID(uuidString: raw) else { return nil }
                self = .account(account)
            }
        }

        func lift() -> PostgresQuery {
            switch self {
            case .account(let account): "DELETE FROM ingest.transfer_blocks WHERE account_id = \(account)"
            case .address(let ip): "DELETE FROM ingest.address_blocks WHERE ip = \(ip)"
            }
        }

        func block(tenant: UUID, until: Date) -> PostgresQuery {
            switch self {
            case .account(let account): """
                INSERT INTO ingest.transfer_blocks (tenant_id, account_id, until) VALUES (\(tenant), \(account), \(until))
                ON CONFLICT (account_id) DO UPDATE SET until = EXCLUDED.until
                """
            case .address(let ip): """
                INSERT INTO ingest.address_blocks (tenant_id, ip, until) VALUES (\(tenant), \(ip), \(until))
                ON CONFLICT (tenant_id, ip) DO UPDATE SET until = EXCLUDED.until
                """
            }
        }

        func secondsLeft() -> PostgresQuery {
            switch self {
            case .account(let account): """
                SELECT ceil(extract(epoch FROM until - now()))::bigint FROM ingest.transfer_blocks
                WHERE account_id = \(account) AND until > now()
                """
            case .address(let ip): """
                SELECT ceil(extract(epoch FROM until - now()))::bigint FROM ingest.address_blocks
                WHERE ip = \(ip) AND until > now()
                """
            }
        }
    }

    /// `quota.transfer.exhausted` blocks the subject's downloads until its
    /// `retry_after_seconds`, else its `window_reset`, else an hour;
    /// `quota.transfer.restored` lifts the block.
    func applyTransferVerdict(_ event: CloudEvent, on connection: PostgresConnection) async throws {
        guard let tenant = UUID(uuidString: event.tenant), case .object(let data) = event.data,
              let subject = BlockSubject(data) else { return }
        let query: PostgresQuery
        if event.type.hasSuffix("quota.transfer.restored") {
            query = subject.lift()
        } else if event.type.hasSuffix("quota.transfer.exhausted") {
            var until = event.time.addingTimeInterval(3600)
            if case .string(let reset)? = data["window_reset"], let date = RFC3339.parse(reset) { until = date }
            if case .int(let seconds)? = data["retry_after_seconds"] { until = event.time.addingTimeInterval(TimeInterval(seconds)) }
            query = subject.block(tenant: tenant, until: until)
        } else {
            return
        }
        try await connection.setTenant(tenant, logger: logger)
        try await connection.query(query, logger: logger)
        try await connection.setTenant(nil, logger: logger)
    }

    /// Seconds until the subject may download again, or nil when it is not blocked.
    func transferBlocked(tenant: UUID, _ subject: BlockSubject) async throws -> Int? {
        try await withTenant(tenant) { connection in
            let rows = try await connection.query(subject.secondsLeft(), logger: logger)
            for try await seconds in rows.decode(Int64.self) { return Int(max(1, seconds)) }
            return nil
        }
    }

    func transferBlocked(_ user: AuthenticatedUser) async throws -> Int? {
        try await transferBlocked(tenant: user.tenantID, .account(user.accountID))
    }

    // MARK: usage (quota reconciliation)

    /// Committed bytes per account of one tenant: the sum of every stored
    /// version, which is what quota must count as used.
    func usage(tenant: UUID) async throws -> [AccountUsage] {
        try await withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT account_id, COALESCE(sum(size), 0)::bigint, count(*) FROM ingest.versions
                GROUP BY account_id ORDER BY account_id
                """, logger: logger)
            var usage: [AccountUsage] = []
            for try await (account, bytes, versions) in rows.decode((UUID, Int64, Int64).self) {
                usage.append(AccountUsage(account_id: account.lower, bytes: bytes, versions: versions))
            }
            return usage
        }
    }

    // MARK: account deletion

    /// `account.deleted`: every node, version and upload of the account goes;
    /// blobs to the reaper, unfinished uploads to the expiry sweeper (which
    /// aborts their storage and releases their reservations).
    func purgeAccount(tenant: UUID, account: UUID, on connection: PostgresConnection) async throws {
        try await connection.setTenant(tenant, logger: logger)
        let rows = try await connection.query("""
            SELECT id, node_id, size, blob_key FROM ingest.versions WHERE account_id = \(account)
            """, logger: logger)
        var doomed: [(UUID, UUID, Int64, String)] = []
        for try await row in rows.decode((UUID, UUID, Int64, String).self) { doomed.append(row) }
        try await discard(versions: doomed, tenant: tenant, account: account, on: connection)
        // Cross-tenant pointers go with the grants they point at (deleting
        // the nodes cascades to those), and with a deleted grantee.
        try await connection.query("""
            DELETE FROM ingest.foreign_grants
            WHERE id IN (SELECT id FROM ingest.grants WHERE owner_account_id = \(account))
               OR (grantee_account_id = \(account) AND grantee_tenant_id = \(tenant))
            """, logger: logger)
        try await connection.query("DELETE FROM ingest.nodes WHERE account_id = \(account)", logger: logger)
        try await connection.query("""
            UPDATE ingest.upload_expiry SET expires_at = '-infinity'
            WHERE upload_id IN (SELECT id FROM ingest.uploads WHERE account_id = \(account))
            """, logger: logger)
        try await connection.setTenant(nil, logger: logger)
    }
}

/// Input checks shared by the routes: every failure is a 400 problem.
enum Validate {
    static func uuid(_ raw: String, _ field: String) throws -> UUID {
        guard raw.count == 36, let id = UUID(uuidString: raw) else { throw Problem.badRequest("\(field) must be a UUID") }
        return id
    }

    /// Client ciphertext, base64: non-empty, at most 64 KiB decoded.
    static func opaque(_ raw: String, _ field: String, max: Int = 64 * 1024) throws -> [UInt8] {
        guard let data = Data(base64Encoded: raw), !data.isEmpty else { throw Problem.badRequest("\(field) must be non-empty base64") }
        guard data.count <= max else { throw Problem.badRequest("\(field) is larger than \(max) bytes") }
        return Array(data)
    }
}
