import CoffreCore
import Foundation
import HTTPTypes
import Synchronization

/// Token buckets keyed by a string (a client IP, a tenant slug). A bucket
/// holds up to `burst` tokens and refills at `perMinute / 60` tokens per
/// second; each request takes one. A key may be taken under a policy of its
/// own (a tenant's limits from its row); the bucket follows the policy of
/// its latest `take`.
///
/// Memory is bounded: a bucket that has refilled to full is equivalent to
/// no bucket, so those are dropped first when the table reaches
/// `maxEntries`; if that is not enough (a flood from many addresses), the
/// least recently used half goes too. Sweeps are amortised: the table is
/// left at most 90% full, so at least a tenth of `maxEntries` inserts
/// happen between two sweeps.
public final class RateLimiter: Sendable {
    public struct Policy: Sendable, Equatable {
        public var perMinute: Int
        public var burst: Int
        public init(perMinute: Int, burst: Int) {
            self.perMinute = perMinute
            self.burst = burst
        }
        var refillPerSecond: Double { Double(perMinute) / 60 }
    }

    public struct Decision: Sendable {
        public var allowed: Bool
        public var policy: Policy
        /// Whole tokens left after this request.
        public var remaining: Int
        /// Seconds until the bucket is full again (the `reset` of `RateLimit`).
        public var resetSeconds: Int
        /// Seconds until one token is available (the `Retry-After` of a 429).
        public var retryAfterSeconds: Int
    }

    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
        var policy: Policy
    }

    public let policy: Policy
    private let table = Mutex<[String: Bucket]>([:])
    private let maxEntries: Int

    /// `policy.perMinute` and `policy.burst` must be at least 1.
    public init(policy: Policy, maxEntries: Int = 100_000) {
        self.policy = policy
        self.maxEntries = max(16, maxEntries)
    }

    public var count: Int { table.withLock { $0.count } }

    /// Takes a token for `key` if there is one, under `policy` (with at
    /// least 1 per minute and a burst of 1) or the limiter's own.
    public func take(_ key: String, policy: Policy? = nil, now: ContinuousClock.Instant = .now) -> Decision {
        let policy = policy ?? self.policy
        let burst = Double(policy.burst)
        return table.withLock { table in
            var bucket = table[key] ?? Bucket(tokens: burst, updated: now, policy: policy)
            // Refill at the rate the bucket had until now. When the policy
            // changed meanwhile (an operator edited a tenant's limits), the
            // requests the bucket recently let through count against the new
            // burst: raising a limit lets clients in at once, lowering one
            // does not hand out a fresh burst.
            let oldBurst = Double(bucket.policy.burst)
            bucket.tokens = min(oldBurst, bucket.tokens + Self.seconds(now - bucket.updated) * bucket.policy.refillPerSecond)
            if bucket.policy != policy {
                bucket.tokens = max(0, min(burst, bucket.tokens + burst - oldBurst))
                bucket.policy = policy
            }
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            if table[key] == nil && table.count >= maxEntries { Self.sweep(&table, now: now, keep: maxEntries * 9 / 10) }
            table[key] = bucket
            let missing = burst - bucket.tokens
            return Decision(
                allowed: allowed, policy: policy, remaining: Int(bucket.tokens.rounded(.down)),
                resetSeconds: Int((missing / policy.refillPerSecond).rounded(.up)),
                retryAfterSeconds: max(1, Int(((1 - bucket.tokens) / policy.refillPerSecond).rounded(.up)))
            )
        }
    }

    /// Gives back a token taken for a request that another limit then refused.
    public func refund(_ key: String) {
        table.withLock { table in
            if var bucket = table[key] {
                bucket.tokens = min(Double(bucket.policy.burst), bucket.tokens + 1)
                table[key] = bucket
            }
        }
    }

    static func sweep(_ table: inout [String: Bucket], now: ContinuousClock.Instant, keep: Int) {
        table = table.filter {
            let bucket = $0.value
            return bucket.tokens + seconds(now - bucket.updated) * bucket.policy.refillPerSecond < Double(bucket.policy.burst)
        }
        if table.count > keep {
            let newest = table.sorted { $0.value.updated > $1.value.updated }.prefix(keep / 2)
            table = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
        }
    }

    static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

extension HTTPField.Name {
    static let rateLimit = HTTPField.Name("RateLimit")!
    static let rateLimitPolicy = HTTPField.Name("RateLimit-Policy")!
}

/// The two limits on the unauthenticated routes: per client address (one
/// client hammering login) and per tenant (a botnet hammering one tenant's
/// signup). A request must pass both.
///
/// The tenant bucket is the gateway's default (`GATEWAY_RATE_PER_TENANT_*`,
/// one bucket per tenant for all its signup and login traffic) unless the
/// tenant's row sets `rate_limits.signup_per_minute` or `login_per_minute`
/// (read through `TenantDirectory`, so a change applies within its TTL).
/// A limit of N then gives that kind of route a bucket of its own holding N
/// tokens that refills at N a minute: N requests back to back, then one
/// every 60/N s. A limit of 0 closes those routes for the tenant.
struct RequestRateLimits: Sendable {
    let perIP: RateLimiter
    let perTenant: RateLimiter
    let tenants: TenantDirectory

    init(_ config: GatewayConfiguration.RateLimits, tenants: TenantDirectory) {
        perIP = RateLimiter(policy: .init(perMinute: config.perIPPerMinute, burst: config.perIPBurst))
        perTenant = RateLimiter(policy: .init(perMinute: config.perTenantPerMinute, burst: config.perTenantBurst))
        self.tenants = tenants
    }

    /// Throws a 429 problem when over either limit; otherwise returns the
    /// headers that tell the client where it stands (the tighter limit).
    /// The client address is checked first, so a client already over its
    /// own limit costs no tenant lookup.
    func check(clientIP: String, tenant: String, kind: PublicRoute.RateLimitKind) async throws(Problem) -> HTTPFields {
        let ip = perIP.take("ip:" + clientIP)
        guard ip.allowed else { throw Self.tooMany(ip, scope: "client address") }
        let tenantDecision: RateLimiter.Decision
        switch Self.tenantBucket(tenant, kind: kind, limits: await tenants.rateLimits(of: tenant)) {
        case .shared(let key):
            tenantDecision = perTenant.take(key)
        case .own(let key, let policy):
            tenantDecision = perTenant.take(key, policy: policy)
        case .closed:
            perIP.refund("ip:" + clientIP)
            throw Self.closed(kind)
        }
        guard tenantDecision.allowed else {
            perIP.refund("ip:" + clientIP)
            throw Self.tooMany(tenantDecision, scope: "tenant")
        }
        return Self.headers(ip.remaining <= tenantDecision.remaining ? ip : tenantDecision)
    }

    enum TenantBucket: Equatable {
        /// The gateway's default policy, one bucket for the tenant's signup and login routes.
        case shared(key: String)
        /// The tenant's own limit for this kind of route, in a bucket of its own.
        case own(key: String, policy: RateLimiter.Policy)
        /// The tenant's limit for this kind of route is 0.
        case closed
    }

    /// The bucket a request of `kind` for `slug` draws from.
    static func tenantBucket(_ slug: String, kind: PublicRoute.RateLimitKind, limits: TenantDirectory.RateLimits) -> TenantBucket {
        let own: Int?
        switch kind {
        case .signup: own = limits.signup_per_minute
        case .login: own = limits.login_per_minute
        }
        guard let own else { return .shared(key: "tenant:" + slug) }
        guard own > 0 else { return .closed }
        return .own(key: "tenant:\(slug):\(kind)", policy: RateLimiter.Policy(perMinute: own, burst: own))
    }

    /// Draft IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-07):
    /// the policy names the sustained rate per 60 s window and the burst.
    static func headers(_ d: RateLimiter.Decision) -> HTTPFields {
        var headers = HTTPFields()
        headers[.rateLimitPolicy] = "\(d.policy.perMinute);w=60;burst=\(d.policy.burst)"
        headers[.rateLimit] = "limit=\(d.policy.burst), remaining=\(d.remaining), reset=\(d.resetSeconds)"
        return headers
    }

    static func tooMany(_ d: RateLimiter.Decision, scope: String) -> Problem {
        var headers = Self.headers(d)
        headers[.retryAfter] = String(d.retryAfterSeconds)
        return Problem(.tooManyRequests, type: "urn:coffre:problem:rate-limited", title: "Too many requests",
                       detail: "Rate limit for this \(scope) exceeded; retry after \(d.retryAfterSeconds) s.", headers: headers,
                       extensions: ["retry_after": .int(Int64(d.retryAfterSeconds))])
    }

    /// The tenant's row sets this kind of route to 0 a minute. Retry-After
    /// is a minute: the operator may reopen it at any time.
    static func closed(_ kind: PublicRoute.RateLimitKind) -> Problem {
        var headers = HTTPFields()
        headers[.retryAfter] = "60"
        let what = kind == .signup ? "Signup" : "Login"
        return Problem(.tooManyRequests, type: "urn:coffre:problem:rate-limited", title: "Too many requests",
                       detail: "\(what) is closed for this tenant (its limit is 0 a minute).", headers: headers,
                       extensions: ["retry_after": .int(60)])
    }
}
