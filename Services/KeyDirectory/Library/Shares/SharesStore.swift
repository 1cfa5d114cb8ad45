import CoffreCore
import Foundation
import Logging
import PostgresNIO

/// Every read and write of shares and links. Tenant rows are only touched
/// inside `withTenant`, and every query names the account too, so an account
/// sees only the shares it gave or received and the links it made.
struct SharesStore: Sendable {
    let postgres: PostgresClient
    let outbox: Outbox
    let logger: Logger
    static let topic = "coffre.keydir"
    static let source = "/coffre/keydir"

    /// Accounts' current keys: the directory's own (`KeyStore.currentKeys`).
    let keys: KeyStore

    func withTenant<T: Sendable>(_ tenant: UUID, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await postgres.withTenant(tenant, logger: logger, body)
    }

    // MARK: shares

    static let shareColumns = """
        id, owner_account_id, tenant_id, recipient_account_id, COALESCE(recipient_tenant_id, tenant_id), node_id, kind, parcels,
        created_at, accepted_at
        """

    static func decodeShares(_ rows: PostgresRowSequence) async throws -> [ShareView] {
        var shares: [ShareView] = []
        for try await (id, owner, ownerTenant, recipient, recipientTenant, node, kind, parcels, created, accepted)
            in rows.decode((UUID, UUID, UUID, UUID, UUID, UUID, String, Data, Date, Date?).self) {
            let decoded = (try? JSONDecoder().decode([JSONValue].self, from: parcels)) ?? []
            shares.append(ShareView(id: id.lowerText, owner_account_id: owner.lowerText, owner_tenant_id: ownerTenant.lowerText,
                                    recipient_account_id: recipient.lowerText, recipient_tenant_id: recipientTenant.lowerText,
                                    node_id: node.lowerText, kind: kind, parcels: decoded, created_at: created, accepted_at: accepted))
        }
        return shares
    }

    /// Stores the share and its `share.created` event in one transaction.
    /// A second share of the same node to the same recipient replaces the
    /// parcels of the first (same id, so ingest's grant stays the same).
    /// `check` runs first in the transaction, on the same connection, so the
    /// keys it reads are the ones the share is stored against; it answers
    /// the recipient's tenant.
    func createShare(tenant: UUID, owner: UUID, recipient: UUID, node: UUID, kind: String, parcels: [JSONValue],
                     check: (PostgresConnection) async throws -> UUID) async throws -> ShareView {
        let encoded = try JSONEncoder().encode(parcels)
        return try await withTenant(tenant) { connection in
            let recipientTenant = try await check(connection)
            let rows = try await connection.query("""
                INSERT INTO keydir.shares (id, tenant_id, owner_account_id, recipient_account_id, recipient_tenant_id, node_id, kind, parcels)
                VALUES (\(UUID()), \(tenant), \(owner), \(recipient), \(recipientTenant), \(node), \(kind), \(encoded))
                ON CONFLICT (node_id, recipient_account_id) DO UPDATE
                    SET parcels = EXCLUDED.parcels, kind = EXCLUDED.kind, updated_at = now()
                    WHERE shares.owner_account_id = EXCLUDED.owner_account_id
                RETURNING \(unescaped: Self.shareColumns)
                """, logger: logger)
            guard let share = try await Self.decodeShares(rows).first else {
                throw Problem.notFound("No such node.")
            }
            try await emit("coffre.share.created", share: share, on: connection)
            return share
        }
    }

    func shares(of account: UUID, tenant: UUID, incoming: Bool) async throws -> [ShareView] {
        try await withTenant(tenant) { connection in
            let column = incoming ? "recipient_account_id" : "owner_account_id"
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.shareColumns) FROM keydir.shares WHERE \(unescaped: column) = \(account)
                ORDER BY created_at, id
                """, logger: logger)
            return try await Self.decodeShares(rows)
        }
    }

    /// One share, for its owner or its recipient (a cross-tenant recipient
    /// asks from its own tenant; row-level security lets it see the row).
    func share(_ id: UUID, for account: UUID, tenant: UUID) async throws -> ShareView {
        try await withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.shareColumns) FROM keydir.shares
                WHERE id = \(id) AND (owner_account_id = \(account) OR recipient_account_id = \(account))
                """, logger: logger)
            guard let share = try await Self.decodeShares(rows).first else { throw Problem.notFound("No such share.") }
            return share
        }
    }

    func accept(_ id: UUID, recipient: UUID, tenant: UUID) async throws -> ShareView {
        try await withTenant(tenant) { connection in
            let rows = try await connection.query("""
                UPDATE keydir.shares SET accepted_at = COALESCE(accepted_at, now())
                WHERE id = \(id) AND recipient_account_id = \(recipient)
                RETURNING \(unescaped: Self.shareColumns)
                """, logger: logger)
            guard let share = try await Self.decodeShares(rows).first else { throw Problem.notFound("No such share.") }
            return share
        }
    }

    /// The owner revokes or the recipient declines (from its own tenant, for
    /// a cross-tenant share): the row goes and `share.revoked` tells ingest
    /// to withdraw the grant.
    func delete(_ id: UUID, by account: UUID, tenant: UUID) async throws {
        try await withTenant(tenant) { connection in
            let rows = try await connection.query("""
                DELETE FROM keydir.shares WHERE id = \(id) AND (owner_account_id = \(account) OR recipient_account_id = \(account))
                RETURNING \(unescaped: Self.shareColumns)
                """, logger: logger)
            guard let share = try await Self.decodeShares(rows).first else { throw Problem.notFound("No such share.") }
            try await emit("coffre.share.revoked", share: share, on: connection)
        }
    }

    /// Share events are keyed by the owner and carry the owner's tenant
    /// (where ingest keeps the grant), whoever ended the share, so a share's
    /// created and revoked events stay in order on one partition.
    private func emit(_ type: String, share: ShareView, on connection: PostgresConnection) async throws {
        guard let tenant = UUID(uuidString: share.owner_tenant_id), let owner = UUID(uuidString: share.owner_account_id) else { return }
        try await outbox.enqueueAccountEvent(type, source: Self.source, topic: Self.topic, tenant: tenant, account: owner, data: [
            "share_id": .string(share.id), "owner_account_id": .string(share.owner_account_id),
            "recipient_account_id": .string(share.recipient_account_id), "recipient_tenant_id": .string(share.recipient_tenant_id),
            "node_id": .string(share.node_id), "kind": .string(share.kind),
        ], on: connection, logger: logger)
    }

    // MARK: links

    static let linkColumns = "id, node_id, expires_at, max_downloads, downloads, revoked_at, created_at"

    static func decodeLinks(_ rows: PostgresRowSequence) async throws -> [LinkView] {
        var links: [LinkView] = []
        for try await (id, node, expires, max, downloads, revoked, created)
            in rows.decode((UUID, UUID, Date?, Int64?, Int64, Date?, Date).self) {
            links.append(LinkView(id: id.lowerText, node_id: node.lowerText, expires_at: expires, max_downloads: max,
                                  downloads: downloads, revoked_at: revoked, created_at: created))
        }
        return links
    }

    func createLink(tenant: UUID, owner: UUID, node: UUID, expiresAt: Date?, maxDownloads: Int64?) async throws -> LinkView {
        let id = UUID()
        return try await withTenant(tenant) { connection in
            try await connection.query("INSERT INTO keydir.link_tenants (link_id, tenant_id) VALUES (\(id), \(tenant))", logger: logger)
            let rows = try await connection.query("""
                INSERT INTO keydir.links (id, tenant_id, owner_account_id, node_id, expires_at, max_downloads)
                VALUES (\(id), \(tenant), \(owner), \(node), \(expiresAt), \(maxDownloads))
                RETURNING \(unescaped: Self.linkColumns)
                """, logger: logger)
            return try await Self.decodeLinks(rows)[0]
        }
    }

    func links(of owner: UUID, tenant: UUID) async throws -> [LinkView] {
        try await withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.linkColumns) FROM keydir.links WHERE owner_account_id = \(owner) ORDER BY created_at, id
                """, logger: logger)
            return try await Self.decodeLinks(rows)
        }
    }

    /// Revoked links stay (their downloads count is history); a second
    /// revoke changes nothing.
    func revokeLink(_ id: UUID, owner: UUID, tenant: UUID) async throws {
        try await withTenant(tenant) { connection in
            let rows = try await connection.query("""
                UPDATE keydir.links SET revoked_at = COALESCE(revoked_at, now()) WHERE id = \(id) AND owner_account_id = \(owner)
                RETURNING id
                """, logger: logger)
            var found = false
            for try await _ in rows { found = true }
            guard found else { throw Problem.notFound("No such link.") }
        }
    }

    // MARK: anonymous link access (ingest's internal routes)

    /// The tenant of a link, from the cross-tenant id map.
    func linkTenant(_ id: UUID) async throws -> UUID? {
        let rows = try await postgres.query("SELECT tenant_id FROM keydir.link_tenants WHERE link_id = \(id)", logger: logger)
        for try await tenant in rows.decode(UUID.self) { return tenant }
        return nil
    }

    static let internalColumns = "id, tenant_id, owner_account_id, node_id, expires_at, max_downloads, downloads, revoked_at"

    private func decodeInternal(_ rows: PostgresRowSequence) async throws -> (view: InternalLinkView, revoked: Bool)? {
        for try await (id, tenant, owner, node, expires, max, downloads, revoked)
            in rows.decode((UUID, UUID, UUID, UUID, Date?, Int64?, Int64, Date?).self) {
            let view = InternalLinkView(id: id.lowerText, tenant_id: tenant.lowerText, owner_account_id: owner.lowerText,
                                        node_id: node.lowerText, expires_at: expires, max_downloads: max, downloads: downloads,
                                        downloads_left: max.map { Swift.max(0, $0 - downloads) })
            return (view, revoked != nil)
        }
        return nil
    }

    static func gone(_ detail: String) -> Problem {
        Problem(.gone, type: "urn:coffre:problem:link-gone", title: "Link gone", detail: detail)
    }

    /// Why a link cannot be used now, or nil when it can.
    static func unusable(_ link: InternalLinkView, revoked: Bool, now: Date = Date()) -> Problem? {
        if revoked { return gone("This link was revoked.") }
        if let expires = link.expires_at, expires <= now { return gone("This link has expired.") }
        if link.downloads_left == 0 { return gone("This link's downloads are used up.") }
        return nil
    }

    /// The link if it can be used: 404 unknown, 410 expired, revoked or used up.
    func usableLink(_ id: UUID) async throws -> InternalLinkView {
        guard let tenant = try await linkTenant(id) else { throw Problem.notFound("No such link.") }
        return try await withTenant(tenant) { connection in
            let rows = try await connection.query("SELECT \(unescaped: Self.internalColumns) FROM keydir.links WHERE id = \(id)", logger: logger)
            guard let (link, revoked) = try await decodeInternal(rows) else { throw Problem.notFound("No such link.") }
            if let problem = Self.unusable(link, revoked: revoked) { throw problem }
            return link
        }
    }

    /// Takes one download of the link in one conditional UPDATE: under any
    /// number of concurrent claims, a link limited to N downloads grants
    /// exactly N (each claim locks the row; a claim that waited re-checks
    /// the condition on the updated row).
    func claim(_ id: UUID) async throws -> InternalLinkView {
        guard let tenant = try await linkTenant(id) else { throw Problem.notFound("No such link.") }
        return try await withTenant(tenant) { connection in
            let rows = try await connection.query("""
                UPDATE keydir.links SET downloads = downloads + 1
                WHERE id = \(id) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                  AND (max_downloads IS NULL OR downloads < max_downloads)
                RETURNING \(unescaped: Self.internalColumns)
                """, logger: logger)
            if let (link, _) = try await decodeInternal(rows) { return link }
            // Say why: the row as it is now.
            let current = try await connection.query("SELECT \(unescaped: Self.internalColumns) FROM keydir.links WHERE id = \(id)", logger: logger)
            guard let (link, revoked) = try await decodeInternal(current) else { throw Problem.notFound("No such link.") }
            throw Self.unusable(link, revoked: revoked) ?? Self.gone("This link cannot be used now.")
        }
    }
}
