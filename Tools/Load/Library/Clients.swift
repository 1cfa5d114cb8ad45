// The SDK as each synthetic user runs it: one `CoffreClient` per account,
// all sharing one HTTP connection pool sized for the run. Each account's
// requests carry an `X-Forwarded-For` address of its own, so a gateway
// started with `GATEWAY_TRUST_FORWARDED_FOR=true` sees many clients (as on
// a launch day) rather than one address hitting the per-IP limit; a gateway
// that does not trust the header ignores it.
//
// Argon2id uses `PasswordProfile.testing` (1 pass, 8 MiB): the cheapest
// parameters accounts accepts (opslimit 1...10, memlimit 8 MiB...1 GiB), and
// only ever for these synthetic accounts. The server does the same work
// whatever the profile; what changes is the client CPU a load generator on
// the same machine would otherwise take from the server.
import AsyncHTTPClient
import CoffreCrypto
import CoffreSDK
import Foundation
import Logging
import NIOCore

struct ForwardedForTransport: CoffreTransport {
    let inner: HTTPClientTransport
    let address: String?

    var serverDescription: String { inner.serverDescription }

    private func stamped(_ request: TransportRequest) -> TransportRequest {
        guard let address else { return request }
        var request = request
        request.headers["X-Forwarded-For"] = address
        return request
    }

    func send(_ request: TransportRequest) async throws -> TransportResponse {
        try await inner.send(stamped(request))
    }

    func send(_ request: TransportRequest, streamingTo consume: ([UInt8]) async throws -> Void) async throws -> TransportResponse {
        try await inner.send(stamped(request), streamingTo: consume)
    }
}

struct ClientFactory: Sendable {
    let gateway: URL
    let tenant: String
    let httpClient: HTTPClient
    let timeout: Duration
    let forwardedFor: Bool
    let logger: Logger

    static let profile = PasswordProfile.testing

    static func makeHTTPClient(connections: Int, timeoutSeconds: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            certificateVerification: .fullVerification, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(Int64(timeoutSeconds))), decompression: .disabled)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, connections))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// 10.x.y.z from the account's index: one address per account.
    static func address(of index: Int) -> String {
        "10.\((index >> 16) & 255).\((index >> 8) & 255).\(index & 255)"
    }

    func client(address: String?) -> CoffreClient {
        let transport = HTTPClientTransport(server: gateway, httpClient: httpClient, timeout: timeout, logger: logger)
        return CoffreClient(transport: ForwardedForTransport(inner: transport, address: forwardedFor ? address : nil),
                            tenant: tenant, profile: Self.profile, logger: logger)
    }

    func client(for account: LoadAccount) -> CoffreClient { client(address: account.address) }
}

extension Outcome {
    /// Sorts an error thrown by the SDK.
    static func classify(_ error: any Error) -> Outcome {
        if let api = error as? CoffreAPIError { return of(status: api.status) }
        if let client = error as? CoffreClientError {
            switch client {
            case .timedOut: return .timeout
            case .unreachable: return .network
            default: return .failed
            }
        }
        if let files = error as? FilesError, case let .uploadFailed(reason) = files {
            // The SDK's "the server kept failing (STATUS)" after its attempts.
            if let open = reason.lastIndex(of: "("), let status = Int(reason[reason.index(after: open)...].prefix(3)) {
                return of(status: status)
            }
        }
        return .failed
    }

    static func of(status: Int) -> Outcome {
        switch status {
        case 429, 503: .shed
        case 400..<500: .client4xx
        case 500..<600: .server5xx
        default: .failed
        }
    }
}
