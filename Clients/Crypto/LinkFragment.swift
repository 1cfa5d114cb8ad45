// The secret half of a share link: the URL fragment, which browsers and
// HTTP clients never send to the server. It holds the file's node key,
// either as is (`k.<b64url key>`) or, for a link with a password, wrapped
// under a key derived from the password (`p.<b64url salt>.<b64url wrapped>`):
//
//     wrap key = crypto_kdf(Argon2id(password, salt), linkKeyWrap)
//     wrapped  = Envelope(node key), AD = (purpose linkKeyWrap, node id, link id)
//
// Argon2id runs with `LinkFragment.passwordProfile` (libsodium INTERACTIVE);
// the envelope's version byte names the parameters, so a later version can
// raise them without a new fragment syntax. A wrong password, a fragment
// moved to another link or node, and an altered fragment all fail the same
// way (AEAD), before anything is downloaded.
import Foundation
import Sodium

public enum LinkFragmentError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not `k.<key>` or `p.<salt>.<wrapped>`.
    case malformed(String)
    /// The link is password-protected and no password was given.
    case passwordRequired
    /// The password does not open the wrapped key (or the fragment belongs to another link or was altered).
    case wrongPassword
    case emptyPassword
    /// Argon2id could not run (not enough memory?).
    case derivationFailed

    public var description: String {
        switch self {
        case let .malformed(reason): "the link's key (after #) is malformed: \(reason)"
        case .passwordRequired: "this link is protected by a password"
        case .wrongPassword: "wrong link password (or the link was altered); nothing was downloaded"
        case .emptyPassword: "the link password is empty"
        case .derivationFailed: "password hashing failed (not enough memory?)"
        }
    }
}

public enum LinkFragment: Sendable, Equatable, CustomStringConvertible {
    /// The node key itself.
    case key(FileKey)
    /// The node key wrapped under a password-derived key.
    case password(salt: [UInt8], wrapped: [UInt8])

    /// Argon2id cost of envelope version 1: libsodium INTERACTIVE (2 passes, 64 MiB).
    public static let passwordProfile = PasswordProfile.interactive
    public static let saltLength = 16

    /// The fragment for a link without a password.
    public static func plain(_ key: FileKey) -> LinkFragment { .key(key) }

    /// Wraps `key` under `password` for the link `linkID` to node `nodeID`.
    /// Blocks for an Argon2id run: call it off the cooperative pool.
    public static func protect(_ key: FileKey, password: String, linkID: String, nodeID: String,
                               profile: PasswordProfile = passwordProfile) throws -> LinkFragment {
        let salt = Sodium.randomBytes(saltLength)
        let wrapKey = try deriveWrapKey(password: password, salt: salt, profile: profile)
        let wrapped = try Envelope.seal(plaintext: key.rawBytes, key: wrapKey, context: context(linkID: linkID, nodeID: nodeID))
        return .password(salt: salt, wrapped: wrapped)
    }

    /// Parses the text after `#`.
    public init(parsing text: String) throws(LinkFragmentError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "k":
            guard parts.count == 2, let bytes = Sodium.base64URLDecode(parts[1]), let key = try? FileKey(rawBytes: bytes) else {
                throw .malformed("expected k.<32-byte key in base64url>")
            }
            self = .key(key)
        case "p":
            guard parts.count == 3, let salt = Sodium.base64URLDecode(parts[1]), salt.count == Self.saltLength,
                  let wrapped = Sodium.base64URLDecode(parts[2]), wrapped.count == Envelope.overhead + SymmetricKey.byteCount
            else { throw .malformed("expected p.<16-byte salt>.<wrapped key>, in base64url") }
            self = .password(salt: salt, wrapped: wrapped)
        default:
            throw .malformed(text.isEmpty ? "the link has no key after #" : "unknown form")
        }
    }

    /// The text to put after `#`.
    public var text: String {
        switch self {
        case .key(let key): "k.\(Sodium.base64URLEncode(key.rawBytes))"
        case let .password(salt, wrapped): "p.\(Sodium.base64URLEncode(salt)).\(Sodium.base64URLEncode(wrapped))"
        }
    }

    public var needsPassword: Bool {
        if case .password = self { return true }
        return false
    }

    /// The node key. Blocks for an Argon2id run when the link has a password.
    public func open(password: String?, linkID: String, nodeID: String,
                     profile: PasswordProfile = passwordProfile) throws(LinkFragmentError) -> FileKey {
        switch self {
        case .key(let key):
            return key
        case let .password(salt, wrapped):
            guard let password else { throw .passwordRequired }
            let wrapKey = try Self.deriveWrapKey(password: password, salt: salt, profile: profile)
            let bytes: [UInt8]
            do {
                bytes = try Envelope.open(wrapped, key: wrapKey, context: Self.context(linkID: linkID, nodeID: nodeID))
            } catch {
                throw .wrongPassword
            }
            guard let key = try? FileKey(rawBytes: bytes) else { throw .wrongPassword }
            return key
        }
    }

    public var description: String { needsPassword ? "LinkFragment(password, redacted)" : "LinkFragment(key, redacted)" }

    static func deriveWrapKey(password: String, salt: [UInt8], profile: PasswordProfile) throws(LinkFragmentError) -> SymmetricKey {
        var bytes = Array(password.precomposedStringWithCanonicalMapping.utf8)
        defer { Sodium.wipe(&bytes) }
        guard !bytes.isEmpty else { throw .emptyPassword }
        guard PasswordProfile.maximum.isAtLeast(profile) else { throw .derivationFailed }
        var root: [UInt8]
        do {
            root = try Sodium.argon2id(password: bytes, salt: salt, opsLimit: profile.opsLimit, memLimit: profile.memLimit,
                                       outputLength: Sodium.kdfKeyBytes)
        } catch {
            throw .derivationFailed
        }
        defer { Sodium.wipe(&root) }
        return SymmetricKey(unchecked: root).derive(.linkKeyWrap)
    }

    /// A link has no reading account, so the owner slot of the associated
    /// data holds the node id; the object is the link.
    static func context(linkID: String, nodeID: String) -> EnvelopeContext {
        EnvelopeContext(owner: nodeID.lowercased(), purpose: .linkKeyWrap, objectID: linkID.lowercased())
    }
}
