import AsyncHTTPClient
import CoffreCore
import Foundation
import Hummingbird
import Logging

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
///
/// Each `*_URLS` is a comma-separated list: more than one address means the
/// gateway load-balances across those instances.
public struct GatewayConfiguration: Sendable {
    public var common: CommonConfiguration
    public var listen: HTTPListenConfiguration
    public var upstreams: [String: [String]]

    public static let defaultUpstreams: [String: [String]] = [
        "accounts": ["http://127.0.0.1:8081"],
        "keydir": ["http://127.0.0.1:8082"],
        "ingest": ["http://127.0.0.1:8083"],
        "quota": ["http://127.0.0.1:8084"],
    ]

    public init(common: CommonConfiguration = .init(), listen: HTTPListenConfiguration = .init(host: "127.0.0.1", port: 8080),
                upstreams: [String: [String]] = GatewayConfiguration.defaultUpstreams) {
        self.common = common
        self.listen = listen
        self.upstreams = upstreams
    }

    public init(env: EnvironmentReader) throws(ConfigurationError) {
        common = try CommonConfiguration(env: env)
        listen = try HTTPListenConfiguration(prefix: "GATEWAY", defaultPort: 8080, env: env)
        var upstreams: [String: [String]] = [:]
        for (service, defaults) in Self.defaultUpstreams {
            let key = "GATEWAY_\(service.uppercased())_URLS"
            let urls = env.list(key, default: defaults)
            for url in urls {
                guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil else {
                    throw ConfigurationError(key: key, problem: "\"\(url)\" is not an http(s) base URL")
                }
            }
            upstreams[service] = urls
        }
        self.upstreams = upstreams
    }
}

public enum GatewayApp {
    /// The gateway owns no schema: it is stateless, so any number of replicas
    /// can run. It is ready when at least one instance of every upstream
    /// service answers its `/healthz`.
    public static func build(config: GatewayConfiguration, logger: Logger) throws(ConfigurationError) -> some ApplicationProtocol {
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(2), read: .seconds(30))))
        var readiness = ReadinessChecks()
        for (service, urls) in config.upstreams.sorted(by: { $0.key < $1.key }) {
            readiness.add(service) {
                for base in urls {
                    var request = HTTPClientRequest(url: base + "/healthz")
                    request.method = .GET
                    if let response = try? await httpClient.execute(request, timeout: .seconds(2)), response.status == .ok {
                        return nil
                    }
                }
                return "no instance answers"
            }
        }
        let router = Router(context: CoffreRequestContext.self)
        ServiceCore.addStandardMiddleware(to: router)
        OperationalRoutes.add(to: router, readiness: readiness)
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "coffre-gateway"),
            services: [HTTPClientService(client: httpClient)],
            logger: logger
        )
    }
}
