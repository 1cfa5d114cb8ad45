// The recovery key: 32 random bytes that wrap a second copy of the master
// key, for a user who forgot the password. Shown once, written down, typed
// back: so it is rendered in Crockford base32 (no I, L, O, U; case and dashes
// ignored) with a 3-byte checksum that catches typos before any decryption.
import Sodium

public enum RecoveryKeyError: Error, Equatable, Sendable {
    /// Positions count the characters that remain after dashes and spaces are removed.
    case invalidCharacter(position: Int)
    case wrongLength(Int)
    /// Every character is valid but the key was mistyped.
    case checksumMismatch
}

public struct RecoveryKey: Sendable, Equatable, SecretKeyMaterial {
    let key: SymmetricKey

    private static let checksumBytes = 3
    private static let groupLength = 4
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
    // 32 key bytes + 3 checksum bytes = 280 bits = exactly 56 characters.
    private static let characterCount = (SymmetricKey.byteCount + checksumBytes) * 8 / 5

    public static func generate() -> RecoveryKey {
        RecoveryKey(key: .random())
    }

    init(key: SymmetricKey) {
        self.key = key
    }

    /// 14 groups of 4 characters separated by dashes. Show it to the user once.
    public var displayString: String {
        let data = key.bytes + Self.checksum(key.bytes)
        var chars: [UInt8] = []
        var buffer = 0, bits = 0
        for byte in data {
            buffer = buffer << 8 | Int(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                chars.append(Self.alphabet[(buffer >> bits) & 31])
            }
            buffer &= (1 << bits) - 1
        }
        var out = ""
        for (index, char) in chars.enumerated() {
            if index > 0, index % Self.groupLength == 0 { out.append("-") }
            out.append(Character(Unicode.Scalar(char)))
        }
        return out
    }

    public init(displayString: String) throws {
        var values: [Int] = []
        for scalar in displayString.unicodeScalars where scalar != "-" && !scalar.properties.isWhitespace {
            guard let value = Self.value(of: scalar) else {
                throw RecoveryKeyError.invalidCharacter(position: values.count)
            }
            values.append(value)
        }
        guard values.count == Self.characterCount else { throw RecoveryKeyError.wrongLength(values.count) }
        var bytes: [UInt8] = []
        var buffer = 0, bits = 0
        for value in values {
            buffer = buffer << 5 | value
            bits += 5
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8((buffer >> bits) & 0xFF))
                buffer &= (1 << bits) - 1
            }
        }
        let keyBytes = Array(bytes.prefix(SymmetricKey.byteCount))
        guard Sodium.constantTimeEqual(Array(bytes.suffix(Self.checksumBytes)), Self.checksum(keyBytes)) else {
            throw RecoveryKeyError.checksumMismatch
        }
        key = SymmetricKey(unchecked: keyBytes)
    }

    private static func checksum(_ keyBytes: [UInt8]) -> [UInt8] {
        Array(Sodium.sha256(Array("coffre.recovery-key".utf8) + keyBytes).prefix(checksumBytes))
    }

    /// Crockford decoding: case-insensitive, O reads as 0, I and L as 1.
    private static func value(of scalar: Unicode.Scalar) -> Int? {
        guard scalar.isASCII else { return nil }
        var c = UInt8(scalar.value)
        if c >= UInt8(ascii: "a"), c <= UInt8(ascii: "z") { c -= 32 }
        switch c {
        case UInt8(ascii: "O"): c = UInt8(ascii: "0")
        case UInt8(ascii: "I"), UInt8(ascii: "L"): c = UInt8(ascii: "1")
        default: break
        }
        return alphabet.firstIndex(of: c)
    }
}
