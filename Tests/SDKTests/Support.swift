// Helpers for the SDK tests. Every client here uses the cheap `.testing`
// Argon2id profile (1 pass, 8 MiB) so the suite stays fast, except where a
// test is about refusing weak parameters.
@testable import CoffreCrypto
@testable import CoffreSDK
import Foundation
import Sodium

func testClient(_ server: FakeAccountsServer, tenant: String? = "acme") -> CoffreClient {
    CoffreClient(transport: server, tenant: tenant, profile: .testing)
}

let password = "correct horse battery staple"

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// Every textual form a secret could leak in.
func encodings(of secret: [UInt8]) -> [String] {
    [Sodium.base64URLEncode(secret), Data(secret).base64EncodedString(), hexString(secret), hexString(secret).uppercased()]
}

/// The secrets of a freshly signed-up account, recovered from the SDK's
/// in-memory session and the request it sent.
struct AccountSecrets {
    var all: [(String, [UInt8])]

    init(keys: AccountKeys, kek: KeyEncryptionKey, recoveryKey: RecoveryKey) {
        all = [
            ("master key", keys.masterKey.key.bytes),
            ("x25519 secret key", keys.x25519.secretKey),
            ("ed25519 seed", keys.ed25519.seed),
            ("ed25519 secret key", keys.ed25519.secretKey),
            ("key-encryption key", kek.key.bytes),
            ("recovery key", recoveryKey.key.bytes),
            ("password", Array(password.utf8)),
        ]
        for purpose in [KeyPurpose.x25519SecretKey, .ed25519Seed, .nodeKeyWrap, .accountAttributes] {
            all.append(("master subkey \(purpose)", keys.masterKey.subkey(for: purpose).bytes))
        }
    }

    /// The secrets (in any encoding) that appear in `text`.
    func leaks(in text: String) -> [String] {
        var found: [String] = []
        for (name, bytes) in all {
            if name == "password" {
                if text.contains(password) { found.append(name) }
                continue
            }
            for encoded in encodings(of: bytes) where text.contains(encoded) {
                found.append("\(name) as \(encoded.prefix(8))…")
            }
        }
        return found
    }
}

func bodyText(_ request: TransportRequest) -> String {
    String(decoding: request.body ?? [], as: UTF8.self)
}

func bodyObject(_ request: TransportRequest) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(request.body ?? [])) as? [String: Any]) ?? [:]
}

/// Signs up `email` on `server` and returns the result and the signup request.
func signUp(_ server: FakeAccountsServer, email: String = "alice@example.com",
            password pw: String = password) async throws -> (result: SignupResult, request: TransportRequest) {
    let result = try await testClient(server).signup(email: email, password: pw, deviceName: "test")
    let request = server.recorded.last { $0.path == "/v1/accounts" }!
    return (result, request)
}

func expectKeyBundleRejected(_ body: () async throws -> Void) async -> String? {
    do {
        try await body()
        return nil
    } catch CoffreClientError.keyBundleRejected(let reason) {
        return reason
    } catch {
        return "WRONG ERROR: \(error)"
    }
}
