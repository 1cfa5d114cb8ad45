// The secret key types. Each purpose gets its own type so a key-encryption key
// cannot be passed where a file key is expected, and every one of them
// redacts itself from `print`, string interpolation, `dump` and test output.
import Sodium

public enum KeyError: Error, Equatable, Sendable {
    case invalidLength(expected: Int, actual: Int)
}

/// Marks a type that holds secret bytes: its description never shows them.
public protocol SecretKeyMaterial: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {}

extension SecretKeyMaterial {
    public var description: String { "\(Self.self)(redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// 32 secret bytes used for exactly one purpose (an AEAD key, a stream key).
public struct SymmetricKey: Sendable, SecretKeyMaterial {
    public static let byteCount = 32
    let bytes: [UInt8]

    public init(rawBytes: [UInt8]) throws {
        guard rawBytes.count == Self.byteCount else {
            throw KeyError.invalidLength(expected: Self.byteCount, actual: rawBytes.count)
        }
        bytes = rawBytes
    }

    init(unchecked bytes: [UInt8]) {
        precondition(bytes.count == Self.byteCount)
        self.bytes = bytes
    }

    public static func random() -> SymmetricKey {
        SymmetricKey(unchecked: Sodium.randomBytes(byteCount))
    }

    /// The raw bytes, for the few places a key must leave this module (a share
    /// link's URL fragment, a platform keychain). Never for the server.
    public var rawBytes: [UInt8] { bytes }

    /// The subkey for `purpose`. Cannot fail: the key length and the 8-byte
    /// contexts are invariants of the types.
    func derive(_ purpose: KeyPurpose) -> SymmetricKey {
        SymmetricKey(unchecked: try! Sodium.kdfDerive(key: bytes, subkeyID: purpose.subkeyID, context: purpose.context))
    }
}

extension SymmetricKey: Equatable {
    public static func == (a: SymmetricKey, b: SymmetricKey) -> Bool {
        Sodium.constantTimeEqual(a.bytes, b.bytes)
    }
}

/// The account's root of trust: 32 random bytes, never used directly. Every
/// use goes through a purpose-specific subkey (`subkey(for:)`).
public struct MasterKey: Sendable, Equatable, SecretKeyMaterial {
    let key: SymmetricKey

    public static func generate() -> MasterKey {
        MasterKey(key: .random())
    }

    init(key: SymmetricKey) {
        self.key = key
    }

    /// The subkey for one of the purposes whose `source` is `.masterKey`.
    /// Asking for another purpose is a programming error.
    public func subkey(for purpose: KeyPurpose) -> SymmetricKey {
        precondition(purpose.source == .masterKey, "\(purpose) is not derived from the master key")
        return key.derive(purpose)
    }
}

/// Derived from the password; wraps the master key and nothing else. It
/// never leaves the client, so it can only be obtained from
/// `DerivedCredentials.derive`.
public struct KeyEncryptionKey: Sendable, Equatable, SecretKeyMaterial {
    let key: SymmetricKey
}

/// Derived from the password next to the key-encryption key but independent
/// of it; the one derived value the server receives (it stores only a hash).
public struct LoginSecret: Sendable, Equatable, SecretKeyMaterial {
    public let rawBytes: [UInt8]

    /// The form sent to the server.
    public var base64URL: String { Sodium.base64URLEncode(rawBytes) }

    public static func == (a: LoginSecret, b: LoginSecret) -> Bool {
        Sodium.constantTimeEqual(a.rawBytes, b.rawBytes)
    }
}

/// The key of one node (file or folder). It is what gets shared; contents
/// and attributes are encrypted under separate subkeys of it.
public struct FileKey: Sendable, Equatable, SecretKeyMaterial {
    let key: SymmetricKey

    public static func generate() -> FileKey {
        FileKey(key: .random())
    }

    init(key: SymmetricKey) {
        self.key = key
    }

    /// Rebuilds a node key received out of band (a share link's fragment).
    public init(rawBytes: [UInt8]) throws {
        key = try SymmetricKey(rawBytes: rawBytes)
    }

    public var rawBytes: [UInt8] { key.bytes }

    func subkey(for purpose: KeyPurpose) -> SymmetricKey {
        precondition(purpose.source == .nodeKey, "\(purpose) is not derived from a node key")
        return key.derive(purpose)
    }
}
