import CoffreCore
import CoffreTestSupport
import Foundation
import HTTPTypes
@testable import Ingest
import Logging
import Testing

/// Ingest while its Postgres cannot be reached: uploads and the file tree
/// are answered 503 (problem+json, `Retry-After`) after
/// `COFFRE_POSTGRES_WAIT_SECONDS`, over a real socket, instead of hanging
/// until the client gives up. Postgres is down from the start, so the
/// migrations never ran and the answer comes from the migration gate
/// (`MigrationGate`); a database lost later is bounded by the same wait in
/// `withConnection(leaseTimeout:)` (DatabaseWaitTests).
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's broker"), .serialized)
struct IngestDatabaseDownTests {
    @Test func requestsAreAnswered503InsteadOfHanging() async throws {
        var logger = Logger(label: "ingest-db-down-test")
        logger.logLevel = .critical
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coffre-ingest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = TestEnvironment.freePort()
        let config = IngestHarness.config(blobDirectory: dir) { config in
            config.listen.port = port
            // Nothing listens on port 1: every connection attempt is refused.
            config.common.postgresURL = "postgres://coffre:coffre@127.0.0.1:1/coffre"
            config.common.postgresWait = .milliseconds(500)
        }
        let app = try IngestApp.build(config: config, logger: logger)
        try await LiveService.run(app, name: "ingest", port: port, logger: logger) { client in
            let h = IngestHarness(client: client, blobDirectory: dir)
            let user = IngestHarness.user()
            let file = IngestHarness.newFile()
            var replies: [(String, IngestHarness.Reply, Duration)] = []
            func timed(_ label: String, _ call: () async throws -> IngestHarness.Reply) async throws {
                let started = ContinuousClock.now
                let reply = try await call()
                replies.append((label, reply, ContinuousClock.now - started))
            }
            try await timed("create") { try await h.create(user, length: 3, metadata: file.metadata, body: [1, 2, 3]).reply }
            try await timed("list") { try await h.call(.get, "/v1/nodes", as: user) }
            try await timed("head") { try await h.head(user, "/v1/uploads/\(UUID().lower)") }
            for (label, reply, took) in replies {
                #expect(reply.status == .serviceUnavailable, "\(label): \(reply.status) \(reply.text)")
                #expect(reply.headers[.retryAfter] == "2", "\(label)")
                if label != "head" {
                    #expect(reply.json["type"] as? String == "urn:coffre:problem:database-unavailable", "\(label): \(reply.text)")
                }
                #expect(took < .seconds(5), "\(label) took \(took)")
            }
            // Nothing reached the blob store either.
            let stored = (try? FileManager.default.subpathsOfDirectory(atPath: dir + "/blobs"))?.filter { !$0.hasSuffix("/") && $0.count > 3 } ?? []
            #expect(stored.isEmpty, "blob files written: \(stored)")
        }
    }
}
