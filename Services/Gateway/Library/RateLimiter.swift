import CoffreCore
import Foundation
import HTTPTypes
import Synchronization

/// Token buckets keyed by a string (a client IP, a tenant slug). A bucket
/// holds up to `burst` tokens and refills at `perMinute / 60` tokens per
/// second; each request takes one.
///
/// Memory is bounded: a bucket that has refilled to full is equivalent to
/// no bucket, so those are dropped first when the table reaches
/// `maxEntries`; if that is not enough (a flood from many addresses), the
/// least recently used half goes too. Sweeps are amortised: the table is
/// left at most 90% full, so at least a tenth of `maxEntries` inserts
/// happen between two sweeps.
public final class RateLimiter: Sendable {
    public struct Policy: Sendable {
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
    }

    public let policy: Policy
    private let table = Mutex<[String: Bucket]>([:])
    private let maxEntries: Int

    public init(policy: Policy, maxEntries: Int = 100_000) {
        self.policy = policy
        self.maxEntries = max(16, maxEntries)
    }

    public var count: Int { table.withLock { $0.count } }

    /// Takes a token for `key` if there is one.
    public func take(_ key: String, now: ContinuousClock.Instant = .now) -> Decision {
        let policy = self.policy
        let burst = Double(policy.burst)
        return table.withLock { table in
            var bucket = table[key] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + Self.seconds(now - bucket.updated) * policy.refillPerSecond)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            if table[key] == nil && table.count >= maxEntries { Self.sweep(&table, policy: policy, now: now, keep: maxEntries * 9 / 10) }
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
        let burst = Double(policy.burst)
        table.withLock { table in
            if var bucket = table[key] {
                bucket.tokens = min(burst, bucket.tokens + 1)
                table[key] = bucket
            }
        }
    }

    static func sweep(_ table: inout [String: Bucket], policy: Policy, now: ContinuousClock.Instant, keep: Int) {
        let burst = Double(policy.burst)
        table = table.filter { $0.value.tokens + seconds(now - $0.value.updated) * policy.refillPerSecond < burst }
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
struct RequestRateLimits: Sendable {
    let perIP: RateLimiter
    let perTenant: RateLimiter

    init(_ config: GatewayConfiguration.RateLimits) {
        perIP = RateLimiter(policy: .init(perMinute: config.perIPPerMinute, burst: config.perIPBurst))
        perTenant = RateLimiter(policy: .init(perMinute: config.perTenantPerMinute, burst: config.perTenantBurst))
    }

    /// Throws a 429 problem when over either limit; otherwise returns the
    /// headers that tell the client where it stands (the tighter limit).
    func check(clientIP: String, tenant: String) throws(Problem) -> HTTPFields {
        let ip = perIP.take("ip:" + clientIP)
        guard ip.allowed else { throw Self.tooMany(ip, scope: "client address") }
        let tenantDecision = perTenant.take("tenant:" + tenant)
        guard tenantDecision.allowed else {
            perIP.refund("ip:" + clientIP)
            throw Self.tooMany(tenantDecision, scope: "tenant")
        }
        return Self.headers(ip.remaining <= tenantDecision.remaining ? ip : tenantDecision)
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
}
