import CoffreCore
import CoffreTestSupport
import Foundation
import Ingest
@testable import Quota
import Testing

/// Reservations through `HTTPQuotaClient`, as ingest makes them, against the
/// real service and Postgres.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct ReservationTests {
    typealias H = QuotaHarness

    /// 200 concurrent reservations of random sizes against a nearly full
    /// account, for many seeds: the granted sum never exceeds the room, and
    /// every refused size is larger than what is left at the end (each
    /// refusal was decided on the locked row, not on a stale read).
    @Test func concurrentReservationsNeverOvercommit() async throws {
        try await H.run { h in
            for seed in UInt64(1)...12 {
                var rng = SeededGenerator(seed: seed)
                let user = H.user()
                let limit: Int64 = 10_000_000
                let room = Int64.random(in: 200_000...2_000_000, using: &rng)
                try await h.setLimit(user, storage: limit)
                let quota = h.quotaClient
                // Fill the account to `limit - room` with one reservation.
                _ = try await quota.reserve(tenant: user.tenantID!, account: user.accountID!, upload: UUID(), bytes: limit - room,
                                            expiresAt: Date().addingTimeInterval(3600))
                let sizes = (0..<200).map { _ in Int64.random(in: 1...40_000, using: &rng) }
                let outcomes = try await withThrowingTaskGroup(of: (Int64, Bool).self) { group in
                    for size in sizes {
                        group.addTask {
                            do {
                                _ = try await quota.reserve(tenant: user.tenantID!, account: user.accountID!, upload: UUID(), bytes: size,
                                                            expiresAt: Date().addingTimeInterval(3600))
                                return (size, true)
                            } catch is QuotaRefusal {
                                return (size, false)
                            }
                        }
                    }
                    var all: [(Int64, Bool)] = []
                    for try await outcome in group { all.append(outcome) }
                    return all
                }
                let granted = outcomes.filter(\.1).map(\.0).reduce(0, +)
                let refused = outcomes.filter { !$0.1 }.map(\.0)
                #expect(granted <= room, "seed \(seed): granted \(granted) > room \(room)")
                let ledger = try #require(try await Ledgers.read(tenant: user.tenantID!, accounts: [user.accountID!])[user.accountID!])
                #expect(ledger.reserved == limit - room + granted, "seed \(seed)")
                let left = room - granted
                #expect(refused.allSatisfy { $0 > left }, "seed \(seed): a refused size fits in the \(left) bytes left")
                #expect(sizes.reduce(0, +) <= room || !refused.isEmpty, "seed \(seed): the test never reached the limit")
            }
        }
    }

    @Test func overQuotaIsRefusedWith507AndRemainingBytes() async throws {
        try await H.run { h in
            let user = H.user()
            try await h.setLimit(user, storage: 1000)
            let quota = h.quotaClient
            #expect(try await quota.maxUploadSize(tenant: user.tenantID!, account: user.accountID!) == 1000)
            _ = try await quota.reserve(tenant: user.tenantID!, account: user.accountID!, upload: UUID(), bytes: 600, expiresAt: Date().addingTimeInterval(60))
            do {
                _ = try await quota.reserve(tenant: user.tenantID!, account: user.accountID!, upload: UUID(), bytes: 401, expiresAt: Date().addingTimeInterval(60))
                Issue.record("an over-quota reservation was granted")
            } catch let refusal as QuotaRefusal {
                #expect(refusal.remaining == 400)
            }
            // The raw answer: 507 problem+json.
            let reply = try await h.call(.post, "/internal/v1/reservations", as: user,
                                         json: ["upload_id": UUID().lower, "bytes": 401, "expires_at": RFC3339.format(Date().addingTimeInterval(600))])
            #expect(reply.status.code == 507)
            #expect(reply.headers[.contentType] == "application/problem+json")
            #expect(reply.json["remaining_bytes"] as? Int == 400)
            #expect(reply.json["type"] as? String == "urn:coffre:problem:quota-exceeded")
            #expect(try await Ledgers.outboxCount(type: "coffre.quota.exceeded", account: user.accountID!) == 2)
            // Exactly the room left still fits.
            _ = try await quota.reserve(tenant: user.tenantID!, account: user.accountID!, upload: UUID(), bytes: 400, expiresAt: Date().addingTimeInterval(60))
        }
    }

    @Test func releaseIsIdempotentAndRetriedReservationsAreTheSame() async throws {
        try await H.run { h in
            let user = H.user()
            try await h.setLimit(user, storage: 1000)
            let quota = h.quotaClient
            let upload = UUID()
            let expires = Date().addingTimeInterval(60)
            let first = try await quota.reserve(tenant: user.tenantID!, account: user.accountID!, upload: upload, bytes: 700, expiresAt: expires)
            let again = try await quota.reserve(tenant: user.tenantID!, account: user.accountID!, upload: upload, bytes: 700, expiresAt: expires)
            #expect(first == again)
            try await quota.release(tenant: user.tenantID!, account: user.accountID!, reservation: first)
            try await quota.release(tenant: user.tenantID!, account: user.accountID!, reservation: first)
            try await quota.release(tenant: user.tenantID!, account: user.accountID!, reservation: "unreserved:x")
            let ledger = try await Ledgers.read(tenant: user.tenantID!, accounts: [user.accountID!])[user.accountID!]
            #expect(ledger?.reserved == 0)
            // Another account cannot release someone else's reservation.
            let other = H.user(tenant: user.tenantID!)
            let held = try await quota.reserve(tenant: user.tenantID!, account: user.accountID!, upload: UUID(), bytes: 100, expiresAt: expires)
            try await quota.release(tenant: other.tenantID!, account: other.accountID!, reservation: held)
            #expect(try await Ledgers.read(tenant: user.tenantID!, accounts: [user.accountID!])[user.accountID!]?.reserved == 100)
        }
    }

    @Test func expiredReservationsAreReleasedBySweeper() async throws {
        try await H.run { h in
            let user = H.user()
            try await h.setLimit(user, storage: 1000)
            let quota = h.quotaClient
            _ = try await quota.reserve(tenant: user.tenantID!, account: user.accountID!, upload: UUID(), bytes: 900, expiresAt: Date().addingTimeInterval(1.5))
            #expect(try await Ledgers.read(tenant: user.tenantID!, accounts: [user.accountID!])[user.accountID!]?.reserved == 900)
            // A sweep pass visits every tenant quota knows, one transaction
            // each; late in a full test run that is thousands of tenants and
            // a pass takes several seconds, so the bound leaves room for two.
            let released = try await TestEnvironment.eventually(timeout: .seconds(60)) {
                try await Ledgers.read(tenant: user.tenantID!, accounts: [user.accountID!])[user.accountID!]?.reserved == 0
            }
            #expect(released)
            _ = try await quota.reserve(tenant: user.tenantID!, account: user.accountID!, upload: UUID(), bytes: 1000, expiresAt: Date().addingTimeInterval(60))
        }
    }

    @Test func badInputGetsProblemJSONAndChangesNothing() async throws {
        try await H.run { h in
            let user = H.user()
            try await h.setLimit(user, storage: 1000)
            let future = RFC3339.format(Date().addingTimeInterval(600))
            let cases: [(Any?, String?, Int)] = [
                (["upload_id": "nope", "bytes": 10, "expires_at": future], nil, 400),
                (["upload_id": UUID().lower, "bytes": -5, "expires_at": future], nil, 400),
                (["upload_id": UUID().lower, "bytes": 10, "expires_at": "yesterday"], nil, 400),
                (["upload_id": UUID().lower, "bytes": 10, "expires_at": "2001-01-01T00:00:00Z"], nil, 400),
                (["upload_id": UUID().lower, "bytes": 10, "expires_at": "2999-01-01T00:00:00Z"], nil, 400),  // too far
                (["upload_id": UUID().lower, "expires_at": future], nil, 400),
                (nil, "{not json", 400),
            ]
            for (json, raw, status) in cases {
                let reply = try await h.call(.post, "/internal/v1/reservations", as: user, json: json, raw: raw)
                #expect(Int(reply.status.code) == status, "\(String(describing: json ?? raw)): \(reply.text)")
                #expect(reply.headers[.contentType] == "application/problem+json")
            }
            // Unsigned or user-less calls, and operator routes without the token.
            #expect(try await h.call(.post, "/internal/v1/reservations", json: ["upload_id": UUID().lower, "bytes": 1, "expires_at": future]).status == .unauthorized)
            #expect(try await h.call(.get, "/v1/quota").status == .unauthorized)
            #expect(try await h.call(.get, "/v1/admin/quota/tenants").status == .unauthorized)
            #expect(try await h.call(.delete, "/internal/v1/reservations/not-a-uuid", as: user).status == .badRequest)
            #expect(try await h.call(.put, "/v1/admin/quota/tenants/x/accounts/y", admin: true, json: [:]).status == .badRequest)
            #expect(try await h.call(.put, "/v1/admin/quota/tenants/\(user.tenantID!.lower)/accounts/\(user.accountID!.lower)",
                                     admin: true, json: ["storage_limit_bytes": -1]).status == .badRequest)
            let ledger = try await Ledgers.read(tenant: user.tenantID!, accounts: [user.accountID!])[user.accountID!]
            #expect(ledger == LedgerRow(used: 0, reserved: 0, limit: 1000, transfer: 0, closed: false))
        }
    }

    @Test func usageViewAndTenantTotals() async throws {
        try await H.run { h in
            let user = H.user()
            let view = try await h.quota(user)
            #expect(view["limit_bytes"] as? Int == 50_000_000_000)
            #expect(view["used_bytes"] as? Int == 0)
            let transfer = view["transfer"] as? [String: Any]
            #expect(transfer?["allowance_bytes"] as? Int == 10_000_000_000)
            #expect(transfer?["window_seconds"] as? Int == 21600)
            _ = try await h.quotaClient.reserve(tenant: user.tenantID!, account: user.accountID!, upload: UUID(), bytes: 123,
                                                expiresAt: Date().addingTimeInterval(60))
            #expect(try await h.quota(user)["reserved_bytes"] as? Int == 123)
            let totals = try await h.call(.get, "/v1/admin/quota/tenants/\(user.tenantID!.lower)", admin: true)
            #expect(totals.json["accounts"] as? Int == 1)
            #expect(totals.json["reserved_bytes"] as? Int == 123)
            #expect(totals.json["plan_source"] as? String == "default")
        }
    }
}
