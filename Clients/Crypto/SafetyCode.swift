// A short code two people read to each other to confirm they see the same
// public keys, catching a key directory that substituted one. 60 decimal
// digits in groups of 5 (about 199 bits), derived only from the keys.
import Sodium

public enum SafetyCode {
    public static let groups = 12

    public static func fingerprint(ed25519Public: Ed25519PublicKey, x25519Public: X25519PublicKey) -> String {
        var input = CanonicalEncoder(domain: "coffre.safety-code.v1")
        input.append(ed25519Public.rawBytes)
        input.append(x25519Public.rawBytes)
        // Two domain-separated SHA-256 blocks give the 60 bytes the 12 groups need.
        let digest = Sodium.sha256([0] + input.bytes) + Sodium.sha256([1] + input.bytes)
        return (0..<groups).map { group in
            // 40 bits per group reduced mod 10^5: the bias is below 2^-23.
            let value = digest[group * 5..<group * 5 + 5].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % 100_000
            let digits = String(value)
            return String(repeating: "0", count: 5 - digits.count) + digits
        }.joined(separator: " ")
    }
}
