// The one format for wrapped keys and encrypted attributes:
//
//     version (1 byte, = 1) ‖ nonce (24 random bytes) ‖ XChaCha20-Poly1305 ciphertext
//
// The associated data binds the version, the owner's account id, the key
// purpose and the object id, so an envelope moved to another account, slot or
// object fails to open instead of decrypting into the wrong place — the
// malleability MEGA's unauthenticated AES-ECB key wrapping allowed.
import Sodium

/// Who and what an envelope belongs to. Both sides must agree on all three.
public struct EnvelopeContext: Sendable, Hashable {
    public var owner: String
    public var purpose: KeyPurpose
    public var objectID: String

    public init(owner: String, purpose: KeyPurpose, objectID: String) {
        self.owner = owner
        self.purpose = purpose
        self.objectID = objectID
    }
}

public enum EnvelopeError: Error, Equatable, Sendable {
    /// The first byte names a format this client does not know.
    case unsupportedVersion(UInt8)
    /// Wrong key, a changed byte, or another owner, purpose or object than
    /// the one it was sealed for. AEAD cannot tell these apart, by design.
    case authenticationFailed
    /// Too short to be an envelope at all.
    case malformed
}

public enum Envelope {
    public static let currentVersion: UInt8 = 1
    /// Bytes an envelope adds to its plaintext.
    public static let overhead = 1 + Sodium.AEAD.nonceBytes + Sodium.AEAD.tagBytes

    public static func seal(plaintext: [UInt8], key: SymmetricKey, context: EnvelopeContext) throws -> [UInt8] {
        let nonce = Sodium.randomBytes(Sodium.AEAD.nonceBytes)
        let ciphertext = try Sodium.AEAD.encrypt(
            plaintext, additionalData: associatedData(version: currentVersion, context: context),
            nonce: nonce, key: key.bytes)
        return [currentVersion] + nonce + ciphertext
    }

    public static func open(_ envelope: [UInt8], key: SymmetricKey, context: EnvelopeContext) throws -> [UInt8] {
        guard let version = envelope.first else { throw EnvelopeError.malformed }
        guard version == currentVersion else { throw EnvelopeError.unsupportedVersion(version) }
        guard envelope.count >= overhead else { throw EnvelopeError.malformed }
        let nonce = Array(envelope[1..<1 + Sodium.AEAD.nonceBytes])
        let ciphertext = Array(envelope[(1 + Sodium.AEAD.nonceBytes)...])
        do {
            return try Sodium.AEAD.decrypt(ciphertext, additionalData: associatedData(version: version, context: context),
                                           nonce: nonce, key: key.bytes)
        } catch {
            throw EnvelopeError.authenticationFailed
        }
    }

    static func associatedData(version: UInt8, context: EnvelopeContext) -> [UInt8] {
        var ad = CanonicalEncoder(domain: "coffre.envelope")
        ad.append(version)
        ad.append(context.purpose.rawValue)
        ad.append(context.purpose.context)
        ad.append(context.owner)
        ad.append(context.objectID)
        return ad.bytes
    }
}
