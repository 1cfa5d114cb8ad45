import CoffreCrypto
import CoffreSDK
import CoffreTestSupport
import Foundation
import Testing

/// Issue 6 through the gateway with the real SDK, every service a real
/// process: Alice and Bob sign up (their first keys reach the directory's
/// log through `account.created`), Alice shares a file and a folder with Bob
/// after verifying his keys in the log, Bob verifies Alice's parcels with
/// her directory keys and reads both; after Alice revokes, Bob's new
/// downloads fail. A password link opens with the password only.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct SharingEndToEndTests {
    static let password = "correct horse battery staple"

    @Test func aliceSharesAFileAndAFolderWithBobThenRevokes() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let slug = uniqueSlug()
        try await stack.createTenant(slug)
        let client = stack.client(tenant: slug)
        let aliceEmail = uniqueEmail()
        let bobEmail = uniqueEmail()
        let alice = try #require(try await client.signup(email: aliceEmail, password: Self.password).session)
        let bob = try #require(try await client.signup(email: bobEmail, password: Self.password).session)
        let aliceTrust = try KeyTrust(server: client.server)
        let bobTrust = try KeyTrust(server: client.server)

        // Bob's first keys reach the log from account.created; a checkpoint follows.
        var bobKeys: VerifiedKeys?
        var lastError: (any Error)?
        let published = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(300)) {
            do {
                bobKeys = try await client.verifiedKeys(alice, email: bobEmail, trust: aliceTrust)
            } catch {
                lastError = error
            }
            return bobKeys != nil
        }
        #expect(published, "Bob's keys never verified in the directory (\(lastError.map { "\($0)" } ?? "-")):\n\(stack.logs.suffix(2000))")
        let bobVerified = try #require(bobKeys)
        let bobOwn = try #require(await bob.keys)
        #expect(bobVerified.x25519 == bobOwn.x25519.publicKey && bobVerified.ed25519 == bobOwn.ed25519.publicKey)
        #expect(bobVerified.safetyCode == SafetyCode.fingerprint(ed25519Public: bobOwn.ed25519.publicKey,
                                                                 x25519Public: bobOwn.x25519.publicKey))

        // Alice's tree: a file, and a folder with a subfolder.
        let directory = NSTemporaryDirectory() + "coffre-e2e-sharing-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func local(_ name: String, _ bytes: [UInt8]) -> String {
            let path = directory + "/" + name
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            return path
        }
        func read(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map(Array.init) }
        let report = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let reportNode = try await client.node(alice, id: try await client.upload(alice, file: local("report.pdf", report),
                                                                                    toFolder: nil).nodeID)
        let folder = try await client.createFolder(alice, name: "Holiday", parentID: nil)
        let day = try await client.createFolder(alice, name: "day 1", parentID: folder.id)
        let photo = (0..<9000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        _ = try await client.upload(alice, file: local("photo.jpg", photo), toFolder: day.id)

        let fileShare = try await client.share(alice, node: reportNode, with: bobVerified)
        let folderShare = try await client.share(alice, node: folder, withEmail: bobEmail, trust: aliceTrust)
        #expect(folderShare.parcels.count == 3)

        // Bob: incoming shares, verified with Alice's directory keys, then read.
        let incoming = try await client.incomingShares(bob)
        #expect(Set(incoming.map(\.id)) == [fileShare.id, folderShare.id])
        // Ingest learns of the share from share.created (keydir → Kafka → ingest):
        // until that grant lands, Bob's read of the node is a 404.
        let listedFile = try #require(incoming.first { $0.id == fileShare.id })
        var opened: OpenedShare?
        _ = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
            opened = try? await client.openShare(bob, share: listedFile, trust: bobTrust)
            return opened != nil
        }
        let openedFile = try #require(opened, "Bob never read the shared file:\n\(stack.logs.suffix(1500))")
        #expect(openedFile.root.name == "report.pdf" && openedFile.owner.accountID == alice.accountID.lowercased())
        try await client.acceptShare(bob, id: fileShare.id)
        // Grants arrive through share.created events: eventually readable.
        var got: DownloadResult?
        let readable = try await TestEnvironment.eventually(timeout: .seconds(20), interval: .milliseconds(300)) {
            try? FileManager.default.removeItem(atPath: directory + "/bob-report.pdf")
            got = try? await client.download(bob, node: openedFile.root, to: directory + "/bob-report.pdf")
            return got != nil
        }
        #expect(readable, "Bob never got read access:\n\(stack.logs.suffix(2000))")
        #expect(got.map { read($0.path) == report } == true)

        let listedFolder = try #require(incoming.first { $0.id == folderShare.id })
        var openedShare: OpenedShare?
        _ = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
            openedShare = try? await client.openShare(bob, share: listedFolder, trust: bobTrust)
            return openedShare != nil
        }
        let openedFolder = try #require(openedShare, "Bob never read the shared folder")
        let shotNode = try await client.resolveShared(bob, share: openedFolder, path: try RemotePath("/day 1/photo.jpg"))
        var shot: DownloadResult?
        _ = try await TestEnvironment.eventually(timeout: .seconds(20), interval: .milliseconds(300)) {
            try? FileManager.default.removeItem(atPath: directory + "/bob-photo.jpg")
            shot = try? await client.download(bob, node: shotNode, to: directory + "/bob-photo.jpg")
            return shot != nil
        }
        #expect(shot.map { read($0.path) == photo } == true)

        // Revoked: Bob's new downloads fail (once ingest drops the grant).
        try await client.revokeShare(alice, id: fileShare.id)
        try await client.revokeShare(alice, id: folderShare.id)
        let cut = try await TestEnvironment.eventually(timeout: .seconds(20), interval: .milliseconds(300)) {
            try? FileManager.default.removeItem(atPath: directory + "/late.pdf")
            do {
                _ = try await client.download(bob, node: openedFile.root, to: directory + "/late.pdf")
                return false
            } catch let error as CoffreAPIError {
                return error.status == 404 || error.status == 403
            }
        }
        #expect(cut)
        #expect(try await client.incomingShares(bob).isEmpty)
    }

    @Test func passwordLinkOpensOnlyWithThePassword() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let slug = uniqueSlug()
        try await stack.createTenant(slug)
        let client = stack.client(tenant: slug)
        let alice = try #require(try await client.signup(email: uniqueEmail(), password: Self.password).session)
        let directory = NSTemporaryDirectory() + "coffre-e2e-link-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bytes = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 5) }
        _ = FileManager.default.createFile(atPath: directory + "/notes.txt", contents: Data(bytes))
        let node = try await client.node(alice, id: try await client.upload(alice, file: directory + "/notes.txt", toFolder: nil).nodeID)

        let created = try await client.createLink(alice, node: node, maxDownloads: 2, password: "open sesame")
        let url = try ShareLinkURL(parsing: created.url)
        let anonymous = CoffreClient(server: URL(string: url.server)!, tenant: nil)
        await #expect(throws: LinkFragmentError.wrongPassword) { _ = try await anonymous.openLink(url, password: "sesame") }
        #expect(try await client.links(alice).first { $0.id == url.id }?.downloads == 0)
        let opened = try await anonymous.openLink(url, password: "open sesame")
        let got = try await anonymous.download(opened, to: directory + "/fetched.txt")
        #expect(FileManager.default.contents(atPath: got.path).map(Array.init) == bytes)
    }
}
