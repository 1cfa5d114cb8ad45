// Helpers shared by the integration tests and the coffre-testkit process.
import CoffreCore
import Foundation
import Logging
import PostgresNIO

/// The schema of the outbox → Kafka → idempotent-consumer pipeline tests:
/// the outbox tables plus a counter that each applied event bumps. An event
/// applied twice would show up as `applied` above the number sent and as a
/// duplicate row in `effect_log` (which deliberately has no unique key).
public enum PipelineSchema {
    public static func migrations() -> [Migration] {
        [
            Outbox.migration(1),
            Migration(2, "test effects", sql: """
                CREATE TABLE counter (id int PRIMARY KEY, applied bigint NOT NULL, total bigint NOT NULL);
                INSERT INTO counter VALUES (1, 0, 0);
                CREATE TABLE effect_log (event_id uuid NOT NULL, n bigint NOT NULL);
                """),
        ]
    }

    /// The effect: add the events' `n` to the counter and log their ids,
    /// two statements per batch.
    public static func effect(schema: String, delay: Duration = .zero) -> EventEffect {
        let s = PostgresSetup.identifier(schema)
        return { events, connection, logger in
            if delay > .zero { try await Task.sleep(for: delay) }
            var ids: [UUID] = []
            var ns: [Int64] = []
            for event in events {
                guard case .int(let n)? = event.data["n"] else { throw Problem.badRequest("event without n") }
                ids.append(event.id)
                ns.append(n)
            }
            try await connection.query("""
                UPDATE \(unescaped: s).counter SET applied = applied + \(Int64(ids.count)), total = total + \(ns.reduce(0, +)) WHERE id = 1
                """, logger: logger)
            try await connection.query("""
                INSERT INTO \(unescaped: s).effect_log (event_id, n) SELECT * FROM unnest(\(ids)::uuid[], \(ns)::bigint[])
                """, logger: logger)
        }
    }

    public struct Counts: Sendable, Equatable {
        public var applied: Int64
        public var total: Int64
        public var logRows: Int64
        public var distinctEvents: Int64

        public init(applied: Int64, total: Int64, logRows: Int64, distinctEvents: Int64) {
            self.applied = applied
            self.total = total
            self.logRows = logRows
            self.distinctEvents = distinctEvents
        }
    }

    /// The counter alone: one row, cheap enough to poll.
    public static func applied(_ client: PostgresClient, schema: String, logger: Logger) async throws -> Int64 {
        let rows = try await client.query("SELECT applied FROM \(unescaped: PostgresSetup.identifier(schema)).counter WHERE id = 1",
                                          logger: logger)
        for try await applied in rows.decode(Int64.self) { return applied }
        throw Problem.notFound("counter row missing")
    }

    public static func counts(_ client: PostgresClient, schema: String, logger: Logger) async throws -> Counts {
        let s = PostgresSetup.identifier(schema)
        let rows = try await client.query("""
            SELECT c.applied, c.total, (SELECT count(*) FROM \(unescaped: s).effect_log),
                   (SELECT count(DISTINCT event_id) FROM \(unescaped: s).effect_log)
            FROM \(unescaped: s).counter c WHERE c.id = 1
            """, logger: logger)
        for try await (applied, total, logRows, distinct) in rows.decode((Int64, Int64, Int64, Int64).self) {
            return Counts(applied: applied, total: total, logRows: logRows, distinctEvents: distinct)
        }
        throw Problem.notFound("counter row missing")
    }

    /// A test event with payload `{"n": n}`, keyed by a synthetic account.
    public static func event(n: Int, account: String) throws -> CloudEvent {
        CloudEvent(source: "/coffre/tests", type: "coffre.test.counted", subject: account, tenant: "test",
                   data: .object(["n": .int(Int64(n))]))
    }
}
