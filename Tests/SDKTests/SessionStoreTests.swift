// The saved session: 0600 in a 0700 folder, never a password or a key.
@testable import CoffreCrypto
@testable import CoffreSDK
import Foundation
import Sodium
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct SessionStoreTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("coffre-sdk-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as! NSNumber).intValue & 0o777
    }

    @Test func defaultLocation() throws {
        #expect(try SessionStore.defaultURL(environment: ["XDG_CONFIG_HOME": "/x/cfg", "HOME": "/home/u"]).path
            == "/x/cfg/coffre/session.json")
        #expect(try SessionStore.defaultURL(environment: ["HOME": "/home/u"]).path == "/home/u/.config/coffre/session.json")
        // A relative XDG_CONFIG_HOME is invalid per the spec and ignored.
        #expect(try SessionStore.defaultURL(environment: ["XDG_CONFIG_HOME": "rel", "HOME": "/home/u"]).path
            == "/home/u/.config/coffre/session.json")
        #expect(throws: SessionStoreError.self) { try SessionStore.defaultURL(environment: [:]) }
    }

    @Test func savesPrivatelyWithoutSecrets() async throws {
        let server = FakeAccountsServer()
        let (result, request) = try await signUp(server)
        let session = try #require(result.session)
        let keys = try #require(await session.keys)
        let salt = try #require(Sodium.base64URLDecode(bodyObject(request)["salt"] as! String))
        let derived = try DerivedCredentials.derive(password: password, salt: salt, profile: .testing, minimumProfile: .testing)

        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try SessionStore(environment: ["XDG_CONFIG_HOME": root.path])
        let previous = umask(0)  // the most permissive umask: modes must not depend on it
        defer { umask(previous) }
        try store.save(await session.state)

        #expect(store.fileURL.path == root.path + "/coffre/session.json")
        #expect(try mode(store.fileURL.path) == 0o600)
        #expect(try mode(store.fileURL.deletingLastPathComponent().path) == 0o700)
        let text = try String(contentsOf: store.fileURL, encoding: .utf8)
        let secrets = AccountSecrets(keys: keys, kek: derived.keyEncryptionKey,
                                     recoveryKey: try RecoveryKey(displayString: result.recoveryKey))
        #expect(secrets.leaks(in: text).isEmpty, "session file leaks \(secrets.leaks(in: text))")
        #expect(!text.contains(derived.loginSecret.base64URL))
        #expect(!text.contains(result.recoveryKey))
        #expect(!text.contains(bodyObject(request)["recovery_secret"] as! String))
        #expect(!text.contains("key_bundle") && !text.contains("masterKey"))
        for field in ["access_token", "refresh_token", "account_id", "session_id", "tenant_id", "server"] {
            #expect(text.contains(field))
        }

        // Round trip; the restored session has tokens and no keys.
        let loaded = try #require(try store.load())
        #expect(loaded == (await session.state))
        let restored = Session(restoring: loaded)
        #expect(await restored.keys == nil)
        _ = try await testClient(server).whoami(restored)

        // Overwrite keeps the mode, leaves no temporary file behind; delete removes it.
        try store.save(loaded)
        #expect(try mode(store.fileURL.path) == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path + "/coffre") == ["session.json"])
        try store.delete()
        #expect(try store.load() == nil)
        try store.delete()  // no error when already gone
    }

    @Test func tightensAnExistingFolder() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("coffre")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let store = SessionStore(fileURL: folder.appendingPathComponent("session.json"))
        try store.save(SessionState(server: "http://x", tenant: nil, email: "a@b.c", accountID: "a", tenantID: "t",
                                    sessionID: "s", accessToken: "at", refreshToken: "rt", accessTokenExpiresAt: Date()))
        #expect(try mode(folder.path) == 0o700)
        #expect(try mode(store.fileURL.path) == 0o600)
    }

    @Test func corruptFileIsReported() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let store = SessionStore(fileURL: root.appendingPathComponent("session.json"))
        #expect(try store.load() == nil)
        try Data("{not json".utf8).write(to: store.fileURL)
        #expect(throws: SessionStoreError.self) { try store.load() }
    }
}
