import CoffreCore
import Foundation
import Logging
import Metrics
import NIOCore
import PostgresNIO
import Synchronization

/// Group commit for signups: the signups that arrive while earlier ones are
/// being written go to Postgres together, as one statement and one commit.
///
/// At most `maxRunning` statements run at once. A signup that finds one of
/// them free starts it at once (a batch of one: no added latency when the
/// service is quiet). Otherwise it waits in the queue, and the next
/// statement to start takes every waiting signup of the same tenant, up to
/// `maxBatch`. So batches grow only when signups queue up: a launch-day burst
/// or a slow WAL flush leaves a backlog that is then written a batch at a
/// time, instead of one transaction per signup, each with its own commit,
/// round trip and plpgsql call.
///
/// Each batch is a single call of `accounts.signup_users` (migration 5),
/// which sets the row-level-security tenant for its own transaction: a batch
/// never mixes tenants. A signup whose email (or proposed id) is taken
/// simply is not inserted and gets `false`; the others in its batch are not
/// affected. Should a statement fail, each of its signups is tried again on
/// its own, so one bad row cannot fail its neighbours, and a signup whose
/// commit went through before the failure is still answered as created.
final class SignupCommitter: Sendable {
    /// One validated signup: what `accounts.users` and the outbox receive.
    struct Row: Sendable {
        var id: UUID
        var email: String
        var salt: ByteBuffer
        var opslimit: Int64
        var memlimit: Int64
        var verifier: ByteBuffer
        var recoveryVerifier: ByteBuffer
        var x25519: ByteBuffer
        var ed25519: ByteBuffer
        var signature: ByteBuffer
        /// The key bundle, as validated JSON text.
        var bundle: String
        /// The `account.created` event: its id, keyed by the account id.
        var eventID: UUID
        var payload: ByteBuffer
    }

    struct Options: Sendable {
        /// Most signups in one statement.
        var maxBatch = 64
        /// Most signup statements in flight at once.
        var maxRunning = 1
        /// How long a statement waits for a Postgres connection; after that
        /// its signups, and every signup queued behind them, fail with
        /// `DatabaseUnavailable` (503) instead of waiting without end.
        var leaseTimeout: Duration = .seconds(5)
    }

    private struct Waiting {
        let tenant: UUID
        let row: Row
        let continuation: CheckedContinuation<Bool, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var running = 0
    }

    private let state = Mutex(State())
    /// Statements run and signups they carried (their ratio is the mean batch).
    private let statements = Counter(label: "coffre_accounts_signup_statements_total")
    private let written = Counter(label: "coffre_accounts_signup_rows_total")
    /// The largest batch so far, for tests and for the curious.
    let largestBatch = Atomic<Int>(0)
    private let postgres: PostgresClient
    private let topic: String
    private let options: Options
    private let logger: Logger

    init(postgres: PostgresClient, topic: String, options: Options, logger: Logger) {
        self.postgres = postgres
        self.topic = topic
        self.options = Options(maxBatch: max(1, options.maxBatch), maxRunning: max(1, options.maxRunning), leaseTimeout: options.leaseTimeout)
        self.logger = logger
    }

    /// Writes the account row and its event in one transaction, unless the
    /// tenant already has an account with this email (or this id): true when
    /// the account was created.
    func insert(_ row: Row, tenant: UUID) async throws -> Bool {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.queue.append(Waiting(tenant: tenant, row: row, continuation: continuation))
                guard state.running < options.maxRunning else { return false }
                state.running += 1
                return true
            }
            if start { Task { await self.drain() } }
        }
    }

    /// Runs batches until nobody is waiting, then gives up its slot.
    private func drain() async {
        while let batch = nextBatch() {
            await commit(batch)
        }
    }

    /// The oldest waiting signup and every later one of its tenant, up to
    /// `maxBatch`. A second signup proposing an id already in the batch
    /// waits for the next one (the statement matches events to inserted rows
    /// by id).
    private func nextBatch() -> [Waiting]? {
        state.withLock { state -> [Waiting]? in
            guard let tenant = state.queue.first?.tenant else {
                state.running -= 1
                return nil
            }
            var batch: [Waiting] = []
            var left: [Waiting] = []
            var ids = Set<UUID>()
            for waiting in state.queue {
                if batch.count < options.maxBatch, waiting.tenant == tenant, ids.insert(waiting.row.id).inserted {
                    batch.append(waiting)
                } else {
                    left.append(waiting)
                }
            }
            state.queue = left
            return batch
        }
    }

    private func commit(_ batch: [Waiting]) async {
        do {
            let inserted = try await write(batch.map(\.row), tenant: batch[0].tenant)
            for waiting in batch { waiting.continuation.resume(returning: inserted.contains(waiting.row.id)) }
        } catch let unavailable as DatabaseUnavailable {
            // Nothing of this batch reached Postgres, and the signups queued
            // behind it would each wait as long for nothing: all of them are
            // answered now (503, nothing written), not one timeout at a time.
            let queued = state.withLock { state -> [Waiting] in
                defer { state.queue = [] }
                return state.queue
            }
            logger.warning("no Postgres connection for signups; answering them 503",
                           metadata: ["signups": .stringConvertible(batch.count + queued.count), "waited": .string("\(unavailable.waited)")])
            for waiting in batch + queued { waiting.continuation.resume(throwing: unavailable) }
        } catch {
            if batch.count > 1 {
                logger.warning("signup batch failed; writing its signups one by one",
                               metadata: ["signups": .stringConvertible(batch.count), "error": .string(String(reflecting: type(of: error)))])
            }
            for waiting in batch {
                do {
                    waiting.continuation.resume(returning: try await retry(waiting.row, tenant: waiting.tenant))
                } catch {
                    waiting.continuation.resume(throwing: error)
                }
            }
        }
    }

    /// A signup whose statement failed, written again on its own. The
    /// failure may have come after Postgres committed (the connection was
    /// lost before the answer came back): then the row is already there,
    /// and the retry alone would call it a taken email. So a signup not
    /// inserted by the retry counts as created when its own row is found:
    /// same id and same verifier, which only this signup's login secret
    /// gives (the verifier is keyed by the account id).
    func retry(_ row: Row, tenant: UUID) async throws -> Bool {
        if try await write([row], tenant: tenant).contains(row.id) { return true }
        return try await postgres.withTenant(tenant, leaseTimeout: options.leaseTimeout, logger: logger) { [logger] connection in
            let found = try await connection.query("""
                SELECT EXISTS (SELECT 1 FROM accounts.users WHERE id = \(row.id) AND verifier = \(row.verifier))
                """, logger: logger)
            for try await exists in found.decode(Bool.self) { return exists }
            return false
        }
    }

    /// One statement, so one transaction: the ids of the rows inserted.
    private func write(_ rows: [Row], tenant: UUID) async throws -> Set<UUID> {
        statements.increment()
        written.increment(by: rows.count)
        largestBatch.max(rows.count, ordering: .relaxed)
        let (topic, logger) = (topic, logger)
        return try await postgres.withConnection(leaseTimeout: options.leaseTimeout) { connection in
            let result = try await connection.query("""
                SELECT accounts.signup_users(\(tenant), \(rows.map(\.id)), \(rows.map(\.email)), \(rows.map(\.salt)),
                    \(rows.map(\.opslimit)), \(rows.map(\.memlimit)), \(rows.map(\.verifier)), \(rows.map(\.recoveryVerifier)),
                    \(rows.map(\.x25519)), \(rows.map(\.ed25519)), \(rows.map(\.signature)), \(rows.map(\.bundle))::jsonb[],
                    \(rows.map(\.eventID)), \(topic), \(rows.map(\.payload)))
                """, logger: logger)
            var inserted = Set<UUID>()
            for try await id in result.decode(UUID.self) { inserted.insert(id) }
            return inserted
        }
    }
}
