import CoffreCore
import CoffreTestSupport
import Foundation
import HTTPTypes
@testable import Ingest
import Kafka
import Testing

/// What ingest does for the key directory: grants from its share events
/// (topic `coffre.keydir`), what a grantee may read, the internal node
/// route the directory checks shares against, and the link routes' input
/// checks (the link paths themselves run against a real key directory in
/// KeyDirectoryTests/LinksTests and ServiceTests).
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct SharedAccessTests {
    typealias H = IngestHarness

    static func ids(_ reply: H.Reply) -> [String] {
        (reply.json["nodes"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    /// A share event exactly as the key directory writes it (SharesStore.emit).
    static func shareEvent(_ type: String, share: UUID, owner: VerifiedIdentity, recipient: VerifiedIdentity, node: UUID, kind: String) -> CloudEvent {
        let tenant = owner.tenantID!.lower, account = owner.accountID!.lower
        return CloudEvent(source: "/coffre/keydir", type: type, subject: account, tenant: tenant, data: .object([
            "tenant_id": .string(tenant), "account_id": .string(account), "share_id": .string(share.lower),
            "owner_account_id": .string(account), "recipient_account_id": .string(recipient.accountID!.lower),
            "node_id": .string(node.lower), "kind": .string(kind),
        ]))
    }

    static func produce(_ events: [CloudEvent]) async throws {
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: TestEnvironment.kafkaBrokers!), logger: TestEnvironment.logger)
        let messages = try events.map { KafkaOutgoingMessage(topic: "coffre.keydir", key: $0.subject ?? "", value: try $0.encoded()) }
        for result in await producer.send(messages) { _ = try result.get() }
    }

    static func grants(_ grantee: VerifiedIdentity) async throws -> Int {
        try await TestEnvironment.withPostgres(poolSize: 1) { pg in
            try await pg.withTenant(grantee.tenantID!, logger: TestEnvironment.logger) { c in
                let rows = try await c.query("SELECT count(*) FROM ingest.grants WHERE grantee_account_id = \(grantee.accountID!)",
                                             logger: TestEnvironment.logger)
                for try await n in rows.decode(Int64.self) { return Int(n) }
                return 0
            }
        }
    }

    @Test func shareEventsGrantAndWithdrawReadsIdempotently() async throws {
        try await H.run { h in
            let owner = H.user()
            let friend = H.user(tenant: owner.tenantID!)
            let folder = try await h.folder(owner)
            let inner = try await h.folder(owner, parent: folder)
            let file = try await h.upload(owner, [5, 6], parent: inner)
            let loose = try await h.upload(owner, [8])
            let share = UUID()
            let created = Self.shareEvent("coffre.share.created", share: share, owner: owner, recipient: friend, node: folder, kind: "folder")
            // A share naming a node that is not the owner's grants nothing.
            let stranger = H.user(tenant: owner.tenantID!)
            let bogus = Self.shareEvent("coffre.share.created", share: UUID(), owner: stranger, recipient: friend, node: loose.node, kind: "file")
            // Delivered twice (a replay): one grant.
            try await Self.produce([created, bogus, created])
            let granted = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
                try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: friend).status == .ok
            }
            #expect(granted)
            #expect(try await Self.grants(friend) == 1)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: friend).body == [5, 6])
            #expect(try await h.call(.get, "/v1/nodes/\(inner.lower)", as: friend).json["id"] as? String == inner.lower)
            #expect(Self.ids(try await h.call(.get, "/v1/nodes?parent=\(folder.lower)", as: friend)) == [inner.lower])
            #expect(Self.ids(try await h.call(.get, "/v1/nodes?parent=\(inner.lower)", as: friend)) == [file.node.lower])
            #expect(try await h.call(.get, "/v1/nodes?parent=\(file.node.lower)", as: friend).status == .conflict)
            // Outside the shared folder, nothing.
            #expect(try await h.call(.get, "/v1/nodes/\(loose.node.lower)", as: friend).status == .notFound)
            #expect(try await h.call(.get, "/v1/nodes/\(loose.node.lower)/content", as: friend).status == .notFound)
            #expect(Self.ids(try await h.call(.get, "/v1/nodes", as: friend)).isEmpty)
            // Everything but reading stays the owner's.
            #expect(try await h.call(.patch, "/v1/nodes/\(file.node.lower)", as: friend, json: ["attributes": "AQ=="]).status == .notFound)
            #expect(try await h.call(.delete, "/v1/nodes/\(file.node.lower)", as: friend).status == .notFound)
            #expect(try await h.call(.delete, "/v1/nodes/\(file.node.lower)?purge=true", as: friend).status == .notFound)
            #expect(try await h.call(.post, "/v1/nodes", as: friend, json: ["kind": "folder", "parent_id": folder.lower,
                                                                                "attributes": "AQ==", "wrapped_key": "AQ=="]).status == .notFound)
            #expect(try await h.create(friend, length: 1, metadata: H.metadata(["node": Array(file.node.lower.utf8)])).reply.status == .notFound)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)/versions", as: friend).status == .notFound)
            // What the owner trashes, the grantee no longer reads.
            #expect(try await h.call(.delete, "/v1/nodes/\(inner.lower)", as: owner).status == .ok)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)", as: friend).status == .notFound)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: friend).status == .notFound)
            #expect(try await h.call(.post, "/v1/nodes/\(inner.lower)/restore", as: owner).status == .ok)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)", as: friend).status == .ok)

            try await Self.produce([Self.shareEvent("coffre.share.revoked", share: share, owner: owner, recipient: friend, node: folder, kind: "folder")])
            let withdrawn = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
                try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: friend).status == .notFound
            }
            #expect(withdrawn)
            #expect(try await h.call(.get, "/v1/nodes?parent=\(folder.lower)", as: friend).status == .notFound)
            #expect(try await Self.grants(friend) == 0)
            // Replaying the created event after the revoke changes nothing (same event id).
            try await Self.produce([created])
            try await Task.sleep(for: .seconds(2))
            #expect(try await Self.grants(friend) == 0)
        }
    }

    static func foreignGrants(_ share: UUID) async throws -> Int {
        try await TestEnvironment.withPostgres(poolSize: 1) { pg in
            let rows = try await pg.query("SELECT count(*) FROM ingest.foreign_grants WHERE id = \(share)", logger: TestEnvironment.logger)
            for try await n in rows.decode(Int64.self) { return Int(n) }
            return 0
        }
    }

    /// A share across tenants leaves a pointer in `foreign_grants`; deleting
    /// the owner's account, or the grantee's, removes it with the grant.
    @Test func deletedAccountsTakeTheirCrossTenantPointersAlong() async throws {
        try await H.run { h in
            let owner = H.user()
            let grantee = H.user()  // another tenant
            let first = try await h.upload(owner, [1])
            let second = try await h.upload(owner, [2])
            let toGrantee = UUID(), toDoomedGrantee = UUID()
            let doomed = H.user()
            try await TestEnvironment.withPostgres(poolSize: 1) { pg in
                let store = IngestStore(postgres: pg, outbox: Outbox(schema: "ingest"), logger: TestEnvironment.logger)
                func share(_ id: UUID, _ node: UUID, to recipient: VerifiedIdentity) async throws {
                    var event = Self.shareEvent("coffre.share.created", share: id, owner: owner, recipient: recipient, node: node, kind: "file")
                    if case .object(var data) = event.data {
                        data["recipient_tenant_id"] = .string(recipient.tenantID!.lower)
                        event.data = .object(data)
                    }
                    try await pg.withTransaction(logger: TestEnvironment.logger) { c in try await store.applyShareEvent(event, on: c) }
                }
                try await share(toGrantee, first.node, to: grantee)
                try await share(toDoomedGrantee, second.node, to: doomed)
            }
            #expect(try await Self.foreignGrants(toGrantee) == 1)
            #expect(try await Self.foreignGrants(toDoomedGrantee) == 1)
            #expect(try await h.call(.get, "/v1/nodes/\(first.node.lower)/content", as: grantee).body == [1])

            try await TestEnvironment.withPostgres(poolSize: 1) { pg in
                let store = IngestStore(postgres: pg, outbox: Outbox(schema: "ingest"), logger: TestEnvironment.logger)
                // The grantee's account goes first: only its own pointer goes.
                try await pg.withTransaction(logger: TestEnvironment.logger) { c in
                    try await store.purgeAccount(tenant: doomed.tenantID!, account: doomed.accountID!, on: c)
                }
                #expect(try await Self.foreignGrants(toDoomedGrantee) == 0)
                #expect(try await Self.foreignGrants(toGrantee) == 1)
                // Then the owner's: the rest.
                try await pg.withTransaction(logger: TestEnvironment.logger) { c in
                    try await store.purgeAccount(tenant: owner.tenantID!, account: owner.accountID!, on: c)
                }
            }
            #expect(try await Self.foreignGrants(toGrantee) == 0)
            #expect(try await h.call(.get, "/v1/nodes/\(first.node.lower)/content", as: grantee).status == .notFound)
        }
    }

    /// `GET /internal/v1/nodes/{id}`: the signed account's own node, with a
    /// folder's live descendants; 404 for anyone else's and unsigned calls.
    @Test func internalNodeRouteAnswersForTheOwnerOnly() async throws {
        try await H.run { h in
            let owner = H.user()
            let folder = try await h.folder(owner)
            let inner = try await h.folder(owner, parent: folder)
            let file = try await h.upload(owner, [1], parent: inner)
            let gone = try await h.upload(owner, [2], parent: folder)
            #expect(try await h.call(.delete, "/v1/nodes/\(gone.node.lower)", as: owner).status == .ok)
            let signed = VerifiedIdentity(tenantID: owner.tenantID, accountID: owner.accountID)
            let reply = try await h.call(.get, "/internal/v1/nodes/\(folder.lower)", as: signed)
            #expect(reply.status == .ok && reply.json["kind"] as? String == "folder")
            #expect(Set(reply.json["descendants"] as? [String] ?? []) == [inner.lower, file.node.lower])
            let single = try await h.call(.get, "/internal/v1/nodes/\(file.node.lower)", as: signed)
            #expect(single.json["kind"] as? String == "file" && (single.json["descendants"] as? [String])?.isEmpty == true)
            #expect(try await h.call(.get, "/internal/v1/nodes/\(gone.node.lower)", as: signed).status == .notFound)
            let other = VerifiedIdentity(tenantID: owner.tenantID, accountID: UUID())
            #expect(try await h.call(.get, "/internal/v1/nodes/\(folder.lower)", as: other).status == .notFound)
            #expect(try await h.call(.get, "/internal/v1/nodes/\(folder.lower)", as: VerifiedIdentity(tenantID: UUID(), accountID: owner.accountID)).status == .notFound)
            #expect(try await h.call(.get, "/internal/v1/nodes/\(folder.lower)", as: nil).status == .notFound)
            #expect(try await h.call(.get, "/internal/v1/nodes/not-an-id", as: signed).status == .badRequest)
        }
    }

    /// Without a reachable key directory, link reads are 503 with
    /// Retry-After (never a 5xx without it, never a download).
    @Test func linkRoutesCheckInputAndNeedTheDirectory() async throws {
        try await H.run(tweak: { $0.keydirURL = "http://127.0.0.1:\(TestEnvironment.freePort())" }) { h in
            #expect(try await h.call(.get, "/v1/links/not-an-id", as: nil).status == .badRequest)
            #expect(try await h.call(.get, "/v1/links/not-an-id/content", as: nil).status == .badRequest)
            let unreachable = try await h.call(.get, "/v1/links/\(UUID().uuidString.lowercased())/content", as: nil)
            #expect(unreachable.status == .serviceUnavailable && unreachable.header("Retry-After") != nil)
            #expect(unreachable.header("Content-Type") == "application/problem+json")
        }
    }
}
