import CoffreCore
import Foundation
import KeyTransparency
import Logging
import PostgresNIO

/// Reads of the log: checkpoints, entries, stored subtree hashes, proofs.
///
/// The log tables are global (see `KeyDirectoryMigrations`), so these run on
/// any connection; the account routes call them inside their tenant's
/// transaction so one snapshot answers the whole lookup.
struct LogStore: Sendable {
    struct StoredCheckpoint: Sendable {
        var size: UInt64
        var root: [UInt8]
        var note: String
        /// Unix seconds of the signature.
        var signedAt: Int64
    }

    let postgres: PostgresClient
    let logger: Logger

    func latestCheckpoint(on connection: PostgresConnection) async throws -> StoredCheckpoint? {
        let rows = try await connection.query("""
            SELECT size, root, note, extract(epoch FROM signed_at)::bigint FROM keydir.checkpoints ORDER BY size DESC LIMIT 1
            """, logger: logger)
        for try await (size, root, note, signedAt) in rows.decode((Int64, ByteBuffer, String, Int64).self) {
            return StoredCheckpoint(size: UInt64(size), root: Array(buffer: root), note: note, signedAt: signedAt)
        }
        return nil
    }

    func latestCheckpoint() async throws -> StoredCheckpoint? {
        try await postgres.withConnection { try await latestCheckpoint(on: $0) }
    }

    /// The newest checkpoint, or 503 while the sequencer has not written one.
    func requireCheckpoint(on connection: PostgresConnection) async throws -> StoredCheckpoint {
        guard let checkpoint = try await latestCheckpoint(on: connection) else { throw KeyProblems.noCheckpoint }
        return checkpoint
    }

    /// The stored hashes of `ids`, in one query. Missing ids are absent.
    func nodes(_ ids: some Collection<MerkleNodeID>, on connection: PostgresConnection) async throws -> [MerkleNodeID: [UInt8]] {
        if ids.isEmpty { return [:] }
        let levels = ids.map { Int64($0.level) }
        let indices = ids.map { Int64($0.index) }
        let rows = try await connection.query("""
            SELECT n.level, n.idx, n.hash FROM unnest(\(levels)::int8[], \(indices)::int8[]) AS p(level, idx)
            JOIN keydir.tree_nodes n ON n.level = p.level AND n.idx = p.idx
            """, logger: logger)
        var hashes: [MerkleNodeID: [UInt8]] = [:]
        for try await (level, index, hash) in rows.decode((Int16, Int64, ByteBuffer).self) {
            hashes[MerkleNodeID(level: Int(level), index: UInt64(index))] = Array(buffer: hash)
        }
        return hashes
    }

    /// Fetches a plan's hashes and assembles the proof.
    func assemble(_ plan: [[MerkleNodeID]], on connection: PostgresConnection) async throws -> [[UInt8]] {
        let hashes = try await nodes(Set(plan.joined()), on: connection)
        do {
            return try MerkleProof.assemble(plan, hashes: hashes)
        } catch {
            // Every node of a tree at or below a checkpoint is stored in the
            // checkpoint's transaction: a missing one is a broken log.
            logger.error("proof plan names a node the log does not have", metadata: ["error": "\(error)"])
            throw error
        }
    }

    func inclusionProof(index: UInt64, size: UInt64, on connection: PostgresConnection) async throws -> [[UInt8]] {
        try await assemble(try MerkleProof.inclusionPlan(index: index, size: size), on: connection)
    }

    func consistencyProof(from: UInt64, to: UInt64, on connection: PostgresConnection) async throws -> [[UInt8]] {
        try await assemble(try MerkleProof.consistencyPlan(from: from, to: to), on: connection)
    }

    func entry(at index: UInt64, on connection: PostgresConnection) async throws -> [UInt8]? {
        let rows = try await connection.query("SELECT entry FROM keydir.entries WHERE log_index = \(Int64(index))", logger: logger)
        for try await entry in rows.decode(ByteBuffer.self) { return Array(buffer: entry) }
        return nil
    }

    /// The entry at `index` of `account` with its inclusion proof against
    /// the newest checkpoint (read after the entry, so it covers it).
    func lookup(account: UUID, version: UInt64, index: UInt64, on connection: PostgresConnection) async throws -> KeyLookup {
        guard let entry = try await entry(at: index, on: connection) else { throw Problem.notFound("no such entry") }
        let checkpoint = try await requireCheckpoint(on: connection)
        let proof = try await inclusionProof(index: index, size: checkpoint.size, on: connection)
        return KeyLookup(account_id: account.lower, version: version, index: index, entry: Base64URL.encode(entry),
                         checkpoint: checkpoint.note, inclusion_proof: proof.map(Base64URL.encode))
    }
}
