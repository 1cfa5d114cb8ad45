import CoffreCore
import Foundation
import Hummingbird
import PostgresNIO

/// Read access to another account's nodes: grants from the key directory's
/// share events, what a grantee may read, what the directory may ask about
/// an owner's node, and the file a share link points at.
extension IngestStore {
    enum Access {
        case owner
        /// Through a live share of the node or of one of its folders.
        case grantee(owner: UUID)
    }

    /// How the caller may read node `id`, or nil. A grantee reads only what
    /// is not in the owner's trash between the node and the shared folder.
    func access(_ id: UUID, user: AuthenticatedUser, on connection: PostgresConnection) async throws -> Access? {
        let rows = try await connection.query("""
            WITH RECURSIVE up(id, parent_id, account_id, trashed, depth) AS (
                SELECT id, parent_id, account_id, trashed_at IS NOT NULL, 0 FROM ingest.nodes WHERE id = \(id)
                UNION ALL
                SELECT p.id, p.parent_id, p.account_id, p.trashed_at IS NOT NULL, up.depth + 1
                FROM ingest.nodes p JOIN up ON p.id = up.parent_id
            )
            SELECT (SELECT account_id FROM up WHERE depth = 0),
                   (SELECT min(up.depth)::bigint FROM up JOIN ingest.grants g ON g.node_id = up.id
                     WHERE g.grantee_account_id = \(user.accountID) AND g.owner_account_id = up.account_id),
                   (SELECT min(depth)::bigint FROM up WHERE trashed)
            """, logger: logger)
        for try await (owner, granted, trashed) in rows.decode((UUID?, Int64?, Int64?).self) {
            guard let owner else { return nil }
            if owner == user.accountID { return .owner }
            if let granted, trashed.map({ $0 > granted }) ?? true { return .grantee(owner: owner) }
        }
        return nil
    }

    /// Runs `body` on a connection scoped to the tenant where the caller may
    /// read node `id`: its own tenant, else the owner's tenant of a share it
    /// was granted across tenants. 404 (`notFound`) when there is none.
    func withReadable<T: Sendable>(_ id: UUID, user: AuthenticatedUser, notFound: String,
                                   _ body: @escaping @Sendable (PostgresConnection, Access) async throws -> T) async throws -> T {
        // (T is never itself optional here: a node, a listing, a blob.)
        func attempt(_ tenant: UUID) async throws -> T? {
            try await withTenant(tenant) { connection in
                guard let access = try await access(id, user: user, on: connection) else { return nil }
                return try await body(connection, access)
            }
        }
        if let value = try await attempt(user.tenantID) { return value }
        let logger = logger
        let tenants = try await withConnection { connection in
            let rows = try await connection.query("""
                SELECT DISTINCT owner_tenant_id FROM ingest.foreign_grants
                WHERE grantee_account_id = \(user.accountID) AND grantee_tenant_id = \(user.tenantID)
                """, logger: logger)
            var tenants: [UUID] = []
            for try await tenant in rows.decode(UUID.self) { tenants.append(tenant) }
            return tenants
        }
        for tenant in tenants {
            if let value = try await attempt(tenant) { return value }
        }
        throw Problem.notFound(notFound)
    }

    /// A node the caller owns or was shared (404 otherwise).
    func readableNode(_ id: UUID, user: AuthenticatedUser) async throws -> NodeView {
        try await withReadable(id, user: user, notFound: "No such node.") { connection, _ in
            let rows = try await connection.query("SELECT \(unescaped: Self.nodeColumns) FROM ingest.nodes WHERE id = \(id)", logger: logger)
            guard let node = try await Self.decodeNodes(rows).first else { throw Problem.notFound("No such node.") }
            return node
        }
    }

    /// The children of a folder the caller owns or was shared (the root is
    /// always the caller's own).
    func readableChildren(of parent: UUID?, user: AuthenticatedUser) async throws -> [NodeView] {
        guard let parent else { return try await children(of: nil, user: user) }
        return try await withReadable(parent, user: user, notFound: "No such node.") { connection, access in
            let owner: UUID
            switch access {
            case .owner: owner = user.accountID
            case .grantee(let o): owner = o
            }
            let kind = try await connection.query("SELECT kind FROM ingest.nodes WHERE id = \(parent)", logger: logger)
            for try await k in kind.decode(String.self) where k != "folder" {
                throw Problem.conflict("\(parent.lower) is a file, not a folder", type: "urn:coffre:problem:not-a-folder")
            }
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.nodeColumns) FROM ingest.nodes
                WHERE account_id = \(owner) AND parent_id = \(parent) AND trashed_at IS NULL
                ORDER BY created_at, id
                """, logger: logger)
            return try await Self.decodeNodes(rows)
        }
    }

    // MARK: grants (share events from the key directory)

    /// `share.created` grants the recipient read access to the node (and,
    /// for a folder, its subtree); `share.revoked` withdraws it. The grant's
    /// id is the share's, so a replayed or repeated event changes nothing; a
    /// share of a node that is gone (or not the owner's) grants nothing. The
    /// event's tenant is the owner's; a recipient of another tenant (both
    /// allowed it in the key directory) is also noted in `foreign_grants`.
    func applyShareEvent(_ event: CloudEvent, on connection: PostgresConnection) async throws {
        guard let tenant = UUID(uuidString: event.tenant), case .object(let data) = event.data,
              case .string(let rawShare)? = data["share_id"], let share = UUID(uuidString: rawShare) else { return }
        try await connection.setTenant(tenant, logger: logger)
        if event.type == "coffre.share.created" {
            guard case .string(let rawNode)? = data["node_id"], let node = UUID(uuidString: rawNode),
                  case .string(let rawOwner)? = data["owner_account_id"], let owner = UUID(uuidString: rawOwner),
                  case .string(let rawRecipient)? = data["recipient_account_id"], let recipient = UUID(uuidString: rawRecipient)
            else { return }
            let rows = try await connection.query("""
                INSERT INTO ingest.grants (id, tenant_id, node_id, owner_account_id, grantee_account_id)
                SELECT \(share), \(tenant), id, account_id, \(recipient) FROM ingest.nodes WHERE id = \(node) AND account_id = \(owner)
                ON CONFLICT (id) DO NOTHING
                RETURNING id
                """, logger: logger)
            var granted = false
            for try await _ in rows.decode(UUID.self) { granted = true }
            if granted, case .string(let raw)? = data["recipient_tenant_id"], let recipientTenant = UUID(uuidString: raw),
               recipientTenant != tenant {
                try await connection.query("""
                    INSERT INTO ingest.foreign_grants (id, owner_tenant_id, grantee_tenant_id, grantee_account_id)
                    VALUES (\(share), \(tenant), \(recipientTenant), \(recipient))
                    ON CONFLICT (id) DO NOTHING
                    """, logger: logger)
            }
        } else if event.type == "coffre.share.revoked" {
            try await connection.query("DELETE FROM ingest.grants WHERE id = \(share)", logger: logger)
            try await connection.query("DELETE FROM ingest.foreign_grants WHERE id = \(share)", logger: logger)
        }
        try await connection.setTenant(nil, logger: logger)
    }

    // MARK: the key directory's questions

    /// The owner's node (not in the trash) and, for a folder, every node
    /// below it that is not in the trash: what a share's parcels must cover.
    func ownedSubtree(_ id: UUID, tenant: UUID, owner: UUID) async throws -> OwnedSubtree? {
        try await withTenant(tenant) { connection in
            let kinds = try await connection.query("""
                SELECT kind FROM ingest.nodes WHERE id = \(id) AND account_id = \(owner) AND trashed_at IS NULL
                """, logger: logger)
            var kind: String?
            for try await k in kinds.decode(String.self) { kind = k }
            guard let kind else { return nil }
            var descendants: [String] = []
            if kind == "folder" {
                let rows = try await connection.query("""
                    WITH RECURSIVE sub(id) AS (
                        SELECT n.id FROM ingest.nodes n WHERE n.parent_id = \(id) AND n.account_id = \(owner) AND n.trashed_at IS NULL
                        UNION ALL
                        SELECT n.id FROM ingest.nodes n JOIN sub ON n.parent_id = sub.id WHERE n.trashed_at IS NULL
                    )
                    SELECT id FROM sub
                    """, logger: logger)
                for try await d in rows.decode(UUID.self) { descendants.append(d.lower) }
            }
            return OwnedSubtree(id: id.lower, kind: kind, descendants: descendants)
        }
    }

    // MARK: share links

    /// The file a link points at: the owner's node (a file, not in the
    /// trash) and its current version.
    func linkedFile(_ id: UUID, tenant: UUID, owner: UUID) async throws -> (node: NodeView, blob: ServedBlob)? {
        try await withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.nodeColumns) FROM ingest.nodes
                WHERE id = \(id) AND account_id = \(owner) AND kind = 'file' AND trashed_at IS NULL
                """, logger: logger)
            guard let node = try await Self.decodeNodes(rows).first else { return nil }
            let versions = try await connection.query("""
                SELECT v.id, v.size, v.blob_key FROM ingest.versions v JOIN ingest.nodes n ON n.current_version = v.id
                WHERE n.id = \(id)
                """, logger: logger)
            for try await (vid, size, key) in versions.decode((UUID, Int64, String).self) {
                return (node, ServedBlob(ownerAccount: owner, versionID: vid, size: size, blobKey: key))
            }
            return nil
        }
    }
}

/// `GET /internal/v1/nodes/{id}`: what the key directory checks a share against.
struct OwnedSubtree: ResponseCodable, Sendable {
    var id: String
    var kind: String
    var descendants: [String]
}
