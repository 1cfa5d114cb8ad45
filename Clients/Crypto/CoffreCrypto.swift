// CoffreCrypto: the client's cryptography. It derives credentials from the
// password, generates and wraps account keys, encrypts files, names and
// shares, and checks everything it decrypts against who owns it, what it is
// for and which object it belongs to (the lessons of the attacks on MEGA).
//
// It must never: send or return a key that decrypts user data in anything
// meant for the server (only the login secret, ciphertext and public keys
// leave the client); use one key for two purposes; decrypt something without
// authenticating it; log, print or describe key material (secret types
// redact themselves). All libsodium calls go through the Sodium module.
import Sodium

/// Builds associated data and signed messages as an unambiguous byte string:
/// a domain label, then fixed-width integers and length-prefixed fields, so
/// no two different field lists can encode to the same bytes.
struct CanonicalEncoder {
    private(set) var bytes: [UInt8] = []

    init(domain: String) {
        append(domain)
    }

    mutating func append(_ value: UInt8) {
        bytes.append(value)
    }

    mutating func append(_ value: UInt16) {
        bytes.append(contentsOf: withUnsafeBytes(of: value.bigEndian, Array.init))
    }

    mutating func append(_ value: UInt32) {
        bytes.append(contentsOf: withUnsafeBytes(of: value.bigEndian, Array.init))
    }

    mutating func append(_ value: UInt64) {
        bytes.append(contentsOf: withUnsafeBytes(of: value.bigEndian, Array.init))
    }

    mutating func append(_ field: [UInt8]) {
        append(UInt32(field.count))
        bytes.append(contentsOf: field)
    }

    mutating func append(_ field: String) {
        append(Array(field.utf8))
    }
}

extension Array where Element == UInt8 {
    /// Reads a big-endian integer at `offset`; callers check bounds first.
    func readBigEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for byte in self[offset..<offset + MemoryLayout<T>.size] {
            value = value << 8 | T(byte)
        }
        return value
    }
}

extension FixedWidthInteger {
    var bigEndianBytes: [UInt8] {
        withUnsafeBytes(of: bigEndian, Array.init)
    }
}

// Codable helpers: bytes travel as base64url strings without padding.
extension KeyedEncodingContainer {
    mutating func encodeBase64URL(_ bytes: [UInt8], forKey key: Key) throws {
        try encode(Sodium.base64URLEncode(bytes), forKey: key)
    }
}

extension KeyedDecodingContainer {
    func decodeBase64URL(forKey key: Key) throws -> [UInt8] {
        let text = try decode(String.self, forKey: key)
        guard let bytes = Sodium.base64URLDecode(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "not base64url without padding")
        }
        return bytes
    }
}
