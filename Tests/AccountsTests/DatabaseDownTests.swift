@testable import Accounts
import CoffreCore
import CoffreTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

/// Accounts while its Postgres cannot be reached: requests are answered 503
/// (problem+json, `Retry-After`) after `COFFRE_POSTGRES_WAIT_SECONDS`
/// instead of hanging until the client gives up, and queued signups do not
/// wait out one timeout each.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's broker"), .serialized)
struct DatabaseDownTests {
    /// Nothing listens on port 1: every connection attempt is refused.
    static let unreachable = "postgres://coffre:coffre@127.0.0.1:1/coffre"

    static let logger: Logger = {
        var logger = Logger(label: "accounts-db-down-test")
        logger.logLevel = .critical
        return logger
    }()

    @Test func queuedSignupsAllFailFastWhenNoConnectionComes() async throws {
        let client = PostgresClient(configuration: try PostgresSetup.configuration(url: Self.unreachable, poolSize: 2),
                                    backgroundLogger: Self.logger)
        let wait = Duration.milliseconds(300)
        let committer = SignupCommitter(postgres: client, topic: AccountsStore.topic,
                                        options: .init(maxBatch: 64, maxRunning: 1, leaseTimeout: wait), logger: Self.logger)
        let tenant = UUID(uuidString: AccountsMigrations.defaultTenantID)!
        let rows = try (0..<20).map { _ in try SignupBatchTests.row(AccountsHarness.FakeClient(), tenant: tenant) }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            let started = ContinuousClock.now
            let outcomes = await withTaskGroup(of: String.self) { signups in
                for row in rows {
                    signups.addTask {
                        do {
                            return "answered \(try await committer.insert(row, tenant: tenant))"
                        } catch is DatabaseUnavailable {
                            return "unavailable"
                        } catch {
                            return "other: \(error)"
                        }
                    }
                }
                return await signups.reduce(into: [String]()) { $0.append($1) }
            }
            let took = ContinuousClock.now - started
            #expect(outcomes == Array(repeating: "unavailable", count: rows.count))
            // One wait for all of them: the first statement's, then the queue
            // behind it is answered at once (one wait per signup, or a retry
            // of each, would take seconds).
            #expect(took < wait * 3, "20 queued signups took \(took) to fail")
            group.cancelAll()
        }
    }

    /// Postgres is down from the start, so the migrations never ran and the
    /// answer comes from the migration gate (`MigrationGate`, see
    /// MigrationGateTests); a database lost later is bounded by the same
    /// wait in `withConnection(leaseTimeout:)` (DatabaseWaitTests) and in
    /// the signup queue (above).
    @Test func requestsAreAnswered503InsteadOfHanging() async throws {
        var config = AccountsHarness.config()
        config.common.postgresURL = Self.unreachable
        config.common.postgresWait = .milliseconds(500)
        let app = try AccountsApp.build(config: config, logger: Self.logger)
        try await app.test(.router) { client in
            let h = AccountsHarness(client: client)
            let fake = AccountsHarness.FakeClient()
            for (path, body) in [("/v1/accounts", fake.signupBody), ("/v1/auth/prelogin", ["email": fake.email]),
                                 ("/v1/auth/login", fake.loginBody())] as [(String, [String: Any])] {
                let started = ContinuousClock.now
                let reply = try await h.call(.post, path, json: body, identity: h.tenant("default"))
                let took = ContinuousClock.now - started
                #expect(reply.status == .serviceUnavailable, "\(path): \(reply.status) \(reply.text)")
                #expect(reply.headers[.contentType] == "application/problem+json")
                #expect(reply.headers[.retryAfter] == "2")
                #expect(reply.json["type"] as? String == "urn:coffre:problem:database-unavailable")
                #expect(took < .seconds(5), "\(path) took \(took)")
            }
        }
    }
}
