// BLAKE2b (crypto_generichash): fingerprints, key checks and keyed MACs.
import CSodium

extension Sodium {
    public static let genericHashMinBytes = Int(crypto_generichash_bytes_min())
    public static let genericHashMaxBytes = Int(crypto_generichash_bytes_max())
    public static let genericHashKeyMinBytes = Int(crypto_generichash_keybytes_min())
    public static let genericHashKeyMaxBytes = Int(crypto_generichash_keybytes_max())

    /// BLAKE2b of `data`, `outputLength` bytes (16...64). With a key
    /// (16...64 bytes) it is a MAC/PRF; without one, a plain hash.
    public static func genericHash(_ data: [UInt8], key: [UInt8]? = nil, outputLength: Int = 32) throws(SodiumError) -> [UInt8] {
        precondition(ready)
        try require((genericHashMinBytes...genericHashMaxBytes).contains(outputLength), "genericHash outputLength")
        if let key {
            try require((genericHashKeyMinBytes...genericHashKeyMaxBytes).contains(key.count), "genericHash key length")
        }
        var out = [UInt8](repeating: 0, count: outputLength)
        let rc: Int32
        if let key {
            rc = crypto_generichash(&out, outputLength, data, UInt64(data.count), key, key.count)
        } else {
            rc = crypto_generichash(&out, outputLength, data, UInt64(data.count), nil, 0)
        }
        guard rc == 0 else { throw SodiumError.operationFailed("crypto_generichash") }
        return out
    }
}
