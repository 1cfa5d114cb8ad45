import CFileSync
import Foundation
import Glibc
import NIOCore
import NIOPosix

/// Appends to an upload's file with direct I/O (`O_DIRECT`): each `pwrite`
/// goes from the writer's own aligned buffer to the device, not through the
/// page cache. Ciphertext is written once and read rarely, so caching it buys
/// nothing, and the copy into the page cache was the largest single cost of
/// an upload in ingest (about 40% of its CPU in a profile of 16 concurrent
/// uploads: `copy_folio_from_iter_atomic` under `pwrite`). `fsync` still
/// makes a checkpoint durable (the file's size and the device's cache).
///
/// Direct I/O needs block-aligned buffers, offsets and lengths. The writer
/// keeps the bytes of the file from `base` (a multiple of `block`) in its
/// buffer and writes whole buffers as they fill. A checkpoint at an offset
/// that is not a block multiple writes its last block padded with zeros, then
/// trims the file to the true length, and keeps that partial block in the
/// buffer to write again, whole, once it fills. An upload reopened at such an
/// offset reads the partial block back first.
///
/// `FileBlobStore` picks this writer unless told not to, and falls back to
/// buffered writes where the filesystem refuses `O_DIRECT` (tmpfs, say).
final class DirectFileUploadWriter: FileStoreUploadWriter, @unchecked Sendable {
    // One request's task owns a writer; nothing here is shared across tasks.
    /// Alignment of buffer, offsets and lengths: 4 KiB covers every logical
    /// block size Linux filesystems use on common devices.
    static let block = 4096

    let id: UUID
    private let fd: CInt
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int
    /// File offset of `buffer[0]`, a multiple of `block`.
    private var base: Int64
    /// Bytes held in the buffer, from `base`.
    private var fill: Int
    private var durable: Int64
    private var closed = false

    var offset: Int64 { base + Int64(fill) }

    /// `O_DIRECT` is not exported to Swift by Glibc (it sits behind
    /// `_GNU_SOURCE`); its value from the kernel's uapi headers.
    static var directFlag: CInt? {
        #if os(Linux) && arch(x86_64)
        return 0o40000  // asm-generic/fcntl.h
        #elseif os(Linux) && arch(arm64)
        return 0o200000  // arch/arm64/include/uapi/asm/fcntl.h
        #else
        return nil
        #endif
    }

    /// Opens `path` for direct appends at `durable`, dropping bytes past it.
    /// Returns nil when the filesystem does not do direct I/O.
    static func open(path: String, id: UUID, durable: Int64, bufferSize: Int) async throws -> DirectFileUploadWriter? {
        guard let flag = directFlag else { return nil }
        let capacity = max(block, bufferSize / block * block)
        return try await FileBlobStore.ioPool.runIfActive { () throws -> DirectFileUploadWriter? in
            let fd = Glibc.open(path, O_RDWR | O_CLOEXEC | flag)
            if fd < 0 {
                let code = errno
                if code == EINVAL { return nil }
                if code == ENOENT { throw BlobStoreError.notFound("upload \(id)") }
                throw BlobStoreError.io("open \(path): \(String(cString: strerror(code)))")
            }
            var memory: UnsafeMutableRawPointer?
            guard posix_memalign(&memory, block, capacity) == 0, let memory else {
                Glibc.close(fd)
                throw BlobStoreError.io("no memory for a \(capacity)-byte upload buffer")
            }
            let writer = DirectFileUploadWriter(id: id, fd: fd, buffer: memory, capacity: capacity, durable: durable)
            do {
                var info = stat()
                guard fstat(fd, &info) == 0 else { throw Self.failure("fstat", id) }
                guard Int64(info.st_size) >= durable else {
                    throw FileBlobStore.shorterThanDurable(id, size: Int64(info.st_size), durable: durable)
                }
                try writer.restart(at: durable, size: Int64(info.st_size))
            } catch {
                writer.closeNow()
                throw error
            }
            return writer
        }
    }

    private init(id: UUID, fd: CInt, buffer: UnsafeMutableRawPointer, capacity: Int, durable: Int64) {
        self.id = id
        self.fd = fd
        self.buffer = buffer
        self.capacity = capacity
        self.base = durable
        self.fill = 0
        self.durable = durable
    }

    deinit { closeNow() }

    func write(_ bytes: ByteBuffer) async throws {
        precondition(!closed, "write on a closed upload writer")
        var bytes = bytes
        while bytes.readableBytes > 0 {
            let count = min(capacity - fill, bytes.readableBytes)
            let target = buffer + fill
            bytes.withUnsafeReadableBytes { source in
                target.copyMemory(from: source.baseAddress!, byteCount: count)
            }
            bytes.moveReaderIndex(forwardBy: count)
            fill += count
            if fill == capacity {
                let base = base
                try await onPool { try self.writeAll(self.buffer, count: self.capacity, at: base) }
                self.base += Int64(capacity)
                fill = 0
            }
        }
    }

    func checkpoint() async throws -> Int64 {
        let end = offset
        guard end > durable else { return durable }
        let (fill, base) = (fill, base)
        let padded = (fill + Self.block - 1) / Self.block * Self.block
        try await onPool {
            if fill > 0 {
                if padded > fill { (self.buffer + fill).initializeMemory(as: UInt8.self, repeating: 0, count: padded - fill) }
                try self.writeAll(self.buffer, count: padded, at: base)
                if padded > fill, ftruncate(self.fd, off_t(end)) != 0 { throw Self.failure("ftruncate", self.id) }
            }
            guard fsync(self.fd) == 0 else { throw Self.failure("fsync", self.id) }
        }
        // Keep the partial last block: it is written again, whole, later.
        let whole = fill / Self.block * Self.block
        if whole > 0 {
            if fill > whole { buffer.copyMemory(from: buffer + whole, byteCount: fill - whole) }
            self.base += Int64(whole)
            self.fill -= whole
        }
        durable = end
        return durable
    }

    func rollback() async throws {
        let durable = durable
        try await onPool {
            var info = stat()
            guard fstat(self.fd, &info) == 0 else { throw Self.failure("fstat", self.id) }
            try self.restart(at: durable, size: Int64(info.st_size))
        }
    }

    func close() async {
        closeNow()
    }

    // MARK: On the I/O pool

    /// Trims the file to `offset` and loads the partial block before it, so
    /// the buffer starts at a block boundary again.
    private func restart(at offset: Int64, size: Int64) throws {
        if size != offset, ftruncate(fd, off_t(offset)) != 0 { throw Self.failure("ftruncate", id) }
        base = offset / Int64(Self.block) * Int64(Self.block)
        fill = Int(offset - base)
        if fill > 0 {
            let read = pread(fd, buffer, Self.block, off_t(base))
            guard read >= fill else {
                throw read < 0 ? Self.failure("pread", id) : BlobStoreError.corrupt("upload \(id) ends before \(offset)")
            }
        }
    }

    /// A short direct write ends on a block boundary; `coffre_write_all_at`
    /// goes on from there.
    private func writeAll(_ pointer: UnsafeMutableRawPointer, count: Int, at position: Int64) throws {
        var vector = iovec(iov_base: pointer, iov_len: count)
        guard coffre_write_all_at(fd, &vector, 1, position) == 0 else { throw Self.failure("pwrite", id) }
    }

    private func closeNow() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
        free(buffer)
    }

    private func onPool(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await FileBlobStore.ioPool.runIfActive(body)
    }
}
