import Testing
@testable import Gateway

@Suite struct TenantResolverTests {
    @Test func hostLabels() {
        #expect(TenantResolver.tenantLabel(ofHost: "acme.coffre.example") == "acme")
        #expect(TenantResolver.tenantLabel(ofHost: "acme.coffre.example:8080") == "acme")
        #expect(TenantResolver.tenantLabel(ofHost: "acme.localhost:8080") == "acme")
        #expect(TenantResolver.tenantLabel(ofHost: "coffre.example") == nil)
        #expect(TenantResolver.tenantLabel(ofHost: "gateway") == nil)
        #expect(TenantResolver.tenantLabel(ofHost: "localhost:8080") == nil)
        #expect(TenantResolver.tenantLabel(ofHost: "127.0.0.1:8080") == nil)
        #expect(TenantResolver.tenantLabel(ofHost: "[::1]:8080") == nil)
        #expect(TenantResolver.tenantLabel(ofHost: "a.coffre.example") == nil)  // too short for a slug
    }

    @Test func slugFormat() {
        #expect(TenantResolver.isSlug("acme"))
        #expect(TenantResolver.isSlug("a-b"))
        #expect(!TenantResolver.isSlug("ab"))
        #expect(!TenantResolver.isSlug("-ab"))
        #expect(!TenantResolver.isSlug("ab-"))
        #expect(!TenantResolver.isSlug("Acme"))
        #expect(!TenantResolver.isSlug(String(repeating: "a", count: 33)))
        #expect(TenantResolver.isSlug(String(repeating: "a", count: 32)))
    }
}

import CoffreCore

@Suite struct GatewayConfigurationTests {
    @Test func readsEnvironment() throws {
        let config = try GatewayConfiguration(env: EnvironmentReader([
            "GATEWAY_INGEST_URLS": "http://10.0.0.1:8083, http://10.0.0.2:8083",
            "GATEWAY_RATE_PER_IP_BURST": "7",
            "GATEWAY_TRUST_FORWARDED_FOR": "true",
            "GATEWAY_MAX_INFLIGHT": "99",
            "GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "5",
            "GATEWAY_MAX_TRANSFERS": "64",
            "GATEWAY_CLIENT_IDLE_TIMEOUT_SECONDS": "15",
            "GATEWAY_CORS_ORIGINS": "https://a.example,https://b.example",
        ]))
        #expect(config.upstreams["ingest"] == ["http://10.0.0.1:8083", "http://10.0.0.2:8083"])
        #expect(config.upstreams["accounts"] == ["http://127.0.0.1:8081"])
        #expect(config.rateLimits.perIPBurst == 7 && config.rateLimits.perIPPerMinute == 60)
        #expect(config.trustForwardedFor)
        #expect(config.maxInflight == 99 && config.maxInflightPerService == 512)
        #expect(config.upstreamTimeout == .seconds(5))
        #expect(config.maxTransfers == 64 && config.clientIdleTimeout == .seconds(15))
        #expect(config.corsOrigins == ["https://a.example", "https://b.example"])
        #expect(config.maxJSONBodyBytes == 1 << 20)
    }

    @Test func rejectsBadValues() {
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration(env: EnvironmentReader(["GATEWAY_QUOTA_URLS": "ftp://x"])) }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration(env: EnvironmentReader(["GATEWAY_MAX_INFLIGHT": "lots"])) }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration(env: EnvironmentReader(["GATEWAY_CLIENT_IDLE_TIMEOUT_SECONDS": "0"])) }
    }
}
