import CoffreCore
import Foundation
import KeyTransparency
import Logging
import PostgresNIO

/// The directory of accounts' keys: their latest state (`keydir.accounts`,
/// under row-level security), lookups with inclusion proofs, and the queue
/// of changes the sequencer appends to the log.
struct KeyStore: Sendable {
    /// What the shares code needs of an account: its current keys.
    struct CurrentKeys: Sendable, Equatable {
        var x25519: [UInt8]
        var ed25519: [UInt8]
        var version: UInt64
        /// Revoked keys must not receive shares nor sign them.
        var revoked: Bool
    }

    let postgres: PostgresClient
    let log: LogStore
    let sequencer: LogSequencer
    /// How long `POST /v1/keys` waits for its entry's batch before answering 202.
    let publishWait: Duration
    let logger: Logger

    init(postgres: PostgresClient, sequencer: LogSequencer, publishWait: Duration, logger: Logger) {
        self.postgres = postgres
        self.log = LogStore(postgres: postgres, logger: logger)
        self.sequencer = sequencer
        self.publishWait = publishWait
        self.logger = logger
    }

    // MARK: state

    /// The account's state, on a connection already scoped to its tenant.
    func state(of account: UUID, on connection: PostgresConnection) async throws -> KeyState? {
        let rows = try await connection.query("""
            SELECT version, latest_index, x25519, ed25519, revoked FROM keydir.accounts WHERE account_id = \(account)
            """, logger: logger)
        for try await (version, index, x, ed, revoked) in rows.decode((Int64, Int64?, ByteBuffer?, ByteBuffer?, Bool).self) {
            return KeyState(version: UInt64(version), latestIndex: index.map { UInt64($0) }, x25519: x.map { Array(buffer: $0) },
                            ed25519: ed.map { Array(buffer: $0) }, revoked: revoked)
        }
        return nil
    }

    /// The account's current keys in `tenant`, or nil when it has published
    /// none (or is not of this tenant).
    func currentKeys(tenant: UUID, account: UUID) async throws -> CurrentKeys? {
        try await postgres.withTenant(tenant, logger: logger) { try await currentKeys(account: account, on: $0) }
    }

    /// The same, on a connection already scoped to the account's tenant.
    func currentKeys(account: UUID, on connection: PostgresConnection) async throws -> CurrentKeys? {
        guard let state = try await state(of: account, on: connection), state.version > 0,
              let x = state.x25519, let ed = state.ed25519 else { return nil }
        return CurrentKeys(x25519: x, ed25519: ed, version: state.version, revoked: state.revoked)
    }

    // MARK: lookups

    func lookup(account: UUID, tenant: UUID) async throws -> KeyLookup {
        try await postgres.withTenant(tenant, logger: logger) { connection in
            guard let state = try await state(of: account, on: connection), let index = state.latestIndex else {
                throw Problem.notFound("this account has published no keys")
            }
            return try await log.lookup(account: account, version: state.version, index: index, on: connection)
        }
    }

    /// The account's tenant, as the caller's tenant may see it (its own, or
    /// another one when both allow cross-tenant shares), or nil.
    func tenant(of account: UUID, on connection: PostgresConnection) async throws -> UUID? {
        let rows = try await connection.query("SELECT tenant_id FROM keydir.accounts WHERE account_id = \(account)", logger: logger)
        for try await tenant in rows.decode(UUID.self) { return tenant }
        return nil
    }

    /// The account with `email` in `target` (the caller's tenant unless
    /// given: another tenant's accounts are visible only when both tenants
    /// allow cross-tenant shares, by row-level security).
    func lookup(email raw: String, tenant: UUID, in target: UUID? = nil) async throws -> KeyLookup {
        let email = raw.trimmingCharacters(in: .whitespaces).lowercased()
        guard !email.isEmpty, email.utf8.count <= 254 else { throw Problem.badRequest("email is not a valid address", type: "urn:coffre:problem:invalid-email") }
        let target = target ?? tenant
        return try await postgres.withTenant(tenant, logger: logger) { connection in
            let rows = try await connection.query("""
                SELECT account_id, version, latest_index FROM keydir.accounts
                WHERE tenant_id = \(target) AND email = \(email) AND latest_index IS NOT NULL
                """, logger: logger)
            for try await (account, version, index) in rows.decode((UUID, Int64, Int64).self) {
                return try await log.lookup(account: account, version: UInt64(version), index: UInt64(index), on: connection)
            }
            throw Problem.notFound("no account with this email has published keys")
        }
    }

    /// Every entry of the account, oldest first, and the newest checkpoint
    /// (read after them, so it covers them all).
    /// (The account must be visible to the caller's tenant, see `lookup`.)
    func history(account: UUID, tenant: UUID) async throws -> KeyHistory {
        try await postgres.withTenant(tenant, logger: logger) { connection in
            guard try await state(of: account, on: connection)?.latestIndex != nil else {
                throw Problem.notFound("this account has published no keys")
            }
            let rows = try await connection.query("""
                SELECT log_index, entry FROM keydir.entries WHERE account_id = \(account) ORDER BY version
                """, logger: logger)
            var entries: [IndexedEntry] = []
            for try await (index, entry) in rows.decode((Int64, ByteBuffer).self) {
                entries.append(IndexedEntry(index: UInt64(index), entry: Base64URL.encode(Array(buffer: entry))))
            }
            let checkpoint = try await log.requireCheckpoint(on: connection)
            return KeyHistory(entries: entries, checkpoint: checkpoint.note)
        }
    }

    /// Another tenant by slug, for a cross-tenant lookup: 403 when the
    /// caller's tenant does not allow cross-tenant shares, 404 when the
    /// other one is unknown or does not (the same answer as no such tenant).
    func sharingTenant(slug: String, caller: UUID) async throws -> UUID {
        let rows = try await postgres.query("""
            SELECT id, slug, cross_tenant_shares FROM keydir.tenants WHERE slug = \(slug) OR id = \(caller)
            """, logger: logger)
        var known: [(id: UUID, slug: String, open: Bool)] = []
        for try await row in rows.decode((UUID, String, Bool).self) { known.append(row) }
        let named = known.first { $0.slug == slug }
        if named?.id == caller { return caller }
        guard known.first(where: { $0.id == caller })?.open == true else {
            throw Problem(.forbidden, type: "urn:coffre:problem:cross-tenant-shares-disabled", title: "Cross-tenant sharing is off",
                          detail: "Your tenant does not allow shares with other tenants.")
        }
        guard let named, named.open else { throw Problem.notFound("No tenant \(slug) that your tenant may share with.") }
        return named.id
    }

    // MARK: changes

    enum Submitted: Sendable {
        case sequenced(KeyLookup)
        case queued(Int64)
    }

    /// `POST /v1/keys`: checks the change against the account's state (a
    /// refused change stores nothing), queues it, kicks the sequencer and
    /// waits up to `publishWait` for its batch.
    func submit(_ request: KeyChangeRequest, user: AuthenticatedUser) async throws -> Submitted {
        let change = try Transition.change(from: request, tenant: user.tenantID, account: user.accountID)
        let id = try await postgres.withTenant(user.tenantID, logger: logger) { connection in
            _ = try Transition.entry(for: change, after: try await state(of: user.accountID, on: connection))
            return try await enqueue(change, on: connection)
        }
        sequencer.kick()
        let deadline = ContinuousClock.now + publishWait
        while true {
            let seen = sequencer.batches.generation
            switch try await settlement(of: id) {
            case .sequenced(let index, let version):
                return .sequenced(try await postgres.withTenant(user.tenantID, logger: logger) { connection in
                    try await log.lookup(account: user.accountID, version: version, index: index, on: connection)
                })
            case .refused(let problem):
                throw problem
            case .queued:
                let left = deadline - ContinuousClock.now
                if left <= .zero { return .queued(id) }
                // Woken by this process's sequencer; polls for another replica's.
                await sequencer.batches.wait(after: seen, timeout: min(left, .milliseconds(50)))
            }
        }
    }

    /// Adds a change to the queue, in the caller's transaction.
    func enqueue(_ change: PendingChange, on connection: PostgresConnection) async throws -> Int64 {
        func bytes(_ value: [UInt8]?) -> ByteBuffer? { value.map { ByteBuffer(bytes: $0) } }
        let rows = try await connection.query("""
            INSERT INTO keydir.queue (tenant_id, account_id, origin, action, version, x25519, ed25519, self_signature, prev_signature, reason)
            VALUES (\(change.tenant), \(change.account), \(change.origin.rawValue), \(change.action.rawValue), \(change.version.map { Int64($0) }),
                    \(bytes(change.x25519)), \(bytes(change.ed25519)), \(bytes(change.selfSignature)), \(bytes(change.prevSignature)), \(change.reason))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw Problem(.internalServerError)
    }

    enum Settlement: Sendable {
        case queued
        case sequenced(index: UInt64, version: UInt64)
        case refused(Problem)
    }

    func settlement(of id: Int64) async throws -> Settlement {
        let rows = try await postgres.query("""
            SELECT state, log_index, version, problem_status, problem_type, problem_detail FROM keydir.queue WHERE id = \(id)
            """, logger: logger)
        for try await (state, index, version, status, type, detail) in rows.decode((String, Int64?, Int64?, Int32?, String?, String?).self) {
            switch state {
            case "sequenced":
                guard let index, let version else { break }
                return .sequenced(index: UInt64(index), version: UInt64(version))
            case "failed":
                let code = Int(status ?? 500)
                return .refused(Problem(.init(code: code), type: type, title: code == 409 ? "Conflict" : code < 500 ? "Bad request" : "Internal error",
                                        detail: detail))
            default:
                return .queued
            }
        }
        return .queued
    }
}
