import CoffreCore
import Foundation
import PostgresNIO

/// The rolling transfer window: served bytes are added to fixed buckets
/// (`transferBucketSeconds`, keyed by the served interval's end, so a replay
/// adds to the same bucket); a bucket leaves the window `window` seconds after
/// its end. When the window's sum reaches the allowance the ledger records
/// until when (`transfer_exhausted_until`) and `quota.transfer.exhausted` goes
/// out; the sweeper emits `quota.transfer.restored` once enough has aged out.
extension QuotaStore {
    struct WindowState: Sendable {
        var used: Int64
        var allowance: Int64
        /// When the oldest counted bucket leaves the window.
        var nextDrop: Date?
        /// When the sum falls below the allowance (nil: it already is).
        var exhaustedUntil: Date?
    }

    func bucketStart(_ time: Date) -> Date {
        let b = Double(policy.transferBucketSeconds)
        return Date(timeIntervalSince1970: (time.timeIntervalSince1970 / b).rounded(.down) * b)
    }

    func transferWindow(account: UUID, now: Date, on connection: PostgresConnection) async throws -> WindowState {
        let span = Double(policy.transferWindowSeconds + policy.transferBucketSeconds)
        let rows = try await connection.query("""
            SELECT bucket_start, bytes FROM quota.transfer_buckets
            WHERE account_id = \(account) AND bucket_start > \(now.addingTimeInterval(-span)) ORDER BY bucket_start
            """, logger: logger)
        var buckets: [(leaves: Date, bytes: Int64)] = []
        for try await (start, bytes) in rows.decode((Date, Int64).self) {
            buckets.append((start.addingTimeInterval(span), bytes))
        }
        let limits = try await connection.query("""
            SELECT COALESCE(transfer_override, transfer_allowance) FROM quota.ledgers WHERE account_id = \(account)
            """, logger: logger)
        var allowance = policy.defaultTransferBytes
        for try await value in limits.decode(Int64.self) { allowance = value }
        return window(buckets: buckets, allowance: allowance, now: now)
    }

    /// The window over buckets (when each leaves it, its bytes), oldest first.
    func window(buckets: [(leaves: Date, bytes: Int64)], allowance: Int64, now: Date) -> WindowState {
        var buckets = buckets
        buckets.removeAll { $0.leaves <= now }
        var used = buckets.reduce(0) { $0 + $1.bytes }
        let total = used
        var until: Date?
        if used >= allowance {
            for bucket in buckets {
                used -= bucket.bytes
                if used < allowance {
                    until = bucket.leaves
                    break
                }
            }
        }
        return WindowState(used: total, allowance: allowance, nextDrop: buckets.first?.leaves, exhaustedUntil: until)
    }

    /// One `transfer.served`; `ip` for an anonymous download of a share
    /// link (the bytes count against the owner and against that address).
    struct TransferServed: Sendable {
        var account: UUID
        var bytes: Int64
        var servedAt: Date
        var ip: String?
    }

    /// Many `transfer.served` at once: the bytes go into their buckets in one
    /// statement, then only the accounts that may cross a boundary (at or
    /// over their allowance, or marked exhausted) are evaluated one by one;
    /// for every other account evaluating would change nothing.
    func recordTransfers(tenant: UUID, _ served: [TransferServed], now: Date, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO quota.transfer_buckets (tenant_id, account_id, bucket_start, bytes)
            SELECT \(tenant), a, b, sum(n)::bigint
            FROM unnest(\(served.map(\.account))::uuid[], \(served.map { bucketStart($0.servedAt) })::timestamptz[],
                        \(served.map(\.bytes))::bigint[]) AS t(a, b, n)
            GROUP BY a, b
            ON CONFLICT (account_id, bucket_start) DO UPDATE SET bytes = quota.transfer_buckets.bytes + EXCLUDED.bytes
            """, logger: logger)
        let cutoff = now.addingTimeInterval(-Double(policy.transferWindowSeconds + policy.transferBucketSeconds))
        let rows = try await connection.query("""
            SELECT l.account_id FROM quota.ledgers l
            WHERE l.account_id = ANY(\(Array(Set(served.map(\.account))))::uuid[])
              AND (l.transfer_exhausted_until IS NOT NULL
                   OR (SELECT COALESCE(sum(b.bytes), 0) FROM quota.transfer_buckets b
                       WHERE b.account_id = l.account_id AND b.bucket_start > \(cutoff))
                      >= COALESCE(l.transfer_override, l.transfer_allowance))
            """, logger: logger)
        var candidates: [UUID] = []
        for try await account in rows.decode(UUID.self) { candidates.append(account) }
        for account in candidates {
            try await evaluateTransfer(tenant: tenant, account: account, now: now, on: connection)
        }
        let anonymous = served.filter { $0.ip != nil }
        if !anonymous.isEmpty {
            try await recordAddressTransfers(tenant: tenant, anonymous, now: now, on: connection)
        }
    }

    // MARK: per client address (anonymous share-link downloads)

    /// The same window per client IP address, with `ipTransferBytes` for
    /// every address of the tenant.
    func recordAddressTransfers(tenant: UUID, _ served: [TransferServed], now: Date, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO quota.address_transfer_buckets (tenant_id, ip, bucket_start, bytes)
            SELECT \(tenant), a, b, sum(n)::bigint
            FROM unnest(\(served.map { $0.ip ?? "" })::text[], \(served.map { bucketStart($0.servedAt) })::timestamptz[],
                        \(served.map(\.bytes))::bigint[]) AS t(a, b, n)
            GROUP BY a, b
            ON CONFLICT (tenant_id, ip, bucket_start) DO UPDATE SET bytes = quota.address_transfer_buckets.bytes + EXCLUDED.bytes
            """, logger: logger)
        let cutoff = now.addingTimeInterval(-Double(policy.transferWindowSeconds + policy.transferBucketSeconds))
        let rows = try await connection.query("""
            SELECT a.ip FROM unnest(\(Array(Set(served.compactMap(\.ip))))::text[]) AS a(ip)
            WHERE EXISTS (SELECT 1 FROM quota.address_blocks s WHERE s.tenant_id = \(tenant) AND s.ip = a.ip)
               OR (SELECT COALESCE(sum(b.bytes), 0) FROM quota.address_transfer_buckets b
                   WHERE b.tenant_id = \(tenant) AND b.ip = a.ip AND b.bucket_start > \(cutoff)) >= \(policy.ipTransferBytes)
            """, logger: logger)
        var candidates: [String] = []
        for try await ip in rows.decode(String.self) { candidates.append(ip) }
        for ip in candidates {
            try await evaluateAddress(tenant: tenant, ip: ip, now: now, on: connection)
        }
    }

    /// Blocks or unblocks one address, emitting `quota.transfer.exhausted` /
    /// `restored` (data `scope: "ip"`, `ip`) on each crossing. A blocked
    /// address has a row in `address_blocks`; an unblocked one none.
    func evaluateAddress(tenant: UUID, ip: String, now: Date, on connection: PostgresConnection) async throws {
        let span = Double(policy.transferWindowSeconds + policy.transferBucketSeconds)
        let rows = try await connection.query("""
            SELECT bucket_start, bytes FROM quota.address_transfer_buckets
            WHERE tenant_id = \(tenant) AND ip = \(ip) AND bucket_start > \(now.addingTimeInterval(-span)) ORDER BY bucket_start
            """, logger: logger)
        var buckets: [(leaves: Date, bytes: Int64)] = []
        for try await (start, bytes) in rows.decode((Date, Int64).self) { buckets.append((start.addingTimeInterval(span), bytes)) }
        let state = window(buckets: buckets, allowance: policy.ipTransferBytes, now: now)
        let previous = try await connection.query("""
            SELECT exhausted_until FROM quota.address_blocks WHERE tenant_id = \(tenant) AND ip = \(ip) FOR UPDATE
            """, logger: logger)
        var wasBlocked = false
        for try await _ in previous.decode(Date.self) { wasBlocked = true }
        func emit(_ type: String, _ data: [String: JSONValue]) async throws {
            var data = data
            data["scope"] = .string("ip")
            data["ip"] = .string(ip)
            data["tenant_id"] = .string(tenant.lower)
            data["used_bytes"] = .int(state.used)
            data["allowance_bytes"] = .int(state.allowance)
            let event = CloudEvent(source: Self.source, type: type, subject: "ip:\(ip)", tenant: tenant.lower, data: .object(data))
            try await outbox.enqueue(event, topic: Self.topic, key: "ip:\(ip)", on: connection, logger: logger)
        }
        if let until = state.exhaustedUntil {
            try await connection.query("""
                INSERT INTO quota.address_blocks (tenant_id, ip, exhausted_until) VALUES (\(tenant), \(ip), \(until))
                ON CONFLICT (tenant_id, ip) DO UPDATE SET exhausted_until = EXCLUDED.exhausted_until
                """, logger: logger)
            if !wasBlocked {
                try await emit("coffre.quota.transfer.exhausted", [
                    "window_reset": .string(RFC3339.format(until)),
                    "retry_after_seconds": .int(Int64(max(1, until.timeIntervalSince(now).rounded(.up)))),
                ])
            }
        } else if wasBlocked {
            try await connection.query("DELETE FROM quota.address_blocks WHERE tenant_id = \(tenant) AND ip = \(ip)", logger: logger)
            try await emit("coffre.quota.transfer.restored", [:])
        }
    }

    /// Sets or clears `transfer_exhausted_until`, emitting an event on each
    /// crossing (not on every served batch).
    func evaluateTransfer(tenant: UUID, account: UUID, now: Date, on connection: PostgresConnection) async throws {
        let window = try await transferWindow(account: account, now: now, on: connection)
        let rows = try await connection.query("""
            SELECT transfer_exhausted_until FROM quota.ledgers WHERE account_id = \(account) FOR UPDATE
            """, logger: logger)
        var was: Date??
        for try await value in rows.decode(Date?.self) { was = .some(value) }
        guard let previous = was else { return }
        try await connection.query("""
            UPDATE quota.ledgers SET transfer_exhausted_until = \(window.exhaustedUntil) WHERE account_id = \(account)
            """, logger: logger)
        if let until = window.exhaustedUntil, previous == nil {
            try await emit("coffre.quota.transfer.exhausted", tenant: tenant, account: account, data: [
                "used_bytes": .int(window.used), "allowance_bytes": .int(window.allowance),
                "window_reset": .string(RFC3339.format(until)),
                "retry_after_seconds": .int(Int64(max(1, until.timeIntervalSince(now).rounded(.up)))),
            ], on: connection)
        } else if window.exhaustedUntil == nil, previous != nil {
            try await emit("coffre.quota.transfer.restored", tenant: tenant, account: account, data: [
                "used_bytes": .int(window.used), "allowance_bytes": .int(window.allowance),
            ], on: connection)
        }
    }

    /// Accounts whose exhaustion is due to end: re-evaluated, tenant by
    /// tenant, and old buckets dropped. Returns how many were looked at.
    func restoreDue(now: Date = Date()) async throws -> Int {
        var looked = 0
        let horizon = now.addingTimeInterval(-Double(policy.transferWindowSeconds + 2 * policy.transferBucketSeconds))
        for tenant in try await tenantIDs() {
            looked += try await withTenant(tenant) { connection in
                try await connection.query("DELETE FROM quota.transfer_buckets WHERE bucket_start < \(horizon)", logger: logger)
                let rows = try await connection.query("""
                    SELECT account_id FROM quota.ledgers WHERE transfer_exhausted_until <= \(now)
                    """, logger: logger)
                var due: [UUID] = []
                for try await account in rows.decode(UUID.self) { due.append(account) }
                for account in due {
                    try await evaluateTransfer(tenant: tenant, account: account, now: now, on: connection)
                }
                try await connection.query("DELETE FROM quota.address_transfer_buckets WHERE bucket_start < \(horizon)", logger: logger)
                let addresses = try await connection.query("""
                    SELECT ip FROM quota.address_blocks WHERE exhausted_until <= \(now)
                    """, logger: logger)
                var dueAddresses: [String] = []
                for try await ip in addresses.decode(String.self) { dueAddresses.append(ip) }
                for ip in dueAddresses {
                    try await evaluateAddress(tenant: tenant, ip: ip, now: now, on: connection)
                }
                return due.count + dueAddresses.count
            }
        }
        return looked
    }
}
