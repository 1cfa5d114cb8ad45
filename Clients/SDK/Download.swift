// Downloads: the ciphertext streams from the server through the decryptor
// into a temporary file beside the destination, and only once the FINAL
// chunk has authenticated is it renamed into place. Truncation, reordered or
// swapped chunks, a chunk of another file, altered bytes and a wrong key all
// stop the download with `FilesError.contentRejected`, and the partial
// plaintext is deleted: a damaged download never becomes the file.
import CoffreCrypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public struct DownloadResult: Sendable {
    public let path: String
    public let plaintextSize: Int64
    public let encryptedSize: Int64
}

extension CoffreClient {
    /// Downloads a file node (its current version, or `versionID`) to the
    /// local `path`, which must not exist unless `overwrite`.
    public func download(_ session: Session, node: RemoteNode, to path: String, versionID: String? = nil,
                         overwrite: Bool = false,
                         progress: (@Sendable (TransferProgress) -> Void)? = nil) async throws -> DownloadResult {
        guard !node.isFolder else { throw FilesError.notAFile(node.name) }
        let destination = URL(fileURLWithPath: path).standardizedFileURL.path
        if !overwrite, FileManager.default.fileExists(atPath: destination) { throw FilesError.alreadyExists(destination) }
        var total = node.encryptedSize ?? 0
        var query = ""
        if let versionID {
            let version = try Self.normalizedID(versionID)
            query = "?version=\(version)"
            total = try await versions(session, nodeID: node.id).first { $0.id == version }?.encryptedSize ?? 0
        }

        let request = TransportRequest(method: "GET", path: "/v1/nodes/\(node.id)/content\(query)",
                                       headers: ["Accept": "application/octet-stream"])
        // The attributes describe the last upload; after a version restore they may not fit the current one.
        let mtime = versionID == nil ? node.attributes.mtime : nil
        return try await receive(request, key: node.key, nodeID: node.id, label: node.name, to: destination,
                                 overwrite: overwrite, total: total, mtime: mtime, mtimeIfSize: node.attributes.size,
                                 progress: progress) { request, consume in
            try await self.authorized(session, request: request, streamingTo: consume)
        }
    }

    /// Streams `request`'s ciphertext through the decryptor into a temporary
    /// file beside `destination`, renamed into place only once the final
    /// chunk authenticated. `send` makes the request (with or without a token).
    func receive(_ request: TransportRequest, key: FileKey, nodeID: String, label: String, to destination: String,
                 overwrite: Bool, total: Int64, mtime: Int64?, mtimeIfSize: Int64?,
                 progress: (@Sendable (TransferProgress) -> Void)?,
                 send: (TransportRequest, ([UInt8]) async throws -> Void) async throws -> TransportResponse) async throws -> DownloadResult {
        if !overwrite, FileManager.default.fileExists(atPath: destination) { throw FilesError.alreadyExists(destination) }
        let directory = URL(fileURLWithPath: destination).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FilesError.localFile(path: directory, reason: "no such folder")
        }
        let temporary = directory + "/.\(URL(fileURLWithPath: destination).lastPathComponent).\(UUID().uuidString.prefix(8)).coffre-part"
        let writer = try LocalWriter(path: temporary)
        var keep = false
        defer {
            writer.close()
            if !keep { unlink(temporary) }
        }

        let decryptor = FileDecryptor(fileKey: key, nodeID: nodeID)
        var received: Int64 = 0
        var written: Int64 = 0
        func rejected(_ error: any Error) -> any Error {
            guard let error = error as? FileDecryptionError else { return error }
            return FilesError.contentRejected(path: label, reason: error.reason)
        }
        let response = try await send(request) { piece in
            received += Int64(piece.count)
            let plaintext: [UInt8]
            do {
                plaintext = try decryptor.update(piece)
            } catch {
                throw rejected(error)
            }
            try writer.write(plaintext)
            written += Int64(plaintext.count)
            progress?(TransferProgress(done: received, total: max(total, received), startedAt: 0))
        }
        try Self.requireSuccess(response)
        do {
            try decryptor.finish()
        } catch {
            throw rejected(error)
        }
        try writer.sync()
        if let mtime, mtimeIfSize == written {
            var times = [timespec(tv_sec: Int(mtime), tv_nsec: 0), timespec(tv_sec: Int(mtime), tv_nsec: 0)]
            _ = utimensat(AT_FDCWD, temporary, &times, 0)
        }
        if !overwrite, FileManager.default.fileExists(atPath: destination) { throw FilesError.alreadyExists(destination) }
        guard POSIX.renameFile(temporary, to: destination) == 0 else {
            throw FilesError.localFile(path: destination, reason: POSIX.lastError)
        }
        keep = true
        return DownloadResult(path: destination, plaintextSize: written, encryptedSize: received)
    }
}

/// Writes a new local file (never an existing one) through its own descriptor.
final class LocalWriter {
    private var fd: Int32
    let path: String

    init(path: String) throws(FilesError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw .localFile(path: path, reason: POSIX.lastError) }
    }

    deinit {
        close()
    }

    func write(_ bytes: [UInt8]) throws(FilesError) {
        if let failure = bytes.withUnsafeBytes({ POSIX.writeAll(fd, $0) }) {
            throw .localFile(path: path, reason: POSIX.describe(failure))
        }
    }

    func sync() throws(FilesError) {
        guard fsync(fd) == 0 else { throw .localFile(path: path, reason: POSIX.lastError) }
    }

    func close() {
        if fd >= 0 {
            POSIX.closeFile(fd)
            fd = -1
        }
    }
}
