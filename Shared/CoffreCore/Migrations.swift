import Logging
import PostgresNIO

/// One numbered schema change of a service. The SQL runs in one transaction
/// with the row that records it, so it is applied exactly once or not at all.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(_ version: Int, _ name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies a service's migrations to its own schema at start-up.
///
/// N replicas may start at once: each takes a session advisory lock keyed by
/// the schema name, so one applies the pending migrations and the others
/// then find nothing left to do.
public struct Migrator: Sendable {
    public let schema: String
    public let migrations: [Migration]

    public init(schema: String, migrations: [Migration]) {
        precondition(Set(migrations.map(\.version)).count == migrations.count, "duplicate migration version in \(schema)")
        self.schema = schema
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// Applies what is pending; returns the versions this call applied.
    @discardableResult
    public func migrate(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.withConnection { connection in
            try await migrate(connection, logger: logger)
        }
    }

    public func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        let lockKey = "coffre.migrations.\(schema)"
        try await connection.query("SELECT pg_advisory_lock(hashtext(\(lockKey)))", logger: logger)
        do {
            let applied = try await applyPending(connection, logger: logger)
            try await connection.query("SELECT pg_advisory_unlock(hashtext(\(lockKey)))", logger: logger)
            return applied
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(hashtext(\(lockKey)))", logger: logger)
            throw error
        }
    }

    private func applyPending(_ connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        let s = PostgresSetup.identifier(schema)
        try await connection.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: s)", logger: logger)
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS \(unescaped: s).schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        let done = try await appliedVersions(connection, logger: logger)
        var appliedNow: [Int] = []
        for migration in migrations where !done.contains(migration.version) {
            logger.info("applying migration", metadata: [
                "schema": .string(schema), "version": "\(migration.version)", "name": .string(migration.name),
            ])
            do {
                try await connection.withTransaction(logger: logger) { connection in
                    try await connection.query("SET LOCAL search_path TO \(unescaped: s)", logger: logger)
                    try await connection.query(PostgresQuery(unsafeSQL: Self.multiStatementBlock(migration.sql)), logger: logger)
                    try await connection.query("""
                        INSERT INTO \(unescaped: s).schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))
                        """, logger: logger)
                }
            } catch {
                let underlying = (error as? PostgresTransactionError)?.underlying ?? error
                logger.error("migration failed", metadata: [
                    "schema": .string(schema), "version": "\(migration.version)", "error": .string(String(reflecting: underlying)),
                ])
                throw underlying
            }
            appliedNow.append(migration.version)
        }
        return appliedNow
    }

    /// The extended query protocol takes one statement; a migration file may
    /// hold several. PL/pgSQL's EXECUTE runs a multi-statement string, so the
    /// file becomes one `DO` block (dollar-quoted: no escaping of its text).
    static func multiStatementBlock(_ sql: String) -> String {
        precondition(!sql.contains("$coffre_migration$") && !sql.contains("$coffre_block$"), "migration SQL uses a reserved quote tag")
        return "DO $coffre_block$ BEGIN EXECUTE $coffre_migration$" + sql + "$coffre_migration$; END $coffre_block$"
    }

    public func appliedVersions(_ connection: PostgresConnection, logger: Logger) async throws -> Set<Int> {
        let table = "\(schema).schema_migrations"
        let exists = try await connection.query("SELECT to_regclass(\(table)) IS NOT NULL", logger: logger)
        for try await (present) in exists.decode(Bool.self) where !present { return [] }
        var versions = Set<Int>()
        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT version FROM \(PostgresSetup.identifier(schema)).schema_migrations"), logger: logger)
        for try await version in rows.decode(Int.self) { versions.insert(version) }
        return versions
    }

    /// True when every migration this build knows is recorded as applied.
    public func isUpToDate(_ client: PostgresClient, logger: Logger) async throws -> Bool {
        let applied = try await client.withConnection { try await appliedVersions($0, logger: logger) }
        return migrations.allSatisfy { applied.contains($0.version) }
    }
}
