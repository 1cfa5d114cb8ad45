import CoffreCore
import Foundation
import KeyTransparency
import Logging
import PostgresNIO
import Sodium

/// What a benchmark needs to drive the log without HTTP or Kafka: queue
/// many valid publishes, then time `LogSequencer.drain()` appending them in
/// batches, then time proofs through the code the `/v1/log/proof/...`
/// routes run. The schema must be migrated first (`KeyDirectoryApp.migrations`).
public enum LogBenchmark {
    /// Queues `count` `publish` changes for fresh accounts of `tenant`, as
    /// account events would. `keyPairs` distinct key pairs, each with its
    /// self-signature, are made once and handed out in turn (signing one
    /// per account would time libsodium, not the log): every entry still
    /// differs by its account id, and the sequencer's work per entry is the
    /// same as for distinct keys.
    public static func enqueuePublishes(count: Int, tenant: UUID, keyPairs: Int = 1, postgres: PostgresClient, logger: Logger) async throws {
        var keys: [(x25519: ByteBuffer, ed25519: ByteBuffer, signature: ByteBuffer)] = []
        for _ in 0..<max(1, keyPairs) {
            let x25519 = Sodium.Box.keyPair().publicKey
            let signing = Sodium.Sign.keyPair()
            let message = KeyLogEntry.selfSignedMessage(x25519: Base64URL.encode(x25519), ed25519: Base64URL.encode(signing.publicKey))
            let signature = try Sodium.Sign.detached(message, secretKey: signing.secretKey)
            keys.append((ByteBuffer(bytes: x25519), ByteBuffer(bytes: signing.publicKey), ByteBuffer(bytes: signature)))
        }
        var done = 0
        while done < count {
            let n = min(5000, count - done)
            let accounts = (0..<n).map { _ in UUID() }
            let pick = (0..<n).map { keys[(done + $0) % keys.count] }
            try await postgres.query("""
                INSERT INTO keydir.queue (tenant_id, account_id, origin, action, x25519, ed25519, self_signature)
                SELECT \(tenant), a, 'directory', 'publish', x, e, s
                FROM unnest(\(accounts)::uuid[], \(pick.map(\.x25519))::bytea[], \(pick.map(\.ed25519))::bytea[],
                            \(pick.map(\.signature))::bytea[]) AS t(a, x, e, s)
                """, logger: logger)
            done += n
        }
    }

    /// `GET /v1/log/proof/inclusion?index=&size=` without HTTP: the same
    /// checks and store calls as `LogRoutes`, on one pooled connection.
    public static func inclusionProof(index: UInt64, size: UInt64, postgres: PostgresClient, logger: Logger) async throws -> [[UInt8]] {
        let log = LogStore(postgres: postgres, logger: logger)
        return try await postgres.withConnection { connection in
            try await LogRoutes.requireSize(size, log: log, on: connection)
            return try await log.inclusionProof(index: index, size: size, on: connection)
        }
    }

    /// `GET /v1/log/proof/consistency?from=&to=` without HTTP (see `inclusionProof`).
    public static func consistencyProof(from: UInt64, to: UInt64, postgres: PostgresClient, logger: Logger) async throws -> [[UInt8]] {
        let log = LogStore(postgres: postgres, logger: logger)
        return try await postgres.withConnection { connection in
            try await LogRoutes.requireSize(to, log: log, on: connection)
            return try await log.consistencyProof(from: from, to: to, on: connection)
        }
    }
}
