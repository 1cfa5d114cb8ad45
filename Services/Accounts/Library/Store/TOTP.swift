import Crypto
import Foundation

/// RFC 6238 time-based one-time passwords: HMAC-SHA-1, 6 digits, 30 s
/// steps, accepting one step of clock drift either way.
enum TOTP {
    static let digits = 6
    static let step: Int64 = 30

    static func code(secret: [UInt8], counter: UInt64, digits: Int = digits) -> String {
        var big = counter.bigEndian
        let message = withUnsafeBytes(of: &big) { Array($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let binary = (UInt32(mac[offset] & 0x7f) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        var modulo: UInt32 = 1
        for _ in 0..<digits { modulo *= 10 }
        let value = binary % modulo
        let text = String(value)
        return String(repeating: "0", count: digits - text.count) + text
    }

    static func verify(_ code: String, secret: [UInt8], at date: Date = Date()) -> Bool {
        let trimmed = code.trimmingCharacters(in: .whitespaces)
        guard trimmed.count == digits, trimmed.allSatisfy(\.isASCII), trimmed.allSatisfy(\.isNumber) else { return false }
        let counter = Int64(date.timeIntervalSince1970) / step
        for drift in [-1, 0, 1] {
            let expected = Array(Self.code(secret: secret, counter: UInt64(counter + Int64(drift))).utf8)
            if KeyedHashCompare.equal(expected, Array(trimmed.utf8)) { return true }
        }
        return false
    }

    static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var output = ""
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { output.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return output
    }
}

enum KeyedHashCompare {
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
