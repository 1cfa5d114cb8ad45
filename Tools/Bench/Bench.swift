// Benchmarks of Coffre's own pipeline, printed as figures that
// bench/run.sh puts side by side with its baselines (kcat, pgbench, nginx).
import ArgumentParser
import CoffreCore
import CoffreTestSupport
import Foundation
import Kafka
import Logging
import PostgresNIO

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coffre-bench",
        abstract: "Coffre benchmarks; bench/run.sh runs them with their baselines.",
        subcommands: [Pipeline.self, Signups.self, Uploads.self, BenchUser.self, Reservations.self, KeyLog.self]
    )
}

/// Events through outbox → relay → Kafka → idempotent consumer → Postgres.
struct Pipeline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Outbox → Kafka → idempotent consumer throughput.")

    @Option var postgres: String
    @Option var brokers: String
    @Option(help: "A topic that already exists (6 partitions).") var topic: String
    @Option var count: Int = 100_000

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let schema = TestEnvironment.unique("bench")
        let client = PostgresClient(configuration: try PostgresSetup.configuration(url: postgres, poolSize: 8), backgroundLogger: logger)
        let count = self.count, topic = self.topic, brokers = self.brokers
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await Migrator(schema: schema, migrations: PipelineSchema.migrations()).migrate(client, logger: logger)

            // 1. Writing events to the outbox (1,000 per transaction).
            let outbox = Outbox(schema: schema)
            let clock = ContinuousClock()
            let enqueueStart = clock.now
            var n = 1
            while n <= count {
                let end = min(n + 999, count)
                let slice = n...end
                try await client.transaction(logger: logger) { connection in
                    for i in slice {
                        let account = "account-\(i % 1000)"
                        try await outbox.enqueue(try PipelineSchema.event(n: i, account: account), topic: topic, key: account, on: connection, logger: logger)
                    }
                }
                n = end + 1
            }
            let enqueueTime = clock.now - enqueueStart

            // 2. Relay and consumer run together; the clock stops when the last event is applied.
            let producer = try KafkaProducer(configuration: .init(bootstrapServers: brokers), logger: logger)
            let ready = ReadinessFlag(true)
            let relay = OutboxRelay(client: client, schema: schema, producer: producer, logger: logger, startWhen: ready)
            let batches = BatchCounter()
            var consumerOptions = IdempotentConsumer.Options()
            consumerOptions.observer = { batches.add($0) }
            let consumer = try IdempotentConsumer(
                name: "bench", groupID: TestEnvironment.unique("bench"), schema: schema, client: client,
                kafka: .init(bootstrapServers: brokers), topics: [topic], logger: logger, options: consumerOptions, startWhen: ready,
                effect: PipelineSchema.effect(schema: schema))
            // The consumer joins its group first (kcat's consumer, with no
            // group, has no join to wait for); then the clock starts.
            group.addTask { try await consumer.run() }
            while !consumer.hasAssignment { try await Task.sleep(for: .milliseconds(50)) }
            let pipelineStart = clock.now
            group.addTask { try await relay.run() }
            // Watched cheaply while it runs (the counter row; whether any
            // outbox row is unsent, by its partial index): counting the effect
            // log's distinct ids every 20 ms took a core of Postgres from the
            // pipeline being measured. The full check comes after the clock.
            var relayed: Duration?
            while true {
                let applied = try await PipelineSchema.applied(client, schema: schema, logger: logger)
                if relayed == nil {
                    let rows = try await client.query("""
                        SELECT EXISTS (SELECT 1 FROM \(unescaped: schema).outbox WHERE sent_at IS NULL)
                        """, logger: logger)
                    for try await pending in rows.decode(Bool.self) where !pending { relayed = clock.now - pipelineStart }
                }
                if applied >= Int64(count) { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let pipelineTime = clock.now - pipelineStart
            let counts = try await PipelineSchema.counts(client, schema: schema, logger: logger)
            guard counts.applied == Int64(count), counts.distinctEvents == Int64(count), counts.logRows == Int64(count) else {
                throw ValidationError("applied \(counts.logRows) effects for \(counts.distinctEvents) distinct events (counter \(counts.applied))")
            }
            func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
            let result: [String: Double] = [
                "events": Double(count),
                "enqueue_seconds": seconds(enqueueTime),
                "enqueue_per_second": Double(count) / seconds(enqueueTime),
                "relay_seconds": seconds(relayed ?? pipelineTime),
                "pipeline_seconds": seconds(pipelineTime),
                "pipeline_per_second": Double(count) / seconds(pipelineTime),
                "consumer_batches": Double(batches.count),
            ]
            let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: json, as: UTF8.self))
            try await client.query("DROP SCHEMA \(unescaped: schema) CASCADE", logger: logger)
            Foundation.exit(0)
        }
    }
}

final class BatchCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var batches = 0
    func add(_ size: Int) { lock.lock(); batches += 1; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return batches }
}
