// The Sodium module is the only Swift code that calls libsodium. Servers use
// it for hashing and signature verification; the client SDK uses it for all
// encryption. Every wrapper takes and returns plain `[UInt8]`, checks lengths
// before handing pointers to C, and reports failure as `SodiumError` rather
// than a sentinel. It never logs, never prints what it is given, and never
// keeps a secret beyond the call, except inside a stream state, which lives in
// memory it allocates itself and zeroes when the stream is released.
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

    /// Compares secrets (MACs, key checks, verifiers) in time that does not
    /// depend on where they differ. Lengths are not secret, so a length
    /// mismatch returns false at once.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        precondition(ready)
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return sodium_memcmp(a, b, a.count) == 0
    }

    /// Overwrites a buffer with zeros in a way the optimiser cannot drop.
    /// Best effort only: Swift may already hold copies of the array elsewhere.
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { sodium_memzero(base, raw.count) }
        }
    }
}

/// Why a libsodium call did not produce a result.
public enum SodiumError: Error, Equatable, Sendable {
    /// An argument had a length or value libsodium does not accept; the
    /// string names the argument, never its value.
    case invalidInput(String)
    /// Authentication failed: wrong key, altered data, or different
    /// associated data. libsodium deliberately does not say which.
    case verificationFailed
    /// libsodium could not complete (Argon2id could not allocate its memory).
    case operationFailed(String)
}

extension Sodium {
    static func require(_ condition: Bool, _ what: @autoclosure () -> String) throws(SodiumError) {
        if !condition { throw SodiumError.invalidInput(what()) }
    }
}
