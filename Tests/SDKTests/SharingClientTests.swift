// Shares and links through the SDK, on the fake directory (real log) in
// front of the fake ingest: Alice shares a file and a folder with Bob, who
// verifies the parcels with Alice's directory keys and reads them; parcels
// the server forged or altered are refused; a share to a substituted key is
// never made; links open with the key in the fragment, and a wrong link
// password fails on the client before any download.
@testable import CoffreCrypto
@testable import CoffreSDK
import Foundation
import KeyTransparency
import Sodium
import Synchronization
import Testing

/// The directory fixture plus local files.
struct SharingFixture {
    let d: DirectoryFixture
    let directory: String

    init() throws {
        d = try DirectoryFixture()
        directory = NSTemporaryDirectory() + "coffre-sharing-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    var client: CoffreClient { d.client }
    var alice: Session { d.session }

    func upload(_ name: String, _ bytes: [UInt8], into folder: String? = nil) async throws -> RemoteNode {
        let path = directory + "/" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let result = try await client.upload(alice, file: path, toFolder: folder, name: name)
        return try await client.node(alice, id: result.nodeID)
    }

    func read(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map(Array.init) }
    func local(_ name: String) -> String { directory + "/" + name }
}

@Suite struct SharingClientTests {
    @Test func fileShareRoundTrip() async throws {
        let f = try SharingFixture()
        let content = Sodium.randomBytes(70_000)
        let file = try await f.upload("report.pdf", content)
        let share = try await f.client.share(f.alice, node: file, withEmail: "bob@example.com", trust: f.d.trust)
        #expect(share.kind == .file && share.parcels.count == 1 && share.recipientAccountID == f.d.bob.id)
        // Nothing the server got holds the node key.
        let parcels = String(decoding: try JSONEncoder().encode(share.parcels), as: UTF8.self)
        for encoded in encodings(of: file.key.rawBytes) { #expect(!parcels.contains(encoded)) }

        let bob = f.d.session(of: f.d.bob)
        let bobTrust = try KeyTrust(server: f.d.server.serverDescription)
        let incoming = try await f.client.incomingShares(bob)
        #expect(incoming.map(\.id) == [share.id])
        let opened = try await f.client.openShare(bob, share: incoming[0], trust: bobTrust)
        #expect(opened.root.name == "report.pdf" && opened.owner.accountID == f.d.alice.id)
        let result = try await f.client.download(bob, node: opened.root, to: f.local("got.pdf"))
        #expect(f.read(result.path) == content)

        let accepted = try await f.client.acceptShare(bob, id: share.id)
        #expect(accepted.acceptedAt != nil)
        #expect(try await f.client.outgoingShares(f.alice).map(\.id) == [share.id])
        try await f.client.revokeShare(f.alice, id: share.id)
        #expect(try await f.client.incomingShares(bob).isEmpty)
    }

    @Test func folderShareCarriesEveryNodeAndOnlyThose() async throws {
        let f = try SharingFixture()
        let top = try await f.client.createFolder(f.alice, name: "Holiday", parentID: nil)
        let sub = try await f.client.createFolder(f.alice, name: "day 1", parentID: top.id)
        let a = Sodium.randomBytes(5000)
        let b = Sodium.randomBytes(9000)
        _ = try await f.upload("a.txt", a, into: top.id)
        _ = try await f.upload("b.jpg", b, into: sub.id)
        _ = try await f.upload("elsewhere.txt", [1, 2, 3])  // not in the folder

        let share = try await f.client.share(f.alice, node: top, withEmail: "bob@example.com", trust: f.d.trust)
        #expect(share.kind == .folder && share.parcels.count == 4)

        let bob = f.d.session(of: f.d.bob)
        let opened = try await f.client.openShare(bob, share: try await f.client.share(bob, id: share.id),
                                                  trust: try KeyTrust(server: f.d.server.serverDescription))
        #expect(opened.nodeCount == 4 && opened.root.name == "Holiday")
        let listing = try await f.client.listShared(bob, share: opened)
        #expect(listing.nodes.map(\.name) == ["day 1", "a.txt"] && listing.rejected.isEmpty)
        let photo = try await f.client.resolveShared(bob, share: opened, path: try RemotePath("/day 1/b.jpg"))
        let got = try await f.client.download(bob, node: photo, to: f.local("b.jpg"))
        #expect(f.read(got.path) == b)

        // A file added after sharing has no parcel: it is listed as rejected, never opened.
        _ = try await f.upload("later.txt", [9], into: top.id)
        let after = try await f.client.listShared(bob, share: opened)
        #expect(after.nodes.count == 2 && after.rejected.count == 1)
    }

    @Test func parcelsNotSignedByTheOwnersDirectoryKeyAreRefused() async throws {
        let f = try SharingFixture()
        let file = try await f.upload("secret.txt", Sodium.randomBytes(100))
        let bob = f.d.session(of: f.d.bob)
        // Mallory (or the server) seals a key to Bob in Alice's name, signed with its own key.
        let mallory = AccountKeys.generate().keys
        let forged = try ShareParcel.seal(nodeKey: FileKey.generate(), recipientX25519: f.d.bob.keys.x25519.publicKey,
                                          senderSigningKey: mallory.ed25519, senderAccount: f.d.alice.id,
                                          recipientAccount: f.d.bob.id, nodeID: file.id)
        let share = ShareInfo(id: UUID().uuidString.lowercased(), nodeID: file.id, ownerAccountID: f.d.alice.id,
                              recipientAccountID: f.d.bob.id, ownerTenantID: nil, recipientTenantID: nil, kind: .file,
                              createdAt: nil, acceptedAt: nil, revokedAt: nil, parcels: [forged])
        await #expect(throws: ShareError.parcelRejected(nodeID: file.id, reason: ShareParcelError.invalidSignature.reason)) {
            _ = try await f.client.openShare(bob, share: share, trust: try KeyTrust(server: f.d.server.serverDescription))
        }

        // A genuine parcel of Alice's addressed to Carol, relabelled for Bob.
        let toCarol = try ShareParcel.seal(nodeKey: file.key, recipientX25519: f.d.carol.keys.x25519.publicKey,
                                           senderSigningKey: f.d.alice.keys.ed25519, senderAccount: f.d.alice.id,
                                           recipientAccount: f.d.carol.id, nodeID: file.id)
        let relabelled = ShareInfo(id: share.id, nodeID: file.id, ownerAccountID: f.d.alice.id, recipientAccountID: f.d.bob.id,
                                   ownerTenantID: nil, recipientTenantID: nil, kind: .file, createdAt: nil, acceptedAt: nil,
                                   revokedAt: nil, parcels: [toCarol])
        await #expect(throws: ShareError.self) {
            _ = try await f.client.openShare(bob, share: relabelled, trust: try KeyTrust(server: f.d.server.serverDescription))
        }
        // A share with no parcel for its own node.
        let empty = ShareInfo(id: share.id, nodeID: file.id, ownerAccountID: f.d.alice.id, recipientAccountID: f.d.bob.id,
                              ownerTenantID: nil, recipientTenantID: nil, kind: .file, createdAt: nil, acceptedAt: nil,
                              revokedAt: nil, parcels: [])
        await #expect(throws: ShareError.missingParcel(nodeID: file.id)) {
            _ = try await f.client.openShare(bob, share: empty, trust: try KeyTrust(server: f.d.server.serverDescription))
        }
    }

    @Test func noShareIsMadeToASubstitutedKey() async throws {
        let f = try SharingFixture()
        let file = try await f.upload("x.txt", [1, 2, 3])
        let mallory = AccountKeys.generate().keys
        let forged = FakeKeyDirectory.publish(tenant: f.d.server.tenantID, account: f.d.bob.id, version: 1, keys: mallory)
        f.d.server.tamperLookup = { answer, _ in answer.entry = forged.encoded() }
        await expectRefusal("substitutedKey") {
            _ = try await f.client.share(f.alice, node: file, withEmail: "bob@example.com", trust: f.d.trust)
        }
        #expect(!f.d.server.paths.contains("POST /v1/shares"))
    }

    // MARK: - Links

    @Test func plainLinkOpensWithTheKeyInTheFragment() async throws {
        let f = try SharingFixture()
        let content = Sodium.randomBytes(40_000)
        let file = try await f.upload("photo.jpg", content)
        let created = try await f.client.createLink(f.alice, node: file, maxDownloads: 2)
        let url = try ShareLinkURL(parsing: created.url)
        #expect(url.server == "http://fake.test" && url.id == created.link.id && !url.fragment.needsPassword)
        #expect(created.url.contains("#k."))
        // The fragment never reaches the server.
        let fragment = String(created.url.split(separator: "#")[1])
        #expect(!f.d.server.paths.contains { $0.contains(fragment) })

        let anonymous = CoffreClient(transport: f.d.server, tenant: nil, profile: .testing)
        let opened = try await anonymous.openLink(url, password: nil)
        #expect(opened.name == "photo.jpg" && opened.size == Int64(content.count) && opened.downloadsLeft == 2)
        let got = try await anonymous.download(opened, to: f.local("photo.jpg"))
        #expect(f.read(got.path) == content)
        #expect(try await f.client.links(f.alice).first?.downloads == 1)

        // Without the owner's id the name is unknown, the file still opens.
        f.d.server.hideLinkOwner = true
        let nameless = try await anonymous.openLink(url, password: nil)
        #expect(nameless.name == nil)
        _ = try await anonymous.download(nameless, to: f.local("second"))
        // Used up: the third download is refused by the server.
        await #expect(throws: CoffreAPIError.self) { _ = try await anonymous.openLink(url, password: nil) }
    }

    @Test func passwordLinkOpensOnlyWithThePassword() async throws {
        let f = try SharingFixture()
        let content = Sodium.randomBytes(3000)
        let file = try await f.upload("notes.txt", content)
        let created = try await f.client.createLink(f.alice, node: file, password: "open sesame")
        #expect(created.url.contains("#p."))
        #expect(!created.url.contains(Sodium.base64URLEncode(file.key.rawBytes)))
        let url = try ShareLinkURL(parsing: created.url)
        let anonymous = CoffreClient(transport: f.d.server, tenant: nil, profile: .testing)

        await #expect(throws: LinkFragmentError.wrongPassword) { _ = try await anonymous.openLink(url, password: "open sesame!") }
        await #expect(throws: LinkFragmentError.passwordRequired) { _ = try await anonymous.openLink(url, password: nil) }
        #expect(!f.d.server.paths.contains { $0.hasSuffix("/content") })
        #expect(!FileManager.default.fileExists(atPath: f.local("notes.txt")))

        let opened = try await anonymous.openLink(url, password: "open sesame")
        let got = try await anonymous.download(opened, to: f.local("notes.txt"))
        #expect(f.read(got.path) == content)
    }

    @Test func linkWithAnotherKeyIsRefusedBeforeDownloading() async throws {
        let f = try SharingFixture()
        let file = try await f.upload("a.bin", Sodium.randomBytes(500))
        let created = try await f.client.createLink(f.alice, node: file)
        let base = created.url.split(separator: "#")[0]
        let wrong = try ShareLinkURL(parsing: "\(base)#\(LinkFragment.plain(FileKey.generate()).text)")
        let anonymous = CoffreClient(transport: f.d.server, tenant: nil, profile: .testing)
        await #expect(throws: LinkError.keyRejected) { _ = try await anonymous.openLink(wrong, password: nil) }
        #expect(!f.d.server.paths.contains { $0.hasSuffix("/content") })
    }

    @Test(arguments: ["http://fake.test/l/abc#k.AAAA", "http://fake.test/x/0b5c8a52-9a0e-4f7e-9d4c-3b1e6d1f2a01#k.AAAA",
                      "http://fake.test/l/0b5c8a52-9a0e-4f7e-9d4c-3b1e6d1f2a01", "ftp://x/l/0b5c8a52-9a0e-4f7e-9d4c-3b1e6d1f2a01#k.AAAA"])
    func malformedLinkURLsAreRefused(_ text: String) {
        #expect(throws: (any Error).self) { try ShareLinkURL(parsing: text) }
    }

    @Test func revokedLinkStopsWorking() async throws {
        let f = try SharingFixture()
        let file = try await f.upload("a.bin", Sodium.randomBytes(500))
        let created = try await f.client.createLink(f.alice, node: file, expiresAt: Date().addingTimeInterval(3600))
        try await f.client.revokeLink(f.alice, id: created.link.id)
        #expect(try await f.client.links(f.alice).first?.revokedAt != nil)
        let anonymous = CoffreClient(transport: f.d.server, tenant: nil, profile: .testing)
        await #expect(throws: CoffreAPIError.self) { _ = try await anonymous.openLink(try ShareLinkURL(parsing: created.url), password: nil) }
    }
}

/// Ingest learns of a grant from the key directory's event, a moment after
/// the share exists: opening a share at once can meet a 404 for its node.
@Suite struct GrantLagTests {
    @Test func openShareWaitsOutAGrantIngestDoesNotKnowYet() async throws {
        let f = try SharingFixture()
        let content = Sodium.randomBytes(1_000)
        let file = try await f.upload("early.txt", content)
        let share = try await f.client.share(f.alice, node: file, withEmail: "bob@example.com", trust: f.d.trust)
        let bob = f.d.session(of: f.d.bob)
        let trust = try KeyTrust(server: f.d.server.serverDescription)
        let misses = Mutex(0)
        let server = f.d.server
        server.interceptIngest = { request in
            guard request.method == "GET", request.path == "/v1/nodes/\(file.id)" else { return nil }
            return misses.withLock { count in
                guard count < 2 else { return nil }
                count += 1
                return server.problem(404, "No such node")
            }
        }
        let opened = try await f.client.openShare(bob, share: share, trust: trust)
        #expect(opened.root.id == file.id && opened.root.name == "early.txt")
        #expect(misses.withLock { $0 } == 2)

        // A node that stays unknown: the 404 is believed in the end, as itself.
        server.interceptIngest = { request in
            request.method == "GET" && request.path == "/v1/nodes/\(file.id)" ? server.problem(404, "No such node") : nil
        }
        let started = ContinuousClock.now
        await #expect(throws: CoffreAPIError.self) { _ = try await f.client.openShare(bob, share: share, trust: trust) }
        #expect(ContinuousClock.now - started >= .seconds(6))
    }
}

/// The same flows through the SDK's real HTTP transport, with the fakes
/// served on a loopback socket.
@Suite struct SharingOverTheWireTests {
    @Test func lookupShareAndLinkOverARealSocket() async throws {
        let f = try SharingFixture()
        let server = try LoopbackHTTPServer(serving: f.d.server)
        defer { server.stop() }
        let wire = CoffreClient(server: server.url, tenant: nil, profile: .testing)

        let bob = try await wire.verifiedKeys(f.alice, email: "bob@example.com", trust: f.d.trust)
        #expect(bob.accountID == f.d.bob.id && bob.x25519 == f.d.bob.keys.x25519.publicKey)
        #expect(f.d.server.paths.contains("GET /v1/keys/lookup?email=bob%40example.com"))
        f.d.server.addNoise(2)
        _ = try await wire.verifiedKeys(f.alice, account: f.d.carol.id, trust: f.d.trust)

        let content = Sodium.randomBytes(200_000)
        let file = try await f.upload("big.bin", content)
        let share = try await wire.share(f.alice, node: file, with: bob)
        let opened = try await wire.openShare(f.d.session(of: f.d.bob), share: share,
                                              trust: try KeyTrust(server: server.url.absoluteString))
        let got = try await wire.download(f.d.session(of: f.d.bob), node: opened.root, to: f.local("big.bin"))
        #expect(f.read(got.path) == content)

        let created = try await wire.createLink(f.alice, node: file)
        let url = try ShareLinkURL(parsing: created.url)
        #expect(url.server == wire.server)
        let anonymous = CoffreClient(server: URL(string: url.server)!, tenant: nil)
        let link = try await anonymous.openLink(url, password: nil)
        let fetched = try await anonymous.download(link, to: f.local("fetched.bin"))
        #expect(f.read(fetched.path) == content)

        // A substituted key is refused over the wire as well.
        let forged = FakeKeyDirectory.publish(tenant: f.d.server.tenantID, account: f.d.bob.id, version: 1,
                                              keys: AccountKeys.generate().keys)
        f.d.server.tamperLookup = { answer, _ in answer.entry = forged.encoded() }
        await expectRefusal("substitutedKey") { _ = try await wire.verifiedKeys(f.alice, email: "bob@example.com", trust: f.d.trust) }
    }
}
