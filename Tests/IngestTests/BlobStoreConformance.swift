import Foundation
import NIOCore
import Testing
@testable import Ingest

/// What every `BlobStore` must do, whatever holds its bytes. Call the checks
/// from a `@Test` with a store and, for the restart checks, a function that
/// makes another store over the same storage (what a new process after a
/// kill -9 would have):
///
///     try await BlobStoreConformance.runAll(partSize: 1 << 20) { try FileBlobStore(root: dir) }
///
/// `partSize` is the size where the store changes strategy (the S3 part
/// size; any size for the file store): the checks use sizes around it, with
/// writes of uneven lengths that straddle it. Failures are recorded as
/// issues of the calling test.
enum BlobStoreConformance {
    static func runAll(partSize: Int, makeStore: () throws -> any BlobStore) async throws {
        let store = try makeStore()
        let restarted = try makeStore()
        try await roundTrips(store, sizes: sizes(partSize: partSize))
        try await continuesAfterRestart(store, restarted: restarted, partSize: partSize)
        try await rollbackDiscards(store, partSize: partSize)
        try await reopenDiscardsUncheckpointed(store, restarted: restarted, partSize: partSize)
        try await reopensAtEarlierCheckpoint(store, restarted: restarted, partSize: partSize)
        try await rangedReads(store, size: 2 * partSize + 1_001)
        try await abortRemovesUpload(store, partSize: partSize)
        try await deleteIsIdempotent(store)
        try await completesAgainAfterCrash(store, restarted: restarted, size: partSize + 3)
        try await completesAgainAfterCrash(store, restarted: restarted, size: 0)
    }

    /// 0, 1 and a few bytes, exactly one part, several parts and a tail.
    static func sizes(partSize: Int) -> [Int] {
        [0, 1, 7, partSize, 2 * partSize + partSize / 2]
    }

    // MARK: Checks

    static func roundTrips(_ store: any BlobStore, sizes: [Int]) async throws {
        for size in sizes {
            let data = bytes(size, seed: UInt64(size) + 1)
            let key = try await upload(store, data)
            let back = try await readAll(store, key: key, range: 0..<Int64(size))
            #expect(back == data, "round trip of \(size) bytes")
        }
    }

    /// Checkpoint, lose the process, continue in a new store from the durable offset.
    static func continuesAfterRestart(_ store: any BlobStore, restarted: any BlobStore, partSize: Int) async throws {
        let data = bytes(2 * partSize + 12_345, seed: 11)
        let (id, state, first) = try await begin(store)
        try await write(first, data[0..<(partSize + partSize / 3)])
        let durable = try await first.checkpoint()
        #expect(durable == Int64(partSize + partSize / 3))
        await first.close()

        let second = try await restarted.openUpload(id: id, state: state, durableOffset: durable)
        #expect(second.offset == durable)
        try await write(second, data[Int(durable)...])
        let key = try await finish(second, id: id)
        #expect(try await readAll(restarted, key: key, range: 0..<Int64(data.count)) == data)
        #expect(try await readAll(store, key: key, range: 0..<Int64(data.count)) == data)
    }

    /// Bytes since the last checkpoint go away, whether or not a whole part
    /// went by in between.
    static func rollbackDiscards(_ store: any BlobStore, partSize: Int) async throws {
        let kept = bytes(partSize / 2 + 5, seed: 21)
        let small = bytes(1_000, seed: 22)
        let large = bytes(partSize + partSize / 2, seed: 23)
        let rest = bytes(partSize + 17, seed: 24)
        let (id, _, writer) = try await begin(store)
        try await write(writer, kept[...])
        let durable = try await writer.checkpoint()

        try await write(writer, small[...])
        try await writer.rollback()
        #expect(writer.offset == durable)

        try await write(writer, large[...])
        try await writer.rollback()
        #expect(writer.offset == durable)

        try await write(writer, rest[...])
        let key = try await finish(writer, id: id)
        #expect(try await readAll(store, key: key, range: 0..<Int64(kept.count + rest.count)) == kept + rest)
    }

    /// Written but never checkpointed (the process died): reopening at the
    /// durable offset forgets those bytes.
    static func reopenDiscardsUncheckpointed(_ store: any BlobStore, restarted: any BlobStore, partSize: Int) async throws {
        let kept = bytes(partSize / 3, seed: 31)
        let lost = bytes(partSize + partSize / 4, seed: 32)
        let rest = bytes(partSize / 2, seed: 33)
        let (id, state, writer) = try await begin(store)
        try await write(writer, kept[...])
        let durable = try await writer.checkpoint()
        try await write(writer, lost[...])
        await writer.close()

        let again = try await restarted.openUpload(id: id, state: state, durableOffset: durable)
        #expect(again.offset == durable)
        try await write(again, rest[...])
        let key = try await finish(again, id: id)
        #expect(try await readAll(restarted, key: key, range: 0..<Int64(kept.count + rest.count)) == kept + rest)
    }

    /// Checkpoints reached the store but the process died before Postgres
    /// recorded the last one: reopening at the previous recorded offset
    /// still finds every byte up to it.
    static func reopensAtEarlierCheckpoint(_ store: any BlobStore, restarted: any BlobStore, partSize: Int) async throws {
        let data = bytes(3 * partSize, seed: 41)
        let cuts = [partSize * 6 / 10, partSize * 17 / 10, partSize * 22 / 10]
        let (id, state, writer) = try await begin(store)
        var start = 0
        var recorded: [Int64] = []
        for cut in cuts {
            try await write(writer, data[start..<cut])
            recorded.append(try await writer.checkpoint())
            start = cut
        }
        #expect(recorded == cuts.map(Int64.init))
        await writer.close()

        // Postgres holds the second offset; the third checkpoint is lost.
        let again = try await restarted.openUpload(id: id, state: state, durableOffset: recorded[1])
        #expect(again.offset == recorded[1])
        try await write(again, data[Int(recorded[1])...])
        let key = try await finish(again, id: id)
        #expect(try await readAll(restarted, key: key, range: 0..<Int64(data.count)) == data)
    }

    static func rangedReads(_ store: any BlobStore, size: Int) async throws {
        let data = bytes(size, seed: 51)
        let key = try await upload(store, data)
        let count = Int64(size)
        for range in [0..<1, count / 2..<count / 2 + 1, count - 1..<count, 0..<count, 17..<count - 17, count / 2..<count / 2] {
            let back = try await readAll(store, key: key, range: range)
            #expect(back == Array(data[Int(range.lowerBound)..<Int(range.upperBound)]), "bytes \(range)")
        }
    }

    /// After an abort the upload cannot be opened again; a second abort is fine.
    static func abortRemovesUpload(_ store: any BlobStore, partSize: Int) async throws {
        let (id, state, writer) = try await begin(store)
        try await write(writer, bytes(partSize + 10, seed: 61)[...])
        let durable = try await writer.checkpoint()
        await writer.close()
        try await store.abortUpload(id: id, state: state)
        try await store.abortUpload(id: id, state: state)
        await #expect(throws: BlobStoreError.self) {
            let again = try await store.openUpload(id: id, state: state, durableOffset: durable)
            await again.close()
        }
    }

    static func deleteIsIdempotent(_ store: any BlobStore) async throws {
        let key = try await upload(store, bytes(10, seed: 71))
        try await store.delete(key: key)
        try await store.delete(key: key)
        do {
            _ = try await readAll(store, key: key, range: 0..<10)
            Issue.record("a deleted blob was read")
        } catch BlobStoreError.notFound {
        }
    }

    /// Ingest records the full offset, completes, then commits: after a crash
    /// between completing and committing it opens and completes again.
    static func completesAgainAfterCrash(_ store: any BlobStore, restarted: any BlobStore, size: Int) async throws {
        let data = bytes(size, seed: 81)
        let (id, state, writer) = try await begin(store)
        try await write(writer, data[...])
        let durable = try await writer.checkpoint()
        let key = try await writer.complete(blobID: id)
        await writer.close()

        let again = try await restarted.openUpload(id: id, state: state, durableOffset: durable)
        #expect(again.offset == durable)
        #expect(try await again.complete(blobID: id) == key)
        await again.close()
        #expect(try await readAll(restarted, key: key, range: 0..<Int64(size)) == data)
    }

    // MARK: Helpers

    /// A new upload, open at offset 0.
    static func begin(_ store: any BlobStore) async throws -> (id: UUID, state: String, writer: any UploadWriter) {
        let id = UUID()
        let state = try await store.beginUpload(id: id)
        return (id, state, try await store.openUpload(id: id, state: state, durableOffset: 0))
    }

    /// Checkpoints everything written, completes, closes; returns the key.
    static func finish(_ writer: any UploadWriter, id: UUID) async throws -> String {
        #expect(try await writer.checkpoint() == writer.offset)
        let key = try await writer.complete(blobID: id)
        await writer.close()
        return key
    }

    /// Uploads `data` with a checkpoint every ~0.7 part (and at the end) and
    /// completes it; returns the blob's key.
    static func upload(_ store: any BlobStore, _ data: [UInt8], checkpointEvery: Int = 3_500_000) async throws -> String {
        let (id, _, writer) = try await begin(store)
        var start = 0
        while start < data.count {
            let end = min(start + checkpointEvery, data.count)
            try await write(writer, data[start..<end])
            #expect(try await writer.checkpoint() == Int64(end))
            start = end
        }
        return try await finish(writer, id: id)
    }

    /// Writes in buffers of uneven sizes, as a request body arrives.
    static func write(_ writer: any UploadWriter, _ data: ArraySlice<UInt8>) async throws {
        let sizes = [4_099, 300_007, 65_536, 1, 131_071]
        var start = data.startIndex
        var turn = 0
        while start < data.endIndex {
            let end = min(start + sizes[turn % sizes.count], data.endIndex)
            try await writer.write(ByteBuffer(bytes: data[start..<end]))
            start = end
            turn += 1
        }
    }

    static func readAll(_ store: any BlobStore, key: String, range: Range<Int64>) async throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        try await store.read(key: key, range: range) { chunk in
            out.append(contentsOf: chunk.readableBytesView)
        }
        return out
    }

    /// Reproducible bytes that differ for every seed (xorshift64*).
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { raw in
            var index = 0
            while index < count {
                state ^= state >> 12
                state ^= state << 25
                state ^= state >> 27
                var word = state &* 0x2545_F491_4F6C_DD1D
                for _ in 0..<min(8, count - index) {
                    raw[index] = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                    index += 1
                }
            }
        }
        return out
    }
}
