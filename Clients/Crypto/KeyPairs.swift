// The account's asymmetric keys: X25519 (receiving sealed shares) and Ed25519
// (signing what it shares and its own public keys). Public keys are distinct
// types, because both are 32 bytes and confusing them is an easy mistake.
import Sodium

public struct X25519PublicKey: Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawBytes: [UInt8]

    public init(rawBytes: [UInt8]) throws {
        guard rawBytes.count == Sodium.Box.publicKeyBytes else {
            throw KeyError.invalidLength(expected: Sodium.Box.publicKeyBytes, actual: rawBytes.count)
        }
        self.rawBytes = rawBytes
    }

    public var base64URL: String { Sodium.base64URLEncode(rawBytes) }
    public var description: String { "X25519PublicKey(\(base64URL))" }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let bytes = Sodium.base64URLDecode(text), bytes.count == Sodium.Box.publicKeyBytes else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an X25519 public key"))
        }
        rawBytes = bytes
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(base64URL)
    }
}

public struct Ed25519PublicKey: Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawBytes: [UInt8]

    public init(rawBytes: [UInt8]) throws {
        guard rawBytes.count == Sodium.Sign.publicKeyBytes else {
            throw KeyError.invalidLength(expected: Sodium.Sign.publicKeyBytes, actual: rawBytes.count)
        }
        self.rawBytes = rawBytes
    }

    public var base64URL: String { Sodium.base64URLEncode(rawBytes) }
    public var description: String { "Ed25519PublicKey(\(base64URL))" }

    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        Sodium.Sign.verifyDetached(signature, message: message, publicKey: rawBytes)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let bytes = Sodium.base64URLDecode(text), bytes.count == Sodium.Sign.publicKeyBytes else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an Ed25519 public key"))
        }
        rawBytes = bytes
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(base64URL)
    }
}

public struct X25519KeyPair: Sendable, SecretKeyMaterial {
    public let publicKey: X25519PublicKey
    let secretKey: [UInt8]

    public static func generate() -> X25519KeyPair {
        let (pk, sk) = Sodium.Box.keyPair()
        return X25519KeyPair(publicKey: try! X25519PublicKey(rawBytes: pk), secretKey: sk)
    }

    private init(publicKey: X25519PublicKey, secretKey: [UInt8]) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Rebuilds the pair from its secret key; the public key is recomputed,
    /// never trusted from storage.
    init(secretKey: [UInt8]) throws {
        guard secretKey.count == Sodium.Box.secretKeyBytes else {
            throw KeyError.invalidLength(expected: Sodium.Box.secretKeyBytes, actual: secretKey.count)
        }
        self.init(publicKey: try X25519PublicKey(rawBytes: Sodium.Box.publicKey(secretKey: secretKey)), secretKey: secretKey)
    }
}

public struct Ed25519KeyPair: Sendable, SecretKeyMaterial {
    public let publicKey: Ed25519PublicKey
    /// 32 bytes; all that is stored (wrapped) of the signing key.
    let seed: [UInt8]
    /// libsodium's 64-byte form, seed ‖ public key.
    let secretKey: [UInt8]

    public static func generate() -> Ed25519KeyPair {
        try! Ed25519KeyPair(seed: Sodium.randomBytes(Sodium.Sign.seedBytes))
    }

    init(seed: [UInt8]) throws {
        guard seed.count == Sodium.Sign.seedBytes else {
            throw KeyError.invalidLength(expected: Sodium.Sign.seedBytes, actual: seed.count)
        }
        let (pk, sk) = try Sodium.Sign.keyPair(seed: seed)
        publicKey = try Ed25519PublicKey(rawBytes: pk)
        self.seed = seed
        secretKey = sk
    }

    public func signature(for message: [UInt8]) -> [UInt8] {
        try! Sodium.Sign.detached(message, secretKey: secretKey)
    }
}
