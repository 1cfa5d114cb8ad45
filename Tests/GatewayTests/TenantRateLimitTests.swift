import CoffreCore
import Foundation
import Synchronization
import Testing
@testable import Gateway

/// Each tenant's own `rate_limits` (its row in accounts, read through the
/// gateway's `TenantDirectory`) on its signup and login routes.
@Suite struct TenantRateLimitTests {
    /// Generous per-address limits, so only tenant buckets trip here (every
    /// request comes from 127.0.0.1).
    static func configure(tenants: [String: String], defaultPerMinute: Int = 6000, defaultBurst: Int = 500,
                          ttl: Duration = .seconds(5)) -> @Sendable (inout GatewayConfiguration, FakeUpstream) -> Void {
        { config, upstream in
            config.rateLimits = .init(perIPPerMinute: 60_000, perIPBurst: 1000, perTenantPerMinute: defaultPerMinute, perTenantBurst: defaultBurst)
            config.tenantCacheTTL = ttl
            upstream.tenants.withLock { $0 = tenants }
        }
    }

    static let body = #"{"email":"a@b.c"}"#

    func post(_ h: GatewayHarness, _ path: String, tenant: String?) async throws -> Reply {
        var headers = [("Content-Type", "application/json")]
        if let tenant { headers.append(("X-Coffre-Tenant", tenant)) }
        return try await h.send("POST", path, headers: headers, body: h.json(Self.body))
    }

    @Test func aTenantsSignupLimitTripsWhileOthersKeepTheDefaults() async throws {
        try await GatewayHarness.run(configure: Self.configure(tenants: [
            "acme": #"{"signup_per_minute":2}"#,
            "globex": "{}",
        ])) { h in
            var acme: [Int] = []
            for _ in 0..<3 { acme.append(try await post(h, "/v1/accounts", tenant: "acme").status) }
            #expect(acme == [200, 200, 429])
            let refused = try await post(h, "/v1/accounts", tenant: "acme")
            #expect(refused.status == 429 && refused.isProblem)
            #expect(refused.json?["type"] as? String == "urn:coffre:problem:rate-limited")
            // 2 a minute: the next token is 30 s away.
            #expect(refused.header("retry-after") == "30")
            #expect(refused.header("ratelimit-policy") == "2;w=60;burst=2")
            #expect(refused.header("ratelimit")?.hasPrefix("limit=2, remaining=0") == true)

            // Another tenant (a row without limits, or no row at all) has the
            // gateway's default, untouched by acme's bucket.
            for tenant in ["globex", "initech"] {
                for i in 0..<5 {
                    let reply = try await post(h, "/v1/accounts", tenant: tenant)
                    #expect(reply.status == 200, "\(tenant) signup \(i)")
                    #expect(reply.header("ratelimit-policy") == "6000;w=60;burst=500")
                }
            }
            #expect(try await post(h, "/v1/accounts", tenant: nil).status == 200)
            // acme's login is not under its signup limit.
            #expect(try await post(h, "/v1/auth/login", tenant: "acme").status == 200)
            // Looked up once per tenant, not per request.
            #expect(h.upstream.tenantLookups.load(ordering: .relaxed) == 4)
        }
    }

    @Test func aTenantWithoutLimitsUsesTheDefaultsAndLoginLimitsCoverEveryLoginRoute() async throws {
        try await GatewayHarness.run(configure: Self.configure(tenants: [
            "acme": #"{"login_per_minute":3}"#,
            "globex": "{}",
        ], defaultPerMinute: 60, defaultBurst: 3)) { h in
            // globex: the default bucket, shared by its signup and login routes.
            var globex: [Int] = []
            for path in ["/v1/accounts", "/v1/auth/prelogin", "/v1/auth/login", "/v1/auth/refresh"] {
                globex.append(try await post(h, path, tenant: "globex").status)
            }
            #expect(globex == [200, 200, 200, 429])
            let refused = try await post(h, "/v1/auth/login", tenant: "globex")
            #expect(refused.header("ratelimit-policy") == "60;w=60;burst=3")

            // acme: prelogin, login, refresh and recovery all draw on its own
            // login limit ...
            var acme: [Int] = []
            for path in ["/v1/auth/prelogin", "/v1/auth/login", "/v1/auth/recovery/bundle", "/v1/auth/refresh"] {
                acme.append(try await post(h, path, tenant: "acme").status)
            }
            #expect(acme == [200, 200, 200, 429])
            #expect(try await post(h, "/v1/auth/recovery/reset", tenant: "acme").header("ratelimit-policy") == "3;w=60;burst=3")
            // ... while its signup, which it sets no limit for, has the default.
            let signup = try await post(h, "/v1/accounts", tenant: "acme")
            #expect(signup.status == 200)
            #expect(signup.header("ratelimit-policy") == "60;w=60;burst=3")
        }
    }

    @Test func anOperatorsChangeAppliesWithinTheCacheTTL() async throws {
        try await GatewayHarness.run(configure: Self.configure(tenants: ["acme": #"{"signup_per_minute":1}"#], ttl: .milliseconds(300))) { h in
            #expect(try await post(h, "/v1/accounts", tenant: "acme").status == 200)
            #expect(try await post(h, "/v1/accounts", tenant: "acme").status == 429)
            h.upstream.tenants.withLock { $0["acme"] = #"{"signup_per_minute":100}"# }
            try await Task.sleep(for: .milliseconds(400))
            let reopened = try await post(h, "/v1/accounts", tenant: "acme")
            #expect(reopened.status == 200)
            #expect(reopened.header("ratelimit-policy") == "100;w=60;burst=100")
            // A limit of 0 closes the routes for the tenant.
            h.upstream.tenants.withLock { $0["acme"] = #"{"signup_per_minute":0}"# }
            try await Task.sleep(for: .milliseconds(400))
            let closed = try await post(h, "/v1/accounts", tenant: "acme")
            #expect(closed.status == 429 && closed.isProblem)
            #expect(closed.header("retry-after") == "60")
            #expect(try await post(h, "/v1/auth/login", tenant: "acme").status == 200)
        }
    }

    @Test func directoryCoalescesLookupsAndKeepsLastKnownLimitsOnFailure() async throws {
        struct Down: Error {}
        let calls = Atomic<Int>(0)
        let failing = Atomic<Bool>(false)
        let directory = TenantDirectory(ttl: .milliseconds(100), logger: .init(label: "test")) { slug in
            calls.add(1, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(50))
            if failing.load(ordering: .relaxed) { throw Down() }
            return slug == "acme" ? .init(signup_per_minute: 7) : nil
        }
        let results = await withTaskGroup(of: TenantDirectory.RateLimits.self) { group in
            for _ in 0..<20 { group.addTask { await directory.rateLimits(of: "acme") } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 20 && results.allSatisfy { $0.signup_per_minute == 7 })
        #expect(calls.load(ordering: .relaxed) == 1)
        #expect(await directory.rateLimits(of: "unknown") == .init())
        // accounts unreachable once the entry expired: the last known limits stay.
        failing.store(true, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(150))
        #expect(await directory.rateLimits(of: "acme").signup_per_minute == 7)
        #expect(calls.load(ordering: .relaxed) == 3)
    }

    @Test func directoryTableStaysBounded() async {
        let directory = TenantDirectory(ttl: .seconds(60), maxEntries: 100, logger: .init(label: "test")) { _ in nil }
        for i in 0..<1000 { _ = await directory.rateLimits(of: "t\(i)x") }
        #expect(directory.count <= 100)
    }

    @Test func aChangedPolicyKeepsWhatTheBucketLetThrough() {
        let limiter = RateLimiter(policy: .init(perMinute: 60, burst: 5))
        let now = ContinuousClock.now
        let one = RateLimiter.Policy(perMinute: 1, burst: 1), ten = RateLimiter.Policy(perMinute: 10, burst: 10)
        #expect(limiter.take("k", policy: one, now: now).allowed)
        #expect(!limiter.take("k", policy: one, now: now).allowed)
        // Raised: the nine tokens the new burst adds are there at once.
        for i in 0..<9 { #expect(limiter.take("k", policy: ten, now: now).allowed, "\(i)") }
        #expect(!limiter.take("k", policy: ten, now: now).allowed)
        // Lowered: no fresh burst.
        #expect(!limiter.take("k", policy: .init(perMinute: 2, burst: 2), now: now).allowed)
    }

    @Test func cacheTTLFromEnvironment() throws {
        #expect(try GatewayConfiguration(env: EnvironmentReader([:])).tenantCacheTTL == .seconds(5))
        #expect(try GatewayConfiguration(env: EnvironmentReader(["GATEWAY_TENANT_CACHE_SECONDS": "2"])).tenantCacheTTL == .seconds(2))
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration(env: EnvironmentReader(["GATEWAY_TENANT_CACHE_SECONDS": "0"])) }
    }

    @Test func bucketChoice() {
        #expect(RequestRateLimits.tenantBucket("acme", kind: .signup, limits: .init()) == .shared(key: "tenant:acme"))
        #expect(RequestRateLimits.tenantBucket("acme", kind: .login, limits: .init(signup_per_minute: 5)) == .shared(key: "tenant:acme"))
        #expect(RequestRateLimits.tenantBucket("acme", kind: .signup, limits: .init(signup_per_minute: 5))
            == .own(key: "tenant:acme:signup", policy: .init(perMinute: 5, burst: 5)))
        #expect(RequestRateLimits.tenantBucket("acme", kind: .login, limits: .init(login_per_minute: 0)) == .closed)
    }
}
