import CoffreCore
import KeyTransparency
import Logging
import Sodium

/// The log's checkpoint signer: `KEYDIR_LOG_KEY` (a base64url 32-byte Ed25519
/// seed), else a development key derived from `COFFRE_INTERNAL_SECRET` under
/// its own label, as accounts derives its token key. The key name is the
/// log's origin. Never logged.
enum LogKey {
    static func signer(origin: String, seed: String?, internalSecret: String, logger: Logger) throws(ConfigurationError) -> NoteSigner {
        let bytes: [UInt8]
        if let seed {
            guard let decoded = Base64URL.decode(seed), decoded.count == Sodium.Sign.seedBytes else {
                throw ConfigurationError(key: "KEYDIR_LOG_KEY", problem: "expected a 32-byte Ed25519 seed, base64url")
            }
            bytes = decoded
        } else {
            bytes = KeyedHash.hash(Array("coffre keydir log key seed".utf8), key: InternalAuth.key(from: internalSecret))
            logger.warning("KEYDIR_LOG_KEY is unset: checkpoints are signed with a development key derived from COFFRE_INTERNAL_SECRET; set it in production")
        }
        do {
            return try NoteSigner(name: origin, seed: bytes)
        } catch {
            throw ConfigurationError(key: "KEYDIR_LOG_ORIGIN", problem: "cannot make a note signer: \(error)")
        }
    }
}
