import CoffreCore
import CoffreTestSupport
import Foundation
import Kafka
import HTTPTypes
import Hummingbird
@testable import Ingest
import Testing

/// The file tree: folders, move, rename, trash, restore, purge, versions,
/// grants, account deletion.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct TreeTests {
    typealias H = IngestHarness

    static func ids(_ reply: H.Reply) -> [String] {
        (reply.json["nodes"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    @Test func foldersListMoveRenameAndRefuseCycles() async throws {
        try await H.run { h in
            let user = H.user()
            let docs = try await h.folder(user)
            let inner = try await h.folder(user, parent: docs)
            let file = try await h.upload(user, [1, 2, 3], parent: inner)

            #expect(Self.ids(try await h.call(.get, "/v1/nodes", as: user)) == [docs.lower])
            #expect(Self.ids(try await h.call(.get, "/v1/nodes?parent=\(docs.lower)", as: user)) == [inner.lower])
            #expect(Self.ids(try await h.call(.get, "/v1/nodes?parent=\(inner.lower)", as: user)) == [file.node.lower])
            // Another account sees none of it.
            let stranger = H.user(tenant: user.tenantID!)
            #expect(Self.ids(try await h.call(.get, "/v1/nodes", as: stranger)).isEmpty)
            #expect(try await h.call(.get, "/v1/nodes?parent=\(docs.lower)", as: stranger).status == .notFound)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)", as: stranger).status == .notFound)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: stranger).status == .notFound)
            #expect(try await h.call(.patch, "/v1/nodes/\(file.node.lower)", as: stranger, json: ["parent_id": NSNull()]).status == .notFound)

            // Rename (new ciphertext attributes) and move to the root.
            let renamed = try await h.call(.patch, "/v1/nodes/\(file.node.lower)", as: user,
                                           json: ["attributes": Data([9, 9]).base64EncodedString(), "parent_id": NSNull()])
            #expect(renamed.status == .ok)
            #expect(renamed.json["attributes"] as? String == Data([9, 9]).base64EncodedString())
            #expect(renamed.json["parent_id"] is NSNull || renamed.json["parent_id"] == nil)
            #expect(Set(Self.ids(try await h.call(.get, "/v1/nodes", as: user))) == [docs.lower, file.node.lower])

            let cycle = try await h.call(.patch, "/v1/nodes/\(docs.lower)", as: user, json: ["parent_id": inner.lower])
            #expect(cycle.status == .conflict)
            let selfParent = try await h.call(.patch, "/v1/nodes/\(docs.lower)", as: user, json: ["parent_id": docs.lower])
            #expect(selfParent.status == .conflict)
            let intoFile = try await h.call(.patch, "/v1/nodes/\(inner.lower)", as: user, json: ["parent_id": file.node.lower])
            #expect(intoFile.status == .conflict)
            let badID = try await h.call(.patch, "/v1/nodes/\(inner.lower)", as: user, json: ["parent_id": "../etc"])
            #expect(badID.status == .badRequest)
            #expect(try await h.call(.get, "/v1/nodes/not-an-id", as: user).status == .badRequest)
            let fileKind = try await h.call(.post, "/v1/nodes", as: user,
                                            json: ["kind": "file", "attributes": "AQ==", "wrapped_key": "AQ=="])
            #expect(fileKind.status == .badRequest)
            let notBase64 = try await h.call(.post, "/v1/nodes", as: user, json: ["kind": "folder", "attributes": "%%%", "wrapped_key": "AQ=="])
            #expect(notBase64.status == .badRequest)
            // The refused requests changed nothing.
            #expect(Self.ids(try await h.call(.get, "/v1/nodes?parent=\(docs.lower)", as: user)) == [inner.lower])
        }
    }

    @Test func trashRestoreAndPurgeFreeTheBlob() async throws {
        try await H.run { h in
            let user = H.user()
            let folder = try await h.folder(user)
            let file = try await h.upload(user, Array(repeating: 5, count: 1000), parent: folder)
            let blob = "\(h.blobDirectory)/\(FileBlobStore.blobKey(UUID(uuidString: file.version)!))"
            #expect(FileManager.default.fileExists(atPath: blob))

            let trashed = try await h.call(.delete, "/v1/nodes/\(folder.lower)", as: user)
            #expect(trashed.status == .ok)
            #expect(trashed.json["trashed_at"] is String)
            #expect(Self.ids(try await h.call(.get, "/v1/nodes", as: user)).isEmpty)
            #expect(Self.ids(try await h.call(.get, "/v1/trash", as: user)) == [folder.lower])

            let restored = try await h.call(.post, "/v1/nodes/\(folder.lower)/restore", as: user)
            #expect(restored.status == .ok)
            #expect(Self.ids(try await h.call(.get, "/v1/nodes", as: user)) == [folder.lower])
            #expect(try await h.call(.post, "/v1/nodes/\(folder.lower)/restore", as: user).status == .conflict)

            // A file restored out of a trashed folder lands in the root.
            _ = try await h.call(.delete, "/v1/nodes/\(file.node.lower)", as: user)
            _ = try await h.call(.delete, "/v1/nodes/\(folder.lower)", as: user)
            let back = try await h.call(.post, "/v1/nodes/\(file.node.lower)/restore", as: user)
            #expect(back.status == .ok)
            #expect(Self.ids(try await h.call(.get, "/v1/nodes", as: user)) == [file.node.lower])

            #expect(try await h.call(.delete, "/v1/nodes/\(folder.lower)?purge=maybe", as: user).status == .badRequest)
            #expect(try await h.call(.delete, "/v1/nodes/\(file.node.lower)?purge=true", as: H.user(tenant: user.tenantID!)).status == .notFound)
            #expect(try await h.call(.delete, "/v1/nodes/\(file.node.lower)?purge=true", as: user).status == .noContent)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)", as: user).status == .notFound)
            #expect(try await H.outboxCount(type: "coffre.blob.deleted", mentioning: file.version) == 1)
            let gone = try await TestEnvironment.eventually(timeout: .seconds(10)) { !FileManager.default.fileExists(atPath: blob) }
            #expect(gone)
        }
    }

    @Test func uploadingToAFileKeepsVersions() async throws {
        try await H.run { h in
            let user = H.user()
            let first = try await h.upload(user, [1, 1, 1])
            let node = first.node
            // A new version: metadata names the existing node only.
            let second = try await h.create(user, length: 2, metadata: H.metadata(["node": Array(node.lower.utf8)]), body: [2, 2])
            #expect(second.reply.status == .created)
            let v2 = try #require(second.reply.header("Coffre-Version-Id"))
            #expect(try await h.call(.get, "/v1/nodes/\(node.lower)/content", as: user).body == [2, 2])

            let versions = try await h.call(.get, "/v1/nodes/\(node.lower)/versions", as: user)
            let list = versions.json["versions"] as? [[String: Any]] ?? []
            #expect(list.compactMap { $0["id"] as? String } == [v2, first.version])
            #expect(list.first?["current"] as? Bool == true)

            let old = try await h.call(.get, "/v1/nodes/\(node.lower)/content?version=\(first.version)", as: user)
            #expect(old.body == [1, 1, 1])
            #expect(try await h.call(.delete, "/v1/nodes/\(node.lower)/versions/\(v2)", as: user).status == .conflict)

            let restored = try await h.call(.post, "/v1/nodes/\(node.lower)/versions/\(first.version)/restore", as: user)
            #expect(restored.json["current_version"] as? String == first.version)
            #expect(restored.json["size"] as? Int == 3)
            #expect(try await h.call(.get, "/v1/nodes/\(node.lower)/content", as: user).body == [1, 1, 1])

            #expect(try await h.call(.delete, "/v1/nodes/\(node.lower)/versions/\(v2)", as: user).status == .noContent)
            #expect(try await h.call(.delete, "/v1/nodes/\(node.lower)/versions/\(v2)", as: user).status == .notFound)
            #expect(try await H.outboxCount(type: "coffre.blob.deleted", mentioning: v2) == 1)
            // Uploading to someone else's node, or to a folder, is refused.
            let folder = try await h.folder(user)
            #expect(try await h.create(H.user(tenant: user.tenantID!), length: 1, metadata: H.metadata(["node": Array(node.lower.utf8)])).reply.status == .notFound)
            #expect(try await h.create(user, length: 1, metadata: H.metadata(["node": Array(folder.lower.utf8)])).reply.status == .conflict)
        }
    }

    @Test func grantsOpenDownloadsToTheGrantee() async throws {
        try await H.run { h in
            let owner = H.user()
            let friend = H.user(tenant: owner.tenantID!)
            let folder = try await h.folder(owner)
            let file = try await h.upload(owner, [7, 7, 7], parent: folder)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: friend).status == .notFound)
            // The key directory's share events fill this table (its own issue).
            try await TestEnvironment.withPostgres(poolSize: 1) { pg in
                try await pg.withTransaction(logger: TestEnvironment.logger) { c in
                    try await c.query("SELECT set_config('coffre.tenant_id', \(owner.tenantID!.lower), true)", logger: TestEnvironment.logger)
                    try await c.query("""
                        INSERT INTO ingest.grants (id, tenant_id, node_id, owner_account_id, grantee_account_id)
                        VALUES (\(UUID()), \(owner.tenantID!), \(folder), \(owner.accountID!), \(friend.accountID!))
                        """, logger: TestEnvironment.logger)
                }
            }
            let shared = try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: friend)
            #expect(shared.status == .ok && shared.body == [7, 7, 7])
            // The grant opens reads (the node, the folder's listing); writes stay the owner's.
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)", as: friend).status == .ok)
            #expect(Self.ids(try await h.call(.get, "/v1/nodes?parent=\(folder.lower)", as: friend)) == [file.node.lower])
            #expect(try await h.call(.patch, "/v1/nodes/\(file.node.lower)", as: friend, json: ["parent_id": NSNull()]).status == .notFound)
            #expect(try await h.call(.delete, "/v1/nodes/\(file.node.lower)", as: friend).status == .notFound)
            // A grant in one tenant means nothing to an account of another.
            let foreign = VerifiedIdentity(tenantID: UUID(), accountID: friend.accountID!, sessionID: UUID())
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: foreign).status == .notFound)
        }
    }

    @Test func usageSumsCommittedVersionsPerAccountOfOneTenant() async throws {
        try await H.run { h in
            let a = H.user()
            let b = H.user(tenant: a.tenantID!)
            let elsewhere = H.user()
            let file = try await h.upload(a, [1, 2, 3])
            _ = try await h.create(a, length: 5, metadata: H.metadata(["node": Array(file.node.lower.utf8)]), body: [1, 2, 3, 4, 5])
            _ = try await h.upload(b, Array(repeating: 0, count: 10))
            _ = try await h.upload(elsewhere, [1])
            let (pending, _) = try await h.create(a, length: 100, metadata: H.newFile().metadata)
            _ = try await h.patch(a, pending, offset: 0, [1, 2])
            let path = "/internal/v1/tenants/\(a.tenantID!.lower)/usage"
            let report = try await h.call(.get, path, as: VerifiedIdentity())
            #expect(report.status == .ok)
            let accounts = report.json["accounts"] as? [[String: Any]] ?? []
            let byAccount = Dictionary(uniqueKeysWithValues: accounts.map { ($0["account_id"] as! String, $0["bytes"] as! Int) })
            #expect(byAccount == [a.accountID!.lower: 8, b.accountID!.lower: 10])
            #expect(try await h.call(.get, path, as: nil).status == .notFound)
        }
    }

    /// Quota's verdicts arrive on coffre.quota; downloads stop with 429 and
    /// `Retry-After` while the allowance is used up, and resume after.
    @Test func exhaustedTransferAllowanceRefusesDownloadsUntilRestored() async throws {
        try await H.run { h in
            let user = H.user()
            let file = try await h.upload(user, [1, 2, 3])
            let producer = try KafkaProducer(configuration: .init(bootstrapServers: TestEnvironment.kafkaBrokers!), logger: TestEnvironment.logger)
            func verdict(_ type: String) async throws {
                let event = CloudEvent(source: "/coffre/quota", type: type, subject: user.accountID!.lower, tenant: user.tenantID!.lower,
                                       data: .object(["tenant_id": .string(user.tenantID!.lower), "account_id": .string(user.accountID!.lower),
                                                      "retry_after_seconds": .int(600)]))
                let results = await producer.send([KafkaOutgoingMessage(topic: "coffre.quota", key: user.accountID!.lower, value: try event.encoded())])
                _ = try results.map { try $0.get() }
            }
            try await verdict("coffre.quota.transfer.exhausted")
            var refused: IngestHarness.Reply?
            _ = try await TestEnvironment.eventually(timeout: .seconds(45), interval: .milliseconds(250)) {
                let reply = try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user)
                refused = reply
                return reply.status == .tooManyRequests
            }
            #expect(refused?.status == .tooManyRequests)
            #expect((refused?.header("Retry-After")).flatMap(Int.init).map { $0 > 500 && $0 <= 600 } == true)
            // Another account of the tenant downloads its own files meanwhile.
            let other = H.user(tenant: user.tenantID!)
            let theirs = try await h.upload(other, [4])
            #expect(try await h.call(.get, "/v1/nodes/\(theirs.node.lower)/content", as: other).status == .ok)

            try await verdict("coffre.quota.transfer.restored")
            let restored = try await TestEnvironment.eventually(timeout: .seconds(45), interval: .milliseconds(250)) {
                try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user).status == .ok
            }
            #expect(restored)
        }
    }

    @Test func accountDeletionPurgesNodesBlobsAndUploads() async throws {
        try await H.run { h in
            let user = H.user()
            let folder = try await h.folder(user)
            let file = try await h.upload(user, [1, 2, 3, 4], parent: folder)
            let (pending, _) = try await h.create(user, length: 100, metadata: H.newFile().metadata)
            #expect(try await h.patch(user, pending, offset: 0, [1, 2]).status == .noContent)
            let blob = "\(h.blobDirectory)/\(FileBlobStore.blobKey(UUID(uuidString: file.version)!))"
            let partial = "\(h.blobDirectory)/\(FileBlobStore.blobKey(UUID(uuidString: String(pending.split(separator: "/").last!))!))"

            // What the consumer of `account.deleted` runs, in its transaction.
            try await TestEnvironment.withPostgres(poolSize: 1) { pg in
                let store = IngestStore(postgres: pg, outbox: Outbox(schema: "ingest"), logger: TestEnvironment.logger)
                try await pg.withTransaction(logger: TestEnvironment.logger) { c in
                    try await store.purgeAccount(tenant: user.tenantID!, account: user.accountID!, on: c)
                }
            }
            #expect(try await h.call(.get, "/v1/nodes/\(folder.lower)", as: user).status == .notFound)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user).status == .notFound)
            #expect(try await H.outboxCount(type: "coffre.blob.deleted", mentioning: file.version) == 1)
            let cleaned = try await TestEnvironment.eventually(timeout: .seconds(10)) {
                !FileManager.default.fileExists(atPath: blob) && !FileManager.default.fileExists(atPath: partial)
            }
            #expect(cleaned)
            #expect(try await h.head(user, pending).status == .notFound)
        }
    }
}
