// An account's keys in the clear, as only the client ever holds them: the
// master key, the X25519 pair and the Ed25519 pair. It makes the bundle the
// server stores and opens it again, verifying every slot and that every
// public key belongs to its secret key before handing anything out.
import Sodium

public struct AccountKeys: Sendable {
    public let masterKey: MasterKey
    public let x25519: X25519KeyPair
    public let ed25519: Ed25519KeyPair

    /// Fresh keys for a new account, and the recovery key to show the user
    /// once. The recovery key is not kept in `AccountKeys`.
    public static func generate() -> (keys: AccountKeys, recoveryKey: RecoveryKey) {
        (AccountKeys(masterKey: .generate(), x25519: .generate(), ed25519: .generate()), .generate())
    }

    /// The bundle to upload at signup.
    public func makeBundle(accountID: String, kek: KeyEncryptionKey, recoveryKey: RecoveryKey) throws -> KeyBundle {
        var bundle = KeyBundle(version: KeyBundle.currentVersion, accountID: accountID,
                               masterKeyUnderPassword: [], masterKeyUnderRecoveryKey: [],
                               x25519SecretKey: [], ed25519Seed: [],
                               x25519PublicKey: x25519.publicKey, ed25519PublicKey: ed25519.publicKey)
        try seal(masterKey.key.bytes, into: .masterKeyUnderPassword, of: &bundle, key: kek.key)
        try seal(masterKey.key.bytes, into: .masterKeyUnderRecoveryKey, of: &bundle, key: recoveryKey.key)
        try seal(x25519.secretKey, into: .x25519SecretKey, of: &bundle, key: masterKey.subkey(for: .x25519SecretKey))
        try seal(ed25519.seed, into: .ed25519Seed, of: &bundle, key: masterKey.subkey(for: .ed25519Seed))
        return bundle
    }

    /// Opens a bundle with the password's key-encryption key.
    public static func unlock(bundle: KeyBundle, accountID: String, kek: KeyEncryptionKey) throws -> AccountKeys {
        try unlock(bundle: bundle, accountID: accountID, slot: .masterKeyUnderPassword, key: kek.key)
    }

    /// Opens a bundle with the recovery key, for a user who lost the password.
    public static func unlock(bundle: KeyBundle, accountID: String, recoveryKey: RecoveryKey) throws -> AccountKeys {
        try unlock(bundle: bundle, accountID: accountID, slot: .masterKeyUnderRecoveryKey, key: recoveryKey.key)
    }

    /// The bundle after a password change: only the password slot changes,
    /// so the recovery key keeps working. Refuses a bundle these keys did not come from.
    public func rewrap(_ bundle: KeyBundle, newKEK: KeyEncryptionKey) throws -> KeyBundle {
        try verifyOwnership(of: bundle)
        var updated = bundle
        try seal(masterKey.key.bytes, into: .masterKeyUnderPassword, of: &updated, key: newKEK.key)
        return updated
    }

    /// The bundle after the user asked for a new recovery key; the old one stops working.
    public func rewrap(_ bundle: KeyBundle, newRecoveryKey: RecoveryKey) throws -> KeyBundle {
        try verifyOwnership(of: bundle)
        var updated = bundle
        try seal(masterKey.key.bytes, into: .masterKeyUnderRecoveryKey, of: &updated, key: newRecoveryKey.key)
        return updated
    }

    // MARK: - Internals

    private func seal(_ secret: [UInt8], into slot: KeyBundle.Slot, of bundle: inout KeyBundle, key: SymmetricKey) throws {
        bundle[slot] = try Envelope.seal(plaintext: secret, key: key, context: bundle.envelopeContext(slot))
    }

    private func verifyOwnership(of bundle: KeyBundle) throws {
        try Self.checkHeader(bundle, accountID: bundle.accountID)
        let reopened = try Self.openKeyPairs(bundle, masterKey: masterKey)
        guard reopened.x25519.publicKey == x25519.publicKey else { throw KeyBundleError.publicKeyMismatch(.x25519SecretKey) }
        guard reopened.ed25519.publicKey == ed25519.publicKey else { throw KeyBundleError.publicKeyMismatch(.ed25519Seed) }
    }

    private static func checkHeader(_ bundle: KeyBundle, accountID: String) throws {
        guard bundle.version == KeyBundle.currentVersion else { throw KeyBundleError.unsupportedVersion(bundle.version) }
        guard bundle.accountID == accountID else {
            throw KeyBundleError.accountMismatch(expected: accountID, found: bundle.accountID)
        }
    }

    // The slot that was not opened (recovery when unlocking with the password,
    // and the reverse) cannot be verified without its key, and is left alone.
    private static func unlock(bundle: KeyBundle, accountID: String, slot: KeyBundle.Slot, key: SymmetricKey) throws -> AccountKeys {
        try checkHeader(bundle, accountID: accountID)
        let master = try open(slot, of: bundle, keys: [slot: key])
        guard master.count == SymmetricKey.byteCount else { throw KeyBundleError.malformedKey(slot) }
        let pairs = try openKeyPairs(bundle, masterKey: MasterKey(key: SymmetricKey(unchecked: master)))
        return AccountKeys(masterKey: MasterKey(key: SymmetricKey(unchecked: master)), x25519: pairs.x25519, ed25519: pairs.ed25519)
    }

    private static func openKeyPairs(_ bundle: KeyBundle, masterKey: MasterKey) throws -> (x25519: X25519KeyPair, ed25519: Ed25519KeyPair) {
        let keys: [KeyBundle.Slot: SymmetricKey] = [
            .x25519SecretKey: masterKey.subkey(for: .x25519SecretKey),
            .ed25519Seed: masterKey.subkey(for: .ed25519Seed),
        ]
        let boxSecret = try open(.x25519SecretKey, of: bundle, keys: keys)
        guard let x25519 = try? X25519KeyPair(secretKey: boxSecret) else { throw KeyBundleError.malformedKey(.x25519SecretKey) }
        guard x25519.publicKey == bundle.x25519PublicKey else { throw KeyBundleError.publicKeyMismatch(.x25519SecretKey) }

        let seed = try open(.ed25519Seed, of: bundle, keys: keys)
        guard let ed25519 = try? Ed25519KeyPair(seed: seed) else { throw KeyBundleError.malformedKey(.ed25519Seed) }
        guard ed25519.publicKey == bundle.ed25519PublicKey else { throw KeyBundleError.publicKeyMismatch(.ed25519Seed) }
        return (x25519, ed25519)
    }

    /// Opens `slot` with `keys[slot]`. On failure it tries the other keys it
    /// was given and the other slots, only to name the error precisely: a
    /// swapped slot is an attack worth telling apart from a wrong password.
    private static func open(_ slot: KeyBundle.Slot, of bundle: KeyBundle, keys: [KeyBundle.Slot: SymmetricKey]) throws -> [UInt8] {
        let key = keys[slot]!
        do {
            return try Envelope.open(bundle[slot], key: key, context: bundle.envelopeContext(slot))
        } catch let error as EnvelopeError {
            for (other, otherKey) in keys where other != slot {
                if (try? Envelope.open(bundle[slot], key: otherKey, context: bundle.envelopeContext(other))) != nil {
                    throw KeyBundleError.swappedSlots(slot: slot, holds: other)
                }
            }
            for other in KeyBundle.Slot.allCases where other != slot {
                if (try? Envelope.open(bundle[other], key: key, context: bundle.envelopeContext(slot))) != nil {
                    throw KeyBundleError.swappedSlots(slot: other, holds: slot)
                }
            }
            throw KeyBundleError.slotUnreadable(slot, error)
        }
    }
}
