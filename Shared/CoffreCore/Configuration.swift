// CoffreCore holds what every Coffre service needs once: configuration,
// JSON logging, Prometheus metrics, the Postgres pool and migrations, the
// event envelope, the transactional outbox and its relay, idempotent event
// consumption, problem+json errors and the service bootstrap.
// It must never log secrets, tokens or key material, and it never decides
// anything about a user's data: that belongs to the services.
import Foundation

/// A configuration value that could not be used. Reported as one log line
/// (and on `/readyz`), never as a crash with a stack trace.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var key: String
    public var problem: String
    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }
    public var description: String { "\(key): \(problem)" }
}

/// Typed access to environment variables, so every service reads its
/// settings the same way. Tests build one from a dictionary.
public struct EnvironmentReader: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    public func string(_ key: String, default value: String) -> String {
        guard let raw = values[key], !raw.isEmpty else { return value }
        return raw
    }

    public func optionalString(_ key: String) -> String? {
        guard let raw = values[key], !raw.isEmpty else { return nil }
        return raw
    }

    public func int(_ key: String, default value: Int, range: ClosedRange<Int> = Int.min...Int.max) throws(ConfigurationError) -> Int {
        guard let raw = values[key], !raw.isEmpty else { return value }
        guard let parsed = Int(raw.trimmingCharacters(in: .whitespaces)) else {
            throw ConfigurationError(key: key, problem: "expected an integer, got \"\(raw)\"")
        }
        guard range.contains(parsed) else {
            throw ConfigurationError(key: key, problem: "\(parsed) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    public func list(_ key: String, default value: [String]) -> [String] {
        guard let raw = values[key], !raw.isEmpty else { return value }
        return raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public func bool(_ key: String, default value: Bool) throws(ConfigurationError) -> Bool {
        guard let raw = values[key], !raw.isEmpty else { return value }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError(key: key, problem: "expected true or false, got \"\(raw)\"")
        }
    }
}

/// Where a service's HTTP server listens: `<PREFIX>_HTTP_HOST`, `<PREFIX>_HTTP_PORT`.
public struct HTTPListenConfiguration: Sendable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(prefix: String, defaultPort: Int, env: EnvironmentReader) throws(ConfigurationError) {
        host = env.string("\(prefix)_HTTP_HOST", default: "127.0.0.1")
        port = try env.int("\(prefix)_HTTP_PORT", default: defaultPort, range: 0...65535)
    }
}

/// Settings every service shares.
///
/// | variable | default |
/// |---|---|
/// | `COFFRE_POSTGRES_URL` | `postgres://coffre:coffre@127.0.0.1:55432/coffre` |
/// | `COFFRE_POSTGRES_POOL_SIZE` | `20` |
/// | `COFFRE_POSTGRES_WAIT_SECONDS` | `5`: longest wait for a pooled connection, then `DatabaseUnavailable` (503) |
/// | `COFFRE_KAFKA_BROKERS` | `127.0.0.1:59092` |
/// | `COFFRE_LOG_LEVEL` | `info` |
/// | `COFFRE_INTERNAL_SECRET` | a development value (warned about at start) |
public struct CommonConfiguration: Sendable {
    public static let developmentInternalSecret = "coffre-development-internal-secret-change-me"

    public var postgresURL: String
    public var postgresPoolSize: Int
    /// The bounded wait for a Postgres connection (see `DatabaseUnavailable`).
    public var postgresWait: Duration
    public var kafkaBrokers: String
    public var logLevel: String
    public var internalSecret: String

    public init(
        postgresURL: String = "postgres://coffre:coffre@127.0.0.1:55432/coffre",
        postgresPoolSize: Int = 20,
        postgresWait: Duration = .seconds(5),
        kafkaBrokers: String = "127.0.0.1:59092",
        logLevel: String = "info",
        internalSecret: String = CommonConfiguration.developmentInternalSecret
    ) {
        self.postgresURL = postgresURL
        self.postgresPoolSize = postgresPoolSize
        self.postgresWait = postgresWait
        self.kafkaBrokers = kafkaBrokers
        self.logLevel = logLevel
        self.internalSecret = internalSecret
    }

    public init(env: EnvironmentReader) throws(ConfigurationError) {
        let defaults = CommonConfiguration()
        postgresURL = env.string("COFFRE_POSTGRES_URL", default: defaults.postgresURL)
        postgresPoolSize = try env.int("COFFRE_POSTGRES_POOL_SIZE", default: defaults.postgresPoolSize, range: 1...500)
        postgresWait = .seconds(try env.int("COFFRE_POSTGRES_WAIT_SECONDS", default: 5, range: 1...300))
        kafkaBrokers = env.string("COFFRE_KAFKA_BROKERS", default: defaults.kafkaBrokers)
        logLevel = env.string("COFFRE_LOG_LEVEL", default: defaults.logLevel)
        internalSecret = env.string("COFFRE_INTERNAL_SECRET", default: defaults.internalSecret)
    }
}
