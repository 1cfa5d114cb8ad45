import CoffreCore
import CoffreTestSupport
import Foundation
import PostgresNIO
import Testing

@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres"))
struct MigrationConcurrencyTests {
    @Test func threeProcessesApplyEachMigrationOnce() async throws {
        let schema = TestEnvironment.unique("mig")
        let url = TestEnvironment.postgresURL!
        let children = try (0..<3).map { _ in
            try ChildProcess.coffre("coffre-testkit", ["migrate", "--postgres", url, "--schema", schema])
        }
        defer { children.forEach { $0.stop() } }
        var appliedByAll: [Int] = []
        for child in children {
            let status = await child.wait(timeout: .seconds(60))
            #expect(status == 0, "migrator failed: \(child.output)")
            let line = child.output.split(separator: "\n").first { $0.hasPrefix("APPLIED") } ?? ""
            appliedByAll += line.dropFirst("APPLIED".count).split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }
        #expect(appliedByAll.sorted() == [1, 2, 3])
        try await TestEnvironment.withPostgres { client in
            let rows = try await client.query("SELECT count(*) FROM \(unescaped: schema).runs", logger: TestEnvironment.logger)
            for try await count in rows.decode(Int.self) { #expect(count == 1) }
            let versions = try await client.query("SELECT count(*) FROM \(unescaped: schema).schema_migrations", logger: TestEnvironment.logger)
            for try await count in versions.decode(Int.self) { #expect(count == 3) }
        }
    }

    @Test func failingMigrationLeavesNothingBehind() async throws {
        let schema = TestEnvironment.unique("migfail")
        try await TestEnvironment.withPostgres { client in
            let bad = Migrator(schema: schema, migrations: [
                Migration(1, "ok", sql: "CREATE TABLE a (id int);"),
                Migration(2, "broken", sql: "CREATE TABLE b (id int); SELECT * FROM no_such_table;"),
            ])
            await #expect(throws: (any Error).self) { try await bad.migrate(client, logger: TestEnvironment.logger) }
            let applied = try await client.withConnection { try await bad.appliedVersions($0, logger: TestEnvironment.logger) }
            #expect(applied == [1])
            let b = try await client.query("SELECT to_regclass(\(schema + ".b")) IS NULL", logger: TestEnvironment.logger)
            for try await missing in b.decode(Bool.self) { #expect(missing, "half-applied migration left table b") }
            // The pool's connection is usable afterwards (no aborted transaction left open).
            let fixed = Migrator(schema: schema, migrations: [
                Migration(1, "ok", sql: "CREATE TABLE a (id int);"),
                Migration(2, "fixed", sql: "CREATE TABLE b (id int);"),
            ])
            #expect(try await fixed.migrate(client, logger: TestEnvironment.logger) == [2])
        }
    }
}
