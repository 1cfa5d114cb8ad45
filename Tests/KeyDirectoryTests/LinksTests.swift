import CoffreCore
import CoffreTestSupport
import Foundation
import HTTPTypes
@testable import KeyDirectory
import PostgresNIO
import Testing

/// Share links: the owner's routes in keydir, the internal get and claim
/// ingest calls, and ingest's anonymous link routes on top of them.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct LinksTests {
    typealias H = KeyDirectoryHarness

    static func createLink(_ s: SharingStack, _ owner: Person, node: UUID, extra: [String: Any] = [:]) async throws -> String {
        var body: [String: Any] = ["node_id": node.lower]
        body.merge(extra) { _, n in n }
        let reply = try await s.keydir.call(.post, "/v1/links", as: owner.identity, json: body)
        guard reply.status == .created, let id = reply.json["id"] as? String else {
            throw ChildProcessError(message: "link: \(reply.status) \(reply.text)")
        }
        return id
    }

    /// 20 concurrent claims of a link limited to 3: exactly 3 succeed.
    @Test func claimsGrantExactlyTheLimitUnderConcurrency() async throws {
        try await SharingStack.run { s in
            let alice = Person()
            let file = try await s.upload(alice.identity, [1, 2, 3])
            let id = try await Self.createLink(s, alice, node: file, extra: ["max_downloads": 3])
            let internalCaller = VerifiedIdentity()
            let got = try await s.keydir.call(.get, "/internal/v1/links/\(id)", as: internalCaller)
            #expect(got.status == .ok && got.json["downloads_left"] as? Int == 3 && got.json["owner_account_id"] as? String == alice.account.lower)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<20 { group.addTask { try await s.keydir.call(.post, "/internal/v1/links/\(id)/claim", as: internalCaller).status } }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 3)
            #expect(statuses.filter { $0 == .gone }.count == 17)
            let listed = try await s.keydir.call(.get, "/v1/links", as: alice.identity)
            let link = try #require((listed.json["links"] as? [[String: Any]])?.first)
            #expect(link["downloads"] as? Int == 3 && link["max_downloads"] as? Int == 3)
            #expect(try await s.keydir.call(.get, "/internal/v1/links/\(id)", as: internalCaller).status == .gone)
            // The internal routes answer only callers signed with the internal secret.
            #expect(try await s.keydir.call(.get, "/internal/v1/links/\(id)").status == .notFound)
            #expect(try await s.keydir.call(.post, "/internal/v1/links/\(id)/claim").status == .notFound)
            #expect(try await s.keydir.call(.get, "/internal/v1/links/\(UUID().uuidString.lowercased())", as: internalCaller).status == .notFound)
        }
    }

    /// Ingest's anonymous routes: metadata, the file, used-up, revoked and
    /// expired links, the owner's transfer block, and the IP in transfer.served.
    @Test func anonymousDownloadsThroughIngest() async throws {
        try await SharingStack.run { s in
            let alice = Person(), bob = Person(tenant: alice.tenant)
            let bytes: [UInt8] = Array(0..<200).map { UInt8($0) }
            let file = try await s.upload(alice.identity, bytes)
            let id = try await Self.createLink(s, alice, node: file, extra: ["max_downloads": 2])

            let info = try await s.ingestCall(.get, "/v1/links/\(id)", as: nil)
            #expect(info.status == .ok, "\(info.text)")
            #expect(info.json["size"] as? Int == 200 && info.json["node_id"] as? String == file.lower && info.json["downloads_left"] as? Int == 2)
            #expect(info.json["attributes"] as? String == Data([7, 7, 7]).base64EncodedString())
            let forwarded: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "203.0.113.7, 10.0.0.1"]
            let first = try await s.ingestCall(.get, "/v1/links/\(id)/content", as: nil, headers: forwarded)
            #expect(first.status == .ok && first.body == bytes)
            #expect(try await s.ingestCall(.get, "/v1/links/\(id)", as: nil).json["downloads_left"] as? Int == 1)
            #expect(try await s.ingestCall(.get, "/v1/links/\(id)/content", as: nil).body == bytes)
            let usedUp = try await s.ingestCall(.get, "/v1/links/\(id)/content", as: nil)
            #expect(usedUp.status == .gone && usedUp.headers[.contentType] == "application/problem+json")
            #expect(try await s.ingestCall(.get, "/v1/links/\(id)", as: nil).status == .gone)
            // Served bytes are the owner's, with the client's address.
            let metered = try await TestEnvironment.eventually(timeout: .seconds(15), interval: .milliseconds(200)) {
                try await SharingDB.count("""
                    SELECT count(*) FROM ingest.outbox WHERE key = $1::text AND convert_from(payload, 'UTF8') LIKE '%coffre.transfer.served%'
                      AND convert_from(payload, 'UTF8') LIKE '%"ip":"203.0.113.7"%'
                    """, tenant: alice.tenant, alice.account) >= 1
            }
            #expect(metered)

            // Revoked: 410 at once; only the owner revokes.
            let unlimited = try await Self.createLink(s, alice, node: file)
            #expect(try await s.ingestCall(.get, "/v1/links/\(unlimited)/content", as: nil).body == bytes)
            #expect(try await s.keydir.call(.delete, "/v1/links/\(unlimited)", as: bob.identity).status == .notFound)
            #expect(try await s.keydir.call(.delete, "/v1/links/\(unlimited)", as: alice.identity).status == .noContent)
            #expect(try await s.ingestCall(.get, "/v1/links/\(unlimited)/content", as: nil).status == .gone)
            #expect(try await s.ingestCall(.get, "/v1/links/\(unlimited)", as: nil).status == .gone)

            // Expired: 410 once the time has passed.
            let soon = RFC3339.format(Date().addingTimeInterval(1.5))
            let expiring = try await Self.createLink(s, alice, node: file, extra: ["expires_at": soon])
            #expect(try await s.ingestCall(.get, "/v1/links/\(expiring)/content", as: nil).status == .ok)
            try await Task.sleep(for: .seconds(2))
            #expect(try await s.ingestCall(.get, "/v1/links/\(expiring)/content", as: nil).status == .gone)

            // Unknown and malformed ids.
            #expect(try await s.ingestCall(.get, "/v1/links/\(UUID().uuidString.lowercased())/content", as: nil).status == .notFound)
            #expect(try await s.ingestCall(.get, "/v1/links/nope/content", as: nil).status == .badRequest)

            // A link to a trashed file answers 410 and uses no download.
            let other = try await s.upload(alice.identity, [9])
            let toTrash = try await Self.createLink(s, alice, node: other, extra: ["max_downloads": 1])
            #expect(try await s.ingestCall(.delete, "/v1/nodes/\(other.lower)", as: alice.identity).status == .ok)
            #expect(try await s.ingestCall(.get, "/v1/links/\(toTrash)/content", as: nil).status == .gone)
            #expect(try await s.ingestCall(.post, "/v1/nodes/\(other.lower)/restore", as: alice.identity).status == .ok)
            #expect(try await s.ingestCall(.get, "/v1/links/\(toTrash)/content", as: nil).body == [9])
        }
    }

    @Test func badLinksAreRefusedAndStoreNothing() async throws {
        try await SharingStack.run { s in
            let alice = Person(), bob = Person(tenant: alice.tenant)
            let file = try await s.upload(alice.identity, [1])
            let folder = try await s.folder(alice.identity)
            let bobsFile = try await s.upload(bob.identity, [2])
            let cases: [([String: Any], HTTPResponse.Status)] = [
                (["node_id": file.lower, "expires_at": RFC3339.format(Date().addingTimeInterval(-60))], .badRequest),
                (["node_id": file.lower, "expires_at": "tomorrow"], .badRequest),
                (["node_id": file.lower, "max_downloads": 0], .badRequest),
                (["node_id": file.lower, "max_downloads": "3"], .badRequest),
                (["node_id": "nope"], .badRequest),
                ([:], .badRequest),
                (["node_id": folder.lower], .conflict),
                (["node_id": bobsFile.lower], .notFound),
                (["node_id": UUID().uuidString.lowercased()], .notFound),
            ]
            for (body, status) in cases {
                let reply = try await s.keydir.call(.post, "/v1/links", as: alice.identity, json: body)
                #expect(reply.status == status, "\(body): \(reply.text)")
                #expect(reply.headers[.contentType] == "application/problem+json", "\(body)")
            }
            #expect(try await s.keydir.call(.post, "/v1/links", json: ["node_id": file.lower]).status == .unauthorized)
            #expect(try await SharingDB.links(of: alice) == 0)
            // Links are the owner's to see.
            _ = try await Self.createLink(s, alice, node: file)
            #expect(try await SharingDB.links(of: alice) == 1)
            #expect((try await s.keydir.call(.get, "/v1/links", as: bob.identity).json["links"] as? [Any])?.isEmpty == true)
        }
    }
}
