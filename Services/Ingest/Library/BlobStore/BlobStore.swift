import Foundation
import NIOCore

/// Where ciphertext lives. Two implementations: the local filesystem
/// (`FileBlobStore`, the default) and S3-compatible object storage
/// (`S3BlobStore`, multipart upload). Postgres holds every fact about an
/// upload (its length, its durable offset, the store state below); the store
/// holds bytes only.
///
/// An upload's life in a store: `beginUpload` once, then for each `PATCH`
/// `openUpload` → `write`… → `checkpoint` (durable) or `rollback` (discard)
/// → `close`; after the last byte `complete` turns it into an immutable blob
/// named by a key; `abortUpload` throws an unfinished upload away.
public protocol BlobStore: Sendable {
    /// Short name for logs and metrics: "fs", "s3".
    var kind: String { get }

    /// Prepares storage for a new upload. Returns the state to keep with the
    /// upload row (an S3 multipart upload id; "" when there is none).
    func beginUpload(id: UUID) async throws -> String

    /// Opens an upload for appending at `durableOffset`, the offset Postgres
    /// recorded at the last checkpoint. Bytes beyond it (written but never
    /// acknowledged, e.g. before a crash) are discarded.
    func openUpload(id: UUID, state: String, durableOffset: Int64) async throws -> any UploadWriter

    /// Removes an unfinished upload's bytes (termination, expiry). Idempotent.
    func abortUpload(id: UUID, state: String) async throws

    /// Streams bytes `range` of a committed blob to `sink`, a bounded buffer at
    /// a time; `sink` applies back-pressure by not returning.
    func read(key: String, range: Range<Int64>, into sink: (ByteBuffer) async throws -> Void) async throws

    /// Deletes a committed blob. Idempotent: a missing blob is not an error.
    func delete(key: String) async throws
}

/// Appends to one upload during one request. Not shared between tasks.
public protocol UploadWriter: AnyObject, Sendable {
    /// Where the next byte goes (durable offset plus bytes written since).
    var offset: Int64 { get }
    /// Appends bytes. May buffer; nothing is durable until `checkpoint`.
    func write(_ bytes: ByteBuffer) async throws
    /// Makes every byte written so far durable (fsync, uploaded part) and
    /// returns the new durable offset.
    func checkpoint() async throws -> Int64
    /// Discards every byte written since the last checkpoint (checksum
    /// mismatch, a broken request that must not count).
    func rollback() async throws
    /// After the last byte is checkpointed: makes the upload an immutable blob
    /// and returns its key. The upload's staging state is gone afterwards.
    /// `blobID` is the upload id (a blob is named after the upload that made
    /// it). Ingest records the full offset before calling this and commits
    /// after, so after a crash in between it calls `openUpload` + `complete`
    /// again: that must succeed when the blob already exists.
    func complete(blobID: UUID) async throws -> String
    /// Releases handles; does not checkpoint.
    func close() async
}

public enum BlobStoreError: Error, CustomStringConvertible {
    case notFound(String)
    case corrupt(String)
    case io(String)

    public var description: String {
        switch self {
        case .notFound(let what): "not found: \(what)"
        case .corrupt(let what): "corrupt: \(what)"
        case .io(let what): "i/o: \(what)"
        }
    }
}
