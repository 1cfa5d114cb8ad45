import AsyncHTTPClient
import CoffreCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Blobs in an S3-compatible bucket, uploads as S3 multipart uploads.
///
///     <prefix>blobs/<upload id>                 the multipart upload, then the blob
///     <prefix>uploads/<upload id>/tail-<n>      checkpointed bytes of part n, not yet a full part
///
/// An upload's durable bytes are parts 1…k (full parts of `partSize` bytes,
/// uploaded as soon as they fill) plus, when the durable offset is not a
/// multiple of the part size, the tail object of part k+1 holding its first
/// bytes (what tusd's s3store calls the incomplete part). A checkpoint
/// uploads that tail object, so every checkpointed byte is in S3 and another
/// process can continue the upload after this one is killed: `openUpload`
/// checks parts 1…k with ListParts and copies the tail's first bytes back
/// to a local spool file. Parts and tail bytes past the durable offset (a
/// crash before Postgres recorded the offset) are ignored, and overwritten
/// as the upload goes on.
///
/// The state kept with the upload row is `<part size>:<UploadId>`, so a
/// change of `INGEST_S3_PART_BYTES` never breaks uploads already under way.
///
/// Memory: the part being filled lives in an unlinked spool file under
/// `INGEST_S3_SPOOL_DIR`, never in memory. One upload holds a 256 KiB write
/// buffer (`S3UploadWriter.spoolWriteBytes`) and, while a part or tail goes
/// up, at most 8 read-ahead chunks of 64 KiB from the spool file: under
/// 1 MiB, so 32 uploads stay under 32 MiB. Downloads stream S3's response to
/// the sink with back-pressure. Every request carries the SHA-256 of its
/// body (never `UNSIGNED-PAYLOAD`), so S3 refuses bytes damaged on the way.
/// An upload is written by one task at a time (the ingest service locks the
/// upload row); two writers on one upload would overwrite each other's parts.
public final class S3BlobStore: BlobStore {
    public var kind: String { "s3" }
    public let bucket: String
    public let prefix: String
    public let partSize: Int
    public let spoolDirectory: String
    let client: S3Client
    private let ownsHTTPClient: Bool

    /// S3 numbers parts 1…10,000: an upload holds at most 10,000 × `partSize`
    /// bytes (78 GiB at 8 MiB).
    static let maxParts = 10_000

    /// - Parameter httpClient: nil to let the store make (and `shutdown()`)
    ///   its own, with a connection pool sized for many parallel uploads.
    public init(configuration: S3Configuration, httpClient: HTTPClient? = nil,
                logger: Logger = Logger(label: "coffre.ingest.s3")) throws(ConfigurationError) {
        let endpoint = try S3Endpoint(parsing: configuration.endpoint)
        guard (S3Configuration.minimumPartSize...S3Configuration.maximumPartSize).contains(configuration.partSize) else {
            throw ConfigurationError(key: "INGEST_S3_PART_BYTES", problem: "\(configuration.partSize) is outside "
                + "\(S3Configuration.minimumPartSize)...\(S3Configuration.maximumPartSize)")
        }
        guard !configuration.bucket.isEmpty, !configuration.bucket.contains("/") else {
            throw ConfigurationError(key: "INGEST_S3_BUCKET", problem: "expected a bucket name, got \"\(configuration.bucket)\"")
        }
        do {
            try FileManager.default.createDirectory(atPath: configuration.spoolDirectory, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError(key: "INGEST_S3_SPOOL_DIR", problem: "cannot create \(configuration.spoolDirectory): \(error)")
        }
        bucket = configuration.bucket
        prefix = S3Configuration.normalizedPrefix(configuration.prefix)
        partSize = configuration.partSize
        spoolDirectory = configuration.spoolDirectory
        ownsHTTPClient = httpClient == nil
        client = S3Client(
            http: httpClient ?? Self.makeHTTPClient(),
            endpoint: endpoint,
            bucket: configuration.bucket,
            signer: S3Signer(accessKey: configuration.accessKey, secretKey: configuration.secretKey, region: configuration.region),
            logger: logger
        )
    }

    /// No redirects (a redirected signed request would fail anyway and hide
    /// the real error), room for many parallel part uploads.
    public static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(60)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        )
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Shuts down the HTTP client if the store made it.
    public func shutdown() async throws {
        if ownsHTTPClient { try await client.http.shutdown() }
    }

    // MARK: Keys

    public func blobKey(_ id: UUID) -> String { "\(prefix)blobs/\(id.uuidString.lowercased())" }

    /// Everything of an unfinished upload besides its multipart upload.
    public func stagingPrefix(_ id: UUID) -> String { "\(prefix)uploads/\(id.uuidString.lowercased())/" }

    func tailKey(_ id: UUID, part: Int) -> String { stagingPrefix(id) + "tail-\(part)" }

    /// Keys are ours (`…blobs/<uuid>`); anything else is refused rather than
    /// sent to the bucket. Any prefix is accepted, so blobs stay readable
    /// after a change of `INGEST_S3_PREFIX`.
    func checkedBlobKey(_ key: String) throws -> String {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[parts.count - 2] == "blobs", UUID(uuidString: String(parts[parts.count - 1])) != nil
        else { throw BlobStoreError.notFound(key) }
        return key
    }

    /// `<part size>:<UploadId>`.
    func parseState(_ state: String, id: UUID) throws -> (partSize: Int64, uploadID: String) {
        guard let colon = state.firstIndex(of: ":"), let size = Int64(state[..<colon]),
              size >= S3Configuration.minimumPartSize, state.index(after: colon) < state.endIndex else {
            throw BlobStoreError.corrupt("upload \(id): state \"\(state)\" is not <part size>:<S3 upload id>")
        }
        return (size, String(state[state.index(after: colon)...]))
    }

    // MARK: BlobStore

    public func beginUpload(id: UUID) async throws -> String {
        let key = blobKey(id)
        let reply = try await client.send("CreateMultipartUpload", resource: key, .POST, key: key, query: [("uploads", "")],
                                          headers: [("content-type", "application/octet-stream")])
        guard let uploadID = S3XML.element("UploadId", in: reply.text), !uploadID.isEmpty else {
            throw BlobStoreError.io("S3 CreateMultipartUpload \(key): no UploadId in the reply")
        }
        return "\(partSize):\(uploadID)"
    }

    public func openUpload(id: UUID, state: String, durableOffset: Int64) async throws -> any UploadWriter {
        let (partSize, uploadID) = try parseState(state, id: id)
        let key = blobKey(id)
        let listed: [Int: (etag: String, size: Int64)]
        do {
            listed = try await parts(key: key, uploadID: uploadID)
        } catch BlobStoreError.notFound {
            // No multipart upload: either completed (a crash between
            // CompleteMultipartUpload and the commit in Postgres) or gone.
            guard let size = try await client.size(of: key) else { throw BlobStoreError.notFound("upload \(id)") }
            guard size == durableOffset else {
                throw BlobStoreError.corrupt("upload \(id) completed with \(size) bytes, its durable offset is \(durableOffset)")
            }
            return CompletedS3Upload(store: self, id: id, size: size)
        }
        let fullParts = Int(durableOffset / partSize)
        var etags: [String] = []
        etags.reserveCapacity(fullParts)
        for number in stride(from: 1, through: fullParts, by: 1) {
            guard let part = listed[number], part.size == partSize else {
                throw BlobStoreError.corrupt("upload \(id): part \(number) of \(partSize) bytes is missing "
                    + "(durable offset \(durableOffset))")
            }
            etags.append(part.etag)
        }
        let spool = try await Spool.create(in: spoolDirectory, id: id)
        do {
            let writer = S3UploadWriter(store: self, id: id, uploadID: uploadID, partSize: partSize, spool: spool,
                                        parts: etags, durable: durableOffset)
            try await writer.restoreDurableTail()
            return writer
        } catch {
            await spool.close()
            throw error
        }
    }

    public func abortUpload(id: UUID, state: String) async throws {
        let key = blobKey(id)
        if let (_, uploadID) = try? parseState(state, id: id) {
            _ = try await client.send("AbortMultipartUpload", resource: key, .DELETE, key: key, query: [("uploadId", uploadID)],
                                      accept: [200, 204, 404])
        }
        try await deleteStaging(id)
    }

    public func read(key: String, range: Range<Int64>, into sink: (ByteBuffer) async throws -> Void) async throws {
        let key = try checkedBlobKey(key)
        guard !range.isEmpty else {
            guard let size = try await client.size(of: key) else { throw BlobStoreError.notFound(key) }
            guard size >= range.upperBound else { throw BlobStoreError.corrupt("\(key) is shorter than \(range.upperBound) bytes") }
            return
        }
        try await client.get(key, range: range, into: sink)
    }

    public func delete(key: String) async throws {
        try await client.deleteObject(try checkedBlobKey(key))
    }

    // MARK: Calls the writer makes

    /// ListParts, every page: part number → (ETag, size).
    func parts(key: String, uploadID: String) async throws -> [Int: (etag: String, size: Int64)] {
        var parts: [Int: (etag: String, size: Int64)] = [:]
        var marker: String?
        repeat {
            var query = [("uploadId", uploadID), ("max-parts", "1000")]
            if let marker { query.append(("part-number-marker", marker)) }
            let xml = try await client.send("ListParts", resource: key, .GET, key: key, query: query).text
            for part in S3XML.elements("Part", in: xml) {
                guard let number = S3XML.element("PartNumber", in: part).flatMap(Int.init),
                      let etag = S3XML.element("ETag", in: part),
                      let size = S3XML.element("Size", in: part).flatMap(Int64.init) else {
                    throw BlobStoreError.io("S3 ListParts \(key): unreadable part entry")
                }
                parts[number] = (etag, size)
            }
            marker = S3XML.element("IsTruncated", in: xml) == "true" ? S3XML.element("NextPartNumberMarker", in: xml) : nil
        } while marker != nil
        return parts
    }

    /// UploadPart from the spool file; returns the part's ETag.
    func uploadPart(key: String, uploadID: String, number: Int, body: S3Client.Body) async throws -> String {
        let reply = try await client.send("UploadPart", resource: "\(key) part \(number)", .PUT, key: key,
                                          query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                          body: body, timeout: .minutes(10))
        guard let etag = reply.headers.first(name: "etag") else {
            throw BlobStoreError.io("S3 UploadPart \(key) part \(number): no ETag in the reply")
        }
        return etag
    }

    func putObject(key: String, body: S3Client.Body) async throws {
        _ = try await client.send("PutObject", resource: key, .PUT, key: key,
                                  headers: [("content-type", "application/octet-stream")], body: body, timeout: .minutes(10))
    }

    /// CompleteMultipartUpload with parts 1…etags.count. A retried call whose
    /// first attempt went through finds no upload: then the blob must be there
    /// with the expected size.
    func completeMultipart(id: UUID, uploadID: String, etags: [String], size: Int64) async throws {
        let key = blobKey(id)
        var xml = "<CompleteMultipartUpload>"
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XML.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        do {
            let reply = try await client.send("CompleteMultipartUpload", resource: key, .POST, key: key, query: [("uploadId", uploadID)],
                                              headers: [("content-type", "application/xml")], body: .bytes(ByteBuffer(string: xml)),
                                              timeout: .minutes(10))
            // S3 may answer 200 and put the error in the body.
            if reply.text.contains("<Error>") {
                throw S3Client.error(S3Client.refusal(reply), operation: "CompleteMultipartUpload", resource: key)
            }
        } catch BlobStoreError.notFound {
            guard let existing = try await client.size(of: key), existing == size else {
                throw BlobStoreError.notFound("upload \(id)")
            }
        }
    }

    func abortMultipart(id: UUID, uploadID: String) async throws {
        let key = blobKey(id)
        _ = try await client.send("AbortMultipartUpload", resource: key, .DELETE, key: key, query: [("uploadId", uploadID)],
                                  accept: [200, 204, 404])
    }

    /// Removes every tail object of an upload (complete, abort).
    func deleteStaging(_ id: UUID) async throws {
        for key in try await client.keys(under: stagingPrefix(id)) {
            try await client.deleteObject(key)
        }
    }
}
