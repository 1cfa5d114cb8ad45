import Sodium

/// base64url without padding: how every binary value travels in Coffre's JSON.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String { Sodium.base64URLEncode(bytes) }
    public static func decode(_ text: String) -> [UInt8]? { Sodium.base64URLDecode(text) }
}

/// Keyed hashing for server-side verifiers (BLAKE2b-256).
public enum KeyedHash {
    public static func hash(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        (try? Sodium.genericHash(message, key: key)) ?? []
    }

    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool { Sodium.constantTimeEqual(a, b) }

    public static func random(_ count: Int) -> [UInt8] { Sodium.randomBytes(count) }

    /// Checks an Ed25519 signature (public keys' self-signatures).
    public static func verifyEd25519(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        Sodium.Sign.verifyDetached(signature, message: message, publicKey: publicKey)
    }
}
