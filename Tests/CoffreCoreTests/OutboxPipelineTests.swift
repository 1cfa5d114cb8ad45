import CoffreCore
import CoffreTestSupport
import Foundation
import Kafka
import Logging
import PostgresNIO
import Testing

/// Outbox → relay → Kafka (Tansu) → idempotent consumer, with real processes.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct OutboxPipelineTests {
    let logger = TestEnvironment.logger

    /// Writes `count` events to the outbox, `perTransaction` rows per transaction; returns the sum of their `n`.
    func enqueue(_ client: PostgresClient, schema: String, topic: String, range: ClosedRange<Int>, perTransaction: Int = 200) async throws -> Int64 {
        let outbox = Outbox(schema: schema)
        var start = range.lowerBound
        while start <= range.upperBound {
            let end = min(start + perTransaction - 1, range.upperBound)
            let slice = start...end
            try await client.transaction(logger: logger) { connection in
                for n in slice {
                    let account = "account-\(n % 64)"
                    try await outbox.enqueue(try PipelineSchema.event(n: n, account: account), topic: topic, key: account, on: connection, logger: logger)
                }
            }
            start = end + 1
        }
        return range.reduce(Int64(0)) { $0 + Int64($1) }
    }

    func unsent(_ client: PostgresClient, schema: String) async throws -> Int {
        let rows = try await client.query("SELECT count(*) FROM \(unescaped: schema).outbox WHERE sent_at IS NULL", logger: logger)
        for try await n in rows.decode(Int.self) { return n }
        return -1
    }

    @Test func tenThousandEventsSurviveAKilledConsumerAndAReplay() async throws {
        let schema = TestEnvironment.unique("pipe")
        let topic = TestEnvironment.unique("pipe")
        let brokers = TestEnvironment.kafkaBrokers!
        let url = TestEnvironment.postgresURL!
        try TestEnvironment.createTopic(topic)
        try await TestEnvironment.withPostgres { client in
            try await Migrator(schema: schema, migrations: PipelineSchema.migrations()).migrate(client, logger: logger)
            let expectedTotal = try await enqueue(client, schema: schema, topic: topic, range: 1...10_000)

            let producer = try KafkaProducer(configuration: .init(bootstrapServers: brokers), logger: logger)
            let relay = OutboxRelay(client: client, schema: schema, producer: producer, logger: logger, startWhen: ReadinessFlag(true))
            let relayTask = Task { try await relay.run() }
            defer { relayTask.cancel() }

            let consumeArgs = ["consume", "--postgres", url, "--brokers", brokers, "--schema", schema, "--topic", topic, "--name", "pipe"]
            // First consumer: killed with SIGKILL part-way through (small,
            // slowed batches so "part-way" reliably comes before the end).
            let first = try ChildProcess.coffre("coffre-testkit", consumeArgs + ["--batch-size", "100", "--effect-delay-ms", "20"])
            defer { first.stop() }
            let partWay = try await TestEnvironment.eventually(timeout: .seconds(90)) {
                try await PipelineSchema.counts(client, schema: schema, logger: logger).applied >= 2_000
            }
            #expect(partWay, "consumer made no progress: \(first.output.suffix(2000))")
            first.signal(SIGKILL)
            _ = await first.wait(timeout: .seconds(10))
            let atKill = try await PipelineSchema.counts(client, schema: schema, logger: logger)
            #expect(atKill.applied < 10_000, "the kill came too late to prove anything")

            // Second consumer, same group: resumes from committed offsets,
            // re-reads the uncommitted tail, and dedupes it.
            let second = try ChildProcess.coffre("coffre-testkit", consumeArgs + ["--expect", "10000"])
            defer { second.stop() }
            #expect(await second.wait(timeout: .seconds(120)) == 0, "second consumer: \(second.output.suffix(2000))")
            let afterResume = try await PipelineSchema.counts(client, schema: schema, logger: logger)
            #expect(afterResume == .init(applied: 10_000, total: expectedTotal, logRows: 10_000, distinctEvents: 10_000))
            #expect(try await unsent(client, schema: schema) == 0)

            // Replay the topic from offset 0 in a fresh group with the same
            // dedupe name: all 10,000 are read again, none is applied again.
            let replay = try ChildProcess.coffre("coffre-testkit", consumeArgs + ["--group", TestEnvironment.unique("replay"), "--drain", "10000"])
            defer { replay.stop() }
            #expect(await replay.wait(timeout: .seconds(120)) == 0, "replay: \(replay.output.suffix(2000))")
            #expect(replay.output.contains("SEEN "))
            let seen = Int(replay.output.split(separator: "\n").last { $0.hasPrefix("SEEN ") }?.dropFirst(5) ?? "") ?? 0
            #expect(seen >= 10_000)
            let afterReplay = try await PipelineSchema.counts(client, schema: schema, logger: logger)
            #expect(afterReplay == afterResume)
        }
    }

    @Test func sigtermCommitsOffsetsSoARestartRedeliversNothing() async throws {
        let schema = TestEnvironment.unique("term")
        let topic = TestEnvironment.unique("term")
        let brokers = TestEnvironment.kafkaBrokers!
        let url = TestEnvironment.postgresURL!
        try TestEnvironment.createTopic(topic, partitions: 2)
        try await TestEnvironment.withPostgres { client in
            try await Migrator(schema: schema, migrations: PipelineSchema.migrations()).migrate(client, logger: logger)
            _ = try await enqueue(client, schema: schema, topic: topic, range: 1...500)
            let producer = try KafkaProducer(configuration: .init(bootstrapServers: brokers), logger: logger)
            let relay = OutboxRelay(client: client, schema: schema, producer: producer, logger: logger, startWhen: ReadinessFlag(true))
            let relayTask = Task { try await relay.run() }
            defer { relayTask.cancel() }

            let args = ["consume", "--postgres", url, "--brokers", brokers, "--schema", schema, "--topic", topic, "--name", "term"]
            let first = try ChildProcess.coffre("coffre-testkit", args)
            defer { first.stop() }
            let all = try await TestEnvironment.eventually(timeout: .seconds(60)) {
                try await PipelineSchema.counts(client, schema: schema, logger: logger).applied == 500
            }
            #expect(all)
            first.signal(SIGTERM)
            #expect(await first.wait(timeout: .seconds(15)) == 0, "SIGTERM did not drain cleanly: \(first.output.suffix(1500))")

            // Same group again: offsets were committed on close, so nothing comes back.
            let second = try ChildProcess.coffre("coffre-testkit", args)
            defer { second.stop() }
            try await Task.sleep(for: .seconds(8))  // group join (~3 s) plus fetch time
            second.signal(SIGTERM)
            #expect(await second.wait(timeout: .seconds(15)) == 0)
            #expect(second.output.contains("SEEN 0"), "redelivered after a clean shutdown: \(second.output.suffix(800))")
        }
    }

    /// An idle relay polls less and less often (each empty batch doubles its
    /// pause, up to `maxIdleInterval`), yet an event written after a quiet
    /// spell still goes out within about that longest pause.
    @Test func anIdleRelaySendsTheNextEventWithinItsLongestPause() async throws {
        let schema = TestEnvironment.unique("idle")
        let topic = TestEnvironment.unique("idle")
        try TestEnvironment.createTopic(topic)
        try await TestEnvironment.withPostgres { client in
            try await Migrator(schema: schema, migrations: PipelineSchema.migrations()).migrate(client, logger: logger)
            let producer = try KafkaProducer(configuration: .init(bootstrapServers: TestEnvironment.kafkaBrokers!), logger: logger)
            var options = OutboxRelay.Options()
            options.maxIdleInterval = .milliseconds(400)
            let relay = OutboxRelay(client: client, schema: schema, producer: producer, logger: logger, options: options, startWhen: ReadinessFlag(true))
            let relayTask = Task { try await relay.run() }
            defer { relayTask.cancel() }
            for n in 1...3 {
                // Long enough for the pause to reach its maximum.
                try await Task.sleep(for: .seconds(2))
                let start = ContinuousClock.now
                _ = try await enqueue(client, schema: schema, topic: topic, range: n...n)
                let sent = try await TestEnvironment.eventually(timeout: .seconds(5), interval: .milliseconds(20)) {
                    try await unsent(client, schema: schema) == 0
                }
                let took = ContinuousClock.now - start
                #expect(sent && took < .milliseconds(1000), "event \(n) after 2 s idle went out after \(took)")
            }
        }
    }

    @Test func relayKeepsEventsWhileTheBrokerIsDown() async throws {
        let broker = PrivateBroker()
        try await broker.start()
        let topic = "outage"
        try TestEnvironment.createTopic(topic, partitions: 3, brokers: broker.address)
        let schema = TestEnvironment.unique("outage")
        try await TestEnvironment.withPostgres { client in
            try await Migrator(schema: schema, migrations: PipelineSchema.migrations()).migrate(client, logger: logger)
            var config = KafkaConfiguration(bootstrapServers: broker.address)
            config["message.timeout.ms"] = "3000"
            let producer = try KafkaProducer(configuration: config, logger: logger)
            var options = OutboxRelay.Options()
            options.maxBackoff = .seconds(1)
            let relay = OutboxRelay(client: client, schema: schema, producer: producer, logger: logger, options: options, startWhen: ReadinessFlag(true))
            let relayTask = Task { try await relay.run() }
            defer { relayTask.cancel() }

            _ = try await enqueue(client, schema: schema, topic: topic, range: 1...100)
            #expect(try await TestEnvironment.eventually(timeout: .seconds(30)) { try await unsent(client, schema: schema) == 0 })

            await broker.stop()
            _ = try await enqueue(client, schema: schema, topic: topic, range: 101...300)
            try await Task.sleep(for: .seconds(5))
            #expect(try await unsent(client, schema: schema) == 200, "rows were marked sent while no broker was up")

            // The broker comes back (memory storage: empty, so the topic is made again).
            try await broker.start()
            try TestEnvironment.createTopic(topic, partitions: 3, brokers: broker.address)
            let drained = try await TestEnvironment.eventually(timeout: .seconds(60)) { try await unsent(client, schema: schema) == 0 }
            #expect(drained, "relay did not deliver after the broker returned")

            // Every event written during the outage is on the new broker.
            let consumer = try KafkaConsumer(configuration: .init(bootstrapServers: broker.address), groupID: "check", topics: [topic], logger: logger)
            var ns = Set<Int64>()
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline && !(101...300).allSatisfy({ ns.contains(Int64($0)) }) {
                for m in await consumer.poll(max: 500, timeout: .milliseconds(300)) {
                    if case .int(let n)? = try CloudEvent.decode(m.value).data["n"] { ns.insert(n) }
                }
            }
            await consumer.close()
            let missing = (101...300).filter { !ns.contains(Int64($0)) }
            #expect(missing.isEmpty, "events lost across the outage: \(missing.prefix(20))")
        }
        await broker.stop()
    }
}
