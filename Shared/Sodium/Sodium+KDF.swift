// crypto_kdf (BLAKE2b): derives independent subkeys from one root key, so no
// key is ever used for two purposes. The (subkey id, context) pair names the
// purpose; the same pair always yields the same subkey.
import CSodium

extension Sodium {
    public static let kdfKeyBytes = Int(crypto_kdf_keybytes())
    public static let kdfContextBytes = Int(crypto_kdf_contextbytes())
    public static let kdfMinSubkeyBytes = Int(crypto_kdf_bytes_min())
    public static let kdfMaxSubkeyBytes = Int(crypto_kdf_bytes_max())

    /// Subkey `subkeyID` of `key` in `context`, which must be exactly 8 ASCII
    /// characters (libsodium reads exactly 8 bytes, no terminator).
    public static func kdfDerive(key: [UInt8], subkeyID: UInt64, context: String,
                                 length: Int = 32) throws(SodiumError) -> [UInt8] {
        precondition(ready)
        try require(key.count == kdfKeyBytes, "kdf key length")
        try require((kdfMinSubkeyBytes...kdfMaxSubkeyBytes).contains(length), "kdf subkey length")
        let ctx = Array(context.utf8)
        try require(ctx.count == kdfContextBytes && context.allSatisfy(\.isASCII), "kdf context must be 8 ASCII characters")
        var out = [UInt8](repeating: 0, count: length)
        let rc = ctx.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                crypto_kdf_derive_from_key(&out, length, subkeyID, chars.baseAddress!, key)
            }
        }
        guard rc == 0 else { throw SodiumError.operationFailed("crypto_kdf_derive_from_key") }
        return out
    }
}
