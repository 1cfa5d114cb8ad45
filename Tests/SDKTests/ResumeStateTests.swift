// What an interrupted upload leaves on disk, and unlocking a restored
// session's keys with the password: no key is ever written in the clear.
@testable import CoffreCrypto
@testable import CoffreSDK
import Foundation
import Sodium
import Testing

@Suite struct ResumeStateTests {
    func sample(key: FileKey, master: MasterKey, owner: String) throws -> UploadResumeState {
        let nodeID = UUID().uuidString.lowercased()
        return UploadResumeState(
            server: "http://fake.test", accountID: owner, uploadPath: "/v1/uploads/\(UUID().uuidString.lowercased())",
            nodeID: nodeID, parentID: nil, name: "a.txt", isNewVersion: false,
            wrappedKey: try master.wrap(nodeKey: key, nodeID: nodeID, owner: owner),
            attributes: try Attributes.seal(NodeAttributes(name: "a.txt", kind: .file), fileKey: key, nodeID: nodeID, owner: owner),
            streamHeader: Sodium.randomBytes(24), chunkSize: 65_536, encryptedLength: 1234,
            source: SourceFingerprint(path: "/tmp/a.txt", size: 1000, mtimeSeconds: 1_700_000_000, mtimeNanoseconds: 5,
                                      inode: 42, device: 7),
            sentPlaintextBytes: 1000, sentDigest: SourceDigest.next(SourceDigest.initial, block: [1, 2, 3]),
            createdAt: Date(timeIntervalSince1970: 1_700_000_000), expiresAt: Date(timeIntervalSince1970: 1_700_086_400))
    }

    @Test func savedPrivatelyReadBackExactlyWithoutAClearKey() throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory() + "coffre-resume-" + UUID().uuidString + "/coffre/uploads")
        let store = UploadResumeStore(directory: directory)
        let key = FileKey.generate()
        let master = MasterKey.generate()
        let state = try sample(key: key, master: master, owner: UUID().uuidString.lowercased())
        try store.save(state)
        #expect(store.all() == [state])

        let file = directory.appendingPathComponent("\(state.id).json").path
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let folderMode = try FileManager.default.attributesOfItem(atPath: directory.path)[.posixPermissions] as? NSNumber
        #expect(folderMode?.intValue == 0o700)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        for secret in [key.rawBytes, master.key.bytes, key.subkey(for: .fileContent).bytes] {
            for encoded in encodings(of: secret) { #expect(!text.contains(encoded)) }
        }
        // The wrapped key opens only for this account and node.
        let unwrapped = try master.unwrapNodeKey(Array(state.wrappedKey), nodeID: state.nodeID, owner: state.accountID)
        #expect(unwrapped == key)
        #expect(throws: EnvelopeError.self) {
            _ = try master.unwrapNodeKey(Array(state.wrappedKey), nodeID: UUID().uuidString.lowercased(), owner: state.accountID)
        }

        store.delete(id: state.id)
        #expect(store.all().isEmpty)
    }

    @Test func unreadableOrForeignFilesAreIgnored() throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory() + "coffre-resume-" + UUID().uuidString + "/uploads")
        let store = UploadResumeStore(directory: directory)
        let state = try sample(key: .generate(), master: .generate(), owner: "acct")
        try store.save(state)
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("junk.json").path, contents: Data("{".utf8))
        // An id that is not a UUID would name another file: refused.
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        var evil = try JSONSerialization.jsonObject(with: encoder.encode(state)) as! [String: Any]
        evil["id"] = "../../session"
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("evil.json").path,
                                       contents: try JSONSerialization.data(withJSONObject: evil))
        var future = evil
        future["id"] = UUID().uuidString
        future["version"] = 99
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("future.json").path,
                                       contents: try JSONSerialization.data(withJSONObject: future))
        #expect(store.all().map(\.id) == [state.id])
    }

    @Test func digestChainDependsOnEveryByteAndTheBlocking() {
        let a = SourceDigest.next(SourceDigest.next(SourceDigest.initial, block: [1, 2]), block: [3])
        #expect(a == SourceDigest.next(SourceDigest.next(SourceDigest.initial, block: [1, 2]), block: [3]))
        #expect(a != SourceDigest.next(SourceDigest.next(SourceDigest.initial, block: [1, 2]), block: [4]))
        #expect(a != SourceDigest.next(SourceDigest.initial, block: [1, 2, 3]))
    }

    @Test func uploadLocationsStayOnTheServer() {
        #expect(UploadRun.uploadPath("/v1/uploads/abc") == "/v1/uploads/abc")
        #expect(UploadRun.uploadPath("http://fake.test/v1/uploads/abc") == "/v1/uploads/abc")
        #expect(UploadRun.uploadPath("/v1/uploads/") == nil)
        #expect(UploadRun.uploadPath("/v1/nodes/abc") == nil)
        #expect(UploadRun.uploadPath("/v1/uploads/../accounts/me") == nil)
        #expect(Tus.metadata([("node", Array("n1".utf8)), ("key", [0, 255])]) == "node bjE=,key AP8=")
    }
}

@Suite struct UnlockTests {
    @Test func theSavedKeysOpenWithThePasswordOnlyAndOffline() async throws {
        let server = FakeAccountsServer()
        let (result, _) = try await signUp(server)
        let signed = try #require(result.session)
        let saved = try #require(await signed.savedKeys)
        #expect(saved.keyBundle == (await signed.keyBundle))
        #expect(saved.kdf == KDFParameters(.testing))
        let restored = Session(restoring: await signed.state)
        #expect(await !restored.hasKeys)
        let client = testClient(server)

        await #expect(throws: CoffreClientError.wrongPassword) {
            try await client.unlock(restored, password: "not the password", saved: saved)
        }
        #expect(await !restored.hasKeys)
        let before = server.recorded.count
        try await client.unlock(restored, password: password, saved: saved)
        #expect(await restored.keys?.masterKey == signed.keys?.masterKey)
        // Nothing went to the server: no login, no prelogin (a rate-limited route).
        #expect(server.recorded.count == before)

        // A login saves the same kind of thing, with the salt prelogin gave.
        let again = try await client.login(email: "alice@example.com", password: password)
        #expect(await again.savedKeys == saved)

        var foreign = saved
        foreign.keyBundle.accountID = UUID().uuidString.lowercased()
        await #expect(throws: CoffreClientError.self) {
            try await client.unlock(Session(restoring: await signed.state), password: password, saved: foreign)
        }
        // Weak parameters are refused as at login.
        var weak = saved
        weak.kdf = KDFParameters(opslimit: 1, memlimit: 1 << 20)
        await #expect(throws: CoffreClientError.self) {
            try await client.unlock(Session(restoring: await signed.state), password: password, saved: weak)
        }
    }

    @Test func aPasswordChangeUpdatesWhatIsSaved() async throws {
        let server = FakeAccountsServer()
        _ = try await signUp(server)
        let client = testClient(server)
        let session = try await client.changePassword(email: "alice@example.com", current: password, new: "a new password")
        let saved = try #require(await session.savedKeys)
        let restored = Session(restoring: await session.state)
        try await client.unlock(restored, password: "a new password", saved: saved)
        #expect(await restored.hasKeys)
    }

    @Test func theKeysFileIsPrivateAndGoesAtLogout() throws {
        let home = NSTemporaryDirectory() + "coffre-bundle-" + UUID().uuidString
        let store = SessionStore(fileURL: URL(fileURLWithPath: home + "/coffre/session.json"))
        let (keys, recovery) = AccountKeys.generate()
        let salt = DerivedCredentials.makeSalt()
        let kek = try DerivedCredentials.derive(password: password, salt: salt, profile: .testing,
                                                minimumProfile: .testing).keyEncryptionKey
        let saved = SavedKeys(keyBundle: try keys.makeBundle(accountID: "acct", kek: kek, recoveryKey: recovery),
                              salt: Sodium.base64URLEncode(salt), kdf: KDFParameters(.testing))
        #expect(try store.loadKeys() == nil)
        try store.saveKeys(saved)
        #expect(try store.loadKeys() == saved)
        let mode = try FileManager.default.attributesOfItem(atPath: store.keysURL.path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let text = try String(contentsOf: store.keysURL, encoding: .utf8)
        for encoded in encodings(of: keys.masterKey.key.bytes) + encodings(of: kek.key.bytes) { #expect(!text.contains(encoded)) }
        try store.delete()
        #expect(try store.loadKeys() == nil)
    }
}
