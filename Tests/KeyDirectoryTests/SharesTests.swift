import CoffreCore
import CoffreCrypto
import CoffreTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import Ingest
@testable import KeyDirectory
import KeyTransparency
import Logging
import NIOCore
import PostgresNIO
import Testing

/// keydir and blob ingest in-process on real sockets, each configured with
/// the other's address: keydir asks ingest whose node is shared or linked,
/// ingest asks keydir about links and turns share events into grants.
struct SharingStack {
    let keydir: KeyDirectoryHarness
    /// Ingest listens on a port chosen before either starts: keydir must
    /// know ingest's address before it starts, and ingest keydir's.
    let ingest: LiveClient
    let ingestKey = InternalAuth.key(from: KeyDirectoryHarness.secret)

    static func run(_ body: @Sendable (SharingStack) async throws -> Void) async throws {
        let logger = {
            var logger = Logger(label: "sharing-test")
            logger.logLevel = .warning
            return logger
        }()
        let ingestPort = TestEnvironment.freePort()
        let ingestURL = "http://127.0.0.1:\(ingestPort)"
        let blobs = FileManager.default.temporaryDirectory.appendingPathComponent("coffre-sharing-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: blobs) }
        try await KeyDirectoryHarness.run(topic: try KeyDirectoryHarness.newTopic(), tweak: { $0.ingestURL = ingestURL }) { keydir in
            var config = IngestConfiguration(
                common: CommonConfiguration(postgresURL: TestEnvironment.postgresURL!, postgresPoolSize: 8,
                                            kafkaBrokers: TestEnvironment.kafkaBrokers!, internalSecret: KeyDirectoryHarness.secret),
                listen: .init(host: "127.0.0.1", port: ingestPort))
            config.blobDirectory = blobs
            config.transferFlush = .milliseconds(200)
            config.consumerGroup = TestEnvironment.unique("ingest-sharing")
            config.keydirURL = "http://127.0.0.1:\(keydir.client.port)"
            let ingestApp = try IngestApp.build(config: config, logger: logger)
            try await LiveService.run(ingestApp, name: "ingest", port: ingestPort, logger: logger) { ingest in
                let stack = SharingStack(keydir: keydir, ingest: ingest)
                let ready = try await TestEnvironment.eventually(timeout: .seconds(30)) {
                    (try? await stack.ingestCall(.get, "/readyz", as: nil))?.status == .ok
                }
                guard ready else { throw ChildProcessError(message: "ingest never became ready") }
                try await body(stack)
            }
        }
    }

    /// A call to ingest over a real socket, signed as `identity` (nil:
    /// anonymous, as the gateway forwards link reads).
    func ingestCall(_ method: HTTPRequest.Method, _ path: String, as identity: VerifiedIdentity?, body: [UInt8]? = nil,
                    headers extra: HTTPFields = [:]) async throws -> KeyDirectoryHarness.Reply {
        var headers = extra
        if let identity {
            InternalAuth.sign(identity, method: method.rawValue, path: String(path.split(separator: "?")[0]), key: ingestKey, into: &headers)
        }
        let response = try await ingest.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) },
                                                timeout: .seconds(30))
        return KeyDirectoryHarness.Reply(status: response.status, headers: response.headers, body: Array(buffer: response.body))
    }

    /// A new file of `identity` with these (ciphertext) bytes.
    func upload(_ identity: VerifiedIdentity, _ bytes: [UInt8], parent: UUID? = nil) async throws -> UUID {
        let node = UUID()
        var pairs: [String: [UInt8]] = ["node": Array(node.lower.utf8), "attributes": [7, 7, 7], "key": [9, 9, 9]]
        if let parent { pairs["parent"] = Array(parent.lower.utf8) }
        let metadata = pairs.sorted { $0.key < $1.key }.map { "\($0.key) \(Data($0.value).base64EncodedString())" }.joined(separator: ",")
        let headers: HTTPFields = [HTTPField.Name("Tus-Resumable")!: "1.0.0", HTTPField.Name("Upload-Length")!: String(bytes.count),
                                   HTTPField.Name("Upload-Metadata")!: metadata, .contentType: "application/offset+octet-stream"]
        let reply = try await ingestCall(.post, "/v1/uploads", as: identity, body: bytes, headers: headers)
        guard reply.status == .created else { throw ChildProcessError(message: "upload: \(reply.status) \(reply.text)") }
        return node
    }

    func folder(_ identity: VerifiedIdentity, parent: UUID? = nil) async throws -> UUID {
        var json: [String: Any] = ["kind": "folder", "attributes": "AQID", "wrapped_key": "BAUG"]
        if let parent { json["parent_id"] = parent.lower }
        let reply = try await ingestCall(.post, "/v1/nodes", as: identity, body: Array(try JSONSerialization.data(withJSONObject: json)),
                                         headers: [.contentType: "application/json"])
        guard reply.status == .created, let id = (reply.json["id"] as? String).flatMap(UUID.init(uuidString:)) else {
            throw ChildProcessError(message: "folder: \(reply.status) \(reply.text)")
        }
        return id
    }
}

/// An account with client-side keys (CoffreCrypto), published in the directory.
struct Person: Sendable {
    let identity: VerifiedIdentity
    let x25519 = X25519KeyPair.generate()
    let ed25519 = Ed25519KeyPair.generate()
    var account: UUID { identity.accountID! }
    var tenant: UUID { identity.tenantID! }

    init(tenant: UUID = UUID()) {
        identity = KeyDirectoryHarness.user(tenant: tenant)
    }

    func publish(on keydir: KeyDirectoryHarness) async throws {
        let x = x25519.publicKey.base64URL, ed = ed25519.publicKey.base64URL
        let signature = Base64URL.encode(ed25519.signature(for: KeyLogEntry.selfSignedMessage(x25519: x, ed25519: ed)))
        let reply = try await keydir.call(.post, "/v1/keys", as: identity,
                                          json: ["action": "publish", "version": 1, "x25519": x, "ed25519": ed, "self_signature": signature])
        guard reply.status == .created else { throw ChildProcessError(message: "publish: \(reply.status) \(reply.text)") }
    }

    /// Revokes the published keys (version 2, signed by the current key).
    func revoke(on keydir: KeyDirectoryHarness) async throws {
        let message = KeyLogEntry.transitionMessage(account: account.lower, action: .revoke, version: 2, x25519: nil, ed25519: nil)
        let reply = try await keydir.call(.post, "/v1/keys", as: identity, json: [
            "action": "revoke", "version": 2, "prev_signature": Base64URL.encode(ed25519.signature(for: message)),
        ])
        guard reply.status == .created else { throw ChildProcessError(message: "revoke: \(reply.status) \(reply.text)") }
    }

    /// One parcel per node, sealed and signed with the client's own code.
    func parcels(for nodes: [UUID], to recipient: Person, sealedTo key: X25519PublicKey? = nil,
                 keys: [UUID: FileKey] = [:]) throws -> [[String: Any]] {
        try nodes.map { node in
            let parcel = try ShareParcel.seal(nodeKey: keys[node] ?? FileKey.generate(), recipientX25519: key ?? recipient.x25519.publicKey,
                                              senderSigningKey: ed25519, senderAccount: account.lower,
                                              recipientAccount: recipient.account.lower, nodeID: node.lower)
            return try JSONSerialization.jsonObject(with: JSONEncoder().encode(parcel)) as! [String: Any]
        }
    }

    func shareBody(_ node: UUID, kind: String = "file", to recipient: Person, parcels: [[String: Any]]) -> [String: Any] {
        ["node_id": node.lower, "recipient_account_id": recipient.account.lower, "kind": kind, "parcels": parcels]
    }
}

/// Direct reads of what was stored (the API is not trusted to report its
/// own writes), inside the tenant: row-level security hides every row
/// otherwise, so a count without it would be 0 whatever was stored.
enum SharingDB {
    static func count(_ sql: String, tenant: UUID, _ account: UUID) async throws -> Int {
        try await TestEnvironment.withPostgres(poolSize: 1) { pg in
            try await pg.withTenant(tenant, logger: TestEnvironment.logger) { connection in
                var query = PostgresQuery(unsafeSQL: sql)
                query.binds.append(account)
                let rows = try await connection.query(query, logger: TestEnvironment.logger)
                for try await n in rows.decode(Int64.self) { return Int(n) }
                return 0
            }
        }
    }

    static func shares(of owner: Person) async throws -> Int {
        try await count("SELECT count(*) FROM keydir.shares WHERE owner_account_id = $1", tenant: owner.tenant, owner.account)
    }

    /// Share events in keydir's outbox (no RLS there: it is the service's own queue).
    static func shareEvents(of owner: Person) async throws -> Int {
        try await count("SELECT count(*) FROM keydir.outbox WHERE topic = 'coffre.keydir' AND key = $1::text", tenant: owner.tenant, owner.account)
    }

    static func grants(to grantee: Person) async throws -> Int {
        try await count("SELECT count(*) FROM ingest.grants WHERE grantee_account_id = $1", tenant: grantee.tenant, grantee.account)
    }

    static func links(of owner: Person) async throws -> Int {
        try await count("SELECT count(*) FROM keydir.links WHERE owner_account_id = $1", tenant: owner.tenant, owner.account)
    }
}

@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct SharesTests {
    typealias H = KeyDirectoryHarness

    static func ids(_ reply: H.Reply, _ key: String = "nodes") -> [String] {
        (reply.json[key] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    /// Alice shares a file and a folder with Bob: Bob lists, opens the
    /// parcels with his key, reads through ingest's grants; after a revoke
    /// and a decline he reads nothing.
    @Test func sharesGrantReadsUntilRevokedOrDeclined() async throws {
        try await SharingStack.run { s in
            let alice = Person(), bob = Person(tenant: alice.tenant)
            try await alice.publish(on: s.keydir)
            try await bob.publish(on: s.keydir)
            let file = try await s.upload(alice.identity, [1, 2, 3])
            let folder = try await s.folder(alice.identity)
            let inner = try await s.folder(alice.identity, parent: folder)
            let deep = try await s.upload(alice.identity, [4, 5], parent: inner)
            let trashed = try await s.upload(alice.identity, [6], parent: folder)
            #expect(try await s.ingestCall(.delete, "/v1/nodes/\(trashed.lower)", as: alice.identity).status == .ok)

            let fileKey = FileKey.generate()
            let shared = try await s.keydir.call(.post, "/v1/shares", as: alice.identity,
                                                 json: alice.shareBody(file, to: bob, parcels: try alice.parcels(for: [file], to: bob, keys: [file: fileKey])))
            #expect(shared.status == .created, "\(shared.text)")
            let shareID = try #require(shared.json["id"] as? String)
            // The folder's parcels cover it and its live descendants (not the trashed file).
            let folderShare = try await s.keydir.call(.post, "/v1/shares", as: alice.identity, json: alice.shareBody(
                folder, kind: "folder", to: bob, parcels: try alice.parcels(for: [folder, inner, deep], to: bob)))
            #expect(folderShare.status == .created, "\(folderShare.text)")
            let folderShareID = try #require(folderShare.json["id"] as? String)

            // Bob sees both, and opens the file's parcel with the client's code.
            let incoming = try await s.keydir.call(.get, "/v1/shares/incoming", as: bob.identity)
            #expect(Set(Self.ids(incoming, "shares")) == [shareID, folderShareID])
            let share = try #require((incoming.json["shares"] as? [[String: Any]])?.first { $0["id"] as? String == shareID })
            let parcelJSON = try JSONSerialization.data(withJSONObject: try #require((share["parcels"] as? [Any])?.first))
            let parcel = try JSONDecoder().decode(ShareParcel.self, from: parcelJSON)
            let opened = try parcel.open(recipientKeys: bob.x25519, recipientAccount: bob.account.lower, senderSigningPublic: alice.ed25519.publicKey,
                                         senderAccount: alice.account.lower, nodeID: file.lower)
            #expect(opened == fileKey)
            #expect(Set(Self.ids(try await s.keydir.call(.get, "/v1/shares/outgoing", as: alice.identity), "shares")) == [shareID, folderShareID])
            #expect(Self.ids(try await s.keydir.call(.get, "/v1/shares/outgoing", as: bob.identity), "shares").isEmpty)
            let accepted = try await s.keydir.call(.post, "/v1/shares/\(shareID)/accept", as: bob.identity)
            #expect(accepted.status == .ok && accepted.json["accepted_at"] is String)
            #expect(try await s.keydir.call(.post, "/v1/shares/\(shareID)/accept", as: alice.identity).status == .notFound)
            // One share by id: its owner and its recipient see it (accepted now), nobody else.
            for reader in [alice, bob] {
                let one = try await s.keydir.call(.get, "/v1/shares/\(shareID)", as: reader.identity)
                #expect(one.status == .ok && one.json["id"] as? String == shareID && one.json["accepted_at"] is String, "\(one.text)")
                #expect((one.json["parcels"] as? [Any])?.count == 1)
            }
            let carol = Person(tenant: alice.tenant), mallory = Person()
            #expect(try await s.keydir.call(.get, "/v1/shares/\(shareID)", as: carol.identity).status == .notFound)
            #expect(try await s.keydir.call(.get, "/v1/shares/\(shareID)", as: mallory.identity).status == .notFound)
            let badID = try await s.keydir.call(.get, "/v1/shares/not-a-uuid", as: bob.identity)
            #expect(badID.status == .badRequest && badID.text.contains("share id must be a UUID"))

            // share.created reaches ingest: Bob reads the file, the folder's tree and its files.
            let granted = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
                let first = try await s.ingestCall(.get, "/v1/nodes/\(file.lower)/content", as: bob.identity).body
                let second = try await s.ingestCall(.get, "/v1/nodes/\(deep.lower)/content", as: bob.identity).body
                return first == [1, 2, 3] && second == [4, 5]
            }
            #expect(granted)
            #expect(try await s.ingestCall(.get, "/v1/nodes/\(file.lower)", as: bob.identity).status == .ok)
            #expect(Self.ids(try await s.ingestCall(.get, "/v1/nodes?parent=\(folder.lower)", as: bob.identity)) == [inner.lower])
            #expect(Self.ids(try await s.ingestCall(.get, "/v1/nodes?parent=\(inner.lower)", as: bob.identity)) == [deep.lower])
            // The trashed file stays the owner's; writes stay the owner's.
            #expect(try await s.ingestCall(.get, "/v1/nodes/\(trashed.lower)", as: bob.identity).status == .notFound)
            #expect(try await s.ingestCall(.delete, "/v1/nodes/\(deep.lower)", as: bob.identity).status == .notFound)
            #expect(try await s.ingestCall(.post, "/v1/nodes/\(deep.lower)/restore", as: bob.identity).status == .notFound)
            // Bob's own root is still only his.
            #expect(Self.ids(try await s.ingestCall(.get, "/v1/nodes", as: bob.identity)).isEmpty)

            // Alice revokes the file share; Bob declines the folder's.
            #expect(try await s.keydir.call(.delete, "/v1/shares/\(shareID)", as: alice.identity).status == .noContent)
            #expect(try await s.keydir.call(.delete, "/v1/shares/\(folderShareID)", as: bob.identity).status == .noContent)
            #expect(try await s.keydir.call(.delete, "/v1/shares/\(folderShareID)", as: bob.identity).status == .notFound)
            let withdrawn = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
                let download = try await s.ingestCall(.get, "/v1/nodes/\(file.lower)/content", as: bob.identity).status
                let listing = try await s.ingestCall(.get, "/v1/nodes?parent=\(folder.lower)", as: bob.identity).status
                return download == .notFound && listing == .notFound
            }
            #expect(withdrawn)
            #expect(try await SharingDB.grants(to: bob) == 0)
            #expect(Self.ids(try await s.keydir.call(.get, "/v1/shares/incoming", as: bob.identity), "shares").isEmpty)
            #expect(try await s.keydir.call(.get, "/v1/shares/\(shareID)", as: alice.identity).status == .notFound)
            // Alice still reads her own.
            #expect(try await s.ingestCall(.get, "/v1/nodes/\(file.lower)/content", as: alice.identity).body == [1, 2, 3])
        }
    }

    /// Every refusal of the contract answers 4xx problem+json and stores
    /// nothing (no row, no event).
    @Test func badSharesAreRefusedAndStoreNothing() async throws {
        try await SharingStack.run { s in
            let alice = Person(), bob = Person(tenant: alice.tenant), carol = Person(tenant: alice.tenant)
            let stranger = Person()  // another tenant
            for person in [alice, bob, carol, stranger] { try await person.publish(on: s.keydir) }
            let file = try await s.upload(alice.identity, [1])
            let folder = try await s.folder(alice.identity)
            let child = try await s.upload(alice.identity, [2], parent: folder)
            let bobsFile = try await s.upload(bob.identity, [3])
            let good = try alice.parcels(for: [file], to: bob)

            func refused(_ body: [String: Any], as person: Person? = nil, _ status: HTTPResponse.Status, _ type: String? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let reply = try await s.keydir.call(.post, "/v1/shares", as: (person ?? alice).identity, json: body)
                #expect(reply.status == status, "\(reply.text)", sourceLocation: sourceLocation)
                #expect(reply.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
                if let type { #expect(reply.json["type"] as? String == "urn:coffre:problem:\(type)", "\(reply.text)", sourceLocation: sourceLocation) }
            }
            var unknown = alice.shareBody(file, to: bob, parcels: good)
            unknown["recipient_account_id"] = UUID().uuidString.lowercased()
            try await refused(unknown, .badRequest, "parcel-address")  // the parcels name Bob
            let nobody = Person(tenant: alice.tenant)
            try await refused(alice.shareBody(file, to: nobody, parcels: try alice.parcels(for: [file], to: nobody)), .notFound)
            try await refused(alice.shareBody(file, to: stranger, parcels: try alice.parcels(for: [file], to: stranger)), .notFound)
            try await refused(alice.shareBody(bobsFile, to: carol, parcels: try alice.parcels(for: [bobsFile], to: carol)), .notFound)
            try await refused(alice.shareBody(file, to: alice, parcels: try alice.parcels(for: [file], to: alice)), .badRequest)
            // Signed by someone else (Carol's key, Alice's name), or altered after signing.
            let forged = try carol.parcels(for: [file], to: bob).map { p -> [String: Any] in
                var p = p; p["senderAccount"] = alice.account.lower; return p
            }
            try await refused(alice.shareBody(file, to: bob, parcels: forged), .badRequest, "bad-signature")
            var altered = good[0]
            var signature = Base64URL.decode(altered["signature"] as! String)!
            signature[0] ^= 1
            altered["signature"] = Base64URL.encode(signature)
            try await refused(alice.shareBody(file, to: bob, parcels: [altered]), .badRequest, "bad-signature")
            // Malformed keys and fields.
            var shortKey = good[0]; shortKey["recipientX25519"] = Base64URL.encode([1, 2, 3])
            try await refused(alice.shareBody(file, to: bob, parcels: [shortKey]), .badRequest, "malformed-parcel")
            var notB64 = good[0]; notB64["sealedKey"] = "%%%"
            try await refused(alice.shareBody(file, to: bob, parcels: [notB64]), .badRequest, "malformed-parcel")
            var extra = good[0]; extra["plaintext"] = "oops"
            try await refused(alice.shareBody(file, to: bob, parcels: [extra]), .badRequest, "malformed-parcel")
            try await refused(alice.shareBody(file, to: bob, parcels: []), .badRequest)
            // Sealed to a key that is not Bob's current one.
            try await refused(alice.shareBody(file, to: bob, parcels: try alice.parcels(for: [file], to: bob, sealedTo: carol.x25519.publicKey)),
                              .conflict, "stale-recipient-key")
            // The folder's parcels must cover exactly its subtree; the kind must match.
            try await refused(alice.shareBody(folder, kind: "folder", to: bob, parcels: try alice.parcels(for: [folder], to: bob)),
                              .conflict, "parcel-nodes")
            try await refused(alice.shareBody(folder, kind: "folder", to: bob, parcels: try alice.parcels(for: [folder, child, file], to: bob)),
                              .conflict, "parcel-nodes")
            try await refused(alice.shareBody(folder, kind: "file", to: bob, parcels: try alice.parcels(for: [folder, child], to: bob)),
                              .conflict, "node-kind")
            try await refused(alice.shareBody(file, to: bob, parcels: good + good), .badRequest, "parcel-nodes")
            try await refused(["node_id": "nope", "recipient_account_id": bob.account.lower, "kind": "file", "parcels": good], .badRequest)
            try await refused(["node_id": file.lower], .badRequest)
            let garbage = try await s.keydir.call(.post, "/v1/shares", as: alice.identity, raw: "{not json")
            #expect(garbage.status == .badRequest)
            #expect(try await s.keydir.call(.post, "/v1/shares", json: alice.shareBody(file, to: bob, parcels: good)).status == .unauthorized)
            // Revoked recipient keys receive nothing.
            try await carol.revoke(on: s.keydir)
            try await refused(alice.shareBody(file, to: carol, parcels: try alice.parcels(for: [file], to: carol)), .conflict, "recipient-keys-revoked")
            // And revoked owner keys sign nothing.
            let carolsFile = try await s.upload(carol.identity, [4])
            try await refused(carol.shareBody(carolsFile, to: bob, parcels: try carol.parcels(for: [carolsFile], to: bob)), as: carol,
                              .conflict, "no-owner-keys")
            #expect(try await SharingDB.shares(of: carol) == 0)

            #expect(try await SharingDB.shares(of: alice) == 0)
            #expect(try await SharingDB.shareEvents(of: alice) == 0)
            #expect(try await SharingDB.grants(to: bob) == 0)
            // The good share still works after all that.
            #expect(try await s.keydir.call(.post, "/v1/shares", as: alice.identity, json: alice.shareBody(file, to: bob, parcels: good)).status == .created)
            #expect(try await SharingDB.shares(of: alice) == 1)
            // A second share of the node to Bob replaces the first (same id).
            let again = try await s.keydir.call(.post, "/v1/shares", as: alice.identity,
                                                json: alice.shareBody(file, to: bob, parcels: try alice.parcels(for: [file], to: bob)))
            #expect(again.status == .created)
            #expect(try await SharingDB.shares(of: alice) == 1)
            // Another tenant's account sees none of it, even knowing the id.
            let id = try #require(again.json["id"] as? String)
            #expect(try await s.keydir.call(.delete, "/v1/shares/\(id)", as: stranger.identity).status == .notFound)
            #expect(try await s.keydir.call(.delete, "/v1/shares/\(id)", as: carol.identity).status == .notFound)
            #expect(try await s.keydir.call(.delete, "/v1/shares/not-a-uuid", as: alice.identity).status == .badRequest)
            #expect(Self.ids(try await s.keydir.call(.get, "/v1/shares/incoming", as: stranger.identity), "shares").isEmpty)
        }
    }
}
