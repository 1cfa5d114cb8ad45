// X25519 key pairs and anonymous sealed boxes (crypto_box_seal): how one user
// hands a key to another through a server that must not read it. A sealed box
// does not say who sealed it; callers that need a sender sign it separately.
import CSodium

extension Sodium {
    public enum Box {
        public static let publicKeyBytes = Int(crypto_box_publickeybytes())
        public static let secretKeyBytes = Int(crypto_box_secretkeybytes())
        public static let sealOverheadBytes = Int(crypto_box_sealbytes())

        public static func keyPair() -> (publicKey: [UInt8], secretKey: [UInt8]) {
            precondition(ready)
            var pk = [UInt8](repeating: 0, count: publicKeyBytes)
            var sk = [UInt8](repeating: 0, count: secretKeyBytes)
            crypto_box_keypair(&pk, &sk)
            return (pk, sk)
        }

        /// The public key that belongs to `secretKey`, used to check that a
        /// stored pair really is a pair.
        public static func publicKey(secretKey: [UInt8]) throws(SodiumError) -> [UInt8] {
            precondition(ready)
            try require(secretKey.count == secretKeyBytes, "box secret key length")
            var pk = [UInt8](repeating: 0, count: publicKeyBytes)
            guard crypto_scalarmult_base(&pk, secretKey) == 0 else {
                throw SodiumError.operationFailed("crypto_scalarmult_base")
            }
            return pk
        }

        public static func seal(_ message: [UInt8], recipientPublicKey: [UInt8]) throws(SodiumError) -> [UInt8] {
            precondition(ready)
            try require(recipientPublicKey.count == publicKeyBytes, "box public key length")
            var out = [UInt8](repeating: 0, count: message.count + sealOverheadBytes)
            guard crypto_box_seal(&out, message, UInt64(message.count), recipientPublicKey) == 0 else {
                throw SodiumError.invalidInput("box public key")
            }
            return out
        }

        public static func sealOpen(_ sealed: [UInt8], publicKey: [UInt8], secretKey: [UInt8]) throws(SodiumError) -> [UInt8] {
            precondition(ready)
            try require(publicKey.count == publicKeyBytes, "box public key length")
            try require(secretKey.count == secretKeyBytes, "box secret key length")
            guard sealed.count >= sealOverheadBytes else { throw SodiumError.verificationFailed }
            var out = [UInt8](repeating: 0, count: sealed.count - sealOverheadBytes)
            guard crypto_box_seal_open(&out, sealed, UInt64(sealed.count), publicKey, secretKey) == 0 else {
                throw SodiumError.verificationFailed
            }
            return out
        }
    }
}
