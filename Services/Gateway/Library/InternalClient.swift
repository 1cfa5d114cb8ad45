import AsyncHTTPClient
import CoffreCore
import Foundation
import HTTPTypes
import Logging
import NIOCore

/// The gateway's own calls to accounts' internal API (token keys,
/// revocations), signed like any forwarded request but with an empty
/// identity: the gateway speaks for itself, not for a user.
struct InternalClient: Sendable {
    let client: HTTPClient
    let pool: UpstreamPool
    let key: [UInt8]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func get<T: Decodable>(_ path: String, query: String? = nil, as type: T.Type, timeout: Duration = .seconds(2)) async throws -> T {
        guard let value = try await find(path, query: query, as: type, timeout: timeout) else {
            throw Failure(description: "\(pool.service) answered 404 to GET \(path)")
        }
        return value
    }

    /// Like `get`, but a 404 (no such resource) is nil rather than an error.
    func find<T: Decodable>(_ path: String, query: String? = nil, as type: T.Type, timeout: Duration = .seconds(2)) async throws -> T? {
        var lastError: any Error = Failure(description: "no \(pool.service) instance configured")
        for index in pool.attemptOrder() {
            let instance = pool.instances[index]
            let fullPath = instance.basePath + path
            var fields = HTTPFields()
            InternalAuth.sign(VerifiedIdentity(), method: "GET", path: fullPath, key: key, into: &fields)
            var request = HTTPClientRequest(url: instance.origin + fullPath + (query.map { "?" + $0 } ?? ""))
            request.method = .GET
            for field in fields { request.headers.add(name: field.name.canonicalName, value: field.value) }
            do {
                let response = try await client.execute(request, timeout: TimeAmount(timeout))
                let body = try await response.body.collect(upTo: 8 << 20)
                guard response.status == .ok || response.status == .notFound else {
                    throw Failure(description: "\(pool.service) answered \(response.status.code) to GET \(path)")
                }
                pool.markUp(index)
                if response.status == .notFound { return nil }
                return try JSONDecoder().decode(T.self, from: Data(buffer: body))
            } catch {
                if Proxy.isConnectFailure(error) { pool.markDown(index) }
                lastError = error
            }
        }
        throw lastError
    }
}
