// What a key is for. The raw value is the crypto_kdf subkey id and, with the
// context, is bound into the associated data of every envelope, so a
// ciphertext made for one purpose never opens as another. These numbers and
// contexts are part of the stored format: never renumber, only add.
public enum KeyPurpose: UInt16, CaseIterable, Sendable, Codable {
    /// The master key wrapped under the password's key-encryption key.
    case masterKeyUnderPassword = 1
    /// The master key wrapped under the recovery key.
    case masterKeyUnderRecoveryKey = 2
    /// The account's X25519 secret key wrapped under a master-key subkey.
    case x25519SecretKey = 3
    /// The account's Ed25519 seed wrapped under a master-key subkey.
    case ed25519Seed = 4
    /// Node keys of the account's own tree wrapped under a master-key subkey.
    case nodeKeyWrap = 5
    /// Account-level settings encrypted under a master-key subkey.
    case accountAttributes = 6
    /// A node key's subkey for file contents (secretstream).
    case fileContent = 7
    /// A node key's subkey for the key check in a file header.
    case fileKeyCheck = 8
    /// A node key's subkey for encrypted names and attributes.
    case attributes = 9
    /// A share link's node key wrapped under a key derived from the link password.
    case linkKeyWrap = 10

    /// Which key a purpose's key is, or is derived from.
    public enum Source: Sendable {
        /// The password's key-encryption key itself (already single-purpose).
        case keyEncryptionKey
        /// The recovery key itself (already single-purpose).
        case recoveryKey
        /// A crypto_kdf subkey of the master key.
        case masterKey
        /// A crypto_kdf subkey of a node key.
        case nodeKey
        /// A crypto_kdf subkey of the Argon2id hash of a share link's password.
        case linkPassword
    }

    public var source: Source {
        switch self {
        case .masterKeyUnderPassword: .keyEncryptionKey
        case .masterKeyUnderRecoveryKey: .recoveryKey
        case .x25519SecretKey, .ed25519Seed, .nodeKeyWrap, .accountAttributes: .masterKey
        case .fileContent, .fileKeyCheck, .attributes: .nodeKey
        case .linkKeyWrap: .linkPassword
        }
    }

    /// The crypto_kdf context: exactly 8 ASCII characters.
    public var context: String {
        switch self {
        case .masterKeyUnderPassword: "CfMkPass"
        case .masterKeyUnderRecoveryKey: "CfMkRcvr"
        case .x25519SecretKey: "CfX25519"
        case .ed25519Seed: "CfEdSeed"
        case .nodeKeyWrap: "CfNodeKy"
        case .accountAttributes: "CfAcAttr"
        case .fileContent: "CfFileCt"
        case .fileKeyCheck: "CfFileKc"
        case .attributes: "CfAttrib"
        case .linkKeyWrap: "CfLinkPw"
        }
    }

    public var subkeyID: UInt64 { UInt64(rawValue) }
}
