// Argon2id (crypto_pwhash_argon2id, version 1.3, one lane): turns a password
// into key material on the client. It is deliberately slow and memory-hungry
// and blocks the calling thread; callers run it off the cooperative pool.
import CSodium

extension Sodium {
    public static let argon2idSaltBytes = Int(crypto_pwhash_argon2id_saltbytes())
    public static let argon2idMinOutputBytes = Int(crypto_pwhash_argon2id_bytes_min())
    public static let argon2idOpsLimitMin = UInt64(crypto_pwhash_argon2id_opslimit_min())
    public static let argon2idOpsLimitMax = UInt64(crypto_pwhash_argon2id_opslimit_max())
    public static let argon2idMemLimitMin = Int(crypto_pwhash_argon2id_memlimit_min())
    public static let argon2idMemLimitMax = Int(crypto_pwhash_argon2id_memlimit_max())
    public static let argon2idOpsLimitInteractive = UInt64(crypto_pwhash_argon2id_opslimit_interactive())
    public static let argon2idMemLimitInteractive = Int(crypto_pwhash_argon2id_memlimit_interactive())
    public static let argon2idOpsLimitModerate = UInt64(crypto_pwhash_argon2id_opslimit_moderate())
    public static let argon2idMemLimitModerate = Int(crypto_pwhash_argon2id_memlimit_moderate())

    /// Argon2id of `password` with a 16-byte `salt`. `memLimit` is in bytes,
    /// as libsodium takes it. Throws `.operationFailed` when the memory cannot
    /// be allocated.
    public static func argon2id(password: [UInt8], salt: [UInt8], opsLimit: UInt64, memLimit: Int,
                                outputLength: Int) throws(SodiumError) -> [UInt8] {
        precondition(ready)
        try require(salt.count == argon2idSaltBytes, "argon2id salt length")
        try require(outputLength >= argon2idMinOutputBytes, "argon2id outputLength")
        try require((argon2idOpsLimitMin...argon2idOpsLimitMax).contains(opsLimit), "argon2id opsLimit")
        try require((argon2idMemLimitMin...argon2idMemLimitMax).contains(memLimit), "argon2id memLimit")
        var out = [UInt8](repeating: 0, count: outputLength)
        // libsodium wants a non-null pointer even for an empty password; it reads none of it.
        let storage = password.isEmpty ? [0] : password
        let rc = storage.withUnsafeBufferPointer { pw in
            pw.withMemoryRebound(to: CChar.self) { chars in
                crypto_pwhash_argon2id(&out, UInt64(outputLength), chars.baseAddress!, UInt64(password.count),
                                       salt, opsLimit, memLimit, crypto_pwhash_argon2id_alg_argon2id13())
            }
        }
        guard rc == 0 else { throw SodiumError.operationFailed("crypto_pwhash_argon2id (out of memory?)") }
        return out
    }
}
