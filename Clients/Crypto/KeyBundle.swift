// What the server stores for an account at signup, opaquely: four envelopes
// and two public keys. Nothing in it opens without the password's
// key-encryption key or the recovery key, and every envelope is bound to the
// account id, its slot's purpose and the bundle version, so the server cannot
// move a slot to another account or another slot without the client noticing.
import Sodium

public struct KeyBundle: Sendable, Equatable, Codable {
    public static let currentVersion = 1

    /// The four envelopes of a bundle. Each has its own key purpose.
    public enum Slot: String, Sendable, CaseIterable, Codable {
        case masterKeyUnderPassword
        case masterKeyUnderRecoveryKey
        case x25519SecretKey
        case ed25519Seed

        public var purpose: KeyPurpose {
            switch self {
            case .masterKeyUnderPassword: .masterKeyUnderPassword
            case .masterKeyUnderRecoveryKey: .masterKeyUnderRecoveryKey
            case .x25519SecretKey: .x25519SecretKey
            case .ed25519Seed: .ed25519Seed
            }
        }
    }

    public var version: Int
    /// In clear so a client can say "this bundle is someone else's" before
    /// trying a key; it is also bound into every envelope, so editing it only
    /// turns that error into an authentication failure.
    public var accountID: String
    public var masterKeyUnderPassword: [UInt8]
    public var masterKeyUnderRecoveryKey: [UInt8]
    public var x25519SecretKey: [UInt8]
    public var ed25519Seed: [UInt8]
    public var x25519PublicKey: X25519PublicKey
    public var ed25519PublicKey: Ed25519PublicKey

    public subscript(slot: Slot) -> [UInt8] {
        get {
            switch slot {
            case .masterKeyUnderPassword: masterKeyUnderPassword
            case .masterKeyUnderRecoveryKey: masterKeyUnderRecoveryKey
            case .x25519SecretKey: x25519SecretKey
            case .ed25519Seed: ed25519Seed
            }
        }
        set {
            switch slot {
            case .masterKeyUnderPassword: masterKeyUnderPassword = newValue
            case .masterKeyUnderRecoveryKey: masterKeyUnderRecoveryKey = newValue
            case .x25519SecretKey: x25519SecretKey = newValue
            case .ed25519Seed: ed25519Seed = newValue
            }
        }
    }

    func envelopeContext(_ slot: Slot) -> EnvelopeContext {
        EnvelopeContext(owner: accountID, purpose: slot.purpose, objectID: "account-keys/v\(version)")
    }

    enum CodingKeys: String, CodingKey {
        case version, accountID, masterKeyUnderPassword, masterKeyUnderRecoveryKey,
             x25519SecretKey, ed25519Seed, x25519PublicKey, ed25519PublicKey
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        accountID = try c.decode(String.self, forKey: .accountID)
        masterKeyUnderPassword = try c.decodeBase64URL(forKey: .masterKeyUnderPassword)
        masterKeyUnderRecoveryKey = try c.decodeBase64URL(forKey: .masterKeyUnderRecoveryKey)
        x25519SecretKey = try c.decodeBase64URL(forKey: .x25519SecretKey)
        ed25519Seed = try c.decodeBase64URL(forKey: .ed25519Seed)
        x25519PublicKey = try c.decode(X25519PublicKey.self, forKey: .x25519PublicKey)
        ed25519PublicKey = try c.decode(Ed25519PublicKey.self, forKey: .ed25519PublicKey)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(accountID, forKey: .accountID)
        try c.encodeBase64URL(masterKeyUnderPassword, forKey: .masterKeyUnderPassword)
        try c.encodeBase64URL(masterKeyUnderRecoveryKey, forKey: .masterKeyUnderRecoveryKey)
        try c.encodeBase64URL(x25519SecretKey, forKey: .x25519SecretKey)
        try c.encodeBase64URL(ed25519Seed, forKey: .ed25519Seed)
        try c.encode(x25519PublicKey, forKey: .x25519PublicKey)
        try c.encode(ed25519PublicKey, forKey: .ed25519PublicKey)
    }

    init(version: Int, accountID: String, masterKeyUnderPassword: [UInt8], masterKeyUnderRecoveryKey: [UInt8],
         x25519SecretKey: [UInt8], ed25519Seed: [UInt8], x25519PublicKey: X25519PublicKey,
         ed25519PublicKey: Ed25519PublicKey) {
        self.version = version
        self.accountID = accountID
        self.masterKeyUnderPassword = masterKeyUnderPassword
        self.masterKeyUnderRecoveryKey = masterKeyUnderRecoveryKey
        self.x25519SecretKey = x25519SecretKey
        self.ed25519Seed = ed25519Seed
        self.x25519PublicKey = x25519PublicKey
        self.ed25519PublicKey = ed25519PublicKey
    }
}

/// Why a bundle did not unlock. Each case is a different story for the user
/// or the logs; none of them carries key material.
public enum KeyBundleError: Error, Equatable, Sendable {
    case unsupportedVersion(Int)
    /// The bundle says it belongs to another account.
    case accountMismatch(expected: String, found: String)
    /// The slot did not open: a wrong password or recovery key (for the
    /// master-key slots), or an altered envelope, or one sealed for another
    /// account or bundle version.
    case slotUnreadable(KeyBundle.Slot, EnvelopeError)
    /// `slot` holds the envelope that belongs in `holds`: the slots were
    /// swapped or copied over one another.
    case swappedSlots(slot: KeyBundle.Slot, holds: KeyBundle.Slot)
    /// The slot opened but its content has the wrong length for its key.
    case malformedKey(KeyBundle.Slot)
    /// The public key stored in clear does not belong to the secret key in the slot.
    case publicKeyMismatch(KeyBundle.Slot)
}
