// The recovery secret: what the server gets so it can recognise the holder of
// the recovery key (it stores only a hash), without ever receiving the
// recovery key itself, which unwraps the master key.
//
//     recovery_secret = crypto_kdf(recovery key, id 1, context "CfRcvLgn")
//
// One-way: the secret does not reveal the key. The recovery key's bytes are
// not public API of CoffreCrypto, so they are read back from its canonical
// display form (Crockford base32 of key ‖ 3-byte checksum), validated first by
// `RecoveryKey(displayString:)`.
import CoffreCrypto
import Sodium

public enum RecoverySecret {
    // Part of the stored format: changing either locks every account out of recovery.
    static let subkeyID: UInt64 = 1
    static let context = "CfRcvLgn"

    /// The base64url recovery secret for a recovery key.
    public static func derive(from recoveryKey: RecoveryKey) -> String {
        var keyBytes = keyBytes(of: recoveryKey)
        defer { Sodium.wipe(&keyBytes) }
        // Cannot fail: 32-byte key, 8-character context.
        var secret = try! Sodium.kdfDerive(key: keyBytes, subkeyID: subkeyID, context: context)
        defer { Sodium.wipe(&secret) }
        return Sodium.base64URLEncode(secret)
    }

    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// The 32 key bytes behind the display string (which is canonical: upper
    /// case, only alphabet characters and dashes).
    static func keyBytes(of recoveryKey: RecoveryKey) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = 0, bits = 0
        for char in recoveryKey.displayString.utf8 where char != UInt8(ascii: "-") {
            guard let value = alphabet.firstIndex(of: char) else { preconditionFailure("non-canonical recovery key") }
            buffer = buffer << 5 | value
            bits += 5
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8((buffer >> bits) & 0xFF))
                buffer &= (1 << bits) - 1
            }
        }
        precondition(bytes.count >= 32)
        return Array(bytes.prefix(32))
    }
}
