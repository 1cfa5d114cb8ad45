import CoffreCore
import Foundation
import NIOCore
import Testing
@testable import Gateway

@Suite struct RateLimitTests {
    @Test func perIPLimitTripsAtThresholdAndRecovers() async throws {
        try await GatewayHarness.run(configure: { config, _ in
            config.rateLimits = .init(perIPPerMinute: 60, perIPBurst: 3, perTenantPerMinute: 6000, perTenantBurst: 500)
        }) { h in
            let body = h.json(#"{"email":"a@b.c"}"#)
            for i in 0..<3 {
                let reply = try await h.send("POST", "/v1/auth/login", headers: [("Content-Type", "application/json")], body: body)
                #expect(reply.status == 200, "request \(i)")
                #expect(reply.header("ratelimit") == "limit=3, remaining=\(2 - i), reset=\(i + 1)")
            }
            let refused = try await h.send("POST", "/v1/auth/prelogin", headers: [("Content-Type", "application/json")], body: body)
            #expect(refused.status == 429 && refused.isProblem)
            #expect(refused.json?["type"] as? String == "urn:coffre:problem:rate-limited")
            #expect(refused.header("retry-after") == "1")
            #expect(refused.header("ratelimit")?.hasPrefix("limit=3, remaining=0") == true)
            #expect(refused.header("ratelimit-policy") == "60;w=60;burst=3")
            // Authenticated routes are not under these buckets.
            #expect(try await h.send("GET", "/v1/sessions", headers: [("Authorization", "Bearer " + (try h.token()))]).status == 200)
            // One token per second comes back: after a pause the client gets in
            // again, and a burst runs dry after at most a couple of requests.
            try await Task.sleep(for: .milliseconds(1100))
            var statuses: [Int] = []
            for _ in 0..<4 {
                statuses.append(try await h.send("POST", "/v1/accounts", headers: [("Content-Type", "application/json")], body: body).status)
            }
            #expect(statuses.first == 200)
            #expect(statuses.contains(429), "\(statuses)")
        }
    }

    @Test func perTenantLimitIsSeparateFromOtherTenants() async throws {
        try await GatewayHarness.run(configure: { config, _ in
            config.rateLimits = .init(perIPPerMinute: 6000, perIPBurst: 100, perTenantPerMinute: 60, perTenantBurst: 2)
        }) { h in
            let body = h.json(#"{"email":"a@b.c"}"#)
            func signup(_ tenant: String) async throws -> Int {
                try await h.send("POST", "/v1/accounts", headers: [("X-Coffre-Tenant", tenant), ("Content-Type", "application/json")], body: body).status
            }
            var statuses: [Int] = []
            for tenant in ["acme", "acme", "acme", "globex"] { statuses.append(try await signup(tenant)) }
            #expect(statuses == [200, 200, 429, 200])
        }
    }

    @Test func bucketTableStaysBounded() {
        let limiter = RateLimiter(policy: .init(perMinute: 60, burst: 5), maxEntries: 1000)
        let start = ContinuousClock.now
        for i in 0..<10_000 { _ = limiter.take("ip:\(i)", now: start + .milliseconds(i)) }
        #expect(limiter.count <= 1000)
        // A recent, drained bucket survives the sweeps.
        for _ in 0..<5 { _ = limiter.take("hot", now: start + .seconds(10)) }
        #expect(!limiter.take("hot", now: start + .seconds(10)).allowed)
    }
}

@Suite struct LoadSheddingTests {
    @Test func overTheInflightLimitIs503Immediately() async throws {
        try await GatewayHarness.run(configure: { config, _ in config.maxInflightPerService = 2 }) { h in
            let auth = [("Authorization", "Bearer " + (try h.token()))]
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<2 {
                    group.addTask { try await h.send("GET", "/v1/quota?delay_ms=1500", headers: auth).status }
                }
                let busy = try await TestEnvironment.eventually(timeout: .seconds(5), interval: .milliseconds(20)) {
                    h.upstream.inflight.load(ordering: .relaxed) >= 2
                }
                #expect(busy)
                let started = ContinuousClock.now
                let shed = try await h.send("GET", "/v1/quota", headers: auth)
                #expect(shed.status == 503 && shed.isProblem)
                #expect(shed.header("retry-after") == "1")
                #expect(shed.json?["type"] as? String == "urn:coffre:problem:overloaded")
                #expect(ContinuousClock.now - started < .milliseconds(500), "shed at once, not queued")
                // Another service is not affected.
                #expect(try await h.send("GET", "/v1/nodes/x", headers: auth).status == 200)
                for try await status in group { #expect(status == 200) }
            }
            #expect(try await h.send("GET", "/v1/quota", headers: auth).status == 200)
        }
    }
}

import CoffreTestSupport
