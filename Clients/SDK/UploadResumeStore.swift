// What an unfinished upload leaves on disk so the next run can finish it.
//
// Encryption is randomized (the secretstream header), so resuming needs the
// *same* ciphertext: the state keeps the header, and the next run encrypts
// the file again from the start under the same key and header, skipping the
// bytes the server already holds. The node key is kept only as it is sent to
// the server, wrapped under the master key and bound to account and node, so
// the state is useless without the password. It also records how much
// plaintext has ever gone out encrypted and a hash chain over it: re-sending
// *different* plaintext at positions the server has seen under the same
// header would reuse the keystream, so a source that no longer matches is
// never resumed (its upload is abandoned and a fresh one starts).
//
// One JSON file per upload in `uploads/` beside the session, folder 0700,
// files 0600, written atomically.
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

/// Identifies the local file an upload reads: any change of size,
/// modification time or inode means it may not be the same bytes.
public struct SourceFingerprint: Codable, Sendable, Equatable {
    public var path: String
    public var size: Int64
    public var mtimeSeconds: Int64
    public var mtimeNanoseconds: Int64
    public var inode: UInt64
    public var device: UInt64

    enum CodingKeys: String, CodingKey {
        case path, size, mtimeSeconds = "mtime_s", mtimeNanoseconds = "mtime_ns", inode, device
    }

    /// Reads the fingerprint of a regular file (following links).
    public static func of(path: String) throws(FilesError) -> SourceFingerprint {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .localFile(path: path, reason: POSIX.lastError)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .localFile(path: path, reason: "not a regular file") }
        #if canImport(Darwin)
        let mtime = info.st_mtimespec
        #else
        let mtime = info.st_mtim
        #endif
        return SourceFingerprint(path: path, size: Int64(info.st_size), mtimeSeconds: Int64(mtime.tv_sec),
                                 mtimeNanoseconds: Int64(mtime.tv_nsec), inode: UInt64(info.st_ino), device: UInt64(info.st_dev))
    }
}

/// One unfinished upload.
public struct UploadResumeState: Codable, Sendable, Equatable {
    public static let currentVersion = 1

    public var version = UploadResumeState.currentVersion
    /// Local id (the file name).
    public var id: String
    public var server: String
    public var accountID: String
    /// `/v1/uploads/{id}` once the server created the upload.
    public var uploadPath: String?
    public var nodeID: String
    /// The destination folder (nil = root) and name, to find the state again.
    public var parentID: String?
    public var name: String
    public var isNewVersion: Bool
    /// The node key wrapped under the master key for (account, node): the
    /// same bytes as the upload's `key` metadata. Never the key itself.
    /// (Byte fields are base64 in the file.)
    public var wrappedKey: Data
    /// The sealed attributes sent at creation (sent again if the upload must be re-created).
    public var attributes: Data
    /// Public: it is in the file header the server receives first.
    public var streamHeader: Data
    public var chunkSize: Int
    public var encryptedLength: Int64
    public var source: SourceFingerprint
    /// How much plaintext has been encrypted into bytes that went out, and
    /// the hash chain over exactly that prefix (see `SourceDigest`).
    public var sentPlaintextBytes: Int64
    public var sentDigest: Data
    public var createdAt: Date
    public var expiresAt: Date?

    enum CodingKeys: String, CodingKey {
        case version, id, server, accountID = "account_id", uploadPath = "upload_path", nodeID = "node_id"
        case parentID = "parent_id", name, isNewVersion = "new_version", wrappedKey = "wrapped_key", attributes
        case streamHeader = "stream_header", chunkSize = "chunk_size", encryptedLength = "encrypted_length", source
        case sentPlaintextBytes = "sent_plaintext_bytes", sentDigest = "sent_digest", createdAt = "created_at"
        case expiresAt = "expires_at"
    }

    public init(id: String = UUID().uuidString.lowercased(), server: String, accountID: String, uploadPath: String? = nil,
                nodeID: String, parentID: String?, name: String, isNewVersion: Bool, wrappedKey: [UInt8], attributes: [UInt8],
                streamHeader: [UInt8], chunkSize: Int, encryptedLength: Int64, source: SourceFingerprint,
                sentPlaintextBytes: Int64 = 0, sentDigest: [UInt8] = SourceDigest.initial, createdAt: Date = Date(),
                expiresAt: Date? = nil) {
        self.id = id
        self.server = server
        self.accountID = accountID
        self.uploadPath = uploadPath
        self.nodeID = nodeID
        self.parentID = parentID
        self.name = name
        self.isNewVersion = isNewVersion
        self.wrappedKey = Data(wrappedKey)
        self.attributes = Data(attributes)
        self.streamHeader = Data(streamHeader)
        self.chunkSize = chunkSize
        self.encryptedLength = encryptedLength
        self.source = source
        self.sentPlaintextBytes = sentPlaintextBytes
        self.sentDigest = Data(sentDigest)
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// A hash chain over the plaintext in the blocks it is read in:
/// `d(0) = H("coffre.upload-source")`, `d(i+1) = BLAKE2b(block i, key: d(i))`.
/// Equal digests after the same number of bytes mean the same bytes.
public enum SourceDigest {
    public static let initial: [UInt8] = try! Sodium.genericHash(Array("coffre.upload-source".utf8))

    public static func next(_ digest: [UInt8], block: [UInt8]) -> [UInt8] {
        try! Sodium.genericHash(block, key: digest)
    }
}

/// The resume states of one configuration folder.
public struct UploadResumeStore: Sendable {
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
    }

    /// `uploads/` beside the session file.
    public init(sessionStore: SessionStore) {
        directory = sessionStore.uploadsDirectory
    }

    /// Every readable state of this version; other files are skipped (and
    /// left alone). The id names the file, so it must be a UUID.
    public func all() -> [UploadResumeState] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.compactMap { name in
            FileManager.default.contents(atPath: directory.appendingPathComponent(name).path)
                .flatMap { try? decoder.decode(UploadResumeState.self, from: $0) }
                .flatMap { $0.version == UploadResumeState.currentVersion && UUID(uuidString: $0.id) != nil ? $0 : nil }
        }
    }

    public func save(_ state: UploadResumeState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try SessionStore.makeDirectory(directory.deletingLastPathComponent())
        try SessionStore.writePrivately(try encoder.encode(state), to: url(of: state.id))
    }

    public func delete(id: String) {
        unlink(url(of: id).path)
    }

    func url(of id: String) -> URL {
        directory.appendingPathComponent("\(id).json")
    }
}
