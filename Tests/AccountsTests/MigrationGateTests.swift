@testable import Accounts
import CoffreCore
import CoffreTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

/// A request that reaches a service before its migrations are applied is
/// held briefly, then answered 503 (database unavailable, `Retry-After`),
/// never run against a schema that may not exist yet (a 500), and served
/// normally once the migrations are in.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct MigrationGateTests {
    @Test func routesWaitForMigrations() async throws {
        let logger = {
            var logger = Logger(label: "accounts-migration-gate-test")
            logger.logLevel = .critical
            return logger
        }()
        var config = AccountsHarness.config()
        config.common.postgresWait = .milliseconds(300)

        // Another "replica" holds the migration lock, so this instance's
        // migrations cannot run. The schema itself is already there (earlier
        // tests migrated it): without the gate, prelogin would answer 200.
        let holder = PostgresClient(configuration: try PostgresSetup.configuration(url: config.common.postgresURL, poolSize: 1),
                                    backgroundLogger: logger)
        let (release, releaser) = AsyncStream<Void>.makeStream()
        let (locked, lockedSignal) = AsyncStream<Void>.makeStream()

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await holder.run() }
            group.addTask {
                try await holder.withConnection { connection in
                    try await connection.query("SELECT pg_advisory_lock(hashtext('coffre.migrations.accounts'))", logger: logger)
                    lockedSignal.yield()
                    for await _ in release { break }
                    try await connection.query("SELECT pg_advisory_unlock(hashtext('coffre.migrations.accounts'))", logger: logger)
                }
            }
            for await _ in locked { break }

            let app = try AccountsApp.build(config: config, logger: logger)
            try await app.test(.router) { client in
                let h = AccountsHarness(client: client)
                let body = ["email": AccountsHarness.FakeClient().email]
                for _ in 0..<2 {
                    let started = ContinuousClock.now
                    let reply = try await h.call(.post, "/v1/auth/prelogin", json: body, identity: h.tenant("default"))
                    let took = ContinuousClock.now - started
                    #expect(reply.status == .serviceUnavailable, "\(reply.status) \(reply.text)")
                    #expect(reply.headers[.contentType] == "application/problem+json")
                    #expect(reply.headers[.retryAfter] == "2")
                    #expect(reply.json["type"] as? String == "urn:coffre:problem:database-unavailable")
                    #expect(took >= .milliseconds(250), "answered after \(took), before the wait")
                    #expect(took < .seconds(3), "held for \(took)")
                }
                let readyz = try await client.execute(uri: "/readyz", method: .get)
                #expect(readyz.status == .serviceUnavailable, "/readyz must keep answering while the gate holds")

                releaser.yield()
                let served = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
                    try await h.call(.post, "/v1/auth/prelogin", json: body, identity: h.tenant("default")).status == .ok
                }
                #expect(served, "prelogin never answered 200 after the migrations ran")
            }
            group.cancelAll()
        }
    }
}
