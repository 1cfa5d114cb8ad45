// A node key handed from one user to another through the server. The key is
// sealed to the recipient's X25519 key (only the recipient can open it) and
// the parcel is signed with the sender's Ed25519 key (the recipient can tell
// who sent it). The sealed plaintext also names the sender's signing key, so
// someone who re-signs a parcel they intercepted cannot pass it off as theirs.
import Sodium

public enum ShareParcelError: Error, Equatable, Sendable {
    case unsupportedVersion(UInt8)
    /// The parcel names another recipient account than the one opening it.
    case wrongRecipient
    /// The parcel names another sender account than the one expected.
    case wrongSender
    /// The parcel is for another node than the one expected.
    case wrongNode
    /// The parcel was sealed to an X25519 key that is not the recipient's.
    case sealedToAnotherKey
    /// The signature does not verify with the sender's public key: the parcel
    /// was signed by someone else or altered after signing.
    case invalidSignature
    /// The signature verified but the sealed box did not open.
    case cannotUnseal
    /// The sealed content names another signer than the one who signed the parcel.
    case senderMismatch
    case malformed
}

public struct ShareParcel: Sendable, Equatable, Codable {
    public static let currentVersion: UInt8 = 1

    public let version: UInt8
    public let senderAccount: String
    public let recipientAccount: String
    public let nodeID: String
    public let recipientX25519: X25519PublicKey
    /// crypto_box_seal(version ‖ sender's Ed25519 public key ‖ node key).
    public let sealedKey: [UInt8]
    /// Ed25519 over every field above.
    public let signature: [UInt8]

    public static func seal(nodeKey: FileKey, recipientX25519: X25519PublicKey, senderSigningKey: Ed25519KeyPair,
                            senderAccount: String, recipientAccount: String, nodeID: String) throws -> ShareParcel {
        let inner = [currentVersion] + senderSigningKey.publicKey.rawBytes + nodeKey.rawBytes
        let sealed = try Sodium.Box.seal(inner, recipientPublicKey: recipientX25519.rawBytes)
        let message = signedMessage(version: currentVersion, sender: senderAccount, recipient: recipientAccount,
                                    nodeID: nodeID, recipientX25519: recipientX25519, sealed: sealed)
        return ShareParcel(version: currentVersion, senderAccount: senderAccount, recipientAccount: recipientAccount,
                           nodeID: nodeID, recipientX25519: recipientX25519, sealedKey: sealed,
                           signature: senderSigningKey.signature(for: message))
    }

    /// Checks the addressing, then the signature with the sender's public key
    /// (from the key directory), and only then unseals.
    public func open(recipientKeys: X25519KeyPair, recipientAccount: String, senderSigningPublic: Ed25519PublicKey,
                     senderAccount: String, nodeID: String) throws -> FileKey {
        guard version == Self.currentVersion else { throw ShareParcelError.unsupportedVersion(version) }
        guard self.recipientAccount == recipientAccount else { throw ShareParcelError.wrongRecipient }
        guard self.senderAccount == senderAccount else { throw ShareParcelError.wrongSender }
        guard self.nodeID == nodeID else { throw ShareParcelError.wrongNode }
        guard recipientX25519 == recipientKeys.publicKey else { throw ShareParcelError.sealedToAnotherKey }
        let message = Self.signedMessage(version: version, sender: senderAccount, recipient: recipientAccount,
                                         nodeID: nodeID, recipientX25519: recipientKeys.publicKey, sealed: sealedKey)
        guard senderSigningPublic.isValidSignature(signature, for: message) else { throw ShareParcelError.invalidSignature }
        let inner: [UInt8]
        do {
            inner = try Sodium.Box.sealOpen(sealedKey, publicKey: recipientKeys.publicKey.rawBytes,
                                            secretKey: recipientKeys.secretKey)
        } catch {
            throw ShareParcelError.cannotUnseal
        }
        let keyOffset = 1 + Sodium.Sign.publicKeyBytes
        guard inner.count == keyOffset + SymmetricKey.byteCount, inner[0] == version else { throw ShareParcelError.malformed }
        guard Array(inner[1..<keyOffset]) == senderSigningPublic.rawBytes else { throw ShareParcelError.senderMismatch }
        return FileKey(key: SymmetricKey(unchecked: Array(inner[keyOffset...])))
    }

    static func signedMessage(version: UInt8, sender: String, recipient: String, nodeID: String,
                              recipientX25519: X25519PublicKey, sealed: [UInt8]) -> [UInt8] {
        var m = CanonicalEncoder(domain: "coffre.share-parcel")
        m.append(version)
        m.append(sender)
        m.append(recipient)
        m.append(nodeID)
        m.append(recipientX25519.rawBytes)
        m.append(sealed)
        return m.bytes
    }

    init(version: UInt8, senderAccount: String, recipientAccount: String, nodeID: String,
         recipientX25519: X25519PublicKey, sealedKey: [UInt8], signature: [UInt8]) {
        self.version = version
        self.senderAccount = senderAccount
        self.recipientAccount = recipientAccount
        self.nodeID = nodeID
        self.recipientX25519 = recipientX25519
        self.sealedKey = sealedKey
        self.signature = signature
    }

    enum CodingKeys: String, CodingKey {
        case version, senderAccount, recipientAccount, nodeID, recipientX25519, sealedKey, signature
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(UInt8.self, forKey: .version)
        senderAccount = try c.decode(String.self, forKey: .senderAccount)
        recipientAccount = try c.decode(String.self, forKey: .recipientAccount)
        nodeID = try c.decode(String.self, forKey: .nodeID)
        recipientX25519 = try c.decode(X25519PublicKey.self, forKey: .recipientX25519)
        sealedKey = try c.decodeBase64URL(forKey: .sealedKey)
        signature = try c.decodeBase64URL(forKey: .signature)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(senderAccount, forKey: .senderAccount)
        try c.encode(recipientAccount, forKey: .recipientAccount)
        try c.encode(nodeID, forKey: .nodeID)
        try c.encode(recipientX25519, forKey: .recipientX25519)
        try c.encodeBase64URL(sealedKey, forKey: .sealedKey)
        try c.encodeBase64URL(signature, forKey: .signature)
    }
}
