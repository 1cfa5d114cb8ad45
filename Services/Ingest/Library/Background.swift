import CoffreCore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Served bytes per account, published in batches as `transfer.served`
/// (one event per account per flush) instead of one per download chunk.
/// Anonymous share-link downloads are counted to the link's owner per client
/// IP, and their events carry it as `ip` (quota's per-IP allowance).
/// A crash loses at most one interval of counts: transfer accounting is a
/// rolling allowance, not a bill.
public final class TransferMeter: Service, Sendable {
    struct Key: Hashable {
        var tenant: UUID
        var account: UUID
        var ip: String?
    }

    private let counts = Mutex<[Key: Int64]>([:])
    private let store: IngestStore
    private let interval: Duration
    private let logger: Logger

    init(store: IngestStore, interval: Duration, logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    func record(tenant: UUID, account: UUID, bytes: Int64, ip: String? = nil) {
        guard bytes > 0 else { return }
        counts.withLock { $0[Key(tenant: tenant, account: account, ip: ip), default: 0] += bytes }
    }

    public func run() async throws {
        var from = Date()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await pauseUnlessShuttingDown(for: interval)
            from = await flush(since: from)
        }
        _ = await flush(since: from)
    }

    /// Publishes what was counted since `from`; returns the new window start.
    func flush(since from: Date) async -> Date {
        let batch = counts.withLock { current in
            let taken = current
            current.removeAll(keepingCapacity: true)
            return taken
        }
        let to = Date()
        guard !batch.isEmpty else { return to }
        do {
            try await store.postgres.transaction(leaseTimeout: store.postgresWait, logger: logger) { [store] connection in
                for (key, bytes) in batch {
                    var data: [String: JSONValue] = [
                        "bytes": .int(bytes), "from": .string(RFC3339.format(from)), "to": .string(RFC3339.format(to)),
                    ]
                    if let ip = key.ip { data["ip"] = .string(ip) }
                    try await store.emit("coffre.transfer.served", tenant: key.tenant, account: key.account, data: data, on: connection)
                }
            }
            return to
        } catch {
            // Put the counts back for the next flush.
            counts.withLock { current in
                for (key, bytes) in batch { current[key, default: 0] += bytes }
            }
            logger.warning("could not publish served bytes; retrying at the next flush", metadata: ["error": "\(error)"])
            return from
        }
    }
}

/// Removes expired uploads (storage, reservation, `upload.expired`) and
/// deletes the blobs of purged versions. Safe on every replica: each row is
/// claimed in its own transaction.
final class Janitor: Service, Sendable {
    let store: IngestStore
    let blobs: any BlobStore
    let uploads: UploadRoutes
    let interval: Duration
    let logger: Logger
    let ready: ReadinessFlag

    init(store: IngestStore, blobs: any BlobStore, uploads: UploadRoutes, interval: Duration, ready: ReadinessFlag, logger: Logger) {
        self.store = store
        self.blobs = blobs
        self.uploads = uploads
        self.interval = interval
        self.ready = ready
        self.logger = logger
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if ready.isSet { await sweep() }
            await pauseUnlessShuttingDown(for: interval)
        }
    }

    /// One pass; returns how many uploads expired and blobs were deleted.
    @discardableResult
    func sweep() async -> (expired: Int, deleted: Int) {
        var expired = 0, deleted = 0
        do {
            for due in try await store.dueUploads(limit: 200) {
                if let upload = try await store.expire(due) {
                    await uploads.discardStorage(of: upload)
                    expired += 1
                }
            }
            for key in try await store.trashedBlobs(limit: 500) {
                // One blob that cannot be deleted (a key of another store
                // layout, a transient I/O error) must not hold up the rest.
                do {
                    try await blobs.delete(key: key)
                    try await store.forgetTrashedBlob(key)
                    deleted += 1
                } catch {
                    logger.warning("could not delete a purged blob; retrying next pass", metadata: ["key": .string(key), "error": "\(error)"])
                }
            }
        } catch {
            logger.warning("janitor pass failed; retrying", metadata: ["error": "\(error)"])
        }
        if expired + deleted > 0 {
            logger.info("janitor pass", metadata: ["expired_uploads": "\(expired)", "deleted_blobs": "\(deleted)"])
        }
        return (expired, deleted)
    }
}
