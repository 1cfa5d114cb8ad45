// Ed25519 signatures (crypto_sign, detached): who sent a share, who owns a
// public key. libsodium's 64-byte secret key is seed ‖ public key; storing the
// 32-byte seed is enough to rebuild both.
import CSodium

extension Sodium {
    public enum Sign {
        public static let publicKeyBytes = Int(crypto_sign_publickeybytes())
        public static let secretKeyBytes = Int(crypto_sign_secretkeybytes())
        public static let seedBytes = Int(crypto_sign_seedbytes())
        public static let signatureBytes = Int(crypto_sign_bytes())

        public static func keyPair() -> (publicKey: [UInt8], secretKey: [UInt8]) {
            precondition(ready)
            var pk = [UInt8](repeating: 0, count: publicKeyBytes)
            var sk = [UInt8](repeating: 0, count: secretKeyBytes)
            crypto_sign_keypair(&pk, &sk)
            return (pk, sk)
        }

        public static func keyPair(seed: [UInt8]) throws(SodiumError) -> (publicKey: [UInt8], secretKey: [UInt8]) {
            precondition(ready)
            try require(seed.count == seedBytes, "sign seed length")
            var pk = [UInt8](repeating: 0, count: publicKeyBytes)
            var sk = [UInt8](repeating: 0, count: secretKeyBytes)
            guard crypto_sign_seed_keypair(&pk, &sk, seed) == 0 else {
                throw SodiumError.operationFailed("crypto_sign_seed_keypair")
            }
            return (pk, sk)
        }

        public static func detached(_ message: [UInt8], secretKey: [UInt8]) throws(SodiumError) -> [UInt8] {
            precondition(ready)
            try require(secretKey.count == secretKeyBytes, "sign secret key length")
            var sig = [UInt8](repeating: 0, count: signatureBytes)
            guard crypto_sign_detached(&sig, nil, message, UInt64(message.count), secretKey) == 0 else {
                throw SodiumError.operationFailed("crypto_sign_detached")
            }
            return sig
        }

        /// True only for a valid signature of exactly `message` by `publicKey`.
        /// Wrong lengths are simply invalid signatures, not errors.
        public static func verifyDetached(_ signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
            precondition(ready)
            guard signature.count == signatureBytes, publicKey.count == publicKeyBytes else { return false }
            return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
        }
    }
}
