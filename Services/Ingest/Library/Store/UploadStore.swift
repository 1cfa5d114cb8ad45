import CoffreCore
import Foundation
import Logging
import PostgresNIO

/// The upload rows: creation, the write lease, durable offsets, the commit.
extension IngestStore {
    static let uploadColumns = """
        id, tenant_id, account_id, node_id, parent_id, new_node, attributes, wrapped_key, length, "offset", \
        store_state, reservation_id, expires_at, committed_at
        """

    static func decodeUploads(_ rows: PostgresRowSequence) async throws -> [UploadRecord] {
        var uploads: [UploadRecord] = []
        for try await (id, tenant, account, node, parent, newNode, attributes, key, length, offset, state, reservation, expires, committed)
            in rows.decode((UUID, UUID, UUID, UUID, UUID?, Bool, Data?, Data?, Int64, Int64, String, String?, Date, Date?).self) {
            uploads.append(UploadRecord(id: id, tenantID: tenant, accountID: account, nodeID: node, parentID: parent, newNode: newNode,
                                        attributes: attributes.map { Array($0) }, wrappedKey: key.map { Array($0) }, length: length, offset: offset, storeState: state,
                                        reservationID: reservation, expiresAt: expires, committedAt: committed))
        }
        return uploads
    }

    /// What the target of a new upload is: a new file node, or a new version
    /// of one of the caller's files.
    func uploadTarget(node: UUID, parent: UUID?, user: AuthenticatedUser) async throws -> Bool {
        try await withTenant(user.tenantID) { connection in
            let rows = try await connection.query("""
                SELECT account_id, kind FROM ingest.nodes WHERE id = \(node)
                """, logger: logger)
            for try await (owner, kind) in rows.decode((UUID, String).self) {
                guard owner == user.accountID else { throw Problem.notFound("No such node.") }
                guard kind == "file" else { throw Problem.conflict("\(node.lower) is a folder", type: "urn:coffre:problem:not-a-file") }
                return false
            }
            try await requireFolder(parent, of: user, on: connection)
            return true
        }
    }

    func insertUpload(_ upload: UploadRecord) async throws {
        try await withTenant(upload.tenantID) { connection in
            try await connection.query("""
                INSERT INTO ingest.uploads (id, tenant_id, account_id, node_id, parent_id, new_node, attributes, wrapped_key,
                                            length, store_state, reservation_id, expires_at)
                VALUES (\(upload.id), \(upload.tenantID), \(upload.accountID), \(upload.nodeID), \(upload.parentID), \(upload.newNode),
                        \(upload.attributes.map { Data($0) }), \(upload.wrappedKey.map { Data($0) }), \(upload.length), \(upload.storeState), \(upload.reservationID),
                        \(upload.expiresAt))
                """, logger: logger)
            try await connection.query("""
                INSERT INTO ingest.upload_expiry (upload_id, tenant_id, expires_at) VALUES (\(upload.id), \(upload.tenantID), \(upload.expiresAt))
                """, logger: logger)
        }
    }

    /// The caller's upload, or 404 (another account's or tenant's too).
    func upload(_ id: UUID, user: AuthenticatedUser) async throws -> UploadRecord {
        try await withTenant(user.tenantID) { connection in
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.uploadColumns) FROM ingest.uploads WHERE id = \(id) AND account_id = \(user.accountID)
                """, logger: logger)
            guard let upload = try await Self.decodeUploads(rows).first else { throw Problem.notFound("No such upload.") }
            return upload
        }
    }

    /// Takes the write lease of the caller's upload, or answers 423 while
    /// another request holds it (it lapses `seconds` after that request's
    /// last sign of life).
    func acquireLease(_ id: UUID, user: AuthenticatedUser, token: UUID, seconds: Int) async throws -> UploadRecord {
        try await withTenant(user.tenantID) { connection in
            let rows = try await connection.query("""
                UPDATE ingest.uploads SET lease_token = \(token), lease_until = now() + make_interval(secs => \(seconds))
                WHERE id = \(id) AND account_id = \(user.accountID) AND committed_at IS NULL
                  AND (lease_until IS NULL OR lease_until < now())
                RETURNING \(unescaped: Self.uploadColumns)
                """, logger: logger)
            if let upload = try await Self.decodeUploads(rows).first { return upload }
            let existing = try await connection.query("""
                SELECT committed_at IS NOT NULL FROM ingest.uploads WHERE id = \(id) AND account_id = \(user.accountID)
                """, logger: logger)
            for try await committed in existing.decode(Bool.self) {
                if committed {
                    throw Problem(.forbidden, type: "urn:coffre:problem:upload-complete", title: "Upload complete",
                                  detail: "The upload is complete; it takes no more bytes.")
                }
                var problem = Problem(.init(code: 423, reasonPhrase: "Locked"), type: "urn:coffre:problem:upload-busy",
                                      title: "Upload busy", detail: "Another request is writing this upload; retry shortly.")
                problem.headers[.retryAfter] = String(seconds)
                throw problem
            }
            throw Problem.notFound("No such upload.")
        }
    }

    /// Records a durable offset and renews the lease. False when the lease
    /// was lost (the request must stop writing).
    func recordOffset(_ upload: UploadRecord, offset: Int64, token: UUID, leaseSeconds: Int) async throws -> Bool {
        try await withTenant(upload.tenantID) { connection in
            let rows = try await connection.query("""
                UPDATE ingest.uploads SET "offset" = \(offset), lease_until = now() + make_interval(secs => \(leaseSeconds))
                WHERE id = \(upload.id) AND lease_token = \(token) AND committed_at IS NULL
                RETURNING id
                """, logger: logger)
            for try await _ in rows { return true }
            return false
        }
    }

    func releaseLease(_ upload: UploadRecord, token: UUID) async {
        do {
            try await withTenant(upload.tenantID) { connection in
                try await connection.query("""
                    UPDATE ingest.uploads SET lease_token = NULL, lease_until = NULL WHERE id = \(upload.id) AND lease_token = \(token)
                    """, logger: logger)
            }
        } catch {
            logger.warning("could not release an upload lease; it lapses by itself", metadata: ["upload": .string(upload.id.lower), "error": "\(error)"])
        }
    }

    /// The last byte is durable and the blob sealed: in one transaction, the
    /// version row, the node (new, or its current version moved), the upload
    /// marked committed and `blob.committed` in the outbox. Idempotent.
    func commit(_ upload: UploadRecord, blobKey: String) async throws -> (node: UUID, version: UUID) {
        try await withTenant(upload.tenantID) { connection in
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.uploadColumns) FROM ingest.uploads WHERE id = \(upload.id) FOR UPDATE
                """, logger: logger)
            guard let current = try await Self.decodeUploads(rows).first else { throw Problem.notFound("No such upload.") }
            if current.committedAt != nil { return (current.nodeID, current.id) }

            let existing = try await connection.query("""
                SELECT account_id, kind FROM ingest.nodes WHERE id = \(current.nodeID) FOR UPDATE
                """, logger: logger)
            var exists = false
            for try await (owner, kind) in existing.decode((UUID, String).self) {
                guard owner == current.accountID, kind == "file" else {
                    throw Problem.conflict("the upload's node now belongs to something else", type: "urn:coffre:problem:node-conflict")
                }
                exists = true
            }
            if !exists {
                guard let attributes = current.attributes, let key = current.wrappedKey else {
                    throw Problem.conflict("the file this upload was a new version of is gone", type: "urn:coffre:problem:node-gone")
                }
                // The target folder may have been purged meanwhile: the root then.
                try await connection.query("""
                    INSERT INTO ingest.nodes (id, tenant_id, account_id, parent_id, kind, attributes, wrapped_key)
                    VALUES (\(current.nodeID), \(current.tenantID), \(current.accountID),
                            (SELECT id FROM ingest.nodes WHERE id = \(current.parentID) AND account_id = \(current.accountID) AND kind = 'folder'),
                            'file', \(Data(attributes)), \(Data(key)))
                    """, logger: logger)
            }
            try await connection.query("""
                INSERT INTO ingest.versions (id, tenant_id, account_id, node_id, size, blob_key, reservation_id)
                VALUES (\(current.id), \(current.tenantID), \(current.accountID), \(current.nodeID), \(current.length), \(blobKey),
                        \(current.reservationID))
                """, logger: logger)
            try await connection.query("""
                UPDATE ingest.nodes SET current_version = \(current.id), size = \(current.length), updated_at = now(),
                    attributes = COALESCE(\(exists ? current.attributes.map { Data($0) } : nil), attributes)
                WHERE id = \(current.nodeID)
                """, logger: logger)
            try await connection.query("""
                UPDATE ingest.uploads SET "offset" = length, committed_at = now(), lease_token = NULL, lease_until = NULL
                WHERE id = \(current.id)
                """, logger: logger)
            try await emit("coffre.blob.committed", tenant: current.tenantID, account: current.accountID, data: [
                "node_id": .string(current.nodeID.lower), "version_id": .string(current.id.lower), "upload_id": .string(current.id.lower),
                "bytes": .int(current.length), "reservation_id": current.reservationID.map { .string($0) } ?? .null,
            ], on: connection)
            return (current.nodeID, current.id)
        }
    }

    /// Termination: the row goes; the caller aborts storage and releases the
    /// reservation after.
    func deleteUpload(_ id: UUID, user: AuthenticatedUser) async throws -> UploadRecord {
        try await withTenant(user.tenantID) { connection in
            let rows = try await connection.query("""
                DELETE FROM ingest.uploads WHERE id = \(id) AND account_id = \(user.accountID) AND committed_at IS NULL
                  AND (lease_until IS NULL OR lease_until < now())
                RETURNING \(unescaped: Self.uploadColumns)
                """, logger: logger)
            guard let upload = try await Self.decodeUploads(rows).first else {
                let state = try await connection.query("""
                    SELECT committed_at IS NOT NULL FROM ingest.uploads WHERE id = \(id) AND account_id = \(user.accountID)
                    """, logger: logger)
                for try await committed in state.decode(Bool.self) {
                    if committed {
                        throw Problem(.forbidden, type: "urn:coffre:problem:upload-complete", title: "Upload complete",
                                      detail: "A completed upload cannot be terminated; purge the file or version instead.")
                    }
                    throw Problem(.init(code: 423, reasonPhrase: "Locked"), type: "urn:coffre:problem:upload-busy",
                                  title: "Upload busy", detail: "Another request is writing this upload; retry shortly.")
                }
                throw Problem.notFound("No such upload.")
            }
            try await connection.query("DELETE FROM ingest.upload_expiry WHERE upload_id = \(id)", logger: logger)
            return upload
        }
    }

    // MARK: expiry (cross-tenant work list, then per-tenant transactions)

    struct DueUpload: Sendable {
        var id: UUID
        var tenant: UUID
    }

    func dueUploads(limit: Int) async throws -> [DueUpload] {
        let logger = logger
        return try await withConnection { connection in
            let rows = try await connection.query("""
                SELECT upload_id, tenant_id FROM ingest.upload_expiry WHERE expires_at < now() ORDER BY expires_at LIMIT \(limit)
                """, logger: logger)
            var due: [DueUpload] = []
            for try await (id, tenant) in rows.decode((UUID, UUID).self) { due.append(DueUpload(id: id, tenant: tenant)) }
            return due
        }
    }

    /// Removes an expired upload's row. Returns it when it was unfinished (the
    /// caller aborts its storage and releases its reservation); a committed
    /// upload's row just goes (its blob is a version now). Emits
    /// `upload.expired` for unfinished ones, in the same transaction.
    func expire(_ due: DueUpload) async throws -> UploadRecord? {
        try await withTenant(due.tenant) { connection in
            let rows = try await connection.query("""
                DELETE FROM ingest.uploads WHERE id = \(due.id) AND (lease_until IS NULL OR lease_until < now())
                RETURNING \(unescaped: Self.uploadColumns)
                """, logger: logger)
            let upload = try await Self.decodeUploads(rows).first
            if upload == nil {
                // Still being written (a lease): next sweep. Gone: forget it.
                let left = try await connection.query("SELECT 1 FROM ingest.uploads WHERE id = \(due.id)", logger: logger)
                for try await _ in left { return nil }
            }
            try await connection.query("DELETE FROM ingest.upload_expiry WHERE upload_id = \(due.id)", logger: logger)
            guard let upload, upload.committedAt == nil else { return nil }
            try await emit("coffre.upload.expired", tenant: upload.tenantID, account: upload.accountID, data: [
                "upload_id": .string(upload.id.lower), "node_id": .string(upload.nodeID.lower), "bytes": .int(upload.length),
                "reservation_id": upload.reservationID.map { .string($0) } ?? .null,
            ], on: connection)
            return upload
        }
    }

    func trashedBlobs(limit: Int) async throws -> [String] {
        let logger = logger
        return try await withConnection { connection in
            let rows = try await connection.query("SELECT blob_key FROM ingest.blob_trash ORDER BY enqueued_at LIMIT \(limit)", logger: logger)
            var keys: [String] = []
            for try await key in rows.decode(String.self) { keys.append(key) }
            return keys
        }
    }

    func forgetTrashedBlob(_ key: String) async throws {
        let logger = logger
        try await withConnection { connection in
            _ = try await connection.query("DELETE FROM ingest.blob_trash WHERE blob_key = \(key)", logger: logger)
        }
    }
}
