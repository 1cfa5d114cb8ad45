// What the SDK sends: the signup body carries the account's public material
// and AEAD envelopes only, never the password, the key-encryption key, the
// master key, a private key or the recovery key.
@testable import CoffreCrypto
@testable import CoffreSDK
import Foundation
import Sodium
import Testing

@Suite struct RequestTests {
    @Test func signupBodyCarriesNoSecret() async throws {
        let server = FakeAccountsServer()
        let (result, request) = try await signUp(server)
        let session = try #require(result.session)
        let keys = try #require(await session.keys)
        let body = bodyObject(request)

        // The KEK, re-derived from what was sent (salt, parameters) and the password.
        let salt = try #require(Sodium.base64URLDecode(body["salt"] as! String))
        let derived = try DerivedCredentials.derive(password: password, salt: salt, profile: .testing, minimumProfile: .testing)
        let recoveryKey = try RecoveryKey(displayString: result.recoveryKey)
        let secrets = AccountSecrets(keys: keys, kek: derived.keyEncryptionKey, recoveryKey: recoveryKey)

        let text = bodyText(request)
        #expect(secrets.leaks(in: text).isEmpty, "signup body leaks \(secrets.leaks(in: text))")
        #expect(!text.contains(result.recoveryKey))
        #expect(!text.lowercased().contains("\"password\""))

        // Exactly the documented fields, plus the client-chosen account id.
        #expect(Set(body.keys) == ["account_id", "email", "salt", "kdf", "login_secret", "recovery_secret",
                                   "public_keys", "key_bundle"])
        #expect(body["account_id"] as? String == result.accountID)
        #expect(UUID(uuidString: result.accountID) != nil && result.accountID == result.accountID.lowercased())
        #expect(body["email"] as? String == "alice@example.com")
        #expect(body["login_secret"] as? String == derived.loginSecret.base64URL)
        let kdf = try #require(body["kdf"] as? [String: Any])
        #expect(kdf["algorithm"] as? String == "argon2id13")
        #expect((kdf["opslimit"] as? NSNumber)?.intValue == 1)
        #expect((kdf["memlimit"] as? NSNumber)?.intValue == 8 << 20)

        // The recovery secret is a one-way derivation of the recovery key, not the key.
        let recoverySecret = try #require(body["recovery_secret"] as? String)
        #expect(recoverySecret == RecoverySecret.derive(from: recoveryKey))
        #expect(Sodium.base64URLDecode(recoverySecret)?.count == 32)
        #expect(Sodium.base64URLDecode(recoverySecret) != recoveryKey.key.bytes)
        #expect(RecoverySecret.keyBytes(of: recoveryKey) == recoveryKey.key.bytes)

        // Public keys are the account's, with a valid self-signature.
        let publicKeys = try JSONDecoder().decode(PublicKeysDocument.self,
                                                  from: JSONSerialization.data(withJSONObject: body["public_keys"]!))
        #expect(publicKeys.x25519 == keys.x25519.publicKey.base64URL)
        #expect(publicKeys.ed25519 == keys.ed25519.publicKey.base64URL)
        #expect(publicKeys.isSelfSignatureValid)
        let message = Array("coffre-keys-v1\n\(publicKeys.x25519)\n\(publicKeys.ed25519)".utf8)
        #expect(keys.ed25519.publicKey.isValidSignature(Sodium.base64URLDecode(publicKeys.selfSignature)!, for: message))

        // The bundle is bound to the proposed account id and opens with the KEK.
        let bundle = try JSONDecoder().decode(KeyBundle.self, from: JSONSerialization.data(withJSONObject: body["key_bundle"]!))
        #expect(bundle.accountID == result.accountID)
        let reopened = try AccountKeys.unlock(bundle: bundle, accountID: result.accountID, kek: derived.keyEncryptionKey)
        #expect(reopened.masterKey == keys.masterKey)
    }

    @Test func everyRequestIsFreeOfSecrets() async throws {
        let server = FakeAccountsServer()
        let (result, request) = try await signUp(server)
        let session = try #require(result.session)
        let client = testClient(server)
        try await client.changePassword(session, current: password, new: "a brand new password")
        try await client.recover(email: "alice@example.com", recoveryKey: result.recoveryKey, newPassword: "third password")
        let keys = try #require(await session.keys)
        let salt = try #require(Sodium.base64URLDecode(bodyObject(request)["salt"] as! String))
        let derived = try DerivedCredentials.derive(password: password, salt: salt, profile: .testing, minimumProfile: .testing)
        var secrets = AccountSecrets(keys: keys, kek: derived.keyEncryptionKey,
                                     recoveryKey: try RecoveryKey(displayString: result.recoveryKey))
        secrets.all.append(("new password", Array("a brand new password".utf8)))
        secrets.all.append(("third password", Array("third password".utf8)))
        for sent in server.recorded {
            let text = bodyText(sent) + sent.path + sent.headers.values.joined()
            #expect(secrets.leaks(in: text).isEmpty, "\(sent.method) \(sent.path) leaks \(secrets.leaks(in: text))")
            #expect(!text.contains("a brand new password") && !text.contains("third password"))
        }
    }

    @Test func tenantHeaderOnUnauthenticatedCallsOnly() async throws {
        let server = FakeAccountsServer()
        let (result, _) = try await signUp(server)
        _ = try await testClient(server).whoami(try #require(result.session))
        for request in server.recorded {
            if request.path == "/v1/accounts/me" {
                #expect(request.header("X-Coffre-Tenant") == nil)
                #expect(request.header("Authorization")?.hasPrefix("Bearer ") == true)
            } else {
                #expect(request.header("X-Coffre-Tenant") == "acme", "\(request.path)")
                #expect(request.header("Authorization") == nil)
            }
        }
        // No tenant configured: no header.
        let plain = FakeAccountsServer()
        _ = try await testClient(plain, tenant: nil).signup(email: "b@example.com", password: password)
        #expect(plain.recorded.allSatisfy { $0.header("X-Coffre-Tenant") == nil })
    }

    @Test func serverAssigningAnotherAccountIDIsRefused() async throws {
        let server = FakeAccountsServer()
        server.assignAccountID = UUID().uuidString.lowercased()
        await #expect(throws: CoffreClientError.self) {
            _ = try await testClient(server).signup(email: "alice@example.com", password: password)
        }
        #expect(!server.paths().contains("POST /v1/auth/login"))
    }

    @Test func badInputIsRejectedBeforeAnyRequest() async throws {
        let server = FakeAccountsServer()
        let client = testClient(server)
        await #expect(throws: CoffreClientError.invalidInput("the email is empty")) {
            _ = try await client.signup(email: "  ", password: password)
        }
        await #expect(throws: CoffreClientError.invalidInput("the password is empty")) {
            _ = try await client.signup(email: "a@b.c", password: "")
        }
        await #expect(throws: CoffreClientError.self) {
            _ = try await client.recover(email: "a@b.c", recoveryKey: "not a key", newPassword: "x")
        }
        #expect(server.recorded.isEmpty)
    }
}
