import CFileSync
import CoffreTestSupport
import Foundation
import NIOCore
@testable import Ingest
import Testing

/// The filesystem store passes the same conformance checks as the S3 one
/// (BlobStoreConformance), with direct I/O (the default) and through the
/// page cache with write-behind, and refuses keys that are not its own.
@Suite struct FileBlobStoreTests {
    @Test func conformance() async throws {
        let dir = NSTemporaryDirectory() + "coffre-fs-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #require(try await Self.writer(of: try FileBlobStore(root: dir)) is DirectFileUploadWriter,
                     "\(dir) is on a filesystem without O_DIRECT, so this test cannot check the default writer")
        try await BlobStoreConformance.runAll(partSize: 1 << 20) { try FileBlobStore(root: dir) }
    }

    @Test func conformanceThroughThePageCache() async throws {
        let dir = NSTemporaryDirectory() + "coffre-fs-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await Self.writer(of: try FileBlobStore(root: dir, directIO: false)) is FileUploadWriter)
        try await BlobStoreConformance.runAll(partSize: 1 << 20) { try FileBlobStore(root: dir, directIO: false) }
    }

    /// Page-cache writes of one block each, so a write-behind request
    /// follows every few bytes of the conformance checks.
    @Test func conformanceThroughThePageCacheWithASmallBuffer() async throws {
        let dir = NSTemporaryDirectory() + "coffre-fs-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await BlobStoreConformance.runAll(partSize: 1 << 20) {
            try FileBlobStore(root: dir, writeBuffer: DirectFileUploadWriter.block, directIO: false)
        }
    }

    /// The write-behind request reaches the kernel: accepted for written
    /// bytes of an open file, refused for a descriptor that cannot be open
    /// (so a wrapper that did nothing would fail here). -1 rather than the
    /// closed descriptor, whose number another thread may reuse at once.
    @Test func writeBehindReachesTheKernel() throws {
        try Self.withScratchFile { fd in
            let bytes = [UInt8](repeating: 7, count: 1 << 16)
            #expect(write(fd, bytes, bytes.count) == bytes.count)
            #expect(coffre_start_writeback(fd, 0, Int64(bytes.count)) == 0)
            let refused = coffre_start_writeback(-1, 0, Int64(bytes.count))
            let error = errno  // read before anything else can change it
            #expect(refused == -1)
            #expect(error == EBADF)
        }
    }

    /// A new empty file, open for reading and writing, removed afterwards.
    static func withScratchFile(_ body: (CInt) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "coffre-scratch-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = open(path, O_CREAT | O_RDWR, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        try body(fd)
    }

    /// The page-cache writer holds the socket's buffers and writes them with
    /// one `pwritev`: slices of one larger buffer (as the HTTP decoder hands
    /// them over, with non-zero reader indices), mixed with small parts that
    /// it copies, must land in order, with offsets counted right.
    @Test func gatheredWritesKeepOrderAcrossSlicesAndCopies() async throws {
        let dir = NSTemporaryDirectory() + "coffre-fs-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FileBlobStore(root: dir, writeBuffer: 256 * 1024, directIO: false)
        let data = BlobStoreConformance.bytes(3_000_000, seed: 91)
        var source = ByteBuffer(bytes: data)
        let sizes = [10, 70_000, 5, 5, 300_000, 1, 32_767, 32_768, 200_000, 0, 64_000, 3]
        let id = UUID()
        _ = try await store.beginUpload(id: id)
        let writer = try await store.openUpload(id: id, state: "", durableOffset: 0)
        var sent = 0
        var turn = 0
        while source.readableBytes > 0 {
            let slice = source.readSlice(length: min(sizes[turn % sizes.count], source.readableBytes))!
            try await writer.write(slice)
            sent += slice.readableBytes
            #expect(writer.offset == Int64(sent))
            turn += 1
        }
        #expect(try await writer.checkpoint() == Int64(data.count))
        let key = try await writer.complete(blobID: id)
        #expect(try await BlobStoreConformance.readAll(store, key: key, range: 0..<Int64(data.count)) == data)
    }

    /// `coffre_write_all_at` writes every vector in order, at the offset,
    /// also when there are more of them than one `pwritev` takes (IOV_MAX).
    @Test func writeAllAtTakesMoreVectorsThanOneCall() throws {
        try Self.withScratchFile { fd in
            let data = BlobStoreConformance.bytes(3 * 1500 + 7, seed: 5)
            let offset = 4096
            try data.withUnsafeBytes { raw in
                var vectors: [iovec] = (0..<1500).map { i in
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + 3 * i), iov_len: i == 1499 ? 10 : 3)
                }
                vectors.insert(iovec(iov_base: nil, iov_len: 0), at: 700)
                let result = vectors.withUnsafeMutableBufferPointer { coffre_write_all_at(fd, $0.baseAddress, CInt($0.count), Int64(offset)) }
                try #require(result == 0, "errno \(errno)")
            }
            var back = [UInt8](repeating: 0, count: data.count)
            #expect(pread(fd, &back, back.count, off_t(offset)) == data.count)
            #expect(back == data)
            #expect(lseek(fd, 0, SEEK_END) == off_t(offset + data.count))
            let (result, error) = data.withUnsafeBytes { raw in
                var refused = [iovec(iov_base: nil, iov_len: 0), iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: 4)]
                let result = refused.withUnsafeMutableBufferPointer { coffre_write_all_at(-1, $0.baseAddress, 2, 0) }
                return (result, errno)  // errno read before anything else can change it
            }
            #expect(result == -1)
            #expect(error == EBADF)
        }
    }

    /// A buffer of a few blocks, so that whole-buffer writes, padded partial
    /// blocks at checkpoints and reloads of a partial block on reopen and
    /// rollback all happen many times over.
    @Test func conformanceWithDirectIOAndASmallBuffer() async throws {
        let dir = NSTemporaryDirectory() + "coffre-fs-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FileBlobStore(root: dir, writeBuffer: 3 * DirectFileUploadWriter.block, directIO: true)
        try #require(try await Self.writer(of: store) is DirectFileUploadWriter,
                     "\(dir) is on a filesystem without O_DIRECT, so this test cannot check direct writes")
        try await BlobStoreConformance.runAll(partSize: 1 << 20) {
            try FileBlobStore(root: dir, writeBuffer: 3 * DirectFileUploadWriter.block, directIO: true)
        }
    }

    /// The writer `store` picks for a new upload (closed again).
    static func writer(of store: FileBlobStore) async throws -> any UploadWriter {
        let id = UUID()
        _ = try await store.beginUpload(id: id)
        let writer = try await store.openUpload(id: id, state: "", durableOffset: 0)
        await writer.close()
        return writer
    }

    /// A direct checkpoint between block boundaries pads its last block on
    /// disk for a moment; the file must still end exactly at the durable
    /// offset, and the bytes after it must follow on without a gap.
    @Test func directCheckpointsLeaveTheFileAtItsTrueLength() async throws {
        let dir = NSTemporaryDirectory() + "coffre-fs-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FileBlobStore(root: dir, writeBuffer: 2 * DirectFileUploadWriter.block, directIO: true)
        let id = UUID()
        _ = try await store.beginUpload(id: id)
        let writer = try await store.openUpload(id: id, state: "", durableOffset: 0)
        let data = BlobStoreConformance.bytes(30_001, seed: 7)
        var written = 0
        for cut in [1, 4_095, 4_097, 8_192, 12_289, 30_001] {
            try await writer.write(ByteBuffer(bytes: data[written..<cut]))
            #expect(try await writer.checkpoint() == Int64(cut))
            let size = try FileManager.default.attributesOfItem(atPath: store.uploadPath(id).string)[.size] as? Int
            #expect(size == cut, "file size after a checkpoint at \(cut)")
            written = cut
        }
        let key = try await writer.complete(blobID: id)
        #expect(try await BlobStoreConformance.readAll(store, key: key, range: 0..<Int64(data.count)) == data)
    }

    @Test func keysOutsideItsLayoutAreRefused() async throws {
        let dir = NSTemporaryDirectory() + "coffre-fs-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FileBlobStore(root: dir)
        let id = UUID().uuidString.lowercased()
        for key in ["../../etc/passwd", "blobs/\(id.prefix(2))/../\(id)", "blobs/zz/\(id)", "blobs/\(id)", "/etc/passwd", ""] {
            await #expect(throws: BlobStoreError.self) { try await store.read(key: key, range: 0..<1) { _ in } }
            await #expect(throws: BlobStoreError.self) { try await store.delete(key: key) }
        }
    }
}
