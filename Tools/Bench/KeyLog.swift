import ArgumentParser
import CoffreCore
import Foundation
import KeyDirectory
import KeyTransparency
import Logging
import PostgresNIO
import Sodium

/// The key directory's transparency log: appends per second through
/// `LogSequencer.drain()` (batched sequencing, as the service runs it), next
/// to the raw insert rate of the same rows; then proof latency at the full
/// size through the code the `/v1/log/proof/...` routes run.
///
/// 1. Migrates `keydir` (dropped first) and queues `count` valid publishes
///    (`LogBenchmark.enqueuePublishes`, `key-pairs` self-signed key pairs
///    handed out in turn).
/// 2. Times `drain()` with `batch-size`: per batch one transaction with the
///    advisory lock, the account states, entries, perfect subtree hashes,
///    queue settlement, directory upserts and a signed checkpoint.
/// 3. Baselines: the same `keydir.entries` rows, read back batch by batch
///    (outside the clock), inserted with one `unnest` INSERT per batch of the
///    same size into a copy of the table (`LIKE ... INCLUDING ALL`: same
///    columns, keys and indexes); then the entries plus the same
///    `tree_nodes` rows (computed outside the clock) in one transaction per
///    batch. No hashing, no signing, no account state.
/// 4. Proof latency, one at a time: `inclusion` random inclusion proofs at
///    the full size and `consistency` consistency proofs from a random
///    earlier checkpoint to the full size, through
///    `LogBenchmark.inclusionProof` / `consistencyProof` (the routes' checks
///    and `LogStore` calls). Every proof is then verified with
///    KeyTransparency against the signed checkpoints (notes checked with the
///    log's verifier key), and every proved entry's self-signature too.
/// 5. With `extra-batch-size`, steps 1-3 again for `extra-count` entries.
struct KeyLog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keylog", abstract: "Key log appends/s (batched sequencing) and proof latency, next to raw Postgres inserts.")

    @Option var postgres: String
    @Option(help: "Entries appended (and the log size the proofs are timed at).") var count: Int = 1_000_000
    @Option(help: "KEYDIR_BATCH_SIZE of the sequencer and the baseline's rows per statement.") var batchSize: Int = 1024
    @Option(help: "Distinct self-signed key pairs handed out to the accounts.") var keyPairs: Int = 256
    @Option(help: "Inclusion proofs timed.") var inclusion: Int = 2000
    @Option(help: "Consistency proofs timed.") var consistency: Int = 500
    @Option(help: "Another batch size to measure appends with (0: none).") var extraBatchSize: Int = 0
    @Option(help: "Entries appended with the extra batch size.") var extraCount: Int = 200_000

    func validate() throws {
        guard count > 1, batchSize > 0, keyPairs > 0, inclusion >= 0, consistency >= 0, extraBatchSize >= 0, extraCount > 0 else {
            throw ValidationError("need count > 1 and positive sizes")
        }
    }

    struct AppendRun {
        var entries: Int
        var batchSize: Int
        var enqueueSeconds: Double
        var drainSeconds: Double
        var baselineEntriesSeconds: Double
        var baselineNodesSeconds: Double
        var nodeRows: Int
        var bytesPerEntry: Double

        var json: [String: Any] {
            [
                "entries": entries, "batch_size": batchSize, "enqueue_seconds": enqueueSeconds,
                "drain_seconds": drainSeconds, "appends_per_second": Double(entries) / drainSeconds,
                "baseline_entries_seconds": baselineEntriesSeconds, "baseline_entries_per_second": Double(entries) / baselineEntriesSeconds,
                "baseline_nodes_seconds": baselineNodesSeconds, "baseline_nodes_per_second": Double(entries) / baselineNodesSeconds,
                "node_rows": nodeRows, "entry_bytes": bytesPerEntry,
            ]
        }
    }

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let client = PostgresClient(configuration: try PostgresSetup.configuration(url: postgres, poolSize: 4), backgroundLogger: logger)
        let signer = try NoteSigner(name: "bench.coffre.local/keys", seed: Sodium.randomBytes(32))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let main: AppendRun
            do {
                main = try await appendRun(count: count, batchSize: batchSize, signer: signer, client: client, logger: logger)
            } catch {
                FileHandle.standardError.write(Data("keylog: \(String(reflecting: error))\n".utf8))
                throw error
            }
            let proofs = try await proofRun(size: UInt64(count), signer: signer, client: client, logger: logger)
            var extra: AppendRun?
            if extraBatchSize > 0 {
                extra = try await appendRun(count: extraCount, batchSize: extraBatchSize, signer: signer, client: client, logger: logger)
            }
            try await client.query("DROP SCHEMA IF EXISTS keylog_baseline CASCADE", logger: logger)
            var result: [String: Any] = ["append": main.json, "proofs": proofs, "key_pairs": keyPairs]
            if let extra { result["append_extra"] = extra.json }
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
            Foundation.exit(0)
        }
    }

    /// Steps 1-3 on a fresh `keydir` schema.
    func appendRun(count: Int, batchSize: Int, signer: NoteSigner, client: PostgresClient, logger: Logger) async throws -> AppendRun {
        let clock = ContinuousClock()
        try await client.query("DROP SCHEMA IF EXISTS keydir CASCADE", logger: logger)
        try await client.query("DROP SCHEMA IF EXISTS keylog_baseline CASCADE", logger: logger)
        try await Migrator(schema: KeyDirectoryApp.schema, migrations: KeyDirectoryApp.migrations).migrate(client, logger: logger)
        try await client.query("VACUUM ANALYZE keydir.queue", logger: logger)

        let tenant = UUID()
        var start = clock.now
        try await LogBenchmark.enqueuePublishes(count: count, tenant: tenant, keyPairs: keyPairs, postgres: client, logger: logger)
        let enqueueSeconds = (clock.now - start).seconds
        try await client.query("VACUUM ANALYZE keydir.queue", logger: logger)
        _ = try? await client.query("CHECKPOINT", logger: logger)  // superusers only

        var options = LogSequencer.Options()
        options.batchSize = batchSize
        let sequencer = LogSequencer(postgres: client, signer: signer, options: options, ready: ReadinessFlag(true), logger: logger)
        FileHandle.standardError.write(Data("keylog: draining \(count) entries, batches of \(batchSize)\n".utf8))
        start = clock.now
        let appended = try await sequencer.drain()
        let drainSeconds = (clock.now - start).seconds
        guard appended == count else { throw ValidationError("drain appended \(appended) of \(count) entries") }
        let note = try await latestNote(client, logger: logger)
        let checkpoint = try NoteVerifier(verifierKey: signer.verifierKey).verify(note: note)
        guard checkpoint.size == UInt64(count) else { throw ValidationError("newest checkpoint has size \(checkpoint.size), not \(count)") }

        // The baselines: a copy of the tables, same columns, keys, indexes.
        try await client.query("CREATE SCHEMA keylog_baseline", logger: logger)
        for table in ["entries", "entries_n"] {
            try await client.query("CREATE TABLE keylog_baseline.\(unescaped: table) (LIKE keydir.entries INCLUDING ALL)", logger: logger)
        }
        try await client.query("CREATE TABLE keylog_baseline.tree_nodes (LIKE keydir.tree_nodes INCLUDING ALL)", logger: logger)
        _ = try? await client.query("CHECKPOINT", logger: logger)  // superusers only
        FileHandle.standardError.write(Data("keylog: baseline inserts\n".utf8))
        var entriesTime = Duration.zero, nodesTime = Duration.zero
        var frontier = MerkleFrontier()
        var nodeRows = 0, bytes = 0
        var from = 0
        while from < count {
            let rows = try await entryRows(from: from, count: min(batchSize, count - from), client: client, logger: logger)
            bytes += rows.entry.reduce(0) { $0 + $1.readableBytes }
            var nodes: [(MerkleNodeID, [UInt8])] = []
            for leaf in rows.leaf { nodes.append(contentsOf: frontier.append(leafHash: Array(buffer: leaf))) }
            nodeRows += nodes.count

            start = clock.now
            try await client.query("""
                INSERT INTO keylog_baseline.entries (log_index, tenant_id, account_id, version, action, entry, leaf_hash)
                SELECT * FROM unnest(\(rows.index)::int8[], \(rows.tenant)::uuid[], \(rows.account)::uuid[], \(rows.version)::int8[],
                                     \(rows.action)::text[], \(rows.entry)::bytea[], \(rows.leaf)::bytea[])
                """, logger: logger)
            entriesTime += clock.now - start

            start = clock.now
            try await client.transaction(logger: logger) { connection in
                try await connection.query("""
                    INSERT INTO keylog_baseline.entries_n (log_index, tenant_id, account_id, version, action, entry, leaf_hash)
                    SELECT * FROM unnest(\(rows.index)::int8[], \(rows.tenant)::uuid[], \(rows.account)::uuid[], \(rows.version)::int8[],
                                         \(rows.action)::text[], \(rows.entry)::bytea[], \(rows.leaf)::bytea[])
                    """, logger: logger)
                try await connection.query("""
                    INSERT INTO keylog_baseline.tree_nodes (level, idx, hash)
                    SELECT l::smallint, i, h FROM unnest(\(nodes.map { Int64($0.0.level) })::int8[], \(nodes.map { Int64($0.0.index) })::int8[],
                                                          \(nodes.map { ByteBuffer(bytes: $0.1) })::bytea[]) AS t(l, i, h)
                    """, logger: logger)
            }
            nodesTime += clock.now - start
            from += rows.index.count
        }
        guard frontier.root == checkpoint.rootHash else { throw ValidationError("the stored leaves do not hash to the checkpoint's root") }
        return AppendRun(entries: count, batchSize: batchSize, enqueueSeconds: enqueueSeconds, drainSeconds: drainSeconds,
                         baselineEntriesSeconds: entriesTime.seconds, baselineNodesSeconds: nodesTime.seconds, nodeRows: nodeRows,
                         bytesPerEntry: Double(bytes) / Double(count))
    }

    struct EntryRows {
        var index: [Int64] = [], tenant: [UUID] = [], account: [UUID] = [], version: [Int64] = [], action: [String] = []
        var entry: [ByteBuffer] = [], leaf: [ByteBuffer] = []
    }

    func entryRows(from: Int, count: Int, client: PostgresClient, logger: Logger) async throws -> EntryRows {
        let rows = try await client.query("""
            SELECT log_index, tenant_id, account_id, version, action, entry, leaf_hash FROM keydir.entries
            WHERE log_index >= \(Int64(from)) AND log_index < \(Int64(from + count)) ORDER BY log_index
            """, logger: logger)
        var out = EntryRows()
        for try await (i, t, a, v, action, e, l) in rows.decode((Int64, UUID, UUID, Int64, String, ByteBuffer, ByteBuffer).self) {
            out.index.append(i); out.tenant.append(t); out.account.append(a); out.version.append(v); out.action.append(action)
            out.entry.append(e); out.leaf.append(l)
        }
        guard out.index.count == count else { throw ValidationError("read \(out.index.count) entries at \(from), expected \(count)") }
        return out
    }

    func latestNote(_ client: PostgresClient, logger: Logger) async throws -> String {
        for try await note in try await client.query("SELECT note FROM keydir.checkpoints ORDER BY size DESC LIMIT 1", logger: logger).decode(String.self) {
            return note
        }
        throw ValidationError("no checkpoint")
    }

    /// Step 4: proof latency at `size`, then every proof verified.
    func proofRun(size: UInt64, signer: NoteSigner, client: PostgresClient, logger: Logger) async throws -> [String: Any] {
        let clock = ContinuousClock()
        let verifier = try NoteVerifier(verifierKey: signer.verifierKey)
        let head = try verifier.verify(note: try await latestNote(client, logger: logger))
        guard head.size == size else { throw ValidationError("newest checkpoint has size \(head.size), not \(size)") }
        // Earlier checkpoints (one per batch): the `from` of the consistency proofs.
        var earlier: [(size: UInt64, note: String)] = []
        for try await (s, note) in try await client.query("SELECT size, note FROM keydir.checkpoints WHERE size > 0 AND size < \(Int64(size))",
                                                          logger: logger).decode((Int64, String).self) {
            earlier.append((UInt64(s), note))
        }
        guard !earlier.isEmpty || consistency == 0 else { throw ValidationError("no earlier checkpoint to prove consistency from") }

        FileHandle.standardError.write(Data("keylog: \(inclusion) inclusion and \(consistency) consistency proofs at size \(size)\n".utf8))
        let inclusionTimes = HistogramBox()
        var inclusionProofs: [(index: UInt64, proof: [[UInt8]])] = []
        for _ in 0..<inclusion {
            let index = UInt64.random(in: 0..<size)
            let start = clock.now
            let proof = try await LogBenchmark.inclusionProof(index: index, size: size, postgres: client, logger: logger)
            inclusionTimes.record((clock.now - start).seconds)
            inclusionProofs.append((index, proof))
        }
        let consistencyTimes = HistogramBox()
        var consistencyProofs: [(from: Int, proof: [[UInt8]])] = []
        for _ in 0..<consistency {
            let pick = Int.random(in: 0..<earlier.count)
            let start = clock.now
            let proof = try await LogBenchmark.consistencyProof(from: earlier[pick].size, to: size, postgres: client, logger: logger)
            consistencyTimes.record((clock.now - start).seconds)
            consistencyProofs.append((pick, proof))
        }

        // Every proof checked against the signed checkpoints, and the
        // proved entries' self-signatures.
        var entries: [UInt64: [UInt8]] = [:]
        let indices = inclusionProofs.map { Int64($0.index) }
        for try await (i, e) in try await client.query("SELECT log_index, entry FROM keydir.entries WHERE log_index = ANY(\(indices))",
                                                       logger: logger).decode((Int64, ByteBuffer).self) {
            entries[UInt64(i)] = Array(buffer: e)
        }
        for (index, proof) in inclusionProofs {
            guard let bytes = entries[index] else { throw ValidationError("no entry \(index)") }
            try MerkleProof.verifyInclusion(leafHash: MerkleHash.leaf(bytes), index: index, size: size, proof: proof, root: head.rootHash)
            try KeyLogEntry(parsing: bytes).verifySignatures(previousEd25519: nil)
        }
        for (pick, proof) in consistencyProofs {
            let old = try verifier.verify(note: earlier[pick].note)
            try MerkleProof.verifyConsistency(from: old.size, to: size, fromRoot: old.rootHash, toRoot: head.rootHash, proof: proof)
        }
        func stats(_ h: HistogramBox, _ n: Int) -> [String: Any] {
            ["count": n, "p50_ms": h.percentile(50), "p90_ms": h.percentile(90), "p99_ms": h.percentile(99), "max_ms": h.percentile(100)]
        }
        return [
            "size": size, "inclusion": stats(inclusionTimes, inclusion), "consistency": stats(consistencyTimes, consistency),
            "verified": inclusionProofs.count + consistencyProofs.count,
            "inclusion_hashes": inclusionProofs.first?.proof.count ?? 0,
        ]
    }
}
