import Crypto
import Foundation
import NIOCore
import NIOFileSystem

/// Appends to one S3 multipart upload during one request (see `S3BlobStore`
/// for the layout in the bucket).
///
/// Bytes go to the spool file until a part is full, which is uploaded at once
/// (UploadPart, with the SHA-256 of its bytes so S3 checks them). A
/// checkpoint uploads the spool's bytes as the tail object of the part being
/// filled. The tail the previous checkpoint wrote is kept until the next one:
/// the caller records each checkpoint's offset in Postgres before it asks
/// for another, so after a crash in between, Postgres holds one of those two
/// offsets and `openUpload` finds the tail it needs.
final class S3UploadWriter: UploadWriter, @unchecked Sendable {
    // One request's task owns a writer; nothing here is shared across tasks.

    /// Bytes gathered in memory before one write to the spool file.
    static let spoolWriteBytes = 256 * 1024

    private let store: S3BlobStore
    private let id: UUID
    private let uploadID: String
    private let key: String
    private let partSize: Int64
    private let spool: Spool

    /// ETags of parts 1…parts.count, each `partSize` bytes, already in S3.
    private var parts: [String]
    /// The part being filled: `spooled` bytes in the spool file, then `pending`.
    private var spooled: Int64 = 0
    private var pending = ByteBuffer()
    /// SHA-256 of the part being filled so far.
    private var hasher = SHA256()

    /// The last checkpoint (or the offset the upload was opened at).
    private var durable: Int64
    private var durableParts: Int
    private var durableHasher = SHA256()
    /// False once a full part went up after the checkpoint: the spool then no
    /// longer starts with the checkpoint's tail bytes.
    private var spoolStartsWithDurableTail = false
    /// Tail objects known to be in S3, by part number.
    private var tails: Set<Int> = []
    /// Set when a failed write left the local state unknown; only `rollback`
    /// (which rebuilds it from the checkpoint) and `close` are allowed then.
    private var unusable: String?
    private var closed = false

    init(store: S3BlobStore, id: UUID, uploadID: String, partSize: Int64, spool: Spool, parts: [String], durable: Int64) {
        self.store = store
        self.id = id
        self.uploadID = uploadID
        self.key = store.blobKey(id)
        self.partSize = partSize
        self.spool = spool
        self.parts = parts
        self.durable = durable
        self.durableParts = parts.count
    }

    var offset: Int64 { Int64(parts.count) * partSize + spooled + Int64(pending.readableBytes) }

    /// The tail object a durable offset depends on: the part it ends in, unless
    /// it ends on a part boundary.
    private func tailPart(_ offset: Int64) -> Int? {
        offset % partSize == 0 ? nil : Int(offset / partSize) + 1
    }

    private func ensureUsable() throws {
        if let unusable { throw BlobStoreError.io("upload \(id): writer unusable after \(unusable); roll back or reopen") }
        if closed { throw BlobStoreError.io("upload \(id): writer closed") }
    }

    func write(_ bytes: ByteBuffer) async throws {
        try ensureUsable()
        do {
            var bytes = bytes
            while bytes.readableBytes > 0 {
                let room = Int(partSize - spooled) - pending.readableBytes
                var slice = bytes.readSlice(length: min(room, bytes.readableBytes))!
                slice.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                if pending.readableBytes == 0 && slice.readableBytes >= Self.spoolWriteBytes {
                    try await spool.write(slice, at: spooled)
                    spooled += Int64(slice.readableBytes)
                } else {
                    if pending.capacity == 0 { pending.reserveCapacity(Self.spoolWriteBytes) }
                    pending.writeBuffer(&slice)
                    if pending.readableBytes >= Self.spoolWriteBytes { try await flush() }
                }
                if spooled + Int64(pending.readableBytes) == partSize { try await uploadFullPart() }
            }
        } catch {
            unusable = "a failed write"
            throw error
        }
    }

    private func flush() async throws {
        guard pending.readableBytes > 0 else { return }
        try await spool.write(pending, at: spooled)
        spooled += Int64(pending.readableBytes)
        pending.clear()
    }

    private var spoolBody: S3Client.Body {
        .file(spool.handle, length: spooled, sha256: S3Signer.hex(hasher.finalize()))
    }

    private func uploadFullPart() async throws {
        try await flush()
        let number = parts.count + 1
        guard number <= S3BlobStore.maxParts else {
            throw BlobStoreError.io("upload \(id) would exceed S3's \(S3BlobStore.maxParts) parts of \(partSize) bytes")
        }
        parts.append(try await store.uploadPart(key: key, uploadID: uploadID, number: number, body: spoolBody))
        try await spool.truncate(to: 0)
        spooled = 0
        hasher = SHA256()
        spoolStartsWithDurableTail = false
    }

    func checkpoint() async throws -> Int64 {
        try ensureUsable()
        try await flush()
        let now = offset
        guard now != durable else { return durable }
        if spooled > 0 {
            let part = parts.count + 1
            try await store.putObject(key: store.tailKey(id, part: part), body: spoolBody)
            tails.insert(part)
        }
        // Postgres holds `durable` until the caller records `now`.
        let keep = Set([tailPart(durable), tailPart(now)].compactMap { $0 })
        for part in tails.subtracting(keep).sorted() {
            do {
                try await store.client.deleteObject(store.tailKey(id, part: part))
                tails.remove(part)
            } catch {
                // Harmless: complete and abort remove every tail object.
                store.client.logger.debug("S3 upload \(id): tail \(part) not deleted yet: \(error)")
            }
        }
        durable = now
        durableParts = parts.count
        durableHasher = hasher
        spoolStartsWithDurableTail = true
        return durable
    }

    func rollback() async throws {
        guard !closed else { return }
        pending.clear()
        if spoolStartsWithDurableTail && unusable == nil {
            let tailBytes = durable - Int64(durableParts) * partSize
            try await spool.truncate(to: tailBytes)
            spooled = tailBytes
            hasher = durableHasher
        } else {
            unusable = "a failed rollback"
            try await restoreDurableTail()
        }
        unusable = nil
    }

    /// Rebuilds the local state from what the last checkpoint put in S3: drops
    /// later parts and copies the checkpoint's tail bytes into the spool.
    func restoreDurableTail() async throws {
        parts.removeLast(parts.count - durableParts)
        pending.clear()
        try await spool.truncate(to: 0)
        spooled = 0
        hasher = SHA256()
        if let part = tailPart(durable) {
            let tailBytes = durable - Int64(durableParts) * partSize
            do {
                try await store.client.get(store.tailKey(id, part: part), range: 0..<tailBytes, operation: "GetObject (tail)") { chunk in
                    try await spool.write(chunk, at: spooled)
                    spooled += Int64(chunk.readableBytes)
                    chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                }
            } catch let error as BlobStoreError {
                switch error {
                case .notFound, .corrupt:
                    throw BlobStoreError.corrupt("upload \(id): the checkpointed bytes of part \(part) are missing or short (\(error))")
                case .io:
                    throw error
                }
            }
            tails.insert(part)
        }
        durableHasher = hasher
        spoolStartsWithDurableTail = true
    }

    func complete(blobID: UUID) async throws -> String {
        guard blobID == id else { throw BlobStoreError.corrupt("an S3 upload's blob id is its upload id") }
        try ensureUsable()
        try await flush()
        let size = offset
        if size == 0 {
            // S3 cannot complete a multipart upload without parts.
            try await store.putObject(key: key, body: .bytes(ByteBuffer()))
            try await store.abortMultipart(id: id, uploadID: uploadID)
        } else {
            var etags = parts
            if spooled > 0 {
                // The last part may be smaller than S3's 5 MiB minimum.
                etags.append(try await store.uploadPart(key: key, uploadID: uploadID, number: parts.count + 1, body: spoolBody))
            }
            try await store.completeMultipart(id: id, uploadID: uploadID, etags: etags, size: size)
        }
        try await store.deleteStaging(id)
        durable = size
        await close()
        return key
    }

    func close() async {
        guard !closed else { return }
        closed = true
        pending = ByteBuffer()
        await spool.close()
    }
}

/// What `openUpload` returns for an upload whose blob is already complete in
/// S3 (the process died between completing it and recording the commit):
/// `complete` finishes the clean-up and returns the key again.
final class CompletedS3Upload: UploadWriter {
    let store: S3BlobStore
    let id: UUID
    let size: Int64

    init(store: S3BlobStore, id: UUID, size: Int64) {
        self.store = store
        self.id = id
        self.size = size
    }

    var offset: Int64 { size }

    func write(_ bytes: ByteBuffer) async throws {
        guard bytes.readableBytes == 0 else { throw BlobStoreError.io("upload \(id) is already complete") }
    }

    func checkpoint() async throws -> Int64 { size }

    func rollback() async throws {}

    func complete(blobID: UUID) async throws -> String {
        guard blobID == id else { throw BlobStoreError.corrupt("an S3 upload's blob id is its upload id") }
        try await store.deleteStaging(id)
        return store.blobKey(id)
    }

    func close() async {}
}

/// The part being filled, on local disk so memory stays small. The file is
/// unlinked as soon as it is open: it disappears with its handle, even when
/// the process is killed, and nothing in the spool directory needs cleaning.
struct Spool: Sendable {
    let handle: ReadWriteFileHandle

    static func create(in directory: String, id: UUID) async throws -> Spool {
        let path = FilePath("\(directory)/coffre-s3-\(id.uuidString.lowercased())-\(UUID().uuidString.lowercased()).spool")
        do {
            let handle = try await FileSystem.shared.openFile(
                forReadingAndWritingAt: path,
                options: .init(existingFile: .none, newFile: .init(transactionalCreation: false))
            )
            do {
                _ = try await FileSystem.shared.removeItem(at: path, strategy: .platformDefault, recursively: false)
            } catch {
                try? await handle.close()
                throw error
            }
            return Spool(handle: handle)
        } catch {
            throw BlobStoreError.io("spool file in \(directory): \(error)")
        }
    }

    func write(_ bytes: ByteBuffer, at offset: Int64) async throws {
        do {
            try await handle.write(contentsOf: bytes.readableBytesView, toAbsoluteOffset: offset)
        } catch {
            throw BlobStoreError.io("spool write: \(error)")
        }
    }

    func truncate(to size: Int64) async throws {
        do {
            try await handle.resize(to: .bytes(size))
        } catch {
            throw BlobStoreError.io("spool truncate: \(error)")
        }
    }

    func close() async {
        try? await handle.close()
    }
}
