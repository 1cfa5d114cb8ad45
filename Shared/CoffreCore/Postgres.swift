import Foundation
import Logging
import PostgresNIO
import Synchronization

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
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection(isolation: isolation) { connection in
            try await connection.transaction(logger: logger, isolation: isolation, body)
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

// MARK: a bounded wait for a connection

/// No Postgres connection came free in time: Postgres is unreachable, or
/// every pooled connection stayed busy that long. Nothing was sent, so the
/// caller may simply try again; services answer 503 with `Retry-After`.
public struct DatabaseUnavailable: Error, CustomStringConvertible {
    public let waited: Duration
    public init(waited: Duration) { self.waited = waited }
    public var description: String { "no Postgres connection within \(waited)" }
}

extension PostgresClient {
    /// `withConnection`, giving up with `DatabaseUnavailable` if no
    /// connection is leased within `leaseTimeout`. PostgresNIO's pool waits
    /// for a connection without end while Postgres is unreachable, so
    /// requests would otherwise hang until the client gave up (and a
    /// SIGTERM'd service could not drain). Only the wait is bounded: once a
    /// connection is leased the body runs to its end, so a statement is
    /// never cut off half-way by this timer and a write is never left in
    /// doubt.
    public func withConnection<Result: Sendable>(
        leaseTimeout: Duration,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let claim = LeaseClaim()
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await self.withConnection { connection in
                    // The timer may have gone off just as the connection came.
                    guard claim.take(.leased) else { throw DatabaseUnavailable(waited: leaseTimeout) }
                    return try await body(connection)
                }
            }
            group.addTask {
                try? await Task.sleep(for: leaseTimeout)
                if claim.take(.timedOut) { throw DatabaseUnavailable(waited: leaseTimeout) }
                return nil  // leased in time (or the body is done): the body decides
            }
            // The first error (the timer's, or the body's) leaves the group,
            // which cancels the other child: a lease still waiting is withdrawn.
            while let next = try await group.next() {
                if let value = next {
                    group.cancelAll()
                    return value
                }
            }
            preconditionFailure("the lease task ended without a result or an error")
        }
    }

    /// `withTenant` with the wait for a connection bounded (see
    /// `withConnection(leaseTimeout:_:)`).
    public func withTenant<Result: Sendable>(
        _ tenant: UUID,
        leaseTimeout: Duration,
        logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction(leaseTimeout: leaseTimeout, logger: logger) { connection in
            try await connection.setTenant(tenant, logger: logger)
            return try await body(connection)
        }
    }

    /// `transaction` with the wait for a connection bounded.
    public func transaction<Result: Sendable>(
        leaseTimeout: Duration,
        logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection(leaseTimeout: leaseTimeout) { connection in
            try await connection.transaction(logger: logger, body)
        }
    }
}

extension PostgresConnection {
    /// `withTransaction`, rethrowing the body's own error rather than the
    /// wrapper, so callers can `catch` their domain errors.
    public func transaction<Result: Sendable>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        do {
            return try await withTransaction(logger: logger, isolation: isolation) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            throw error.underlying
        }
    }
}

/// Who came first: the leased connection or the timer.
private final class LeaseClaim: Sendable {
    enum Winner: Int { case leased = 1, timedOut = 2 }
    private let state = Atomic<Int>(0)
    /// True for the first caller only.
    func take(_ winner: Winner) -> Bool {
        state.compareExchange(expected: 0, desired: winner.rawValue, ordering: .acquiringAndReleasing).exchanged
    }
}
