import CoffreCore
import Foundation
import KeyTransparency
import Logging
import PostgresNIO

/// Turns accounts' events into queued log changes.
///
/// `IdempotentConsumer` runs this once per event id, inside the transaction
/// that records the id, so a redelivered `account.created` queues nothing
/// twice. `account.created` queues a `publish` of the signup keys (checked
/// again here: a bad self-signature is logged and skipped) and stores the
/// account's email for lookups; `account.deleted` queues the directory's
/// `revoke` (reason `account-deleted`) and forgets the email. Versions are
/// given when sequenced, after whatever the account's own requests did.
/// `tenant.created` and `tenant.updated` keep `keydir.tenants` (slug and
/// whether the tenant allows shares with other tenants) current.
struct AccountEvents: Sendable {
    let keys: KeyStore

    func apply(_ events: [CloudEvent], on connection: PostgresConnection, logger: Logger) async throws {
        for event in events where event.type == "coffre.tenant.created" || event.type == "coffre.tenant.updated" {
            try await tenant(event, on: connection, logger: logger)
        }
        for event in events where event.type == "coffre.account.created" || event.type == "coffre.account.deleted" {
            guard let tenant = UUID(uuidString: event.tenant),
                  let account = string(event.data, "account_id").flatMap(UUID.init(uuidString:)) ?? event.subject.flatMap(UUID.init(uuidString:))
            else {
                skip(event, "no tenant or account id", logger)
                continue
            }
            try await connection.setTenant(tenant, logger: logger)
            if event.type == "coffre.account.created" {
                try await created(event, tenant: tenant, account: account, on: connection, logger: logger)
            } else {
                try await connection.query("UPDATE keydir.accounts SET email = NULL WHERE account_id = \(account)", logger: logger)
                let revoke = PendingChange(tenant: tenant, account: account, origin: .directory, action: .revoke, reason: "account-deleted")
                _ = try await keys.enqueue(revoke, on: connection)
            }
        }
        try await connection.setTenant(nil, logger: logger)
    }

    private func created(_ event: CloudEvent, tenant: UUID, account: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        if let email = string(event.data, "email")?.trimmingCharacters(in: .whitespaces).lowercased(), !email.isEmpty {
            // An address freed by a deleted account whose event we have not seen yet.
            try await connection.query("""
                UPDATE keydir.accounts SET email = NULL WHERE email = \(email) AND account_id <> \(account)
                """, logger: logger)
            try await connection.query("""
                INSERT INTO keydir.accounts (tenant_id, account_id, email) VALUES (\(tenant), \(account), \(email))
                ON CONFLICT (account_id) DO UPDATE SET email = EXCLUDED.email, updated_at = now()
                """, logger: logger)
        }
        guard case .object(let keys)? = event.data["public_keys"],
              let x = string(keys, "x25519"), let ed = string(keys, "ed25519"), let signature = string(keys, "self_signature"),
              let xBytes = Base64URL.decode(x), let edBytes = Base64URL.decode(ed), let signatureBytes = Base64URL.decode(signature)
        else {
            return skip(event, "no public keys", logger)
        }
        let publish = PendingChange(tenant: tenant, account: account, origin: .directory, action: .publish,
                                    x25519: xBytes, ed25519: edBytes, selfSignature: signatureBytes)
        // The self-signature and key lengths, as for a client's publish
        // (version and state are the sequencer's: this is version 1 only if
        // nothing else came first).
        let candidate = KeyLogEntry(tenant: tenant.lower, account: account.lower, action: .publish, version: 1,
                                    x25519: Base64URL.encode(xBytes), ed25519: Base64URL.encode(edBytes),
                                    selfSignature: Base64URL.encode(signatureBytes), prevSignature: nil, reason: nil)
        do {
            try candidate.verifySignatures(previousEd25519: nil)
        } catch {
            return skip(event, "public keys do not verify: \(error)", logger)
        }
        _ = try await self.keys.enqueue(publish, on: connection)
    }

    /// The tenant's slug and sharing policy; an older event than the row's
    /// changes nothing. An event without the flag (from before it existed)
    /// leaves the tenant closed.
    private func tenant(_ event: CloudEvent, on connection: PostgresConnection, logger: Logger) async throws {
        guard let id = string(event.data, "tenant_id").flatMap(UUID.init(uuidString:)) ?? UUID(uuidString: event.tenant),
              let slug = string(event.data, "slug"), !slug.isEmpty else {
            return skip(event, "no tenant id or slug", logger)
        }
        var open = false
        if case .object(let data) = event.data, case .bool(let flag)? = data["cross_tenant_shares"] { open = flag }
        try await connection.query("""
            INSERT INTO keydir.tenants (id, slug, cross_tenant_shares, updated_at) VALUES (\(id), \(slug), \(open), \(event.time))
            ON CONFLICT (id) DO UPDATE SET slug = EXCLUDED.slug, cross_tenant_shares = EXCLUDED.cross_tenant_shares,
                updated_at = EXCLUDED.updated_at
            WHERE tenants.updated_at <= EXCLUDED.updated_at
            """, logger: logger)
    }

    private func string(_ data: JSONValue, _ key: String) -> String? {
        if case .object(let object) = data { return string(object, key) }
        return nil
    }

    private func string(_ object: [String: JSONValue], _ key: String) -> String? {
        if case .string(let value)? = object[key] { return value }
        return nil
    }

    private func skip(_ event: CloudEvent, _ why: String, _ logger: Logger) {
        logger.warning("account event skipped", metadata: [
            "event_id": .string(event.id.lower), "type": .string(event.type), "reason": .string(why),
        ])
    }
}
