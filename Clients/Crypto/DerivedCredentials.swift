// Password → Argon2id root → two independent crypto_kdf subkeys: the
// key-encryption key (wraps the master key, never leaves the client) and the
// login secret (sent to the server, which stores only a hash of it). Knowing
// the login secret tells nothing about the key-encryption key.
import Foundation
import Sodium

public enum CredentialError: Error, Equatable, Sendable {
    case emptyPassword
    case invalidSaltLength(Int)
    /// The profile is cheaper than the caller's minimum (see `PasswordProfile`).
    case profileBelowMinimum(PasswordProfile)
    /// The profile costs more than `PasswordProfile.maximum`.
    case profileAboveMaximum(PasswordProfile)
    /// Argon2id could not run, usually because the memory could not be allocated.
    case derivationFailed
}

public struct DerivedCredentials: Sendable {
    public let keyEncryptionKey: KeyEncryptionKey
    public let loginSecret: LoginSecret

    public static let saltLength = 16

    // Part of the stored format: changing either changes every account's keys.
    private static let kekSubkey: (id: UInt64, context: String) = (1, "CfPwdKek")
    private static let loginSubkey: (id: UInt64, context: String) = (2, "CfPwdLgn")

    /// A fresh random salt for a new account or a password change.
    public static func makeSalt() -> [UInt8] {
        Sodium.randomBytes(saltLength)
    }

    /// Derives both values from a password. The password is normalised to
    /// Unicode NFC first, so the same password typed on different platforms
    /// gives the same keys. Blocks for the whole Argon2id run: call it off the
    /// cooperative thread pool.
    ///
    /// `minimumProfile` defaults to `.interactive`; only load and unit tests
    /// lower it, to accept `.testing`.
    public static func derive(password: String, salt: [UInt8], profile: PasswordProfile,
                              minimumProfile: PasswordProfile = .interactive) throws -> DerivedCredentials {
        var bytes = Array(password.precomposedStringWithCanonicalMapping.utf8)
        defer { Sodium.wipe(&bytes) }
        return try derive(passwordBytes: bytes, salt: salt, profile: profile, minimumProfile: minimumProfile)
    }

    /// As `derive(password:…)` for a password that is already bytes; no normalisation.
    public static func derive(passwordBytes: [UInt8], salt: [UInt8], profile: PasswordProfile,
                              minimumProfile: PasswordProfile = .interactive) throws -> DerivedCredentials {
        guard !passwordBytes.isEmpty else { throw CredentialError.emptyPassword }
        guard salt.count == saltLength else { throw CredentialError.invalidSaltLength(salt.count) }
        guard profile.isAtLeast(minimumProfile) else { throw CredentialError.profileBelowMinimum(profile) }
        guard PasswordProfile.maximum.isAtLeast(profile) else { throw CredentialError.profileAboveMaximum(profile) }
        var root: [UInt8]
        do {
            root = try Sodium.argon2id(password: passwordBytes, salt: salt, opsLimit: profile.opsLimit,
                                       memLimit: profile.memLimit, outputLength: Sodium.kdfKeyBytes)
        } catch {
            throw CredentialError.derivationFailed
        }
        defer { Sodium.wipe(&root) }
        let kek = try Sodium.kdfDerive(key: root, subkeyID: kekSubkey.id, context: kekSubkey.context)
        let login = try Sodium.kdfDerive(key: root, subkeyID: loginSubkey.id, context: loginSubkey.context)
        return DerivedCredentials(keyEncryptionKey: KeyEncryptionKey(key: SymmetricKey(unchecked: kek)),
                                  loginSecret: LoginSecret(rawBytes: login))
    }
}
