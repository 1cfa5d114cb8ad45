// Uploads: a tus 1.0.0 client (creation, checksum, HEAD to resume) that
// encrypts on the fly. The file is read in 1 MiB blocks, pushed through the
// secretstream encryptor and sent in PATCH requests of at most 8 MiB, each
// with its SHA-256 in `Upload-Checksum`, so memory stays bounded whatever
// the file's size. What reaches the server: the ciphertext, the attributes
// sealed under the file key, the file key wrapped under the master key (for
// a new file), and ids. Never a name, a size in clear or a key.
//
// A new file gets a random key and a node id chosen here (its wraps are
// bound to it); a new version of an existing file reuses that file's key,
// so a share of the node opens every version. See UploadResumeStore for how
// an interrupted upload resumes with the same ciphertext.
import CoffreCrypto
import Foundation
import Sodium

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How far a transfer is, in ciphertext bytes.
public struct TransferProgress: Sendable {
    public let done: Int64
    public let total: Int64
    /// Where this run started (non-zero for a resumed upload).
    public let startedAt: Int64
}

public struct UploadResult: Sendable {
    public let nodeID: String
    /// Nil when an earlier run had already sent the last byte.
    public let versionID: String?
    public let name: String
    public let plaintextSize: Int64
    public let encryptedSize: Int64
    /// Ciphertext bytes the server already held when this run started.
    public let resumedFrom: Int64
    public let isNewVersion: Bool
}

public struct UploadOptions: Sendable {
    /// Most bytes in one PATCH (the unit a disconnect can lose).
    public var patchSize: Int
    /// Plaintext bytes per encrypted chunk.
    public var chunkSize: Int
    /// Where unfinished uploads are remembered; nil = no resuming.
    public var resumeStore: UploadResumeStore?
    /// Tries of one request on network errors, 5xx, 429 and checksum failures.
    public var maxAttempts: Int

    public init(patchSize: Int = 8 << 20, chunkSize: Int = FileEncryptor.defaultChunkSize,
                resumeStore: UploadResumeStore? = nil, maxAttempts: Int = 5) {
        self.patchSize = patchSize
        self.chunkSize = chunkSize
        self.resumeStore = resumeStore
        self.maxAttempts = maxAttempts
    }
}

enum Tus {
    static let version = "1.0.0"
    static let offsetContentType = "application/offset+octet-stream"
    /// Plaintext is read, and hashed for the resume check, in blocks of this size.
    static let readBlock = 1 << 20

    /// `key base64(value),…` as tus says.
    static func metadata(_ pairs: [(String, [UInt8])]) -> String {
        pairs.map { "\($0.0) \($0.1.base64)" }.joined(separator: ",")
    }
}

extension CoffreClient {
    /// Uploads the local file at `path` into a folder (`nil` = the root) as
    /// `name` (default: the file's name). If the folder holds a file of that
    /// name, this is a new version of it. With `options.resumeStore`, an
    /// earlier interrupted upload of the same file to the same place resumes
    /// from the server's offset.
    public func upload(_ session: Session, file path: String, toFolder folderID: String?, name: String? = nil,
                       options: UploadOptions = UploadOptions(),
                       progress: (@Sendable (TransferProgress) -> Void)? = nil) async throws -> UploadResult {
        let keys = try await Self.keys(of: session)
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let source = try SourceFingerprint.of(path: absolute)
        let name = try Self.validate(name: name ?? URL(fileURLWithPath: absolute).lastPathComponent)
        let folderID = try folderID.map { try Self.normalizedID($0) }
        let existing = try Self.child(named: name, in: try await listFolder(session, folderID: folderID),
                                      path: RemotePath(components: [name]))
        if let existing, existing.isFolder { throw FilesError.notAFile(name) }

        let run = UploadRun(client: self, session: session, keys: keys, options: options, progress: progress)
        return try await run.upload(source: source, folderID: folderID, name: name, existing: existing)
    }
}

/// One `upload` call. Not Sendable: it lives in the calling task.
final class UploadRun {
    let client: CoffreClient
    let session: Session
    let keys: AccountKeys
    let owner: String
    let options: UploadOptions
    let progress: (@Sendable (TransferProgress) -> Void)?
    var state: UploadResumeState!
    var key: FileKey!
    var startedAt: Int64 = 0
    /// The version a HEAD reported for an upload an earlier run completed.
    var completedVersionID: String?

    /// The server's offset is not where this pass can continue from.
    struct Restart: Error {
        let offset: Int64
    }

    /// The server no longer knows the upload (expired, removed).
    struct Gone: Error {}

    init(client: CoffreClient, session: Session, keys: AccountKeys, options: UploadOptions,
         progress: (@Sendable (TransferProgress) -> Void)?) {
        self.client = client
        self.session = session
        self.keys = keys
        owner = session.accountID.lowercased()
        self.options = options
        self.progress = progress
    }

    func upload(source: SourceFingerprint, folderID: String?, name: String, existing: RemoteNode?) async throws -> UploadResult {
        if try await !resume(source: source, folderID: folderID, name: name, existing: existing) {
            try begin(source: source, folderID: folderID, name: name, existing: existing)
        }
        var restarts = 0
        var offset: Int64 = 0
        var versionID: String?
        while true {
            do {
                offset = try await serverOffset()
                if restarts == 0 { startedAt = offset }
                if offset < state.encryptedLength {
                    // A resumed state was checked when chosen; a restart checks again.
                    if restarts > 0 { try verifySource() }
                    versionID = try await send(from: offset)
                }
                break
            } catch let restart as Restart {
                restarts += 1
                guard restarts <= options.maxAttempts else {
                    throw FilesError.uploadFailed("the server's offset keeps moving (now \(restart.offset))")
                }
            } catch is Gone {
                // Created again under the same node, key and header: the same bytes go out.
                restarts += 1
                guard restarts <= options.maxAttempts else { throw FilesError.uploadFailed("the server keeps losing the upload") }
                state.uploadPath = nil
                try save()
            }
        }
        options.resumeStore?.delete(id: state.id)
        return UploadResult(nodeID: state.nodeID, versionID: versionID ?? completedVersionID, name: state.name,
                            plaintextSize: state.source.size, encryptedSize: state.encryptedLength,
                            resumedFrom: startedAt, isNewVersion: state.isNewVersion)
    }

    // MARK: - Starting or resuming

    /// A new upload: key (the file's own for a new version), node id, stream
    /// header, sealed attributes; remembered before anything is sent.
    func begin(source: SourceFingerprint, folderID: String?, name: String, existing: RemoteNode?) throws {
        let nodeID = existing?.id ?? UUID().uuidString.lowercased()
        let key = existing?.key ?? FileKey.generate()
        let wrapped = try existing?.wrappedKey ?? keys.masterKey.wrap(nodeKey: key, nodeID: nodeID, owner: owner)
        let encryptor = try FileEncryptor(fileKey: key, nodeID: nodeID, chunkSize: options.chunkSize)
        let attributes = try Attributes.seal(
            NodeAttributes(name: name, kind: .file, size: source.size, mtime: source.mtimeSeconds),
            fileKey: key, nodeID: nodeID, owner: owner)
        self.key = key
        state = UploadResumeState(
            server: client.server, accountID: owner, nodeID: nodeID, parentID: folderID, name: name,
            isNewVersion: existing != nil, wrappedKey: wrapped, attributes: attributes,
            streamHeader: encryptor.streamHeader, chunkSize: options.chunkSize,
            encryptedLength: Int64(FileEncryptor.encryptedSize(plaintextSize: Int(source.size), chunkSize: options.chunkSize)),
            source: source)
        try save()
    }

    /// Picks up the remembered upload of this file to this place, if it can
    /// still be finished with the same ciphertext; abandons the others.
    func resume(source: SourceFingerprint, folderID: String?, name: String, existing: RemoteNode?) async throws -> Bool {
        guard let store = options.resumeStore else { return false }
        let candidates = store.all()
            .filter { $0.server == client.server && $0.accountID == owner && $0.source.path == source.path
                && $0.parentID == folderID && $0.name == name }
            .sorted { $0.createdAt > $1.createdAt }
        var chosen: UploadResumeState?
        for candidate in candidates {
            if chosen == nil, let key = usableKey(candidate, source: source, existing: existing) {
                state = candidate
                self.key = key
                do {
                    try verifySource()
                    chosen = candidate
                    continue
                } catch is FilesError {
                    // Changed under the same size and time: never resend different plaintext.
                }
            }
            await abandon(candidate)
        }
        if chosen == nil {
            state = nil
            key = nil
        }
        return chosen != nil
    }

    private func usableKey(_ candidate: UploadResumeState, source: SourceFingerprint, existing: RemoteNode?) -> FileKey? {
        guard candidate.source == source, candidate.streamHeader.count == Sodium.SecretStream.headerBytes,
              (1...FileEncryptor.maximumChunkSize).contains(candidate.chunkSize),
              candidate.encryptedLength == Int64(FileEncryptor.encryptedSize(plaintextSize: Int(source.size),
                                                                             chunkSize: candidate.chunkSize)),
              candidate.expiresAt.map({ $0 > Date().addingTimeInterval(60) }) ?? true
        else { return nil }
        // A new file whose node now exists finished earlier; another node of that name means start over.
        if let existing, existing.id != candidate.nodeID { return nil }
        if existing == nil, candidate.isNewVersion { return nil }
        return try? keys.masterKey.unwrapNodeKey(Array(candidate.wrappedKey), nodeID: candidate.nodeID, owner: owner)
    }

    /// Gives the server's bytes and reservation back, and forgets the state.
    private func abandon(_ candidate: UploadResumeState) async {
        if let path = candidate.uploadPath {
            _ = try? await client.authorized(session, request: TransportRequest(
                method: "DELETE", path: path, headers: ["Tus-Resumable": Tus.version]))
        }
        options.resumeStore?.delete(id: candidate.id)
    }

    func save() throws {
        try options.resumeStore?.save(state)
    }

    /// Reads back the plaintext that already went out and compares its hash
    /// chain with the one recorded.
    func verifySource() throws {
        guard state.sentPlaintextBytes > 0 else { return }
        let reader = try SourceReader(path: state.source.path)
        var digest = SourceDigest.initial
        var read: Int64 = 0
        while read < state.sentPlaintextBytes {
            let block = try reader.read(Int(min(Int64(Tus.readBlock), state.source.size - read)))
            guard !block.isEmpty else { break }
            digest = SourceDigest.next(digest, block: block)
            read += Int64(block.count)
        }
        guard read == state.sentPlaintextBytes, Sodium.constantTimeEqual(digest, Array(state.sentDigest)) else {
            throw FilesError.sourceChanged(state.source.path)
        }
    }

    // MARK: - tus

    /// Creates the upload if needed, then asks where it stands.
    func serverOffset() async throws -> Int64 {
        guard let path = state.uploadPath else { return try await create() }
        let response = try await retrying {
            try await self.client.authorized(self.session, request: TransportRequest(
                method: "HEAD", path: path, headers: ["Tus-Resumable": Tus.version, "Cache-Control": "no-store"]))
        }
        if [404, 410].contains(response.status) { throw Gone() }
        try CoffreClient.requireSuccess(response)
        if let length = response.header("upload-length").flatMap(Int64.init), length != state.encryptedLength {
            throw FilesError.uploadFailed("the server reports a length of \(length) bytes for an upload of \(state.encryptedLength)")
        }
        let offset = try offset(in: response)
        if offset == state.encryptedLength { completedVersionID = response.header("coffre-version-id")?.lowercased() }
        return offset
    }

    private func create() async throws -> Int64 {
        var pairs: [(String, [UInt8])] = [("node", Array(state.nodeID.utf8)), ("attributes", Array(state.attributes))]
        if !state.isNewVersion {
            pairs.append(("key", Array(state.wrappedKey)))
            if let parent = state.parentID { pairs.append(("parent", Array(parent.utf8))) }
        }
        let request = TransportRequest(method: "POST", path: "/v1/uploads", headers: [
            "Tus-Resumable": Tus.version, "Upload-Length": String(state.encryptedLength),
            "Upload-Metadata": Tus.metadata(pairs),
        ])
        let response = try await retrying { try await self.client.authorized(self.session, request: request) }
        try CoffreClient.requireSuccess(response)
        guard let location = response.header("location"), let path = Self.uploadPath(location) else {
            throw CoffreClientError.invalidResponse("the upload was created without a usable Location")
        }
        if let node = response.header("coffre-node-id"), node.lowercased() != state.nodeID {
            throw FilesError.uploadFailed("the server assigned node \(node), not \(state.nodeID)")
        }
        state.uploadPath = path
        state.expiresAt = response.header("upload-expires").flatMap(CoffreAPIError.parseHTTPDate)
        try save()
        return try offset(in: response, default: 0)
    }

    /// The path of a Location; only on this server (the token must not go elsewhere).
    static func uploadPath(_ location: String) -> String? {
        let path = location.hasPrefix("/") ? location : URL(string: location)?.path
        guard let path, path.hasPrefix("/v1/uploads/"), !path.contains(".."), path.count > "/v1/uploads/".count else { return nil }
        return path
    }

    private func offset(in response: TransportResponse, default fallback: Int64? = nil) throws -> Int64 {
        guard let offset = response.header("upload-offset").flatMap(Int64.init) ?? fallback,
              (0...state.encryptedLength).contains(offset) else {
            throw CoffreClientError.invalidResponse("missing or impossible Upload-Offset")
        }
        return offset
    }

    enum PatchOutcome {
        case accepted(offset: Int64, versionID: String?)
        case resync(Int64)
    }

    /// One PATCH; a wrong offset or a completed upload answers with where the server stands.
    private func patch(_ body: [UInt8], at offset: Int64) async throws -> PatchOutcome {
        guard let path = state.uploadPath else { throw Gone() }
        let request = TransportRequest(method: "PATCH", path: path, headers: [
            "Tus-Resumable": Tus.version, "Content-Type": Tus.offsetContentType, "Upload-Offset": String(offset),
            "Upload-Checksum": "sha256 " + Sodium.sha256(body).base64,
        ], body: body, timeout: .seconds(300))
        let response = try await client.authorized(session, request: request)
        switch response.status {
        case 200..<300:
            let newOffset = try self.offset(in: response)
            if let node = response.header("coffre-node-id"), node.lowercased() != state.nodeID {
                throw FilesError.uploadFailed("the server committed node \(node), not \(state.nodeID)")
            }
            guard newOffset == offset + Int64(body.count) else { return .resync(newOffset) }
            return .accepted(offset: newOffset, versionID: response.header("coffre-version-id")?.lowercased())
        case 409, 403:
            return .resync(try await serverOffset())
        case 404, 410:
            throw Gone()
        case 460:
            throw Transient(reason: "checksum mismatch", retryAfter: nil)
        case 423, _ where Self.isTransient(response.status):
            // 423: an earlier request (say, of a killed run) still holds the upload's lease.
            throw Transient(reason: "\(response.status)", retryAfter: CoffreAPIError.from(response).retryAfter.map { min($0, 15) })
        default:
            throw CoffreAPIError.from(response)
        }
    }

    struct Transient: Error {
        let reason: String
        let retryAfter: Int?
    }

    /// 429 and the 5xx that pass. Not 501 or 505 (the request will never
    /// work) nor 507 (over quota: the account must free space first).
    static func isTransient(_ status: Int) -> Bool {
        status == 429 || ((500...599).contains(status) && ![501, 505, 507].contains(status))
    }

    /// Runs `body` again on network errors and transient statuses, with backoff.
    func retrying(_ body: () async throws -> TransportResponse) async throws -> TransportResponse {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await body()
                guard Self.isTransient(response.status), attempt < options.maxAttempts else { return response }
                try await pause(attempt: attempt, retryAfter: CoffreAPIError.from(response).retryAfter)
            } catch let error as CoffreClientError where error.isRetryable && attempt < options.maxAttempts {
                try await pause(attempt: attempt, retryAfter: nil)
            }
        }
    }

    private func pause(attempt: Int, retryAfter: Int?) async throws {
        let seconds = retryAfter.map(Double.init) ?? min(8, 0.25 * Double(1 << min(attempt, 6)))
        try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
    }

    // MARK: - Encrypting and sending

    /// One pass: encrypts the file from the start under the recorded key and
    /// header, skips what the server holds, sends the rest. Returns the new
    /// version's id.
    private func send(from serverOffset: Int64) async throws -> String? {
        var offset = serverOffset
        report(offset)
        let reader = try SourceReader(path: state.source.path)
        let encryptor = try FileEncryptor(fileKey: key, nodeID: state.nodeID, chunkSize: state.chunkSize,
                                          resumingStreamHeader: Array(state.streamHeader))
        var produced: Int64 = 0
        var pending: [UInt8] = []
        var pendingStart: Int64 = offset
        var plaintextRead: Int64 = 0
        var digest = SourceDigest.initial
        var versionID: String?
        var finished = false
        while !finished {
            let output: [UInt8]
            let wanted = Int(min(Int64(Tus.readBlock), state.source.size - plaintextRead))
            if wanted > 0 {
                let block = try reader.read(wanted)
                guard block.count == wanted else { throw FilesError.sourceChanged(state.source.path) }
                plaintextRead += Int64(block.count)
                digest = SourceDigest.next(digest, block: block)
                if plaintextRead == state.sentPlaintextBytes, !Sodium.constantTimeEqual(digest, Array(state.sentDigest)) {
                    throw FilesError.sourceChanged(state.source.path)
                }
                output = try encryptor.update(block)
            } else {
                output = try encryptor.finish()
                finished = true
            }
            let outputStart = produced
            produced += Int64(output.count)
            if produced > offset {
                let skip = Int(max(0, offset - outputStart))
                if pending.isEmpty { pendingStart = outputStart + Int64(skip) }
                pending.append(contentsOf: output[skip...])
            }
            while pending.count >= options.patchSize || (finished && !pending.isEmpty) {
                let body = Array(pending.prefix(options.patchSize))
                // Remember what went out before it goes: a crash mid-request must not lose it.
                if plaintextRead > state.sentPlaintextBytes {
                    state.sentPlaintextBytes = plaintextRead
                    state.sentDigest = Data(digest)
                    try save()
                }
                let (accepted, version) = try await deliver(body, at: pendingStart)
                if let version { versionID = version }
                let drop = Int(accepted - pendingStart)
                guard (0...pending.count).contains(drop) else { throw Restart(offset: accepted) }
                pending.removeFirst(drop)
                pendingStart = accepted
                offset = accepted
                report(offset)
            }
        }
        guard produced == state.encryptedLength else { throw FilesError.sourceChanged(state.source.path) }
        guard offset == state.encryptedLength else { throw Restart(offset: offset) }
        return versionID
    }

    /// Sends one PATCH body, retrying transient failures; returns the offset
    /// the server then holds (which may cut into or go past the body).
    private func deliver(_ body: [UInt8], at start: Int64) async throws -> (offset: Int64, versionID: String?) {
        var attempt = 0
        while true {
            attempt += 1
            do {
                switch try await patch(body, at: start) {
                case let .accepted(offset, versionID): return (offset, versionID)
                case let .resync(offset): return (offset, nil)
                }
            } catch let error as Transient where attempt < options.maxAttempts {
                try await pause(attempt: attempt, retryAfter: error.retryAfter)
            } catch let error as CoffreClientError where error.isRetryable && attempt < options.maxAttempts {
                try await pause(attempt: attempt, retryAfter: nil)
                // The request may have landed in part: continue from what the server holds.
                let offset = try await serverOffset()
                if offset != start { return (offset, nil) }
            } catch let error as Transient {
                throw FilesError.uploadFailed("the server kept failing (\(error.reason))")
            }
        }
    }

    private func report(_ offset: Int64) {
        progress?(TransferProgress(done: offset, total: state.encryptedLength, startedAt: startedAt))
    }
}

extension CoffreClientError {
    /// Worth trying again: the network, not the request.
    var isRetryable: Bool {
        switch self {
        case .unreachable, .timedOut: true
        default: false
        }
    }
}

/// Reads a local file in blocks, through a descriptor of its own.
final class SourceReader {
    private let fd: Int32
    let path: String

    init(path: String) throws(FilesError) {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .localFile(path: path, reason: POSIX.lastError) }
    }

    deinit {
        POSIX.closeFile(fd)
    }

    /// Up to `count` bytes; fewer only at the end of the file.
    func read(_ count: Int) throws(FilesError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        switch buffer.withUnsafeMutableBytes({ POSIX.readFully(fd, into: $0) }) {
        case .success(let filled):
            if filled < count { buffer.removeLast(count - filled) }
            return buffer
        case .failure(let failure):
            throw .localFile(path: path, reason: POSIX.describe(failure.code))
        }
    }
}
