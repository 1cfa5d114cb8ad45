// Test support: runs one piece of CoffreCore (a migrator, an idempotent
// consumer) in an OS process of its own, so integration tests can start
// several at once, kill -9 them and start them again.
import ArgumentParser
import CoffreCore
import CoffreTestSupport
import Foundation
import Kafka
import Logging
import PostgresNIO
import ServiceLifecycle

@main
struct Testkit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coffre-testkit",
        abstract: "Runs CoffreCore parts as separate processes for integration tests.",
        subcommands: [Migrate.self, Consume.self]
    )
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the test migrations to a schema (slowly, to widen races).")

    @Option var postgres: String
    @Option var schema: String

    /// Migration 2 appends a row: applied twice, the test sees two rows.
    static func migrations() -> [Migration] {
        [
            Migration(1, "create runs", sql: "CREATE TABLE runs (id serial PRIMARY KEY, at timestamptz DEFAULT now());"),
            Migration(2, "record a run slowly", sql: "SELECT pg_sleep(0.5); INSERT INTO runs DEFAULT VALUES;"),
            Migration(3, "add a column", sql: "ALTER TABLE runs ADD COLUMN note text;"),
        ]
    }

    func run() async throws {
        CoffreLogging.bootstrap(service: "testkit-migrate", level: "info")
        let logger = Logger(label: "testkit")
        let client = PostgresClient(configuration: try PostgresSetup.configuration(url: postgres, poolSize: 2), backgroundLogger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            let applied = try await Migrator(schema: schema, migrations: Self.migrations()).migrate(client, logger: logger)
            print("APPLIED \(applied.map(String.init).joined(separator: ","))")
            group.cancelAll()
        }
    }
}

struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Consume test events idempotently: each event adds its `n` to a counter and appends to a log.")

    @Option var postgres: String
    @Option var brokers: String
    @Option var schema: String
    @Option var topic: String
    @Option(help: "Dedupe name in processed_events.") var name: String
    @Option(help: "Kafka consumer group (defaults to the name).") var group: String?
    @Option(help: "Exit once the counter reaches this many applied events.") var expect: Int?
    @Option(help: "Exit once this many messages were consumed (applied or duplicate).") var drain: Int?
    @Option(help: "Messages per batch.") var batchSize: Int = 2000
    @Option(help: "Extra time each batch's effect takes, in ms (to stretch a run so a test can kill it part-way).") var effectDelayMs: Int = 0

    func run() async throws {
        CoffreLogging.bootstrap(service: "testkit-consume", level: "info")
        let logger = Logger(label: "testkit")
        let client = PostgresClient(configuration: try PostgresSetup.configuration(url: postgres, poolSize: 4), backgroundLogger: logger)
        let ready = ReadinessFlag()
        let seen = SeenCounter()
        var options = IdempotentConsumer.Options()
        options.observer = { seen.add($0) }
        options.batchSize = batchSize
        let consumer = try IdempotentConsumer(
            name: name, groupID: group, schema: schema, client: client,
            kafka: KafkaConfiguration(bootstrapServers: brokers), topics: [topic], logger: logger,
            options: options, startWhen: ready, effect: PipelineSchema.effect(schema: schema, delay: .milliseconds(effectDelayMs)))
        let expect = self.expect
        let watcher = ExpectationWatcher(client: client, schema: schema, expect: expect, drain: drain, seen: seen, logger: logger, ready: ready)
        let serviceGroup = ServiceGroup(configuration: .init(
            services: [.init(service: client), .init(service: watcher, successTerminationBehavior: .gracefullyShutdownGroup), .init(service: consumer)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await serviceGroup.run()
        print("SEEN \(seen.value)")
    }
}

final class SeenCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ n: Int) { lock.lock(); count += n; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// Applies the test migrations, then (with `--expect`) ends the process once
/// the counter reaches the expected number.
struct ExpectationWatcher: Service {
    let client: PostgresClient
    let schema: String
    let expect: Int?
    let drain: Int?
    let seen: SeenCounter
    let logger: Logger
    let ready: ReadinessFlag

    func run() async throws {
        try await Migrator(schema: schema, migrations: PipelineSchema.migrations()).migrate(client, logger: logger)
        ready.set()
        if let drain {
            while !Task.isShuttingDownGracefully && seen.value < drain {
                try await Task.sleep(for: .milliseconds(100))
            }
            return
        }
        guard let expect else {
            try? await gracefulShutdown()
            return
        }
        while !Task.isShuttingDownGracefully {
            let rows = try await client.query("SELECT applied FROM \(unescaped: PostgresSetup.identifier(schema)).counter WHERE id = 1", logger: logger)
            for try await applied in rows.decode(Int64.self) where applied >= expect {
                print("REACHED \(applied)")
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
