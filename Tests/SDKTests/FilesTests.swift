// The SDK's file operations against the in-memory ingest fake: encrypted
// round trips, resume after a dropped connection, versions under one key,
// path resolution, the tree operations, and refusal of altered content.
@testable import CoffreCrypto
@testable import CoffreSDK
import Foundation
import Sodium
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A session holding fresh keys, and a client on the fake.
struct FilesFixture {
    let server = FakeIngestServer()
    let keys: AccountKeys
    let session: Session
    let client: CoffreClient
    let directory: String
    let store: UploadResumeStore

    init() throws {
        keys = AccountKeys.generate().keys
        let state = SessionState(server: "http://fake.test", tenant: nil, email: "alice@example.com",
                                 accountID: UUID().uuidString.lowercased(), tenantID: UUID().uuidString.lowercased(),
                                 sessionID: UUID().uuidString.lowercased(), accessToken: "at", refreshToken: "rt",
                                 accessTokenExpiresAt: Date().addingTimeInterval(3600))
        session = Session(state: state, keys: keys, keyBundle: nil)
        client = CoffreClient(transport: server, tenant: nil, profile: .testing)
        directory = NSTemporaryDirectory() + "coffre-files-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        store = UploadResumeStore(directory: URL(fileURLWithPath: directory + "/config/uploads"))
    }

    func file(_ name: String, _ bytes: [UInt8]) -> String {
        let path = directory + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func read(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map(Array.init)
    }

    /// Small PATCHes so a few KiB make several requests.
    func options(patchSize: Int = 10_000, chunkSize: Int = 1024) -> UploadOptions {
        UploadOptions(patchSize: patchSize, chunkSize: chunkSize, resumeStore: store, maxAttempts: 2)
    }
}

@Suite struct FilesTests {
    @Test(arguments: [0, 1, 1024, 65_536, 3 * 1024 * 1024 + 17])
    func uploadThenDownloadGivesTheSameBytes(size: Int) async throws {
        let f = try FilesFixture()
        let plaintext = Sodium.randomBytes(size)
        let path = f.file("data.bin", plaintext)
        let result = try await f.client.upload(f.session, file: path, toFolder: nil,
                                               options: UploadOptions(patchSize: 1 << 20, resumeStore: f.store))
        #expect(result.plaintextSize == Int64(size) && !result.isNewVersion && result.resumedFrom == 0)
        #expect(result.encryptedSize == Int64(FileEncryptor.encryptedSize(plaintextSize: size)))
        #expect(f.store.all().isEmpty)

        let listing = try await f.client.listFolder(f.session, folderID: nil)
        let node = try #require(listing.nodes.first)
        #expect(node.name == "data.bin" && node.size == Int64(size) && node.id == result.nodeID)
        let out = f.directory + "/out.bin"
        let download = try await f.client.download(f.session, node: node, to: out)
        #expect(download.plaintextSize == Int64(size))
        #expect(f.read(out) == plaintext)
    }

    @Test func whatTheServerGetsIsCiphertextAndSealedMetadata() async throws {
        let f = try FilesFixture()
        let marker = "MARKER-\(UUID().uuidString)"
        let path = f.file("secret-name-\(marker).txt", Array(String(repeating: marker, count: 500).utf8))
        let result = try await f.client.upload(f.session, file: path, toFolder: nil, options: f.options())
        let stored = f.server.everythingStored()
        #expect(!stored.isEmpty)
        #expect(stored.firstRange(of: Array(marker.utf8)) == nil)
        let node = try #require(f.server.node(result.nodeID))
        let key = try f.keys.masterKey.unwrapNodeKey(try #require([UInt8](base64: node.wrappedKey)), nodeID: result.nodeID,
                                                     owner: f.session.accountID)
        for encoded in encodings(of: key.rawBytes) + encodings(of: f.keys.masterKey.key.bytes) {
            #expect(String(decoding: stored, as: UTF8.self).contains(encoded) == false)
        }
        // tus as the contract says: only the four known metadata keys, a checksum on every PATCH.
        let requests = f.server.requests
        let create = try #require(requests.first { $0.method == "POST" && $0.path == "/v1/uploads" })
        let keys = create.headers["Upload-Metadata"]!.split(separator: ",").map { $0.split(separator: " ")[0] }
        #expect(Set(keys) == ["node", "attributes", "key"])
        #expect(create.headers["Tus-Resumable"] == "1.0.0")
        let patches = requests.filter { $0.method == "PATCH" }
        #expect(patches.count > 1)
        #expect(patches.allSatisfy { $0.headers["Upload-Checksum"]?.hasPrefix("sha256 ") == true && $0.bodyCount <= 10_000 })
    }

    @Test func anInterruptedUploadResumesFromTheServersOffset() async throws {
        let f = try FilesFixture()
        let plaintext = Sodium.randomBytes(100_000)
        let path = f.file("big.bin", plaintext)
        // The connection drops from the fourth PATCH on: the first run gives up.
        f.server.dropPatch = { $0 >= 4 }
        await #expect(throws: CoffreClientError.self) {
            _ = try await f.client.upload(f.session, file: path, toFolder: nil, options: f.options())
        }
        let saved = try #require(f.store.all().first)
        #expect(saved.uploadPath != nil && saved.sentPlaintextBytes > 0)
        let uploadID = String(saved.uploadPath!.split(separator: "/").last!)
        let held = try #require(f.server.upload(uploadID)).bytes.count
        #expect(held == 30_000)

        f.server.dropPatch = nil
        let before = f.server.requests.count
        let result = try await f.client.upload(f.session, file: path, toFolder: nil, options: f.options())
        #expect(result.resumedFrom == 30_000)
        #expect(result.nodeID == saved.nodeID)
        let resumedPatches = f.server.requests.dropFirst(before).filter { $0.method == "PATCH" }
        #expect(resumedPatches.first?.headers["Upload-Offset"] == "30000")
        #expect(!f.server.requests.dropFirst(before).contains { $0.method == "POST" && $0.path == "/v1/uploads" })
        #expect(f.store.all().isEmpty)

        let node = try await f.client.node(f.session, id: result.nodeID)
        let out = f.directory + "/out.bin"
        _ = try await f.client.download(f.session, node: node, to: out)
        #expect(f.read(out) == plaintext)
    }

    @Test func aSourceChangedSinceTheInterruptionStartsAFreshUpload() async throws {
        let f = try FilesFixture()
        let path = f.file("doc.txt", Sodium.randomBytes(50_000))
        f.server.dropPatch = { $0 >= 2 }
        await #expect(throws: CoffreClientError.self) {
            _ = try await f.client.upload(f.session, file: path, toFolder: nil, options: f.options())
        }
        let saved = try #require(f.store.all().first)
        // Same size and times, different bytes: resuming would reuse the keystream.
        var times = [timespec(), timespec()]
        var info = stat()
        stat(path, &info)
        times[0] = info.st_atim
        times[1] = info.st_mtim
        let changed = Sodium.randomBytes(50_000)
        _ = FileManager.default.createFile(atPath: path, contents: Data(changed))
        utimensat(AT_FDCWD, path, &times, 0)
        #expect(try SourceFingerprint.of(path: path).size == saved.source.size)

        f.server.dropPatch = nil
        let result = try await f.client.upload(f.session, file: path, toFolder: nil, options: f.options())
        #expect(result.resumedFrom == 0)
        #expect(f.server.requests.contains { $0.method == "DELETE" && $0.path == saved.uploadPath })
        let header = try #require(f.server.node(result.nodeID)?.versions.last?.bytes)
        #expect(Array(header[5..<29]) != Array(saved.streamHeader))
        let node = try await f.client.node(f.session, id: result.nodeID)
        _ = try await f.client.download(f.session, node: node, to: f.directory + "/out.txt")
        #expect(f.read(f.directory + "/out.txt") == changed)
    }

    @Test func aSecondPutIsANewVersionUnderTheSameKey() async throws {
        let f = try FilesFixture()
        let folder = try await f.client.createFolder(f.session, name: "docs", parentID: nil)
        let path = f.file("a.txt", Array("one".utf8))
        let first = try await f.client.upload(f.session, file: path, toFolder: folder.id, options: f.options())
        let wrapped = f.server.node(first.nodeID)?.wrappedKey
        _ = FileManager.default.createFile(atPath: path, contents: Data("two, longer".utf8))
        let second = try await f.client.upload(f.session, file: path, toFolder: folder.id, options: f.options())
        #expect(second.isNewVersion && second.nodeID == first.nodeID)
        #expect(f.server.node(first.nodeID)?.wrappedKey == wrapped)
        let create = f.server.requests.filter { $0.method == "POST" && $0.path == "/v1/uploads" }.last!
        #expect(!create.headers["Upload-Metadata"]!.contains("key "))

        let versions = try await f.client.versions(f.session, nodeID: first.nodeID)
        #expect(versions.count == 2 && versions[0].isCurrent && versions[0].id == second.versionID)
        let node = try await f.client.node(f.session, id: first.nodeID)
        #expect(node.size == 11)
        _ = try await f.client.download(f.session, node: node, to: f.directory + "/v2")
        #expect(f.read(f.directory + "/v2") == Array("two, longer".utf8))
        _ = try await f.client.download(f.session, node: node, to: f.directory + "/v1", versionID: versions[1].id)
        #expect(f.read(f.directory + "/v1") == Array("one".utf8))

        try await f.client.restoreVersion(f.session, nodeID: node.id, versionID: versions[1].id)
        #expect(try await f.client.versions(f.session, nodeID: node.id).first { $0.isCurrent }?.id == versions[1].id)
        try await f.client.purgeVersion(f.session, nodeID: node.id, versionID: versions[0].id)
        #expect(try await f.client.versions(f.session, nodeID: node.id).map(\.id) == [versions[1].id])
    }

    @Test func pathsResolveByDecryptedNames() async throws {
        let f = try FilesFixture()
        let docs = try await f.client.createFolder(f.session, name: "docs", parentID: nil)
        let sub = try await f.client.createFolder(f.session, name: "été", parentID: docs.id)
        let path = f.file("a.txt", [1, 2, 3])
        let file = try await f.client.upload(f.session, file: path, toFolder: sub.id, options: f.options())

        // NFD spelling of the same name finds the NFC one.
        let resolved = try await f.client.resolve(f.session, path: RemotePath("/docs/e\u{301}te\u{301}/./a.txt"))
        #expect(resolved?.id == file.nodeID)
        #expect((try await f.client.resolve(f.session, path: RemotePath("docs/x/..")))?.id == docs.id)
        #expect(try await f.client.resolve(f.session, path: .root) == nil)
        await #expect(throws: FilesError.notFound("/docs/missing")) {
            _ = try await f.client.resolve(f.session, path: RemotePath("/docs/missing/a"))
        }
        await #expect(throws: FilesError.notAFolder("/docs/été/a.txt")) {
            _ = try await f.client.resolve(f.session, path: RemotePath("/docs/été/a.txt/b"))
        }
        // Two nodes with one name (the server cannot tell): ambiguous, never a guess.
        let twin = try await f.client.createFolder(f.session, name: "docs", parentID: nil)
        do {
            _ = try await f.client.resolve(f.session, path: RemotePath("/docs"))
            Issue.record("resolved an ambiguous name")
        } catch let FilesError.ambiguous(_, ids) {
            #expect(Set(ids) == [docs.id, twin.id])
        }
        #expect(try await f.client.path(ofFolder: sub.id, in: f.session).description == "/docs/été")
        #expect(throws: FilesError.self) { _ = try RemotePath("/a/b\u{7}") }
        #expect(try RemotePath("//a///b/").description == "/a/b")
    }

    @Test func moveRenameTrashRestorePurge() async throws {
        let f = try FilesFixture()
        let docs = try await f.client.createFolder(f.session, name: "docs", parentID: nil)
        let archive = try await f.client.createFolder(f.session, name: "archive", parentID: nil)
        let upload = try await f.client.upload(f.session, file: f.file("a.txt", [7]), toFolder: docs.id, options: f.options())
        var node = try await f.client.node(f.session, id: upload.nodeID)

        node = try await f.client.move(f.session, node: node, intoFolder: archive.id, newName: "b.txt")
        #expect(node.parentID == archive.id && node.name == "b.txt")
        node = try await f.client.rename(f.session, node: node, to: "c.txt")
        #expect(node.parentID == archive.id && node.name == "c.txt" && node.size == 1)
        await #expect(throws: CoffreAPIError.self) {
            _ = try await f.client.move(f.session, node: archive, intoFolder: archive.id)
        }
        await #expect(throws: FilesError.invalidName("\"x/y\" contains a slash")) {
            _ = try await f.client.rename(f.session, node: node, to: "x/y")
        }

        try await f.client.trash(f.session, id: archive.id)
        #expect(try await f.client.listFolder(f.session, folderID: nil).nodes.map(\.name) == ["docs"])
        let trash = try await f.client.listTrash(f.session)
        #expect(trash.nodes.map(\.name) == ["archive"] && trash.nodes[0].trashedAt != nil)
        try await f.client.restore(f.session, id: archive.id)
        #expect(try await f.client.resolve(f.session, path: RemotePath("/archive/c.txt"))?.id == node.id)

        try await f.client.trash(f.session, id: node.id)
        try await f.client.purge(f.session, id: node.id)
        #expect(f.server.node(node.id) == nil)
        #expect(try await f.client.listTrash(f.session).nodes.isEmpty)
    }

    @Test func nodesThatDoNotOpenAreRejectedNotRenamed() async throws {
        let f = try FilesFixture()
        let a = try await f.client.createFolder(f.session, name: "a", parentID: nil)
        let b = try await f.client.createFolder(f.session, name: "b", parentID: nil)
        // The server swaps b's attributes and key into a's place.
        let aID = a.id, bNode = f.server.node(b.id)!
        f.server.tamperNode = { object in
            if object["id"] as? String == aID {
                object["attributes"] = bNode.attributes
                object["wrapped_key"] = bNode.wrappedKey
            }
        }
        let listing = try await f.client.listFolder(f.session, folderID: nil)
        #expect(listing.nodes.map(\.name) == ["b"])
        #expect(listing.rejected == [.nodeRejected(id: aID, reason: "its key does not open for this account and node")])
        await #expect(throws: FilesError.notFound("/a")) { _ = try await f.client.resolve(f.session, path: RemotePath("/a")) }

        // Another account's node, same ids: its key is bound to the other owner.
        let other = AccountKeys.generate().keys
        let key = FileKey.generate()
        let foreignWrap = try other.masterKey.wrap(nodeKey: key, nodeID: b.id, owner: f.session.accountID).base64
        f.server.tamperNode = { object in if object["id"] as? String == bNode.id { object["wrapped_key"] = foreignWrap } }
        #expect(try await f.client.listFolder(f.session, folderID: nil).rejected.count == 1)

        // A folder presented as a file.
        f.server.tamperNode = { object in if object["id"] as? String == bNode.id { object["kind"] = "file" } }
        let flipped = try await f.client.listFolder(f.session, folderID: nil)
        #expect(flipped.rejected == [.nodeRejected(id: bNode.id, reason: "listed as a file but sealed as a folder")])
    }

    @Test func tamperedContentIsRejectedAndNothingIsWritten() async throws {
        let f = try FilesFixture()
        let plaintext = Sodium.randomBytes(5 * 65_536 + 100)
        let a = try await f.client.upload(f.session, file: f.file("a.bin", plaintext), toFolder: nil,
                                          options: UploadOptions(patchSize: 1 << 20, resumeStore: f.store))
        let b = try await f.client.upload(f.session, file: f.file("b.bin", plaintext), toFolder: nil,
                                          options: UploadOptions(patchSize: 1 << 20, resumeStore: f.store))
        let original = try #require(f.server.node(a.nodeID)?.versions.last?.bytes)
        let other = try #require(f.server.node(b.nodeID)?.versions.last?.bytes)
        let chunk = FileFormat.chunkOverhead + 65_536
        let first = FileFormat.headerSize
        let node = try await f.client.node(f.session, id: a.nodeID)

        let cases: [(String, [UInt8], String)] = [
            ("truncated", Array(original.prefix(first + 2 * chunk)), "it was cut short (truncated)"),
            ("swapped", Array(original[..<first]) + Array(original[(first + chunk)..<(first + 2 * chunk)])
                + Array(original[first..<(first + chunk)]) + Array(original[(first + 2 * chunk)...]),
             "chunks were reordered, repeated or dropped (found chunk 1 where chunk 0 belongs)"),
            ("spliced", Array(original[..<(first + chunk)]) + Array(other[(first + chunk)..<(first + 2 * chunk)])
                + Array(original[(first + 2 * chunk)...]), "chunk 1 belongs to another file"),
            ("other file", other, "the file key does not open it (wrong key, or the header was altered)"),
            ("flipped", flipping(original, at: first + chunk + 100), "chunk 1 was altered"),
        ]
        for (label, bytes, reason) in cases {
            f.server.setContent(of: a.nodeID, bytes)
            let out = f.directory + "/out-\(label.replacingOccurrences(of: " ", with: "-"))"
            await #expect(throws: FilesError.contentRejected(path: "a.bin", reason: reason), "\(label)") {
                _ = try await f.client.download(f.session, node: node, to: out)
            }
            #expect(!FileManager.default.fileExists(atPath: out), "\(label)")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: f.directory).filter { $0.hasSuffix("coffre-part") }
            #expect(leftovers.isEmpty, "\(label)")
        }
        // A wrong key: b's content is fine, but opened with a's key it is refused.
        f.server.setContent(of: a.nodeID, original)
        _ = try await f.client.download(f.session, node: node, to: f.directory + "/ok")
        #expect(f.read(f.directory + "/ok") == plaintext)
        await #expect(throws: FilesError.alreadyExists(f.directory + "/ok")) {
            _ = try await f.client.download(f.session, node: node, to: f.directory + "/ok")
        }
    }

    @Test func aFolderIsNotAFile() async throws {
        let f = try FilesFixture()
        _ = try await f.client.createFolder(f.session, name: "x", parentID: nil)
        await #expect(throws: FilesError.notAFile("x")) {
            _ = try await f.client.upload(f.session, file: f.file("x", [1]), toFolder: nil, options: f.options())
        }
        await #expect(throws: CoffreClientError.keysUnavailable) {
            _ = try await f.client.listFolder(Session(restoring: await f.session.state), folderID: nil)
        }
    }
}

func flipping(_ bytes: [UInt8], at index: Int) -> [UInt8] {
    var copy = bytes
    copy[index] ^= 1
    return copy
}
