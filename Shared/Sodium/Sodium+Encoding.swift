// Encodings with libsodium's constant-time codecs: base64url without padding
// (how keys and ciphertexts travel in JSON and URL fragments) and ISO/IEC
// 7816-4 padding (hides exact lengths of short plaintexts such as names).
import CSodium

extension Sodium {
    private static let urlSafeNoPadding = Int32(sodium_base64_VARIANT_URLSAFE_NO_PADDING)

    public static func base64URLEncode(_ bytes: [UInt8]) -> String {
        precondition(ready)
        let capacity = sodium_base64_encoded_len(bytes.count, urlSafeNoPadding)
        var out = [CChar](repeating: 0, count: capacity)
        _ = sodium_bin2base64(&out, capacity, bytes, bytes.count, urlSafeNoPadding)
        return out.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Strict decoding: nil for padding, whitespace, the standard alphabet's
    /// `+` and `/`, non-canonical trailing bits, or anything after the data.
    public static func base64URLDecode(_ text: String) -> [UInt8]? {
        precondition(ready)
        let chars = Array(text.utf8CString.dropLast())  // without the terminator
        if chars.isEmpty { return [] }
        var out = [UInt8](repeating: 0, count: chars.count * 3 / 4 + 1)
        var length = 0
        // A nil end pointer makes libsodium reject input it did not consume entirely.
        let rc = sodium_base642bin(&out, out.count, chars, chars.count, nil, &length, nil, urlSafeNoPadding)
        guard rc == 0 else { return nil }
        return Array(out.prefix(length))
    }

    /// `bytes` padded to a multiple of `blockSize` (always at least one byte added).
    public static func pad(_ bytes: [UInt8], blockSize: Int) throws(SodiumError) -> [UInt8] {
        precondition(ready)
        try require(blockSize > 0, "pad blockSize")
        var buffer = bytes + [UInt8](repeating: 0, count: blockSize)
        var padded = 0
        guard sodium_pad(&padded, &buffer, bytes.count, blockSize, buffer.count) == 0 else {
            throw SodiumError.invalidInput("pad")
        }
        return Array(buffer.prefix(padded))
    }

    /// Removes `pad`'s padding; `.invalidInput` if it is not well formed.
    public static func unpad(_ bytes: [UInt8], blockSize: Int) throws(SodiumError) -> [UInt8] {
        precondition(ready)
        try require(blockSize > 0, "unpad blockSize")
        guard !bytes.isEmpty, bytes.count % blockSize == 0 else { throw SodiumError.invalidInput("padding") }
        var length = 0
        guard sodium_unpad(&length, bytes, bytes.count, blockSize) == 0 else {
            throw SodiumError.invalidInput("padding")
        }
        return Array(bytes.prefix(length))
    }
}
