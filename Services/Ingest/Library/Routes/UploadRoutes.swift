import CoffreCore
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore

/// Tuning of the upload path (environment: see `IngestConfiguration`).
public struct UploadSettings: Sendable {
    /// How long an upload may take from creation (`Upload-Expires`).
    public var ttlSeconds: Int64 = 24 * 3600
    /// Bytes between two checkpoints (fsync + offset recorded) within a PATCH.
    public var checkpointBytes: Int64 = 8 << 20
    /// A writing request's lease lapses this long after its last sign of life.
    public var leaseSeconds = 10

    public init() {}
}

/// tus 1.0.0 at `/v1/uploads` (docs/ingest-api.md): core, creation,
/// creation-with-upload, termination, checksum, expiration.
struct UploadRoutes: Sendable {
    let store: IngestStore
    let blobs: any BlobStore
    let quota: any QuotaClient
    let settings: UploadSettings
    let logger: Logger
    let receivedBytes = Counter(label: "coffre_ingest_received_bytes_total")
    let committed = Counter(label: "coffre_ingest_uploads_committed_total")

    static let metadataKeys: Set<String> = ["node", "parent", "attributes", "key"]

    func add(to router: Router<CoffreRequestContext>) {
        let uploads = router.group("/v1/uploads").add(middleware: TusMiddleware())
        uploads.on("", method: .options) { _, context in try await options(context) }
        uploads.post("") { request, context in try await create(request, context) }
        uploads.head("/{id}") { _, context in try await head(context) }
        uploads.patch("/{id}") { request, context in try await patch(request, context) }
        uploads.delete("/{id}") { _, context in try await terminate(context) }
    }

    // MARK: handlers

    func options(_ context: CoffreRequestContext) async throws -> Response {
        var headers: HTTPFields = [.tusVersion: Tus.version, .tusExtension: Tus.extensions, .tusChecksumAlgorithm: Tus.checksumAlgorithms]
        // Discovery must not fail because quota is slow: the limit is a hint
        // here, and creation checks it again.
        if let user = try? AuthenticatedUser(context),
           let limit = try? await quota.maxUploadSize(tenant: user.tenantID, account: user.accountID) {
            headers[.tusMaxSize] = String(limit)
        }
        return Response(status: .noContent, headers: headers)
    }

    func create(_ request: Request, _ context: CoffreRequestContext) async throws -> Response {
        let user = try AuthenticatedUser(context)
        if request.headers[.uploadDeferLength] != nil {
            throw Problem.badRequest("Upload-Defer-Length is not supported: send Upload-Length", type: "urn:coffre:problem:defer-length")
        }
        let length = try Tus.integer(request.headers[.uploadLength], "Upload-Length")
        let maxSize = try await quota.maxUploadSize(tenant: user.tenantID, account: user.accountID)
        guard length <= maxSize else {
            throw Problem(.contentTooLarge, type: "urn:coffre:problem:upload-too-large", title: "Upload too large",
                          detail: "Upload-Length \(length) is over this account's maximum of \(maxSize) bytes.")
        }
        let hasBody = request.headers[.contentType] != nil || (request.headers[.contentLength].flatMap { Int($0) } ?? 0) > 0
        if hasBody { try requireOffsetContentType(request) }

        let metadata = try Tus.metadata(request.headers[.uploadMetadata])
        if let unknown = metadata.keys.first(where: { !Self.metadataKeys.contains($0) }) {
            throw Problem.badRequest("Upload-Metadata key \(unknown) is not accepted (allowed: node, parent, attributes, key); "
                                     + "names and attributes go encrypted in \"attributes\"", type: "urn:coffre:problem:metadata")
        }
        func id(_ key: String) throws -> UUID? {
            try metadata[key].map { try Validate.uuid(String(decoding: $0, as: UTF8.self), "Upload-Metadata \(key)") }
        }
        let nodeID = try id("node") ?? UUID()
        let parentID = try id("parent")
        let newNode = try await store.uploadTarget(node: nodeID, parent: parentID, user: user)
        let attributes = try metadata["attributes"].map { try opaque($0, "attributes") }
        let wrappedKey = try metadata["key"].map { try opaque($0, "key") }
        if newNode, attributes == nil || wrappedKey == nil {
            throw Problem.badRequest("a new file needs \"attributes\" and \"key\" in Upload-Metadata", type: "urn:coffre:problem:metadata")
        }

        let uploadID = UUID()
        let expiresAt = Date().addingTimeInterval(TimeInterval(settings.ttlSeconds))
        let reservation: String
        do {
            reservation = try await quota.reserve(tenant: user.tenantID, account: user.accountID, upload: uploadID,
                                                  bytes: length, expiresAt: expiresAt)
        } catch let refusal as QuotaRefusal {
            var problem = Problem(.init(code: 507, reasonPhrase: "Insufficient Storage"), type: "urn:coffre:problem:quota-exceeded", title: "Storage quota exceeded",
                                  detail: "The account has no room for \(length) more bytes.")
            problem.extensions["requested_bytes"] = .int(length)
            if let remaining = refusal.remaining { problem.extensions["remaining_bytes"] = .int(remaining) }
            throw problem
        }
        var record = UploadRecord(id: uploadID, tenantID: user.tenantID, accountID: user.accountID, nodeID: nodeID, parentID: parentID,
                                  newNode: newNode, attributes: attributes, wrappedKey: newNode ? wrappedKey : nil, length: length,
                                  offset: 0, storeState: "", reservationID: reservation, expiresAt: expiresAt, committedAt: nil)
        do {
            record.storeState = try await blobs.beginUpload(id: uploadID)
            try await store.insertUpload(record)
        } catch {
            try? await blobs.abortUpload(id: uploadID, state: record.storeState)
            try? await quota.release(tenant: user.tenantID, account: user.accountID, reservation: reservation)
            throw error
        }

        var headers: HTTPFields = [.location: "/v1/uploads/\(uploadID.lower)", .coffreNodeID: nodeID.lower,
                                   .uploadExpires: Tus.httpDate(expiresAt), .uploadOffset: "0"]
        if hasBody || length == 0 {
            let outcome = try await write(uploadID, user: user, claimedOffset: 0, request: request)
            headers[.uploadOffset] = String(outcome.offset)
            if let version = outcome.version { headers[.coffreVersionID] = version.lower }
        }
        return Response(status: .created, headers: headers)
    }

    func head(_ context: CoffreRequestContext) async throws -> Response {
        let user = try AuthenticatedUser(context)
        let id = try uploadID(context)
        var upload = try await store.upload(id, user: user)
        if upload.committedAt == nil, upload.offset == upload.length {
            // Every byte was durable but the commit did not happen (a crash
            // in between): finish it now, before the client concludes.
            _ = try await write(id, user: user, claimedOffset: upload.offset, request: nil)
            upload = try await store.upload(id, user: user)
        }
        guard upload.committedAt != nil || upload.expiresAt > Date() else { throw expired() }
        var headers: HTTPFields = [.uploadOffset: String(upload.offset), .uploadLength: String(upload.length),
                                   .cacheControl: "no-store", .coffreNodeID: upload.nodeID.lower]
        if upload.committedAt == nil { headers[.uploadExpires] = Tus.httpDate(upload.expiresAt) }
        else { headers[.coffreVersionID] = upload.id.lower }
        return Response(status: .ok, headers: headers)
    }

    func patch(_ request: Request, _ context: CoffreRequestContext) async throws -> Response {
        let user = try AuthenticatedUser(context)
        let id = try uploadID(context)
        try requireOffsetContentType(request)
        let offset = try Tus.integer(request.headers[.uploadOffset], "Upload-Offset")
        let outcome = try await write(id, user: user, claimedOffset: offset, request: request)
        var headers: HTTPFields = [.uploadOffset: String(outcome.offset)]
        if let version = outcome.version {
            headers[.coffreVersionID] = version.lower
            headers[.coffreNodeID] = outcome.upload.nodeID.lower
        } else {
            headers[.uploadExpires] = Tus.httpDate(outcome.upload.expiresAt)
        }
        return Response(status: .noContent, headers: headers)
    }

    func terminate(_ context: CoffreRequestContext) async throws -> Response {
        let user = try AuthenticatedUser(context)
        let upload = try await store.deleteUpload(try uploadID(context), user: user)
        await discardStorage(of: upload)
        return Response(status: .noContent)
    }

    /// After the row is gone: the bytes and the reservation. Failures are
    /// logged; the bytes of an unknown upload are harmless and unreachable.
    func discardStorage(of upload: UploadRecord) async {
        do {
            try await blobs.abortUpload(id: upload.id, state: upload.storeState)
        } catch {
            logger.warning("could not remove an abandoned upload's bytes", metadata: ["upload": .string(upload.id.lower), "error": "\(error)"])
        }
        if let reservation = upload.reservationID {
            do {
                try await quota.release(tenant: upload.tenantID, account: upload.accountID, reservation: reservation)
            } catch {
                logger.warning("could not release a reservation; it lapses at its expiry",
                               metadata: ["upload": .string(upload.id.lower), "error": "\(error)"])
            }
        }
    }

    // MARK: the write path

    struct Outcome {
        var upload: UploadRecord
        var offset: Int64
        var version: UUID?
    }

    /// Streams a PATCH (or creation-with-upload) body into the blob store
    /// under the upload's lease. Bytes count only once durable: every
    /// `checkpointBytes`, at the end of the body, and when the client goes
    /// away (unless the body is checksummed: then all of it or nothing).
    /// Reaching `Upload-Length` commits the upload.
    func write(_ id: UUID, user: AuthenticatedUser, claimedOffset: Int64, request: Request?) async throws -> Outcome {
        let checksum = try request.flatMap { try Tus.checksum($0.headers[.uploadChecksum]) }
        let token = UUID()
        let upload = try await store.acquireLease(id, user: user, token: token, seconds: settings.leaseSeconds)
        do {
            let outcome = try await writeLeased(upload, claimedOffset: claimedOffset, request: request, checksum: checksum, token: token)
            // A commit cleared the lease already; otherwise give it back before
            // answering, so the client's next PATCH finds the upload free.
            if outcome.version == nil { await store.releaseLease(upload, token: token) }
            return outcome
        } catch {
            await store.releaseLease(upload, token: token)
            throw error
        }
    }

    private func writeLeased(_ upload: UploadRecord, claimedOffset: Int64, request: Request?,
                             checksum: (Tus.ChecksumAlgorithm, [UInt8])?, token: UUID) async throws -> Outcome {
        guard upload.expiresAt > Date() else { throw expired() }
        guard claimedOffset == upload.offset else {
            var problem = Problem.conflict("Upload-Offset \(claimedOffset) does not match the upload's offset \(upload.offset)",
                                           type: "urn:coffre:problem:offset-mismatch")
            problem.headers[.uploadOffset] = String(upload.offset)
            throw problem
        }
        let writer = try await blobs.openUpload(id: upload.id, state: upload.storeState, durableOffset: upload.offset)
        var durable = upload.offset
        do {
            if let request {
                durable = try await stream(request, into: writer, upload: upload, checksum: checksum, token: token)
            }
            if durable == upload.length {
                let key = try await writer.complete(blobID: upload.id)
                let ids = try await store.commit(upload, blobKey: key)
                committed.increment()
                return Outcome(upload: upload, offset: durable, version: ids.version)
            }
            await writer.close()
            return Outcome(upload: upload, offset: durable, version: nil)
        } catch {
            await writer.close()
            throw error
        }
    }

    private func stream(_ request: Request, into writer: any UploadWriter, upload: UploadRecord,
                        checksum: (Tus.ChecksumAlgorithm, [UInt8])?, token: UUID) async throws -> Int64 {
        var digest = checksum.map { ChecksumState($0.0, expected: $0.1) }
        var durable = upload.offset
        var lastRenewal = ContinuousClock.now
        let renewEvery = Duration.seconds(max(1, settings.leaseSeconds / 3))
        let declared = request.headers[.contentLength].flatMap { Int64($0) }
        if let declared, upload.offset + declared > upload.length { throw Self.pastLength(upload) }

        func record(_ offset: Int64) async throws {
            guard try await store.recordOffset(upload, offset: offset, token: token, leaseSeconds: settings.leaseSeconds) else {
                throw Problem(.init(code: 423, reasonPhrase: "Locked"), type: "urn:coffre:problem:upload-busy", title: "Upload busy",
                              detail: "This request lost the upload's lease to another one.")
            }
            lastRenewal = .now
        }

        var received: Int64 = 0
        do {
            for try await buffer in request.body {
                guard writer.offset + Int64(buffer.readableBytes) <= upload.length else { throw Self.pastLength(upload) }
                if digest != nil { buffer.withUnsafeReadableBytes { digest!.update($0) } }
                try await writer.write(buffer)
                received += Int64(buffer.readableBytes)
                receivedBytes.increment(by: Int64(buffer.readableBytes))
                if digest == nil, writer.offset - durable >= settings.checkpointBytes {
                    durable = try await writer.checkpoint()
                    try await record(durable)
                } else if ContinuousClock.now - lastRenewal > renewEvery {
                    try await record(durable)
                }
            }
            if let declared, received != declared {
                throw Problem.badRequest("the body ended after \(received) of its \(declared) bytes")
            }
        } catch {
            // The database went away: nothing more can be recorded now. The
            // offset HEAD reports stays the last one recorded (its bytes are
            // durable); the next PATCH resumes there. 503, not a broken body.
            if error is DatabaseUnavailable { throw error }
            // The client went away or sent too much: without a checksum, keep
            // what arrived intact (tus lets a client resume from there).
            if digest == nil, !(error is Problem), let kept = try? await writer.checkpoint(), kept > durable {
                try? await record(kept)
            } else {
                try? await writer.rollback()
            }
            if error is Problem { throw error }
            // Nobody reads this answer; it keeps a hang-up out of the 5xx logs.
            throw Problem.badRequest("the request body broke off (\(error)); HEAD tells where to resume",
                                     type: "urn:coffre:problem:body-interrupted")
        }
        if let digest, !digest.matches() {
            try await writer.rollback()
            throw Problem(Tus.checksumMismatch, type: "urn:coffre:problem:checksum-mismatch", title: "Checksum mismatch",
                          detail: "The body does not match Upload-Checksum; none of it was kept.")
        }
        durable = try await writer.checkpoint()
        if durable != upload.offset || received == 0 { try await record(durable) }
        return durable
    }

    // MARK: helpers

    private func uploadID(_ context: CoffreRequestContext) throws -> UUID {
        try Validate.uuid(context.parameters.get("id") ?? "", "upload id")
    }

    private func requireOffsetContentType(_ request: Request) throws {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == Tus.offsetContentType else {
            throw Problem(.unsupportedMediaType, type: "urn:coffre:problem:content-type", title: "Unsupported media type",
                          detail: "upload bytes must be sent as Content-Type: \(Tus.offsetContentType)")
        }
    }

    private func opaque(_ bytes: [UInt8], _ field: String) throws -> [UInt8] {
        guard !bytes.isEmpty, bytes.count <= 64 * 1024 else {
            throw Problem.badRequest("Upload-Metadata \(field) must be 1 to 65536 bytes", type: "urn:coffre:problem:metadata")
        }
        return bytes
    }

    private func expired() -> Problem {
        Problem(.gone, type: "urn:coffre:problem:upload-expired", title: "Upload expired",
                detail: "The upload passed its Upload-Expires time and was (or is being) removed.")
    }

    static func pastLength(_ upload: UploadRecord) -> Problem {
        Problem(.contentTooLarge, type: "urn:coffre:problem:past-upload-length", title: "Past Upload-Length",
                detail: "The body goes past the upload's declared length of \(upload.length) bytes.")
    }
}

/// `Tus-Resumable` on every answer; required (1.0.0) on every request but
/// `OPTIONS`, else 412 with the versions we speak.
struct TusMiddleware: RouterMiddleware {
    typealias Context = CoffreRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            if request.method != .options, request.headers[.tusResumable] != Tus.version {
                var problem = Problem(.preconditionFailed, type: "urn:coffre:problem:tus-version", title: "Unsupported tus version",
                                      detail: "send Tus-Resumable: \(Tus.version)")
                problem.headers[.tusVersion] = Tus.version
                throw problem
            }
            var response = try await next(request, context)
            response.headers[.tusResumable] = Tus.version
            return response
        } catch var problem as Problem {
            problem.headers[.tusResumable] = Tus.version
            throw problem
        }
    }
}
