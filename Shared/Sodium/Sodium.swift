// The Sodium module is the only Swift code that calls libsodium. Servers use
// it for hashing and signature verification; the client SDK uses it for all
// encryption. It never logs, and it zeroes secret buffers it allocates.
import CSodium

public enum Sodium {
    /// Initialises libsodium once; safe to call many times and from any thread.
    public static let ready: Bool = sodium_init() >= 0

    public static func randomBytes(_ count: Int) -> [UInt8] {
        precondition(ready)
        var out = [UInt8](repeating: 0, count: count)
        randombytes_buf(&out, count)
        return out
    }

    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        precondition(ready)
        var out = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        crypto_hash_sha256(&out, data, UInt64(data.count))
        return out
    }
}
