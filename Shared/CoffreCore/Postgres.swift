import Foundation
import Logging
import PostgresNIO

public enum PostgresSetup {
    /// Parses `postgres://user:password@host:port/database` into a pool
    /// configuration. Only plain TCP is supported for now (`sslmode=disable`
    /// or none): Coffre's Postgres sits on a private network.
    public static func configuration(url: String, poolSize: Int) throws(ConfigurationError) -> PostgresClient.Configuration {
        let key = "COFFRE_POSTGRES_URL"
        guard let components = URLComponents(string: url),
              let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme)
        else {
            throw ConfigurationError(key: key, problem: "not a postgres:// URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ConfigurationError(key: key, problem: "the URL has no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw ConfigurationError(key: key, problem: "the URL has no user name")
        }
        let database = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard !database.isEmpty else {
            throw ConfigurationError(key: key, problem: "the URL names no database")
        }
        if let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value, mode != "disable" {
            throw ConfigurationError(key: key, problem: "sslmode=\(mode) is not supported; use sslmode=disable on a private network")
        }
        var config = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user,
            password: components.password, database: database, tls: .disable)
        config.options.maximumConnections = poolSize
        config.options.minimumConnections = 0
        config.options.connectionIdleTimeout = .seconds(60)
        return config
    }

    /// Quotes an identifier (schema, table) for SQL that cannot take binds,
    /// such as DDL. Rejects anything that is not a plain lowercase name.
    public static func identifier(_ name: String) -> String {
        precondition(name.allSatisfy { $0.isLetter && $0.isLowercase || $0.isNumber || $0 == "_" } && !name.isEmpty,
                     "not a plain SQL identifier: \(name)")
        return "\"\(name)\""
    }
}

extension PostgresTransactionError {
    /// The error that made the transaction fail, so a domain error (a 4xx)
    /// thrown inside `withTransaction` stays that error.
    public var underlying: any Error {
        closureError ?? beginError ?? commitError ?? self
    }
}

extension PostgresClient {
    /// `withTransaction`, rethrowing the closure's own error rather than the
    /// wrapper, so callers can `catch` their domain errors.
    public func transaction<Result: Sendable>(
        logger: Logger,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        do {
            return try await withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            throw error.underlying
        }
    }
}

// MARK: row-level security

/// Every tenant-owned table's policy reads `coffre.tenant_id`; these are the
/// only places that set it, so every service scopes a transaction the same way.
extension PostgresConnection {
    /// Scopes the rest of the current transaction to `tenant` (`nil` clears it).
    public func setTenant(_ tenant: UUID?, logger: Logger) async throws {
        try await query("SELECT set_config('coffre.tenant_id', \(tenant?.uuidString.lowercased() ?? ""), true)", logger: logger)
    }
}

extension PostgresClient {
    /// A transaction whose statements see only `tenant`'s rows.
    public func withTenant<Result: Sendable>(
        _ tenant: UUID,
        logger: Logger,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction(logger: logger) { connection in
            try await connection.setTenant(tenant, logger: logger)
            return try await body(connection)
        }
    }
}
