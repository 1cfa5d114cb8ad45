import CoffreCore
import Foundation
import KeyTransparency
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The log's single writer.
///
/// Each pass is one transaction that first takes a transaction-scoped
/// advisory lock (`pg_try_advisory_xact_lock`): every replica runs a
/// sequencer, only the one holding the lock appends, the others find it
/// taken and wait for the next tick. Within the lock a pass takes the oldest
/// queued changes (up to `batchSize`), checks each against the account's
/// state as the batch has left it (`Transition`), gives the accepted ones the
/// next indices, stores their entries and every perfect subtree they
/// complete, refuses the others (their rows say why, for the waiting
/// request), updates the directory, and signs a checkpoint of the new size.
/// All of it commits together or not at all, so a checkpoint never names a
/// tree the database does not hold.
///
/// Passes run every `interval`, at once when a request kicks, and back to
/// back while batches come out full. With nothing queued, a pass still
/// re-signs the newest checkpoint once it is `checkpointInterval` old, so the
/// signed time clients check for freshness keeps moving.
public final class LogSequencer: Service, Sendable {
    public struct Options: Sendable {
        public var batchSize = 1024
        public var interval: Duration = .milliseconds(100)
        public var checkpointInterval: Duration = .seconds(60)
        /// Settled queue rows are deleted after this long.
        public var settledRetention: Duration = .seconds(3600)
        public init() {}
    }

    public struct PassOutcome: Sendable, Equatable {
        /// False when another process held the sequencer lock.
        public var leader = false
        public var sequenced = 0
        public var refused = 0
        /// Size of the checkpoint this pass signed, if it signed one.
        public var checkpointSize: UInt64?
        /// The batch was full: more may be waiting.
        public var full = false
    }

    static let lockKey = "coffre.keydir.sequencer"

    private let postgres: PostgresClient
    private let signer: NoteSigner
    private let options: Options
    private let ready: ReadinessFlag
    private let logger: Logger
    private let log: LogStore
    /// Fired by `kick()`: a change was queued.
    let kicks = BatchSignal()
    /// Fired after each committed pass that settled queue rows.
    let batches = BatchSignal()
    /// The frontier after this process's last committed pass; reused when
    /// the log has not grown since (another replica took no turn).
    private let cachedFrontier = Mutex<MerkleFrontier?>(nil)
    private let appended: Counter
    private let refusedCounter: Counter

    public init(postgres: PostgresClient, signer: NoteSigner, options: Options = .init(), ready: ReadinessFlag, logger: Logger) {
        self.postgres = postgres
        self.signer = signer
        self.options = options
        self.ready = ready
        self.logger = logger
        self.log = LogStore(postgres: postgres, logger: logger)
        self.appended = Counter(label: "coffre_keylog_entries_total")
        self.refusedCounter = Counter(label: "coffre_keylog_refused_total")
    }

    /// Asks for a pass now (a change was queued).
    public func kick() { kicks.fire() }

    public func run() async throws {
        while !ready.isSet && !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
        }
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let seen = kicks.generation
            do {
                let outcome = try await sequenceOnce()
                failures = 0
                if outcome.full { continue }
            } catch {
                failures += 1
                if failures == 1 || failures % 20 == 0 {
                    logger.warning("sequencer pass failed", metadata: ["attempt": "\(failures)", "error": .string(String(describing: error))])
                }
                if failures == 5 { await isolateOldest() }
                try? await Task.sleep(for: min(.milliseconds(100) * (1 << min(failures, 6)), .seconds(5)))
                continue
            }
            await kicks.wait(after: seen, timeout: options.interval)
        }
    }

    /// One pass of up to `batchSize` queued changes (see the type's comment).
    @discardableResult
    public func sequenceOnce(now: Date = Date()) async throws -> PassOutcome {
        try await pass(limit: options.batchSize, now: now)
    }

    /// Passes until the queue is empty; returns how many entries were
    /// appended. For benchmarks and tools: it does not wait for the lock.
    public func drain() async throws -> Int {
        var total = 0
        while true {
            let outcome = try await sequenceOnce()
            total += outcome.sequenced
            if !outcome.full || !outcome.leader { return total }
        }
    }

    /// A batch that keeps failing as a whole: try its oldest change alone,
    /// and if that fails too, refuse it so the rest of the log moves on.
    private func isolateOldest() async {
        do {
            _ = try await pass(limit: 1, now: Date())
        } catch {
            do {
                try await postgres.query("""
                    UPDATE keydir.queue SET state = 'failed', settled_at = now(), problem_status = 500,
                        problem_type = 'urn:coffre:problem:internal', problem_detail = 'the log could not append this change'
                    WHERE id = (SELECT min(id) FROM keydir.queue WHERE state = 'queued')
                    """, logger: logger)
                logger.error("queued key change refused after repeated sequencing failures", metadata: ["error": .string(String(describing: error))])
            } catch {}
        }
    }

    private func pass(limit: Int, now: Date) async throws -> PassOutcome {
        let result = try await postgres.transaction(logger: logger) { connection in
            try await pass(limit: limit, now: now, on: connection)
        }
        if let frontier = result.frontier { cachedFrontier.withLock { $0 = frontier } }
        let outcome = result.outcome
        if outcome.sequenced + outcome.refused > 0 {
            appended.increment(by: outcome.sequenced)
            refusedCounter.increment(by: outcome.refused)
            batches.fire()
        }
        return outcome
    }

    private struct Appended {
        var change: PendingChange
        var index: UInt64
        var entry: KeyLogEntry
        var bytes: [UInt8]
        var leaf: [UInt8]
    }

    private func pass(limit: Int, now: Date, on connection: PostgresConnection) async throws -> (outcome: PassOutcome, frontier: MerkleFrontier?) {
        var outcome = PassOutcome()
        let lock = try await connection.query("SELECT pg_try_advisory_xact_lock(hashtext(\(Self.lockKey)))", logger: logger)
        for try await held in lock.decode(Bool.self) { outcome.leader = held }
        guard outcome.leader else { return (outcome, nil) }

        let latest = try await log.latestCheckpoint(on: connection)
        let changes = try await queued(limit: limit, on: connection)
        outcome.full = changes.count == limit
        let nowSeconds = Int64(now.timeIntervalSince1970)
        let stale = latest.map { nowSeconds - $0.signedAt >= options.checkpointInterval.components.seconds } ?? true
        if changes.isEmpty && !stale { return (outcome, nil) }

        var frontier = try await frontier(size: latest?.size ?? 0, on: connection)
        var states = try await states(of: changes, on: connection)
        var accepted: [Appended] = []
        var refused: [(id: Int64, problem: Problem)] = []
        var nodes: [(MerkleNodeID, [UInt8])] = []
        var touched: Set<UUID> = []
        for change in changes {
            do {
                let entry = try Transition.entry(for: change, after: states[change.account], checkSelfSignature: false)
                let bytes = entry.encoded()
                let leaf = MerkleHash.leaf(bytes)
                let index = frontier.size
                nodes.append(contentsOf: frontier.append(leafHash: leaf))
                states[change.account] = Transition.apply(entry, index: index, to: states[change.account])
                touched.insert(change.account)
                accepted.append(Appended(change: change, index: index, entry: entry, bytes: bytes, leaf: leaf))
            } catch {
                refused.append((change.id, error))
                if change.origin == .directory {
                    logger.info("directory key change refused", metadata: [
                        "account_id": .string(change.account.lower), "action": .string(change.action.rawValue), "reason": .string(error.description),
                    ])
                }
            }
        }
        if !accepted.isEmpty {
            try await insert(accepted, nodes: nodes, on: connection)
            try await saveStates(states.filter { touched.contains($0.key) }, tenants: accepted, on: connection)
        }
        if !refused.isEmpty {
            try await connection.query("""
                UPDATE keydir.queue q SET state = 'failed', settled_at = now(), problem_status = r.status::int,
                    problem_type = r.type, problem_detail = r.detail
                FROM unnest(\(refused.map(\.id))::int8[], \(refused.map { Int64($0.problem.status.code) })::int8[],
                            \(refused.map(\.problem.type))::text[], \(refused.map { $0.problem.detail ?? "" })::text[]) AS r(id, status, type, detail)
                WHERE q.id = r.id
                """, logger: logger)
        }
        if !accepted.isEmpty || stale {
            let checkpoint = Checkpoint(origin: signer.name, size: frontier.size, rootHash: frontier.root, time: nowSeconds)
            let note = signer.sign(checkpoint)
            try await connection.query("""
                INSERT INTO keydir.checkpoints (size, root, note, signed_at)
                VALUES (\(Int64(frontier.size)), \(ByteBuffer(bytes: frontier.root)), \(note), to_timestamp(\(Double(nowSeconds))))
                ON CONFLICT (size) DO UPDATE SET note = EXCLUDED.note, signed_at = EXCLUDED.signed_at
                """, logger: logger)
            outcome.checkpointSize = frontier.size
        }
        if stale {
            try await connection.query("""
                DELETE FROM keydir.queue WHERE state <> 'queued'
                  AND settled_at < now() - make_interval(secs => \(Double(options.settledRetention.components.seconds)))
                """, logger: logger)
        }
        outcome.sequenced = accepted.count
        outcome.refused = refused.count
        return (outcome, frontier)
    }

    /// The oldest queued changes, in queue order.
    private func queued(limit: Int, on connection: PostgresConnection) async throws -> [PendingChange] {
        let rows = try await connection.query("""
            SELECT id, tenant_id, account_id, origin, action, version, x25519, ed25519, self_signature, prev_signature, reason
            FROM keydir.queue WHERE state = 'queued' ORDER BY id LIMIT \(limit)
            """, logger: logger)
        var changes: [PendingChange] = []
        for try await (id, tenant, account, origin, action, version, x, ed, selfSig, prevSig, reason) in rows.decode(
            (Int64, UUID, UUID, String, String, Int64?, ByteBuffer?, ByteBuffer?, ByteBuffer?, ByteBuffer?, String?).self) {
            guard let origin = PendingChange.Origin(rawValue: origin), let action = KeyLogEntry.Action(rawValue: action) else { continue }
            changes.append(PendingChange(
                id: id, tenant: tenant, account: account, origin: origin, action: action, version: version.map { UInt64($0) },
                x25519: x.map { Array(buffer: $0) }, ed25519: ed.map { Array(buffer: $0) },
                selfSignature: selfSig.map { Array(buffer: $0) }, prevSignature: prevSig.map { Array(buffer: $0) }, reason: reason))
        }
        return changes
    }

    private func frontier(size: UInt64, on connection: PostgresConnection) async throws -> MerkleFrontier {
        if let cached = cachedFrontier.withLock({ $0 }), cached.size == size { return cached }
        let plan = MerkleProof.rootPlan(size: size)
        let hashes = try await log.nodes(plan, on: connection)
        var ordered: [[UInt8]] = []
        for id in plan {
            guard let hash = hashes[id] else { throw MerkleError.missingNode(id) }
            ordered.append(hash)
        }
        return try MerkleFrontier(size: size, hashes: ordered)
    }

    /// The directory's state of every account in `changes`, read tenant by
    /// tenant (the table is under row-level security).
    private func states(of changes: [PendingChange], on connection: PostgresConnection) async throws -> [UUID: KeyState] {
        var states: [UUID: KeyState] = [:]
        for (tenant, group) in Dictionary(grouping: changes, by: \.tenant) {
            try await connection.setTenant(tenant, logger: logger)
            let accounts = Array(Set(group.map(\.account)))
            let rows = try await connection.query("""
                SELECT account_id, version, latest_index, x25519, ed25519, revoked FROM keydir.accounts WHERE account_id = ANY(\(accounts))
                """, logger: logger)
            for try await (account, version, index, x, ed, revoked) in rows.decode((UUID, Int64, Int64?, ByteBuffer?, ByteBuffer?, Bool).self) {
                states[account] = KeyState(version: UInt64(version), latestIndex: index.map { UInt64($0) }, x25519: x.map { Array(buffer: $0) },
                                           ed25519: ed.map { Array(buffer: $0) }, revoked: revoked)
            }
        }
        try await connection.setTenant(nil, logger: logger)
        return states
    }

    private func insert(_ accepted: [Appended], nodes: [(MerkleNodeID, [UInt8])], on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO keydir.entries (log_index, tenant_id, account_id, version, action, entry, leaf_hash)
            SELECT * FROM unnest(\(accepted.map { Int64($0.index) })::int8[], \(accepted.map(\.change.tenant))::uuid[],
                                 \(accepted.map(\.change.account))::uuid[], \(accepted.map { Int64($0.entry.version) })::int8[],
                                 \(accepted.map(\.entry.action.rawValue))::text[], \(accepted.map { ByteBuffer(bytes: $0.bytes) })::bytea[],
                                 \(accepted.map { ByteBuffer(bytes: $0.leaf) })::bytea[])
            """, logger: logger)
        try await connection.query("""
            INSERT INTO keydir.tree_nodes (level, idx, hash)
            SELECT l::smallint, i, h FROM unnest(\(nodes.map { Int64($0.0.level) })::int8[], \(nodes.map { Int64($0.0.index) })::int8[],
                                                  \(nodes.map { ByteBuffer(bytes: $0.1) })::bytea[]) AS t(l, i, h)
            """, logger: logger)
        try await connection.query("""
            UPDATE keydir.queue q SET state = 'sequenced', log_index = s.idx, version = s.version, settled_at = now()
            FROM unnest(\(accepted.map(\.change.id))::int8[], \(accepted.map { Int64($0.index) })::int8[],
                        \(accepted.map { Int64($0.entry.version) })::int8[]) AS s(id, idx, version)
            WHERE q.id = s.id
            """, logger: logger)
    }

    /// Upserts the accounts' new states, tenant by tenant.
    private func saveStates(_ states: [UUID: KeyState], tenants accepted: [Appended], on connection: PostgresConnection) async throws {
        var tenantOf: [UUID: UUID] = [:]
        for item in accepted { tenantOf[item.change.account] = item.change.tenant }
        for (tenant, accounts) in Dictionary(grouping: states.keys, by: { tenantOf[$0]! }) {
            try await connection.setTenant(tenant, logger: logger)
            let rows = accounts.map { ($0, states[$0]!) }
            try await connection.query("""
                INSERT INTO keydir.accounts (tenant_id, account_id, version, latest_index, x25519, ed25519, revoked)
                SELECT \(tenant), a, v, i, x, e, r
                FROM unnest(\(rows.map(\.0))::uuid[], \(rows.map { Int64($0.1.version) })::int8[],
                            \(rows.map { Int64($0.1.latestIndex ?? 0) })::int8[], \(rows.map { ByteBuffer(bytes: $0.1.x25519 ?? []) })::bytea[],
                            \(rows.map { ByteBuffer(bytes: $0.1.ed25519 ?? []) })::bytea[], \(rows.map(\.1.revoked))::bool[]) AS t(a, v, i, x, e, r)
                ON CONFLICT (account_id) DO UPDATE SET version = EXCLUDED.version, latest_index = EXCLUDED.latest_index,
                    x25519 = EXCLUDED.x25519, ed25519 = EXCLUDED.ed25519, revoked = EXCLUDED.revoked, updated_at = now()
                """, logger: logger)
        }
        try await connection.setTenant(nil, logger: logger)
    }
}
