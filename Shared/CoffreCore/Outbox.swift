import Foundation
import Kafka
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle

/// The transactional outbox of one service schema.
///
/// A service writes its state change and `enqueue`s the event on the same
/// connection, inside the same transaction: either both are committed or
/// neither. The `OutboxRelay` publishes committed rows to Kafka afterwards.
public struct Outbox: Sendable {
    public let schema: String

    public init(schema: String) {
        self.schema = schema
    }

    /// The tables every service schema gets: the outbox itself and the
    /// dedupe table of the idempotent consumer. Include it in the service's
    /// migrations under any version number.
    public static func migration(_ version: Int) -> Migration {
        Migration(version, "outbox and processed events", sql: """
            CREATE TABLE outbox (
                seq bigserial PRIMARY KEY,
                event_id uuid NOT NULL UNIQUE,
                topic text NOT NULL,
                key text NOT NULL,
                payload bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                sent_at timestamptz
            );
            CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
            CREATE TABLE processed_events (
                consumer text NOT NULL,
                event_id uuid NOT NULL,
                processed_at timestamptz NOT NULL DEFAULT now(),
                outcome text NOT NULL DEFAULT 'applied',
                PRIMARY KEY (consumer, event_id)
            );
            """)
    }

    /// Records `event` for publication on `topic` with `key` (the account id).
    /// Must run inside the caller's transaction.
    public func enqueue(_ event: CloudEvent, topic: String, key: String, on connection: PostgresConnection, logger: Logger) async throws {
        let payload = try event.encoded()
        let query: PostgresQuery = """
            INSERT INTO \(unescaped: PostgresSetup.identifier(schema)).outbox (event_id, topic, key, payload)
            VALUES (\(event.id), \(topic), \(key), \(ByteBuffer(bytes: payload)))
            """
        try await connection.query(query, logger: logger)
    }

    /// An event about one account: subject and key are the account id (so its
    /// events stay in order), the `tenant` extension its tenant, and `data`
    /// carries both ids too.
    public func enqueueAccountEvent(_ type: String, source: String, topic: String, tenant: UUID, account: UUID,
                                    data: [String: JSONValue], on connection: PostgresConnection, logger: Logger) async throws {
        let tenantID = tenant.uuidString.lowercased(), accountID = account.uuidString.lowercased()
        var data = data
        data["tenant_id"] = .string(tenantID)
        data["account_id"] = .string(accountID)
        let event = CloudEvent(source: source, type: type, subject: accountID, tenant: tenantID, data: .object(data))
        try await enqueue(event, topic: topic, key: accountID, on: connection, logger: logger)
    }
}

/// Publishes a schema's outbox rows to Kafka in `seq` order and marks them sent.
///
/// One relay per schema publishes at a time (a transaction-scoped advisory
/// lock), so replicas do not interleave one key's events. Rows are marked
/// only after the broker acknowledged them; when the broker is down the rows
/// stay and the relay retries with back-off, so nothing committed is lost.
/// A row may be published twice (crash between ack and mark): consumers
/// dedupe by event id.
public final class OutboxRelay: Service, Sendable {
    public struct Options: Sendable {
        public var batchSize = 5000
        /// The pause after a batch that found fewer rows than `batchSize`.
        /// While batches keep coming back empty it doubles, up to
        /// `maxIdleInterval`; the first row found resets it. Polling every
        /// 20 ms for good cost each idle service about 8% of a core (and
        /// Postgres as much again); when idle for a while, the first event
        /// now waits up to `maxIdleInterval` for the relay.
        public var idleInterval: Duration = .milliseconds(20)
        public var maxIdleInterval: Duration = .milliseconds(250)
        public var maxBackoff: Duration = .seconds(5)
        /// Sent rows are deleted after this long (kept a while for operators).
        public var retention: Duration = .seconds(3600)
        /// Longest wait for a Postgres connection per batch.
        public var leaseTimeout: Duration = .seconds(5)
        public init() {}
    }

    private let client: PostgresClient
    private let schema: String
    private let producer: KafkaProducer
    private let logger: Logger
    private let options: Options
    private let ready: ReadinessFlag
    private let published: Counter
    private let failed: Counter

    public init(client: PostgresClient, schema: String, producer: KafkaProducer, logger: Logger,
                options: Options = Options(), startWhen ready: ReadinessFlag) {
        self.client = client
        self.schema = schema
        self.producer = producer
        self.logger = logger
        self.options = options
        self.ready = ready
        self.published = Counter(label: "coffre_outbox_published_total", dimensions: [("schema", schema)])
        self.failed = Counter(label: "coffre_outbox_publish_failures_total", dimensions: [("schema", schema)])
    }

    public func run() async throws {
        var backoff: Duration = .milliseconds(100)
        var idle = options.idleInterval
        var iterations = 0
        var failedBatches = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            guard ready.isSet else {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            do {
                let outcome = try await relayOnce()
                // Batches that fail whole, again and again, mean the broker is
                // gone or the client is stuck: start a fresh Kafka client.
                failedBatches = outcome.failed > 0 && outcome.sent == 0 ? failedBatches + 1 : 0
                if failedBatches >= 3 {
                    producer.recycle()
                    failedBatches = 0
                }
                backoff = .milliseconds(100)
                iterations += 1
                if iterations % 500 == 0 { try await purgeSent() }
                idle = outcome.sent + outcome.failed > 0 ? options.idleInterval : min(idle * 2, options.maxIdleInterval)
                if outcome.sent < options.batchSize || outcome.failed > 0 {
                    try? await Task.sleep(for: outcome.failed > 0 ? backoff : idle)
                }
            } catch {
                logger.warning("outbox relay iteration failed; retrying", metadata: [
                    "schema": .string(schema), "error": .string(String(describing: error)),
                ])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, options.maxBackoff)
            }
        }
        logger.info("outbox relay stopped", metadata: ["schema": .string(schema)])
    }

    public struct Outcome: Sendable {
        public var sent: Int
        public var failed: Int
    }

    /// One batch: publish up to `batchSize` unsent rows, mark the acknowledged ones.
    public func relayOnce() async throws -> Outcome {
        let s = PostgresSetup.identifier(schema)
        let lockKey = "coffre.outbox.\(schema)"
        let batchSize = options.batchSize
        let (schema, logger, producer, published, failed) = (schema, logger, producer, published, failed)
        // A bounded wait for the connection: while Postgres is down the loop
        // comes round again (and sees a shutdown) instead of waiting for good.
        return try await client.transaction(leaseTimeout: options.leaseTimeout, logger: logger) { connection in
            let locked = try await connection.query("SELECT pg_try_advisory_xact_lock(hashtext(\(lockKey)))", logger: logger)
            for try await gotLock in locked.decode(Bool.self) where !gotLock {
                return Outcome(sent: 0, failed: 0)
            }
            let rows = try await connection.query("""
                SELECT seq, topic, key, payload FROM \(unescaped: s).outbox
                WHERE sent_at IS NULL ORDER BY seq LIMIT \(batchSize)
                """, logger: logger)
            var seqs: [Int64] = []
            var messages: [KafkaOutgoingMessage] = []
            for try await (seq, topic, key, payload) in rows.decode((Int64, String, String, ByteBuffer).self) {
                seqs.append(seq)
                messages.append(KafkaOutgoingMessage(topic: topic, key: key, value: Array(buffer: payload)))
            }
            if messages.isEmpty { return Outcome(sent: 0, failed: 0) }
            let results = await producer.send(messages)
            var delivered: [Int64] = []
            var firstError: KafkaError?
            for (seq, result) in zip(seqs, results) {
                switch result {
                case .success: delivered.append(seq)
                case .failure(let error): firstError = firstError ?? error
                }
            }
            if !delivered.isEmpty {
                try await connection.query("UPDATE \(unescaped: s).outbox SET sent_at = now() WHERE seq = ANY(\(delivered))", logger: logger)
            }
            published.increment(by: delivered.count)
            if let firstError {
                failed.increment(by: seqs.count - delivered.count)
                logger.warning("outbox rows not acknowledged by Kafka; kept for retry", metadata: [
                    "schema": .string(schema), "count": "\(seqs.count - delivered.count)", "error": .string(firstError.description),
                ])
            }
            return Outcome(sent: delivered.count, failed: seqs.count - delivered.count)
        }
    }

    private func purgeSent() async throws {
        let (seconds, schema, logger) = (options.retention.components.seconds, schema, logger)
        try await client.withConnection(leaseTimeout: options.leaseTimeout) { connection in
            _ = try await connection.query("""
                DELETE FROM \(unescaped: PostgresSetup.identifier(schema)).outbox
                WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => \(Double(seconds)))
                """, logger: logger)
        }
    }
}
