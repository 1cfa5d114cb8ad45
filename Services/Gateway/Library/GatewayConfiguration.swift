import CoffreCore
import Foundation

/// Settings of the public gateway (environment variables):
///
/// | variable | default |
/// |---|---|
/// | `GATEWAY_HTTP_HOST` | `127.0.0.1` |
/// | `GATEWAY_HTTP_PORT` | `8080` |
/// | `GATEWAY_ACCOUNTS_URLS` | `http://127.0.0.1:8081` |
/// | `GATEWAY_KEYDIR_URLS` | `http://127.0.0.1:8082` |
/// | `GATEWAY_INGEST_URLS` | `http://127.0.0.1:8083` |
/// | `GATEWAY_QUOTA_URLS` | `http://127.0.0.1:8084` |
/// | `GATEWAY_RATE_PER_IP_PER_MINUTE` | `60` |
/// | `GATEWAY_RATE_PER_IP_BURST` | `20` |
/// | `GATEWAY_RATE_PER_TENANT_PER_MINUTE` | `6000` |
/// | `GATEWAY_RATE_PER_TENANT_BURST` | `500` |
/// | `GATEWAY_TENANT_CACHE_SECONDS` | `5` |
/// | `GATEWAY_TRUST_FORWARDED_FOR` | `false` |
/// | `GATEWAY_MAX_INFLIGHT_PER_SERVICE` | `512` |
/// | `GATEWAY_MAX_INFLIGHT` | `2048` |
/// | `GATEWAY_MAX_TRANSFERS` | `1024` |
/// | `GATEWAY_UPSTREAM_TIMEOUT_SECONDS` | `30` |
/// | `GATEWAY_CLIENT_IDLE_TIMEOUT_SECONDS` | `60` |
/// | `GATEWAY_CORS_ORIGINS` | `*` |
/// | `GATEWAY_MAX_JSON_BODY_BYTES` | `1048576` |
///
/// Each `*_URLS` is a comma-separated list: more than one address means the
/// gateway load-balances across those instances.
public struct GatewayConfiguration: Sendable {
    public var common: CommonConfiguration
    public var listen: HTTPListenConfiguration
    public var upstreams: [String: [String]]
    public var rateLimits: RateLimits
    /// How long a tenant's own rate limits (from its row in accounts) are
    /// used before the gateway asks again: an operator's change applies
    /// within this time.
    public var tenantCacheTTL: Duration
    /// Take the client address from the first `X-Forwarded-For` entry: only
    /// behind a load balancer that sets it, or any client can pick its own bucket.
    public var trustForwardedFor: Bool
    public var maxInflightPerService: Int
    public var maxInflight: Int
    /// Uploads (with a body) and downloads in flight: a pool of their own,
    /// apart from `maxInflightPerService` and `maxInflight` (see `LoadShedder`).
    public var maxTransfers: Int
    /// How long an upstream may stay silent once it has the whole request
    /// (and between response body chunks). Not a bound on a whole upload or
    /// download, which may legitimately take hours.
    public var upstreamTimeout: Duration
    /// How long a client connection may send nothing while the gateway waits
    /// for its request (a stalled or vanished uploader: the connection is
    /// closed and the upstream request aborted), or between two requests.
    /// Never applies while a response is being sent.
    public var clientIdleTimeout: Duration
    /// `*`, or the exact origins allowed to call from a browser.
    public var corsOrigins: [String]
    /// Largest body on routes that take JSON (uploads stream and are exempt).
    public var maxJSONBodyBytes: Int
    /// How often the gateway asks accounts for newly revoked sessions.
    public var revocationPollInterval: Duration

    public struct RateLimits: Sendable {
        public var perIPPerMinute: Int
        public var perIPBurst: Int
        public var perTenantPerMinute: Int
        public var perTenantBurst: Int

        public init(perIPPerMinute: Int = 60, perIPBurst: Int = 20, perTenantPerMinute: Int = 6000, perTenantBurst: Int = 500) {
            self.perIPPerMinute = perIPPerMinute
            self.perIPBurst = perIPBurst
            self.perTenantPerMinute = perTenantPerMinute
            self.perTenantBurst = perTenantBurst
        }
    }

    public static let defaultUpstreams: [String: [String]] = [
        "accounts": ["http://127.0.0.1:8081"],
        "keydir": ["http://127.0.0.1:8082"],
        "ingest": ["http://127.0.0.1:8083"],
        "quota": ["http://127.0.0.1:8084"],
    ]

    public init(common: CommonConfiguration = .init(), listen: HTTPListenConfiguration = .init(host: "127.0.0.1", port: 8080),
                upstreams: [String: [String]] = GatewayConfiguration.defaultUpstreams,
                rateLimits: RateLimits = .init(), tenantCacheTTL: Duration = .seconds(5), trustForwardedFor: Bool = false,
                maxInflightPerService: Int = 512, maxInflight: Int = 2048, maxTransfers: Int = 1024,
                upstreamTimeout: Duration = .seconds(30), clientIdleTimeout: Duration = .seconds(60), corsOrigins: [String] = ["*"],
                maxJSONBodyBytes: Int = 1 << 20, revocationPollInterval: Duration = .seconds(1)) {
        self.common = common
        self.listen = listen
        self.upstreams = upstreams
        self.rateLimits = rateLimits
        self.tenantCacheTTL = tenantCacheTTL
        self.trustForwardedFor = trustForwardedFor
        self.maxInflightPerService = maxInflightPerService
        self.maxInflight = maxInflight
        self.maxTransfers = maxTransfers
        self.upstreamTimeout = upstreamTimeout
        self.clientIdleTimeout = clientIdleTimeout
        self.corsOrigins = corsOrigins
        self.maxJSONBodyBytes = maxJSONBodyBytes
        self.revocationPollInterval = revocationPollInterval
    }

    public init(env: EnvironmentReader) throws(ConfigurationError) {
        self.init()
        common = try CommonConfiguration(env: env)
        listen = try HTTPListenConfiguration(prefix: "GATEWAY", defaultPort: 8080, env: env)
        var upstreams: [String: [String]] = [:]
        for (service, defaults) in Self.defaultUpstreams {
            let key = "GATEWAY_\(service.uppercased())_URLS"
            let urls = env.list(key, default: defaults)
            for url in urls {
                guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil,
                      parsed.query == nil
                else {
                    throw ConfigurationError(key: key, problem: "\"\(url)\" is not an http(s) base URL")
                }
            }
            upstreams[service] = urls
        }
        self.upstreams = upstreams
        rateLimits = RateLimits(
            perIPPerMinute: try env.int("GATEWAY_RATE_PER_IP_PER_MINUTE", default: 60, range: 1...1_000_000),
            perIPBurst: try env.int("GATEWAY_RATE_PER_IP_BURST", default: 20, range: 1...1_000_000),
            perTenantPerMinute: try env.int("GATEWAY_RATE_PER_TENANT_PER_MINUTE", default: 6000, range: 1...100_000_000),
            perTenantBurst: try env.int("GATEWAY_RATE_PER_TENANT_BURST", default: 500, range: 1...100_000_000)
        )
        tenantCacheTTL = .seconds(try env.int("GATEWAY_TENANT_CACHE_SECONDS", default: 5, range: 1...300))
        trustForwardedFor = try env.bool("GATEWAY_TRUST_FORWARDED_FOR", default: false)
        maxInflightPerService = try env.int("GATEWAY_MAX_INFLIGHT_PER_SERVICE", default: 512, range: 1...1_000_000)
        maxInflight = try env.int("GATEWAY_MAX_INFLIGHT", default: 2048, range: 1...1_000_000)
        maxTransfers = try env.int("GATEWAY_MAX_TRANSFERS", default: 1024, range: 1...1_000_000)
        upstreamTimeout = .seconds(try env.int("GATEWAY_UPSTREAM_TIMEOUT_SECONDS", default: 30, range: 1...3600))
        clientIdleTimeout = .seconds(try env.int("GATEWAY_CLIENT_IDLE_TIMEOUT_SECONDS", default: 60, range: 1...3600))
        corsOrigins = env.list("GATEWAY_CORS_ORIGINS", default: ["*"])
        maxJSONBodyBytes = try env.int("GATEWAY_MAX_JSON_BODY_BYTES", default: 1 << 20, range: 1024...(1 << 30))
    }
}
