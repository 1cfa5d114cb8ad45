// Account keys and the bundle the server stores: round trips and every way
// a malicious or broken server could alter it.
import Foundation
import Testing
@testable import CoffreCrypto
import Sodium

struct Account {
    let id: String
    let salt: [UInt8]
    let credentials: DerivedCredentials
    let keys: AccountKeys
    let recoveryKey: RecoveryKey
    let bundle: KeyBundle

    init(_ id: String = "acct-alice", password: String = "alice's password") throws {
        self.id = id
        salt = DerivedCredentials.makeSalt()
        credentials = try lightCredentials(password, salt: salt)
        (keys, recoveryKey) = AccountKeys.generate()
        bundle = try keys.makeBundle(accountID: id, kek: credentials.keyEncryptionKey, recoveryKey: recoveryKey)
    }

    func unlock(_ bundle: KeyBundle) throws -> AccountKeys {
        try AccountKeys.unlock(bundle: bundle, accountID: id, kek: credentials.keyEncryptionKey)
    }
}

func expectSameKeys(_ a: AccountKeys, _ b: AccountKeys) {
    #expect(a.masterKey == b.masterKey)
    #expect(a.x25519.publicKey == b.x25519.publicKey)
    #expect(a.x25519.secretKey == b.x25519.secretKey)
    #expect(a.ed25519.publicKey == b.ed25519.publicKey)
    #expect(a.ed25519.seed == b.ed25519.seed)
}

@Suite struct KeyBundleTests {
    @Test func unlocksWithPasswordAndWithRecoveryKey() throws {
        let alice = try Account()
        expectSameKeys(try alice.unlock(alice.bundle), alice.keys)
        let recovered = try AccountKeys.unlock(bundle: alice.bundle, accountID: alice.id, recoveryKey: alice.recoveryKey)
        expectSameKeys(recovered, alice.keys)
        // The unlocked signing key matches the public key others will verify with.
        let signature = recovered.ed25519.signature(for: [1, 2, 3])
        #expect(alice.bundle.ed25519PublicKey.isValidSignature(signature, for: [1, 2, 3]))
    }

    @Test func bundleIsCodableAsBase64URLStrings() throws {
        let alice = try Account()
        let json = try JSONEncoder().encode(alice.bundle)
        let decoded = try JSONDecoder().decode(KeyBundle.self, from: json)
        #expect(decoded == alice.bundle)
        let object = try JSONSerialization.jsonObject(with: json) as! [String: Any]
        #expect(Set(object.keys) == ["version", "accountID", "masterKeyUnderPassword", "masterKeyUnderRecoveryKey",
                                     "x25519SecretKey", "ed25519Seed", "x25519PublicKey", "ed25519PublicKey"])
        #expect(object["masterKeyUnderPassword"] as? String == Sodium.base64URLEncode(alice.bundle.masterKeyUnderPassword))
        #expect(object["x25519PublicKey"] as? String == alice.bundle.x25519PublicKey.base64URL)
        // Nothing in it is a plaintext key.
        let text = String(decoding: json, as: UTF8.self)
        for secret in [alice.keys.masterKey.key.bytes, alice.keys.x25519.secretKey, alice.keys.ed25519.seed,
                       alice.credentials.keyEncryptionKey.key.bytes, alice.recoveryKey.key.bytes] {
            #expect(!text.contains(Sodium.base64URLEncode(secret)))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(KeyBundle.self, from: Data(text.replacingOccurrences(of: "\"version\"", with: "\"v\"").utf8))
        }
    }

    @Test func wrongPasswordOrRecoveryKeyIsRejected() throws {
        let alice = try Account()
        let wrong = try lightCredentials("not alice's password", salt: alice.salt)
        #expect(throws: KeyBundleError.slotUnreadable(.masterKeyUnderPassword, .authenticationFailed)) {
            try AccountKeys.unlock(bundle: alice.bundle, accountID: alice.id, kek: wrong.keyEncryptionKey)
        }
        #expect(throws: KeyBundleError.slotUnreadable(.masterKeyUnderRecoveryKey, .authenticationFailed)) {
            try AccountKeys.unlock(bundle: alice.bundle, accountID: alice.id, recoveryKey: .generate())
        }
    }

    @Test(arguments: KeyBundle.Slot.allCases)
    func oneChangedByteInAnySlotIsRejected(slot: KeyBundle.Slot) throws {
        let alice = try Account()
        for index in tamperPositions(count: alice.bundle[slot].count) {
            var bundle = alice.bundle
            bundle[slot] = flipping(bundle[slot], at: index)
            let envelopeError: EnvelopeError = index == 0 ? .unsupportedVersion(0) : .authenticationFailed
            // The password unlock reads every slot but the recovery one, and the reverse.
            if slot != .masterKeyUnderRecoveryKey {
                #expect(throws: KeyBundleError.slotUnreadable(slot, envelopeError)) { try alice.unlock(bundle) }
            }
            if slot != .masterKeyUnderPassword {
                #expect(throws: KeyBundleError.slotUnreadable(slot, envelopeError)) {
                    try AccountKeys.unlock(bundle: bundle, accountID: alice.id, recoveryKey: alice.recoveryKey)
                }
            }
        }
    }

    @Test func changedPublicKeysAreRejected() throws {
        let alice = try Account()
        for index in [0, 15, 31] {
            var bundle = alice.bundle
            bundle.x25519PublicKey = try X25519PublicKey(rawBytes: flipping(bundle.x25519PublicKey.rawBytes, at: index))
            #expect(throws: KeyBundleError.publicKeyMismatch(.x25519SecretKey)) { try alice.unlock(bundle) }
            bundle = alice.bundle
            bundle.ed25519PublicKey = try Ed25519PublicKey(rawBytes: flipping(bundle.ed25519PublicKey.rawBytes, at: index))
            #expect(throws: KeyBundleError.publicKeyMismatch(.ed25519Seed)) { try alice.unlock(bundle) }
        }
        // Another account's public keys spliced into Alice's bundle.
        let bob = try Account("acct-bob")
        var bundle = alice.bundle
        bundle.x25519PublicKey = bob.bundle.x25519PublicKey
        #expect(throws: KeyBundleError.publicKeyMismatch(.x25519SecretKey)) { try alice.unlock(bundle) }
    }

    @Test func bundleOfAnotherAccountIsRejected() throws {
        let alice = try Account()
        let bob = try Account("acct-bob", password: "alice's password")
        // Served Alice's bundle, Bob's client sees it is not his.
        #expect(throws: KeyBundleError.accountMismatch(expected: "acct-bob", found: "acct-alice")) {
            try bob.unlock(alice.bundle)
        }
        // Relabelled as Bob's: the clear account id no longer matches what the envelopes are bound to.
        var relabelled = alice.bundle
        relabelled.accountID = "acct-bob"
        #expect(throws: KeyBundleError.slotUnreadable(.masterKeyUnderPassword, .authenticationFailed)) {
            try AccountKeys.unlock(bundle: relabelled, accountID: "acct-bob", kek: alice.credentials.keyEncryptionKey)
        }
        // Bob's slots spliced into Alice's bundle.
        var spliced = alice.bundle
        spliced.ed25519Seed = bob.bundle.ed25519Seed
        #expect(throws: KeyBundleError.slotUnreadable(.ed25519Seed, .authenticationFailed)) { try alice.unlock(spliced) }
    }

    @Test func swappedKeyPurposesAreRejected() throws {
        let alice = try Account()

        // The wrapped X25519 key placed in the Ed25519 slot.
        var copied = alice.bundle
        copied.ed25519Seed = alice.bundle.x25519SecretKey
        #expect(throws: KeyBundleError.swappedSlots(slot: .ed25519Seed, holds: .x25519SecretKey)) { try alice.unlock(copied) }

        // Both swapped: caught on the first slot read.
        var swapped = alice.bundle
        swapped.ed25519Seed = alice.bundle.x25519SecretKey
        swapped.x25519SecretKey = alice.bundle.ed25519Seed
        #expect(throws: KeyBundleError.swappedSlots(slot: .x25519SecretKey, holds: .ed25519Seed)) { try alice.unlock(swapped) }

        // The two master-key slots swapped.
        var masters = alice.bundle
        masters.masterKeyUnderPassword = alice.bundle.masterKeyUnderRecoveryKey
        masters.masterKeyUnderRecoveryKey = alice.bundle.masterKeyUnderPassword
        #expect(throws: KeyBundleError.swappedSlots(slot: .masterKeyUnderRecoveryKey, holds: .masterKeyUnderPassword)) {
            try alice.unlock(masters)
        }
        #expect(throws: KeyBundleError.swappedSlots(slot: .masterKeyUnderPassword, holds: .masterKeyUnderRecoveryKey)) {
            try AccountKeys.unlock(bundle: masters, accountID: alice.id, recoveryKey: alice.recoveryKey)
        }

        // A key-wrapping envelope moved into a master-key slot.
        var moved = alice.bundle
        moved.masterKeyUnderPassword = alice.bundle.x25519SecretKey
        #expect(throws: KeyBundleError.slotUnreadable(.masterKeyUnderPassword, .authenticationFailed)) { try alice.unlock(moved) }
    }

    @Test func unknownBundleVersionIsRejected() throws {
        let alice = try Account()
        var bundle = alice.bundle
        bundle.version = 2
        #expect(throws: KeyBundleError.unsupportedVersion(2)) { try alice.unlock(bundle) }
    }

    @Test func rewrapForPasswordChangeKeepsRecovery() throws {
        let alice = try Account()
        let newSalt = DerivedCredentials.makeSalt()
        let newCredentials = try lightCredentials("alice's new password", salt: newSalt)
        let rewrapped = try alice.keys.rewrap(alice.bundle, newKEK: newCredentials.keyEncryptionKey)

        expectSameKeys(try AccountKeys.unlock(bundle: rewrapped, accountID: alice.id, kek: newCredentials.keyEncryptionKey), alice.keys)
        #expect(throws: KeyBundleError.slotUnreadable(.masterKeyUnderPassword, .authenticationFailed)) {
            try alice.unlock(rewrapped)
        }
        expectSameKeys(try AccountKeys.unlock(bundle: rewrapped, accountID: alice.id, recoveryKey: alice.recoveryKey), alice.keys)
        #expect(rewrapped.masterKeyUnderRecoveryKey == alice.bundle.masterKeyUnderRecoveryKey)
        #expect(rewrapped.x25519PublicKey == alice.bundle.x25519PublicKey)

        // Keys from another account cannot rewrap Alice's bundle.
        let bob = try Account("acct-bob")
        #expect(throws: KeyBundleError.self) { try bob.keys.rewrap(alice.bundle, newKEK: newCredentials.keyEncryptionKey) }
    }

    @Test func rewrapWithNewRecoveryKey() throws {
        let alice = try Account()
        let newRecovery = RecoveryKey.generate()
        let rewrapped = try alice.keys.rewrap(alice.bundle, newRecoveryKey: newRecovery)
        expectSameKeys(try AccountKeys.unlock(bundle: rewrapped, accountID: alice.id, recoveryKey: newRecovery), alice.keys)
        #expect(throws: KeyBundleError.slotUnreadable(.masterKeyUnderRecoveryKey, .authenticationFailed)) {
            try AccountKeys.unlock(bundle: rewrapped, accountID: alice.id, recoveryKey: alice.recoveryKey)
        }
        expectSameKeys(try alice.unlock(rewrapped), alice.keys)
    }

    @Test func accountKeysNeverDescribeTheirBytes() throws {
        let alice = try Account()
        var dumped = ""
        dump(alice.keys, to: &dumped)
        let text = "\(alice.keys) \(String(reflecting: alice.keys)) \(alice.recoveryKey) \(dumped)"
        for secret in [alice.keys.masterKey.key.bytes, alice.keys.x25519.secretKey, alice.keys.ed25519.seed] {
            #expect(!text.contains(hexString(secret)))
            #expect(!text.contains("\(secret)"))
        }
        #expect(!text.contains(alice.recoveryKey.displayString))
    }
}

@Suite struct RecoveryKeyTests {
    @Test func displayStringRoundTrips() throws {
        let key = RecoveryKey.generate()
        let display = key.displayString
        let groups = display.split(separator: "-")
        #expect(groups.count == 14 && groups.allSatisfy { $0.count == 4 })
        #expect(try RecoveryKey(displayString: display) == key)
        // Forgiving input: lower case, spaces instead of dashes, O for 0, l for 1.
        let sloppy = display.lowercased().replacingOccurrences(of: "-", with: " ")
            .replacingOccurrences(of: "0", with: "o").replacingOccurrences(of: "1", with: "l")
        #expect(try RecoveryKey(displayString: sloppy) == key)
    }

    @Test func typosAreCaught() throws {
        let display = Array(RecoveryKey.generate().displayString)
        var typo = display
        typo[0] = typo[0] == "A" ? "B" : "A"
        #expect(throws: RecoveryKeyError.checksumMismatch) { try RecoveryKey(displayString: String(typo)) }
        var invalid = display
        invalid[5] = "U"
        #expect(throws: RecoveryKeyError.invalidCharacter(position: 4)) { try RecoveryKey(displayString: String(invalid)) }
        #expect(throws: RecoveryKeyError.wrongLength(55)) { try RecoveryKey(displayString: String(display.dropLast())) }
    }
}
