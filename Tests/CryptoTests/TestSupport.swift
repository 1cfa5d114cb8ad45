// Helpers shared by the crypto tests. Tests use the light `.testing` Argon2id
// profile so the suite stays fast; one test runs the real `.interactive` one.
@testable import CoffreCrypto
import Sodium

func hex(_ text: String) -> [UInt8] {
    let chars = Array(text.utf8)
    precondition(chars.count % 2 == 0)
    func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: preconditionFailure("not hex")
        }
    }
    return stride(from: 0, to: chars.count, by: 2).map { nibble(chars[$0]) << 4 | nibble(chars[$0 + 1]) }
}

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

func lightCredentials(_ password: String = "correct horse battery staple", salt: [UInt8] = DerivedCredentials.makeSalt()) throws -> DerivedCredentials {
    try DerivedCredentials.derive(password: password, salt: salt, profile: .testing, minimumProfile: .testing)
}

/// `bytes` with the byte at `index` flipped in its lowest bit.
func flipping(_ bytes: [UInt8], at index: Int) -> [UInt8] {
    var copy = bytes
    copy[index] ^= 0x01
    return copy
}

/// Positions worth tampering with in a buffer: first, second, middle, last
/// and a few around the envelope's version/nonce/ciphertext boundaries.
func tamperPositions(count: Int) -> [Int] {
    Array(Set([0, 1, 12, 24, 25, 26, count / 2, count - 17, count - 2, count - 1].filter { $0 >= 0 && $0 < count })).sorted()
}
