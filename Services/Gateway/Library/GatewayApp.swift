// The gateway is Coffre's only public entry point: it routes `/v1/...` to
// the services, authenticates access tokens, resolves tenants, applies rate
// limits and load shedding, and streams bodies both ways.
// It must never buffer an upload, pass a client's identity headers on, or
// log a token or secret. It owns no state that must survive a restart: any
// number of replicas can run side by side.
import AsyncHTTPClient
import CoffreCore
import Foundation
import Hummingbird
import Logging
import NIOCore

public enum GatewayApp {
    /// Wires the gateway: HTTP client, token keys, revocation polling, rate
    /// limiters, load shedder, router. It is ready when every upstream has a
    /// live instance, token keys are loaded and revocations are in sync.
    public static func build(config: GatewayConfiguration, logger: Logger) throws(ConfigurationError) -> some ApplicationProtocol {
        for service in GatewayConfiguration.defaultUpstreams.keys where config.upstreams[service]?.isEmpty ?? true {
            throw ConfigurationError(key: "GATEWAY_\(service.uppercased())_URLS", problem: "no instance configured")
        }
        if config.common.internalSecret == CommonConfiguration.developmentInternalSecret {
            logger.warning("COFFRE_INTERNAL_SECRET is the development default; set it in production")
        }
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration(config))
        let upstreams = Upstreams(config.upstreams)
        let identityKey = InternalAuth.key(from: config.common.internalSecret)
        let accounts = InternalClient(client: httpClient, pool: upstreams["accounts"]!, key: identityKey)
        let tokenKeys = TokenKeys(client: accounts, logger: logger)
        let revocations = RevocationList(client: accounts, interval: config.revocationPollInterval, logger: logger)
        let routes = GatewayRoutes(
            proxy: Proxy(client: httpClient, upstreams: upstreams, identityKey: identityKey),
            authenticator: Authenticator(keys: tokenKeys, revocations: revocations),
            rateLimits: RequestRateLimits(config.rateLimits,
                                          tenants: TenantDirectory(ttl: config.tenantCacheTTL, accounts: accounts, logger: logger)),
            shedder: LoadShedder(services: Array(config.upstreams.keys), maxInflightPerService: config.maxInflightPerService,
                                 maxInflight: config.maxInflight, maxTransfers: config.maxTransfers),
            config: config
        )

        let router = Router(context: CoffreRequestContext.self)
        // ServiceCore.addStandardMiddleware's stack with CORS slotted in
        // between request ids and problems: outside ProblemMiddleware so
        // error responses carry the CORS headers too.
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: GatewayCORS(origins: config.corsOrigins))
        router.add(middleware: ProblemMiddleware())
        OperationalRoutes.add(to: router, readiness: readiness(config: config, client: httpClient, upstreams: upstreams,
                                                               tokenKeys: tokenKeys, revocations: revocations))
        OpenAPIDocument.addRoutes(to: router)
        routes.add(to: router)

        return Application(
            responder: PeerAddressResponder(inner: router.buildResponder()),
            // The idle timeout also closes a connection whose request body
            // stalls, which aborts the upstream request it was feeding.
            server: .http1(configuration: .init(idleTimeout: TimeAmount(config.clientIdleTimeout)), maxRead: 1024 * 1024),
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "coffre-gateway"),
            // The HTTP client is listed first so it shuts down last, after
            // the server drained and the pollers stopped.
            services: [HTTPClientService(client: httpClient), tokenKeys, revocations],
            logger: logger
        )
    }

    static func clientConfiguration(_ config: GatewayConfiguration) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            // `read` is an idle timeout armed once the request is fully sent:
            // it bounds the wait for the response head and any stall in the
            // response body, never the length of an upload or a download.
            timeout: .init(connect: .seconds(2), read: TimeAmount(config.upstreamTimeout)),
            decompression: .disabled
        )
        configuration.httpVersion = .http1Only
        // Fail a refused connect at once so the proxy tries the next
        // instance, instead of the pool retrying the dead one until the
        // connect deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        // The pool's default of 8 connections per host would queue requests
        // inside the client, hidden from the load shedder: let it open as
        // many as the shedder admits (requests and transfers).
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = config.maxInflightPerService + config.maxTransfers
        // Coffre bootstraps no tracer, yet the client would still open a
        // (no-op) span per request and fill in its attributes, parsing the
        // URL a second time: ~3% of the gateway's CPU per proxied signup.
        // (With a tracer bootstrapped one day, this line must go, or trace
        // context stops being passed upstream.)
        configuration.tracing.tracer = nil
        return configuration
    }

    static func readiness(config: GatewayConfiguration, client: HTTPClient, upstreams: Upstreams,
                          tokenKeys: TokenKeys, revocations: RevocationList) -> ReadinessChecks {
        var readiness = ReadinessChecks()
        for (service, pool) in upstreams.pools.sorted(by: { $0.key < $1.key }) {
            readiness.add(service) {
                for instance in pool.instances {
                    var request = HTTPClientRequest(url: instance.origin + instance.basePath + "/healthz")
                    request.method = .GET
                    if let response = try? await client.execute(request, timeout: .seconds(2)), response.status == .ok {
                        return nil
                    }
                }
                return "no instance answers"
            }
        }
        readiness.add("token-keys") { tokenKeys.isLoaded ? nil : "not fetched from accounts yet" }
        readiness.add("revocations") {
            guard let staleness = revocations.staleness else { return "not synced with accounts yet" }
            return staleness < .seconds(30) ? nil : "no successful poll for \(staleness.components.seconds) s"
        }
        return readiness
    }
}
