import CoffreCore
import Foundation
import Logging
import PostgresNIO

/// Plan defaults and the transfer window's shape.
public struct QuotaPolicy: Sendable {
    /// Storage limit of an account whose tenant sent no `tenant.created`.
    public var defaultStorageBytes: Int64 = 50_000_000_000
    /// Transfer allowance per window of such an account.
    public var defaultTransferBytes: Int64 = 10_000_000_000
    /// Transfer allowance per window of one client IP address downloading
    /// share links anonymously (on top of the link owner's own allowance).
    public var ipTransferBytes: Int64 = 5_000_000_000
    public var transferWindowSeconds: Int64 = 6 * 3600
    /// Served bytes are counted in buckets of this many seconds.
    public var transferBucketSeconds: Int64 = 300
    /// Longest reservation life accepted.
    public var maxReservationSeconds: Int64 = 90 * 86400
    public init() {}
}

/// Everything quota reads and writes. Account rows are only touched inside
/// `withTenant` (or after `setTenant` on an event's connection), so row-level
/// security confines every statement to one tenant.
///
/// The storage invariant lives in one statement: a reservation is granted
/// only by `UPDATE ledgers SET reserved = reserved + n WHERE … used +
/// reserved + n <= limit`, which Postgres evaluates under the row's lock; no
/// decision is ever taken on a value read earlier.
struct QuotaStore: Sendable {
    let postgres: PostgresClient
    let outbox: Outbox
    let policy: QuotaPolicy
    let logger: Logger
    static let topic = "coffre.quota"
    static let source = "/coffre/quota"

    // MARK: transactions and events

    func withTenant<T: Sendable>(_ tenant: UUID, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await postgres.withTenant(tenant, logger: logger, body)
    }

    func emit(_ type: String, tenant: UUID, account: UUID, data: [String: JSONValue], on connection: PostgresConnection) async throws {
        try await outbox.enqueueAccountEvent(type, source: Self.source, topic: Self.topic, tenant: tenant, account: account,
                                             data: data, on: connection, logger: logger)
    }

    // MARK: plans and ledgers

    /// Makes sure the tenant has a plan row (the configured defaults until its
    /// `tenant.created` arrives) and the account a ledger (from that plan).
    /// Every path that touches a ledger calls it first, so events and
    /// reservations work in whatever order they arrive; `account.created`
    /// afterwards finds the ledger and changes nothing.
    func provision(tenant: UUID, account: UUID, on connection: PostgresConnection) async throws {
        try await provision(tenant: tenant, accounts: [account], on: connection)
    }

    /// The same for many accounts of one tenant, in two statements.
    func provision(tenant: UUID, accounts: [UUID], on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO quota.tenants (id, storage_limit_bytes, transfer_allowance_bytes, source)
            VALUES (\(tenant), \(policy.defaultStorageBytes), \(policy.defaultTransferBytes), 'default')
            ON CONFLICT (id) DO NOTHING
            """, logger: logger)
        try await connection.query("""
            INSERT INTO quota.ledgers (tenant_id, account_id, storage_limit, transfer_allowance)
            SELECT t.id, a.id, t.storage_limit_bytes, t.transfer_allowance_bytes
            FROM quota.tenants t CROSS JOIN unnest(\(accounts)::uuid[]) AS a(id) WHERE t.id = \(tenant)
            ON CONFLICT (account_id) DO NOTHING
            """, logger: logger)
    }

    /// `tenant.created`: the plan, applied to ledgers provisioned before it arrived.
    func applyPlan(tenant: UUID, storage: Int64, transfer: Int64, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO quota.tenants (id, storage_limit_bytes, transfer_allowance_bytes, source)
            VALUES (\(tenant), \(storage), \(transfer), 'event')
            ON CONFLICT (id) DO UPDATE SET storage_limit_bytes = EXCLUDED.storage_limit_bytes,
                transfer_allowance_bytes = EXCLUDED.transfer_allowance_bytes, source = 'event', updated_at = now()
            """, logger: logger)
        try await connection.query("""
            UPDATE quota.ledgers SET storage_limit = \(storage), transfer_allowance = \(transfer) WHERE tenant_id = \(tenant)
            """, logger: logger)
    }

    /// `account.deleted`: no new reservations, held ones dropped.
    func close(tenant: UUID, account: UUID, at time: Date, on connection: PostgresConnection) async throws {
        try await provision(tenant: tenant, account: account, on: connection)
        try await connection.query("""
            UPDATE quota.reservations SET state = 'released', settled_at = now() WHERE account_id = \(account) AND state = 'held'
            """, logger: logger)
        try await connection.query("""
            UPDATE quota.ledgers SET closed_at = COALESCE(closed_at, \(time)), reserved = 0 WHERE account_id = \(account)
            """, logger: logger)
    }

    // MARK: reservations

    enum ReserveOutcome: Sendable {
        case granted(ReservationResponse)
        case refused(remaining: Int64, closed: Bool)
    }

    /// One statement (`quota.reserve`, migration 3), so one round trip and
    /// one implicit transaction; a refusal's `quota.exceeded` goes out after.
    func reserve(tenant: UUID, account: UUID, upload: UUID, bytes: Int64, expiresAt: Date) async throws -> ReserveOutcome {
        let rows = try await postgres.query("""
            SELECT outcome, reservation_id, reserved_bytes, expires, remaining
            FROM quota.reserve(\(tenant), \(account), \(upload), \(UUID()), \(bytes), \(expiresAt),
                               \(policy.defaultStorageBytes), \(policy.defaultTransferBytes))
            """, logger: logger)
        var answer: (String, UUID?, Int64, Date, Int64)?
        for try await row in rows.decode((String, UUID?, Int64, Date, Int64).self) { answer = row }
        guard let (outcome, id, held, expires, remaining) = answer else { throw Problem(.internalServerError, detail: "quota.reserve returned nothing") }
        switch outcome {
        case "granted", "existing":
            guard let id else { throw Problem(.internalServerError, detail: "quota.reserve granted without an id") }
            return .granted(ReservationResponse(reservation_id: id.lower, upload_id: upload.lower, bytes: held,
                                                expires_at: RFC3339.format(expires), remaining_bytes: remaining))
        case "refused", "closed":
            let closed = outcome == "closed"
            try await withTenant(tenant) { connection in
                try await emit("coffre.quota.exceeded", tenant: tenant, account: account, data: [
                    "reason": .string(closed ? "account_closed" : "reservation_refused"),
                    "requested_bytes": .int(bytes), "remaining_bytes": .int(remaining), "upload_id": .string(upload.lower),
                ], on: connection)
            }
            return .refused(remaining: remaining, closed: closed)
        default:
            let state = outcome.hasPrefix("conflict:") ? String(outcome.dropFirst("conflict:".count)) : outcome
            throw Problem.conflict("upload \(upload.lower) already has a \(state) reservation of \(held) bytes",
                                   type: "urn:coffre:problem:reservation-exists")
        }
    }

    /// Free bytes (never negative) and whether the ledger is closed.
    func remaining(_ account: UUID, on connection: PostgresConnection) async throws -> (remaining: Int64, closed: Bool) {
        let rows = try await connection.query("""
            SELECT greatest(COALESCE(storage_override, storage_limit) - used - reserved, 0), closed_at IS NOT NULL
            FROM quota.ledgers WHERE account_id = \(account)
            """, logger: logger)
        for try await (remaining, closed) in rows.decode((Int64, Bool).self) { return (remaining, closed) }
        return (0, true)
    }

    /// Settles a held reservation as `state` (released or expired) and gives
    /// its bytes back, in one statement; a settled or unknown one is left
    /// alone (idempotent). Returns the bytes freed.
    @discardableResult
    func settle(reservation: UUID, account: UUID, as state: String, on connection: PostgresConnection) async throws -> Int64 {
        let rows = try await connection.query("""
            WITH r AS (
                UPDATE quota.reservations SET state = \(state), settled_at = now()
                WHERE id = \(reservation) AND account_id = \(account) AND state = 'held'
                RETURNING account_id, bytes
            )
            UPDATE quota.ledgers l SET reserved = l.reserved - r.bytes FROM r WHERE l.account_id = r.account_id
            RETURNING r.bytes
            """, logger: logger)
        for try await bytes in rows.decode(Int64.self) { return bytes }
        return 0
    }

    func release(tenant: UUID, account: UUID, reservation: UUID) async throws {
        try await withTenant(tenant) { connection in
            try await settle(reservation: reservation, account: account, as: "released", on: connection)
        }
    }

    /// A change of an account's stored bytes: `blob.committed` (positive,
    /// settling its reservation if still held) or `blob.deleted` (negative).
    struct UsageChange: Sendable {
        var account: UUID
        var reservation: UUID?
        var bytes: Int64
    }

    /// Many `commit`s and `free`s at once, in one statement: the held
    /// reservations among them become committed, and each ledger moves by
    /// the sum of its changes. Ledgers provisioned beforehand. An account a
    /// commit took over its limit gets `quota.exceeded`, as with `commit`.
    func applyUsage(tenant: UUID, _ changes: [UsageChange], on connection: PostgresConnection) async throws {
        // No reservation has the nil UUID: it stands for "none" in the array.
        let none = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        let rows = try await connection.query("""
            WITH ev AS (
                SELECT * FROM unnest(\(changes.map(\.account))::uuid[], \(changes.map { $0.reservation ?? none })::uuid[],
                                     \(changes.map(\.bytes))::bigint[]) AS e(account_id, reservation_id, bytes)
            ), r AS (
                UPDATE quota.reservations res SET state = 'committed', settled_at = now()
                FROM ev WHERE res.id = ev.reservation_id AND res.account_id = ev.account_id AND res.state = 'held' AND ev.bytes > 0
                RETURNING res.account_id, res.bytes
            ), settled AS (
                SELECT account_id, sum(bytes)::bigint AS bytes FROM r GROUP BY account_id
            ), delta AS (
                SELECT account_id, sum(bytes)::bigint AS bytes, bool_or(bytes > 0) AS committed FROM ev GROUP BY account_id
            )
            UPDATE quota.ledgers l SET reserved = l.reserved - COALESCE(settled.bytes, 0), used = l.used + delta.bytes
            FROM delta LEFT JOIN settled USING (account_id)
            WHERE l.account_id = delta.account_id
            RETURNING l.account_id, l.used, l.reserved, COALESCE(l.storage_override, l.storage_limit), delta.committed
            """, logger: logger)
        var over: [(UUID, Int64, Int64, Int64)] = []
        for try await (account, used, reserved, limit, committed) in rows.decode((UUID, Int64, Int64, Int64, Bool).self)
        where committed && used + reserved > limit {
            over.append((account, used, reserved, limit))
        }
        for (account, used, reserved, limit) in over {
            try await emit("coffre.quota.exceeded", tenant: tenant, account: account, data: [
                "reason": .string("usage_over_limit"), "used_bytes": .int(used), "reserved_bytes": .int(reserved), "limit_bytes": .int(limit),
            ], on: connection)
        }
    }

    /// Held reservations past their expiry, tenant by tenant. Returns how many.
    func sweepExpired() async throws -> Int {
        var swept = 0
        for tenant in try await tenantIDs() {
            swept += try await withTenant(tenant) { connection in
                let rows = try await connection.query("""
                    WITH r AS (
                        UPDATE quota.reservations SET state = 'expired', settled_at = now()
                        WHERE state = 'held' AND expires_at <= now() RETURNING account_id, bytes
                    ), s AS (SELECT account_id, sum(bytes)::bigint AS bytes, count(*) AS n FROM r GROUP BY account_id)
                    UPDATE quota.ledgers l SET reserved = l.reserved - s.bytes FROM s WHERE l.account_id = s.account_id
                    RETURNING s.n
                    """, logger: logger)
                var n = 0
                for try await count in rows.decode(Int64.self) { n += Int(count) }
                return n
            }
        }
        return swept
    }

    func tenantIDs() async throws -> [UUID] {
        let rows = try await postgres.query("SELECT id FROM quota.tenants ORDER BY id", logger: logger)
        var ids: [UUID] = []
        for try await id in rows.decode(UUID.self) { ids.append(id) }
        return ids
    }

    // MARK: views

    func view(tenant: UUID, account: UUID, now: Date = Date()) async throws -> QuotaView {
        try await withTenant(tenant) { connection in
            try await provision(tenant: tenant, account: account, on: connection)
            return try await view(tenant: tenant, account: account, now: now, on: connection)
        }
    }

    func view(tenant: UUID, account: UUID, now: Date, on connection: PostgresConnection) async throws -> QuotaView {
        let rows = try await connection.query("""
            SELECT used, reserved, COALESCE(storage_override, storage_limit), storage_override IS NOT NULL,
                   closed_at IS NOT NULL, transfer_exhausted_until
            FROM quota.ledgers WHERE account_id = \(account)
            """, logger: logger)
        for try await (used, reserved, limit, overridden, closed, exhaustedUntil) in rows.decode((Int64, Int64, Int64, Bool, Bool, Date?).self) {
            let window = try await transferWindow(account: account, now: now, on: connection)
            let reset = exhaustedUntil ?? window.nextDrop
            return QuotaView(tenant_id: tenant.lower, account_id: account.lower, used_bytes: used, reserved_bytes: reserved,
                             limit_bytes: limit, available_bytes: max(limit - used - reserved, 0), closed: closed,
                             storage_override: overridden,
                             transfer: .init(used_bytes: window.used, allowance_bytes: window.allowance,
                                             window_seconds: policy.transferWindowSeconds,
                                             window_reset: reset.map(RFC3339.format), exhausted: exhaustedUntil != nil))
        }
        throw Problem.notFound("No ledger for this account.")
    }

    func tenantTotals(_ tenant: UUID) async throws -> TenantTotals? {
        let plans = try await postgres.query("""
            SELECT storage_limit_bytes, transfer_allowance_bytes, source FROM quota.tenants WHERE id = \(tenant)
            """, logger: logger)
        var plan: (Int64, Int64, String)?
        for try await row in plans.decode((Int64, Int64, String).self) { plan = row }
        guard let plan else { return nil }
        let cutoff = Date().addingTimeInterval(-Double(policy.transferWindowSeconds + policy.transferBucketSeconds))
        return try await withTenant(tenant) { connection in
            let rows = try await connection.query("""
                SELECT count(*), COALESCE(sum(used), 0)::bigint, COALESCE(sum(reserved), 0)::bigint,
                       (SELECT COALESCE(sum(bytes), 0)::bigint FROM quota.transfer_buckets WHERE bucket_start > \(cutoff))
                FROM quota.ledgers
                """, logger: logger)
            for try await (accounts, used, reserved, transfer) in rows.decode((Int64, Int64, Int64, Int64).self) {
                return TenantTotals(tenant_id: tenant.lower, plan_storage_limit_bytes: plan.0, plan_transfer_allowance_bytes: plan.1,
                                    plan_source: plan.2, accounts: accounts, used_bytes: used, reserved_bytes: reserved,
                                    transfer_used_bytes: transfer)
            }
            return nil
        }
    }

    /// The operator's per-account limits; nil clears an override.
    func setOverride(tenant: UUID, account: UUID, storage: Int64?, transfer: Int64?) async throws -> QuotaView {
        try await withTenant(tenant) { connection in
            try await provision(tenant: tenant, account: account, on: connection)
            try await connection.query("""
                UPDATE quota.ledgers SET storage_override = \(storage), transfer_override = \(transfer) WHERE account_id = \(account)
                """, logger: logger)
            try await evaluateTransfer(tenant: tenant, account: account, now: Date(), on: connection)
            return try await view(tenant: tenant, account: account, now: Date(), on: connection)
        }
    }

    /// Reconciliation's repair: set `used` to what ingest stores.
    func setUsed(tenant: UUID, account: UUID, bytes: Int64) async throws {
        try await withTenant(tenant) { connection in
            try await provision(tenant: tenant, account: account, on: connection)
            try await connection.query("UPDATE quota.ledgers SET used = \(bytes) WHERE account_id = \(account)", logger: logger)
        }
    }

    /// `used` of every ledger of a tenant.
    func usedByAccount(tenant: UUID) async throws -> [UUID: Int64] {
        try await withTenant(tenant) { connection in
            let rows = try await connection.query("SELECT account_id, used FROM quota.ledgers", logger: logger)
            var used: [UUID: Int64] = [:]
            for try await (account, bytes) in rows.decode((UUID, Int64).self) { used[account] = bytes }
            return used
        }
    }
}
