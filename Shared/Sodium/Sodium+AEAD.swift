// XChaCha20-Poly1305 (IETF) with associated data: every wrapped key and
// encrypted attribute goes through here. The 24-byte nonce is large enough to
// be chosen at random for every message, which is what callers do.
import CSodium

extension Sodium {
    public enum AEAD {
        public static let keyBytes = Int(crypto_aead_xchacha20poly1305_ietf_keybytes())
        public static let nonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_npubbytes())
        public static let tagBytes = Int(crypto_aead_xchacha20poly1305_ietf_abytes())

        /// Ciphertext (plaintext length + 16-byte tag) of `message`, binding
        /// `additionalData` without encrypting it.
        public static func encrypt(_ message: [UInt8], additionalData: [UInt8], nonce: [UInt8],
                                   key: [UInt8]) throws(SodiumError) -> [UInt8] {
            precondition(ready)
            try require(key.count == keyBytes, "aead key length")
            try require(nonce.count == nonceBytes, "aead nonce length")
            var out = [UInt8](repeating: 0, count: message.count + tagBytes)
            var outLength: UInt64 = 0
            let rc = crypto_aead_xchacha20poly1305_ietf_encrypt(
                &out, &outLength, message, UInt64(message.count),
                additionalData, UInt64(additionalData.count), nil, nonce, key)
            guard rc == 0 else { throw SodiumError.operationFailed("aead encrypt") }
            return out
        }

        /// The plaintext, or `.verificationFailed` if the key, nonce,
        /// ciphertext or associated data differ from what was sealed.
        public static func decrypt(_ ciphertext: [UInt8], additionalData: [UInt8], nonce: [UInt8],
                                   key: [UInt8]) throws(SodiumError) -> [UInt8] {
            precondition(ready)
            try require(key.count == keyBytes, "aead key length")
            try require(nonce.count == nonceBytes, "aead nonce length")
            guard ciphertext.count >= tagBytes else { throw SodiumError.verificationFailed }
            var out = [UInt8](repeating: 0, count: ciphertext.count - tagBytes)
            var outLength: UInt64 = 0
            let rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
                &out, &outLength, nil, ciphertext, UInt64(ciphertext.count),
                additionalData, UInt64(additionalData.count), nonce, key)
            guard rc == 0 else { throw SodiumError.verificationFailed }
            return out
        }
    }
}
