import CFileSync
import Foundation
import NIOCore
import NIOFileSystem
import NIOPosix

/// The default blob store: plain files under one directory, one file per
/// upload, named by the upload id, which is also the blob id:
///
///     <root>/blobs/<2 hex>/<upload id>
///
/// The file is written where it will stay, so completion has nothing to move
/// and no crash window: a checkpoint is an `fsync`, and once Postgres records
/// the upload as committed the file is never written again.
/// Uploads are written with direct I/O (`DirectFileUploadWriter`) where the
/// filesystem allows it, else (or with `directIO` off) through the page
/// cache with write-behind (`FileUploadWriter`). File I/O runs on thread
/// pools, never on the event loop.
public struct FileBlobStore: BlobStore {
    public let root: String
    /// Bytes gathered before one write: the memory one upload holds.
    public let writeBuffer: Int
    /// Write uploads with `O_DIRECT` where the filesystem allows it (the
    /// default); off, through the page cache. See bench/RESULTS.md.
    public let directIO: Bool

    public var kind: String { "fs" }

    public init(root: String, writeBuffer: Int = 512 * 1024, directIO: Bool = true) throws {
        self.root = root
        self.writeBuffer = writeBuffer
        self.directIO = directIO
        try FileManager.default.createDirectory(atPath: "\(root)/blobs", withIntermediateDirectories: true)
    }

    /// Threads for direct writes, which block for as long as the device
    /// takes: enough of them that concurrent uploads keep the device's queue
    /// full (NIO's shared pool has one thread per core). Idle threads cost
    /// only their stacks.
    static let ioPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 16)
        pool.start()
        return pool
    }()

    func uploadPath(_ id: UUID) -> FilePath { FilePath("\(root)/\(Self.blobKey(id))") }

    func shardDirectory(_ id: UUID) -> String { "\(root)/blobs/\(id.uuidString.lowercased().prefix(2))" }

    static func blobKey(_ id: UUID) -> String {
        let name = id.uuidString.lowercased()
        return "blobs/\(name.prefix(2))/\(name)"
    }

    /// Keys are ours (`blobs/xx/<uuid>`); anything else is refused rather than
    /// joined to a path.
    func blobPath(_ key: String) throws -> FilePath {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "blobs", UUID(uuidString: String(parts[2])) != nil,
              parts[1] == parts[2].prefix(2) else { throw BlobStoreError.notFound(key) }
        return FilePath("\(root)/\(key)")
    }

    public func beginUpload(id: UUID) async throws -> String {
        try FileManager.default.createDirectory(atPath: shardDirectory(id), withIntermediateDirectories: true)
        let handle = try await FileSystem.shared.openFile(forWritingAt: uploadPath(id), options: .newFile(replaceExisting: true))
        try await handle.close()
        try await Self.syncDirectory(shardDirectory(id))
        return ""
    }

    public func openUpload(id: UUID, state: String, durableOffset: Int64) async throws -> any UploadWriter {
        if directIO, let writer = try await DirectFileUploadWriter.open(
            path: uploadPath(id).string, id: id, durable: durableOffset, bufferSize: writeBuffer) {
            return writer
        }
        let handle: WriteFileHandle
        do {
            handle = try await FileSystem.shared.openFile(forWritingAt: uploadPath(id), options: .modifyFile(createIfNecessary: false))
        } catch let error as FileSystemError where error.code == .notFound {
            throw BlobStoreError.notFound("upload \(id)")
        }
        let size = try await handle.info().size
        guard size >= durableOffset else {
            try? await handle.close()
            throw Self.shorterThanDurable(id, size: size, durable: durableOffset)
        }
        if size > durableOffset {
            // Written before a crash or a dropped request, never acknowledged.
            try await handle.resize(to: .bytes(durableOffset))
        }
        return FileUploadWriter(store: self, id: id, handle: handle, durable: durableOffset)
    }

    /// An upload's file holds fewer bytes than Postgres recorded as durable:
    /// acknowledged bytes are gone (either writer finds this on reopening).
    static func shorterThanDurable(_ id: UUID, size: Int64, durable: Int64) -> BlobStoreError {
        .corrupt("upload \(id) holds \(size) bytes, fewer than its durable offset \(durable)")
    }

    public func abortUpload(id: UUID, state: String) async throws {
        _ = try await FileSystem.shared.removeItem(at: uploadPath(id), strategy: .platformDefault, recursively: false)
    }

    public func read(key: String, range: Range<Int64>, into sink: (ByteBuffer) async throws -> Void) async throws {
        let path = try blobPath(key)
        let handle: ReadFileHandle
        do {
            handle = try await FileSystem.shared.openFile(forReadingAt: path, options: OpenOptions.Read())
        } catch let error as FileSystemError where error.code == .notFound {
            throw BlobStoreError.notFound(key)
        }
        do {
            var remaining = range.count
            for try await chunk in handle.readChunks(in: range, chunkLength: .kibibytes(256)) {
                remaining -= chunk.readableBytes
                try await sink(chunk)
            }
            guard remaining == 0 else { throw BlobStoreError.corrupt("\(key) is shorter than its recorded size") }
        } catch {
            try? await handle.close()
            throw error
        }
        try await handle.close()
    }

    public func delete(key: String) async throws {
        _ = try await FileSystem.shared.removeItem(at: try blobPath(key), strategy: .platformDefault, recursively: false)
    }

    /// The blob ids present on disk (orphan sweeps, tests).
    public func blobIDs() throws -> [UUID] {
        let base = "\(root)/blobs"
        return (try FileManager.default.contentsOfDirectory(atPath: base)).flatMap { shard in
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(base)/\(shard)")) ?? []).compactMap(UUID.init(uuidString:))
        }
    }

    static func syncDirectory(_ path: String) async throws {
        let dir = try await FileSystem.shared.openDirectory(atPath: FilePath(path))
        do {
            try await dir.synchronize()
        } catch {
            try? await dir.close()
            throw error
        }
        try await dir.close()
    }
}

/// What the file store's two writers share: the upload's file already sits
/// where its blob lives, so completing is a last checkpoint.
protocol FileStoreUploadWriter: UploadWriter {
    var id: UUID { get }
}

extension FileStoreUploadWriter {
    /// A failed system call on upload `id`'s file, with `errno`'s message
    /// (read at once: call this straight after the failing call).
    static func failure(_ call: String, _ id: UUID) -> BlobStoreError {
        .io("\(call) on upload \(id): \(String(cString: strerror(errno)))")
    }

    func complete(blobID: UUID) async throws -> String {
        precondition(blobID == id, "a file upload's blob id is its upload id")
        _ = try await checkpoint()
        await close()
        return FileBlobStore.blobKey(id)
    }
}

/// Gathers incoming buffers into `writeBuffer`-sized positioned writes
/// through the page cache, and starts the device writing each one at once
/// (`sync_file_range`, write-behind) without waiting for it. A checkpoint's
/// `fsync` then finds most of the bytes already on their way or written,
/// instead of a backlog of dirty pages, and the device sees many uploads'
/// writes in flight at once. On a slow benchmark disk that beat both plain
/// page-cache writes and `O_DIRECT` (which blocks each upload on each of
/// its writes) by about a fifth; on a fast one, where the CPU sets the pace,
/// `O_DIRECT` wins by sparing the copy; see bench/RESULTS.md.
/// Used where the filesystem refuses `O_DIRECT`, or with direct I/O off.
/// Durability is unchanged: only `checkpoint` (an `fsync`) makes bytes count.
///
/// The socket's buffers are written as they are (one `pwritev` of up to
/// `maxParts` of them, then the writeback request, in one thread-pool hop),
/// not copied into a buffer of our own first: a copy of every byte cost more
/// CPU than anything else ingest did in user space. Only a small part is
/// copied (into a buffer of ours that the next small parts fill), so that
/// a held slice never pins a mostly empty read buffer: the memory held per
/// upload stays within `maxParts` socket reads.
final class FileUploadWriter: FileStoreUploadWriter, @unchecked Sendable {
    // One request's task owns a writer; nothing here is shared across tasks.
    private let store: FileBlobStore
    let id: UUID
    private let handle: WriteFileHandle
    private var durable: Int64
    private var written: Int64
    /// Bytes received and not yet written, in order.
    private var parts: [ByteBuffer] = []
    private var partBytes = 0
    /// Whether the last of `parts` is a buffer of ours that small parts are copied into.
    private var lastIsCopy = false
    private var closed = false

    /// Parts held before they are written, whatever their size.
    static let maxParts = 4

    init(store: FileBlobStore, id: UUID, handle: WriteFileHandle, durable: Int64) {
        self.store = store
        self.id = id
        self.handle = handle
        self.durable = durable
        self.written = durable
        self.parts.reserveCapacity(Self.maxParts)
    }

    var offset: Int64 { written + Int64(partBytes) }

    /// Parts smaller than this are copied rather than held.
    private var copyBelow: Int { max(1, store.writeBuffer / 8) }

    func write(_ bytes: ByteBuffer) async throws {
        let count = bytes.readableBytes
        guard count > 0 else { return }
        if count >= copyBelow {
            parts.append(bytes)
            lastIsCopy = false
        } else if lastIsCopy, parts[parts.count - 1].writableBytes >= count {
            var bytes = bytes
            parts[parts.count - 1].writeBuffer(&bytes)
        } else {
            var copy = ByteBufferAllocator().buffer(capacity: max(copyBelow, count))
            copy.writeImmutableBuffer(bytes)
            parts.append(copy)
            lastIsCopy = true
        }
        partBytes += count
        if partBytes >= store.writeBuffer || parts.count >= Self.maxParts { try await flush() }
    }

    /// Writes the held parts at the end of the file and asks the kernel to
    /// start sending them to the device. The writeback request is a hint:
    /// if it fails, the checkpoint's `fsync` still writes (and reports)
    /// everything.
    private func flush() async throws {
        guard partBytes > 0 else { return }
        let start = written
        let count = partBytes
        let parts = self.parts
        self.parts.removeAll(keepingCapacity: true)
        partBytes = 0
        lastIsCopy = false
        try await handle.withUnsafeDescriptor { [id] fd in
            try Self.writeAll(parts, to: fd.rawValue, at: start, upload: id)
            _ = coffre_start_writeback(fd.rawValue, start, Int64(count))
        }
        written += Int64(count)
    }

    /// One `pwritev` of `parts` (more if the kernel writes less), on the
    /// calling thread.
    static func writeAll(_ parts: [ByteBuffer], to fd: CInt, at offset: Int64, upload id: UUID) throws {
        var vectors: [iovec] = []
        vectors.reserveCapacity(parts.count)
        func gather(_ index: Int) throws {
            guard index < parts.count else {
                let result = vectors.withUnsafeMutableBufferPointer {
                    coffre_write_all_at(fd, $0.baseAddress, CInt($0.count), offset)
                }
                if result != 0 { throw Self.failure("pwritev", id) }
                return
            }
            try parts[index].withUnsafeReadableBytes { bytes in
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count))
                try gather(index + 1)
            }
        }
        try gather(0)
    }

    func checkpoint() async throws -> Int64 {
        try await flush()
        if written > durable {
            try await handle.synchronize()
            durable = written
        }
        return durable
    }

    func rollback() async throws {
        parts.removeAll(keepingCapacity: true)
        partBytes = 0
        lastIsCopy = false
        if written > durable {
            try await handle.resize(to: .bytes(durable))
            written = durable
        }
    }

    func close() async {
        guard !closed else { return }
        closed = true
        try? await handle.close()
    }
}
