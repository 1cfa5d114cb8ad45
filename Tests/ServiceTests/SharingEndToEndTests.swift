import CoffreCrypto
@testable import CoffreSDK
import CoffreTestSupport
import Foundation
import Testing

/// Issue 6 through the gateway with the real SDK, every service a real
/// process: Alice and Bob sign up (their first keys reach the directory's
/// log through `account.created`), Alice shares a file and a folder with Bob
/// after verifying his keys in the log, Bob verifies Alice's parcels with
/// her directory keys and reads both; after Alice revokes, Bob's new
/// downloads fail. A password link opens with the password only. Across
/// tenants, a share works only between two tenants that both allow it.
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

    /// Tenants `open-a` and `open-b` allow cross-tenant shares, `closed-c`
    /// does not (the default). Alice (a) finds Bob (b) by email in his tenant,
    /// shares a file, and Bob reads it from his own tenant after verifying
    /// Alice's keys; Carol (c) stays out of reach both ways, and a share to
    /// her is refused with nothing stored. Once the operator closes b, Alice
    /// can no longer find Bob.
    @Test func sharesCrossTenantsOnlyWhenBothAllowIt() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let (a, b, c) = (uniqueSlug(), uniqueSlug(), uniqueSlug())
        try await stack.createTenant(a, crossTenantShares: true)
        try await stack.createTenant(b, crossTenantShares: true)
        try await stack.createTenant(c)
        let (inA, inB, inC) = (stack.client(tenant: a), stack.client(tenant: b), stack.client(tenant: c))
        let (bobEmail, carolEmail) = (uniqueEmail(), uniqueEmail())
        let alice = try #require(try await inA.signup(email: uniqueEmail(), password: Self.password).session)
        let bob = try #require(try await inB.signup(email: bobEmail, password: Self.password).session)
        let carol = try #require(try await inC.signup(email: carolEmail, password: Self.password).session)
        let aliceTrust = try KeyTrust(server: inA.server)

        // Bob's keys, looked up in tenant b (once the tenant events and his
        // account.created have reached the directory).
        var bobKeys: VerifiedKeys?
        var lastError: (any Error)?
        _ = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(300)) {
            do {
                bobKeys = try await inA.verifiedKeys(alice, email: bobEmail, inTenant: b, trust: aliceTrust)
            } catch {
                lastError = error
            }
            return bobKeys != nil
        }
        let bobVerified = try #require(bobKeys, "Bob's keys never found across tenants (\(lastError.map { "\($0)" } ?? "-")):\n\(stack.logs.suffix(2000))")
        #expect(bobVerified.accountID == bob.accountID.lowercased() && bobVerified.tenantID != alice.tenantID.lowercased())
        // Without the tenant, Bob is not in Alice's tenant.
        await #expect(throws: CoffreAPIError.self) { _ = try await inA.verifiedKeys(alice, email: bobEmail, trust: aliceTrust) }

        // Carol's tenant is closed: Alice cannot find her, and Carol cannot look outside.
        let carolSeen = try await TestEnvironment.eventually(timeout: .seconds(20), interval: .milliseconds(300)) {
            (try? await inC.verifiedKeys(carol, email: carolEmail, trust: try KeyTrust(server: inC.server))) != nil
        }
        #expect(carolSeen, "Carol's own keys never reached the directory")
        do {
            _ = try await inA.verifiedKeys(alice, email: carolEmail, inTenant: c, trust: aliceTrust)
            Issue.record("Alice found Carol in a closed tenant")
        } catch let error as CoffreAPIError {
            #expect(error.status == 404, "\(error)")
        }
        do {
            _ = try await inC.verifiedKeys(carol, email: bobEmail, inTenant: b, trust: try KeyTrust(server: inC.server))
            Issue.record("Carol looked outside her closed tenant")
        } catch let error as CoffreAPIError {
            #expect(error.status == 403 && error.type == "urn:coffre:problem:cross-tenant-shares-disabled", "\(error)")
        }

        // Alice shares a file with Bob.
        let directory = NSTemporaryDirectory() + "coffre-e2e-xtenant-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bytes = (0..<30_000).map { UInt8(truncatingIfNeeded: $0 &* 11) }
        _ = FileManager.default.createFile(atPath: directory + "/plan.txt", contents: Data(bytes))
        let node = try await inA.node(alice, id: try await inA.upload(alice, file: directory + "/plan.txt", toFolder: nil).nodeID)
        let share = try await inA.share(alice, node: node, with: bobVerified)
        #expect(share.ownerTenantID == alice.tenantID.lowercased() && share.recipientTenantID == bobVerified.tenantID)

        // A share to Carol, by her account id, is refused and stores nothing.
        let carolKeys = try #require(await carol.keys)
        let aliceKeys = try #require(await alice.keys)
        let parcel = try ShareParcel.seal(nodeKey: node.key, recipientX25519: carolKeys.x25519.publicKey,
                                          senderSigningKey: aliceKeys.ed25519, senderAccount: alice.accountID.lowercased(),
                                          recipientAccount: carol.accountID.lowercased(), nodeID: node.id)
        let parcels = String(decoding: try JSONEncoder().encode([parcel]), as: UTF8.self)
        let token = await alice.currentAccessToken().token
        let toCarol = try await stack.raw(.POST, "/v1/shares", body: """
            {"node_id":"\(node.id)","recipient_account_id":"\(carol.accountID)","kind":"file","parcels":\(parcels)}
            """, headers: ["Authorization": "Bearer \(token)"])
        #expect(toCarol.status == 404 && toCarol.header("Content-Type")?.hasPrefix("application/problem+json") == true, "\(toCarol.body)")
        #expect(try await inA.outgoingShares(alice).map(\.id) == [share.id])
        #expect(try await inC.incomingShares(carol).isEmpty)

        // Bob, in his own tenant: lists it, opens it (Alice's keys from tenant a) and reads it.
        let listed = try #require(try await inB.incomingShares(bob).first { $0.id == share.id })
        var opened: OpenedShare?
        _ = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
            opened = try? await inB.openShare(bob, share: listed, trust: try KeyTrust(server: inB.server))
            return opened != nil
        }
        let openedFile = try #require(opened, "Bob never opened the cross-tenant share:\n\(stack.logs.suffix(2000))")
        #expect(openedFile.root.name == "plan.txt" && openedFile.owner.tenantID == alice.tenantID.lowercased())
        try await inB.acceptShare(bob, id: share.id)
        let got = try await inB.download(bob, node: openedFile.root, to: directory + "/bob-plan.txt")
        #expect(FileManager.default.contents(atPath: got.path).map(Array.init) == bytes)

        // Bob declines it from his tenant: the grant goes.
        try await inB.revokeShare(bob, id: share.id)
        #expect(try await inA.outgoingShares(alice).isEmpty)
        // (While the grant lasts, ingest answers the node, which Bob's own
        // master key does not open: the SDK refuses it. Gone, it is a 404.)
        let cut = try await TestEnvironment.eventually(timeout: .seconds(20), interval: .milliseconds(300)) {
            do {
                _ = try await inB.node(bob, id: node.id)
                return false
            } catch let error as CoffreAPIError {
                return error.status == 404
            } catch {
                return false
            }
        }
        #expect(cut, "Bob kept reading after declining")

        // The operator closes tenant b: Alice no longer finds Bob.
        let bad = try await stack.raw(.PATCH, "/v1/admin/tenants/\(b)", body: #"{"cross_tenant_shares":"no"}"#,
                                      headers: ["Authorization": "Bearer \(Stack.adminToken)"])
        #expect(bad.status == 400, "\(bad.body)")
        let unknown = try await stack.raw(.PATCH, "/v1/admin/tenants/\(uniqueSlug())", body: #"{"cross_tenant_shares":false}"#,
                                          headers: ["Authorization": "Bearer \(Stack.adminToken)"])
        #expect(unknown.status == 404, "\(unknown.body)")
        let closed = try await stack.raw(.PATCH, "/v1/admin/tenants/\(b)", body: #"{"cross_tenant_shares":false}"#,
                                         headers: ["Authorization": "Bearer \(Stack.adminToken)"])
        #expect(closed.status == 200 && closed.json["cross_tenant_shares"] as? Bool == false, "\(closed.body)")
        let gone = try await TestEnvironment.eventually(timeout: .seconds(20), interval: .milliseconds(300)) {
            do {
                _ = try await inA.verifiedKeys(alice, email: bobEmail, inTenant: b, trust: aliceTrust)
                return false
            } catch let error as CoffreAPIError {
                return error.status == 404
            }
        }
        #expect(gone, "tenant b's closing never reached the directory")
    }
}
