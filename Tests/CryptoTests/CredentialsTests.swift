// Password derivation: the key-encryption key and the login secret.
import Foundation
import Testing
@testable import CoffreCrypto
import Sodium

@Suite struct CredentialsTests {
    @Test func kekAndLoginSecretAreIndependentAndDeterministic() throws {
        let salt = DerivedCredentials.makeSalt()
        let a = try lightCredentials("hunter2 but longer", salt: salt)
        let b = try lightCredentials("hunter2 but longer", salt: salt)
        #expect(a.keyEncryptionKey == b.keyEncryptionKey)
        #expect(a.loginSecret == b.loginSecret)
        #expect(a.keyEncryptionKey.key.bytes.count == 32)
        #expect(a.loginSecret.rawBytes.count == 32)
        #expect(a.keyEncryptionKey.key.bytes != a.loginSecret.rawBytes)
        #expect(a.loginSecret.base64URL == Sodium.base64URLEncode(a.loginSecret.rawBytes))
    }

    @Test func differentSaltsAndPasswordsGiveDifferentKeys() throws {
        let salt = DerivedCredentials.makeSalt()
        let base = try lightCredentials("password one", salt: salt)
        let otherSalt = try lightCredentials("password one", salt: DerivedCredentials.makeSalt())
        let otherPassword = try lightCredentials("password two", salt: salt)
        for other in [otherSalt, otherPassword] {
            #expect(other.keyEncryptionKey != base.keyEncryptionKey)
            #expect(other.loginSecret != base.loginSecret)
        }
    }

    // Pins the derivation (Argon2id parameters, kdf ids and contexts): a
    // change here would lock every existing account out of its keys. The
    // expected values were computed independently, with the Argon2 reference
    // implementation's CLI (`argon2 coffre-test-salt -id -t 1 -k 8192 -p 1
    // -l 32`) and crypto_kdf redone as keyed BLAKE2b (salt = id, personal =
    // context) in Python's hashlib.
    @Test func derivationIsStable() throws {
        let creds = try DerivedCredentials.derive(
            password: "correct horse battery staple", salt: Array("coffre-test-salt".utf8),
            profile: .testing, minimumProfile: .testing)
        #expect(hexString(creds.keyEncryptionKey.key.bytes) == "185a2a77e1630469575f3dbdca0e10e9df8d613e5038e3ecbe253605b31d66e5")
        #expect(hexString(creds.loginSecret.rawBytes) == "4694f84f0faaa042fa4218dab43c2f3071c736699a9d065acc1627aa3ac1ca0c")
    }

    @Test func passwordIsNormalisedToNFC() throws {
        let salt = DerivedCredentials.makeSalt()
        let composed = try lightCredentials("caf\u{E9}", salt: salt)
        let decomposed = try lightCredentials("cafe\u{301}", salt: salt)
        #expect(composed.keyEncryptionKey == decomposed.keyEncryptionKey)
        #expect(composed.loginSecret == decomposed.loginSecret)
    }

    @Test func profilePolicyIsEnforced() {
        let salt = DerivedCredentials.makeSalt()
        // A server handing back the light profile must not get a cheap hash by default.
        #expect(throws: CredentialError.profileBelowMinimum(.testing)) {
            try DerivedCredentials.derive(password: "pw", salt: salt, profile: .testing)
        }
        let huge = PasswordProfile(opsLimit: 1_000, memLimit: 8 << 20)
        #expect(throws: CredentialError.profileAboveMaximum(huge)) {
            try DerivedCredentials.derive(password: "pw", salt: salt, profile: huge, minimumProfile: .testing)
        }
        #expect(throws: CredentialError.emptyPassword) {
            try DerivedCredentials.derive(password: "", salt: salt, profile: .testing, minimumProfile: .testing)
        }
        #expect(throws: CredentialError.invalidSaltLength(8)) {
            try DerivedCredentials.derive(password: "pw", salt: [UInt8](repeating: 0, count: 8), profile: .testing,
                                          minimumProfile: .testing)
        }
        #expect(PasswordProfile.moderate.isAtLeast(.interactive))
        #expect(!PasswordProfile.testing.isAtLeast(.interactive))
    }

    // The one test on the real cost: libsodium's INTERACTIVE (2 passes, 64 MiB).
    @Test func interactiveProfileDerives() throws {
        #expect(PasswordProfile.interactive == PasswordProfile(opsLimit: 2, memLimit: 64 << 20))
        let salt = DerivedCredentials.makeSalt()
        let real = try DerivedCredentials.derive(password: "a real password", salt: salt, profile: .interactive)
        let light = try lightCredentials("a real password", salt: salt)
        #expect(real.keyEncryptionKey != light.keyEncryptionKey)
        #expect(real.loginSecret != light.loginSecret)
    }

    @Test func secretsNeverDescribeTheirBytes() throws {
        let creds = try lightCredentials()
        let kekHex = hexString(creds.keyEncryptionKey.key.bytes)
        var dumped = ""
        dump(creds, to: &dumped)
        for text in ["\(creds.keyEncryptionKey)", String(reflecting: creds.loginSecret), "\(creds)", dumped] {
            #expect(!text.contains(kekHex))
            #expect(!text.contains(creds.loginSecret.base64URL))
            #expect(!text.contains("\(creds.loginSecret.rawBytes)"))
        }
        #expect("\(creds.keyEncryptionKey)" == "KeyEncryptionKey(redacted)")
        #expect("\(MasterKey.generate())" == "MasterKey(redacted)")
    }
}
