import CoffreCore
import CoffreTestSupport
import Foundation
import Kafka
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing

/// `PostgresClient.withConnection(leaseTimeout:)`: the wait for a pooled
/// connection is bounded (PostgresNIO's own wait is not, so requests hung
/// while Postgres was down), and nothing but the wait is.
@Suite struct DatabaseWaitTests {
    static let logger: Logger = {
        var logger = Logger(label: "database-wait-test")
        logger.logLevel = .critical
        return logger
    }()

    /// Runs `body` with a running pool for `url`.
    static func withPool(_ url: String, _ body: (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: try PostgresSetup.configuration(url: url, poolSize: 2), backgroundLogger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            try await body(client)
            group.cancelAll()
        }
    }

    /// Nothing listens on port 1: every connection attempt is refused.
    static let unreachable = "postgres://coffre:coffre@127.0.0.1:1/coffre"

    @Test func anUnreachablePostgresIsReportedAfterTheWait() async throws {
        try await Self.withPool(Self.unreachable) { client in
            let ran = Atomic<Bool>(false)
            let started = ContinuousClock.now
            do {
                _ = try await client.withConnection(leaseTimeout: .milliseconds(300)) { _ in ran.store(true, ordering: .relaxed) }
                Issue.record("a connection was leased from an unreachable Postgres")
            } catch let error as DatabaseUnavailable {
                #expect(error.waited == .milliseconds(300))
            }
            let waited = ContinuousClock.now - started
            #expect(waited >= .milliseconds(300))
            #expect(waited < .seconds(3), "the wait was not bounded: \(waited)")
            let bodyRan = ran.load(ordering: .relaxed)
            #expect(!bodyRan)
            // The same for a tenant's transaction.
            await #expect(throws: DatabaseUnavailable.self) {
                try await client.withTenant(UUID(), leaseTimeout: .milliseconds(200), logger: Self.logger) { _ in 1 }
            }
        }
    }

    @Test(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres"))
    func aLeasedConnectionRunsItsBodyToTheEnd() async throws {
        try await Self.withPool(TestEnvironment.postgresURL!) { client in
            // The body outlasts the wait for the connection: it is not cut off.
            let value = try await client.withConnection(leaseTimeout: .milliseconds(100)) { connection in
                try await connection.query("SELECT pg_sleep(0.4)", logger: Self.logger)
                for try await answer in try await connection.query("SELECT 42", logger: Self.logger).decode(Int.self) { return answer }
                return -1
            }
            #expect(value == 42)
            // The body's own error comes out as itself.
            await #expect(throws: Problem.self) {
                try await client.withConnection(leaseTimeout: .seconds(2)) { _ -> Int in throw Problem.conflict("taken") }
            }
            // withTenant scopes the transaction to its tenant.
            let tenant = UUID()
            let seen = try await client.withTenant(tenant, leaseTimeout: .seconds(2), logger: Self.logger) { connection in
                for try await setting in try await connection.query("SELECT current_setting('coffre.tenant_id')", logger: Self.logger)
                    .decode(String.self) { return setting }
                return ""
            }
            #expect(seen == tenant.uuidString.lowercased())
        }
    }

    @Test(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's broker"))
    func anOutboxRelayStopsOnShutdownWhilePostgresIsUnreachable() async throws {
        try await Self.withPool(Self.unreachable) { client in
            let producer = try KafkaProducer(configuration: .init(bootstrapServers: TestEnvironment.kafkaBrokers!), logger: Self.logger)
            var options = OutboxRelay.Options()
            options.leaseTimeout = .milliseconds(300)
            let relay = OutboxRelay(client: client, schema: "nowhere", producer: producer, logger: Self.logger, options: options,
                                    startWhen: ReadinessFlag(true))
            let first = try? await withTimeout(.seconds(5)) { () async throws -> String in
                do {
                    _ = try await relay.relayOnce()
                    return "relayed"
                } catch is DatabaseUnavailable {
                    return "unavailable"
                }
            }
            #expect(first == "unavailable", "one relay batch against an unreachable Postgres: \(first ?? "still waiting after 5 s")")
            // In a service group, the loop sees the shutdown between two
            // bounded waits; with PostgresNIO's own wait it never came round.
            let group = ServiceGroup(configuration: .init(services: [relay], logger: Self.logger))
            let running = Task { try await group.run() }
            try await Task.sleep(for: .milliseconds(500))
            let asked = ContinuousClock.now
            await group.triggerGracefulShutdown()
            let stopped = try await withTimeout(.seconds(10)) { try await running.value; return true }
            let took = ContinuousClock.now - asked
            #expect(stopped)
            #expect(took < .seconds(3), "the relay took \(took) to stop")
        }
    }
}
