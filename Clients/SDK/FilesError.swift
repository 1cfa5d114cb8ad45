// Failures of the file operations that are neither a server refusal
// (`CoffreAPIError`) nor a transport problem (`CoffreClientError`): a path
// that does not resolve, a local file that cannot be read or written, and
// above all anything the server sent that does not authenticate under the
// account's keys. Every description is one short line without a secret.
import CoffreCrypto
import Foundation

public enum FilesError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// Nothing at this path (or no trashed node matches).
    case notFound(String)
    case notAFolder(String)
    case notAFile(String)
    case alreadyExists(String)
    /// Several nodes carry this name in one folder (the server cannot see
    /// names, so it cannot prevent it); address it by id.
    case ambiguous(path: String, ids: [String])
    case invalidName(String)
    case invalidPath(String)
    /// A node whose key or attributes do not open under this account's keys
    /// for this node id: altered, moved from another node, or not ours.
    case nodeRejected(id: String, reason: String)
    /// Downloaded content that does not decrypt: nothing was kept.
    case contentRejected(path: String, reason: String)
    case localFile(path: String, reason: String)
    /// The upload protocol went wrong in a way a retry did not fix.
    case uploadFailed(String)
    /// The file to upload changed while an upload of it was unfinished.
    case sourceChanged(String)

    public var description: String {
        switch self {
        case let .notFound(path): "\(path): no such file or folder"
        case let .notAFolder(path): "\(path) is not a folder"
        case let .notAFile(path): "\(path) is a folder, not a file"
        case let .alreadyExists(path): "\(path) already exists"
        case let .ambiguous(path, ids):
            "\(path) names \(ids.count) nodes (\(ids.joined(separator: ", "))); use an id instead"
        case let .invalidName(reason): "invalid name: \(reason)"
        case let .invalidPath(reason): "invalid path: \(reason)"
        case let .nodeRejected(id, reason):
            "node \(id) was rejected (\(reason)); the server may be broken or malicious"
        case let .contentRejected(path, reason):
            "\(path): the downloaded content was rejected: \(reason); nothing was written. "
                + "The server may be broken or malicious"
        case let .localFile(path, reason): "\(path): \(reason)"
        case let .uploadFailed(reason): "upload failed: \(reason)"
        case let .sourceChanged(path): "\(path) changed during the upload"
        }
    }

    public var errorDescription: String? { description }
}

extension FileDecryptionError {
    /// Why downloaded content was refused, in words.
    var reason: String {
        switch self {
        case let .unsupportedVersion(version): "unknown format version \(version)"
        case .malformedHeader: "malformed file header"
        case .wrongKey: "the file key does not open it (wrong key, or the header was altered)"
        case .truncated: "it was cut short (truncated)"
        case let .chunkFromAnotherFile(index): "chunk \(index) belongs to another file"
        case let .chunkOutOfOrder(expected, found):
            "chunks were reordered, repeated or dropped (found chunk \(found) where chunk \(expected) belongs)"
        case let .malformedChunk(index): "chunk \(index) is malformed"
        case let .chunkAuthenticationFailed(index): "chunk \(index) was altered"
        case .trailingData: "there is data after the end of the file"
        }
    }
}
