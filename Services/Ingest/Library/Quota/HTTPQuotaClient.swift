import AsyncHTTPClient
import CoffreCore
import Foundation
import HTTPTypes
import NIOCore
import Synchronization

/// `QuotaClient` over HTTP to the quota service (docs/quota-api.md).
///
/// Each call is signed with the internal secret (`InternalAuth`) for the
/// uploading user's tenant and account, which is what the quota service
/// trusts; no user token travels. A 507 answer becomes `QuotaRefusal`;
/// anything else that is not a success is an error (ingest answers 5xx and
/// the client retries). `maxUploadSize` is asked on every tus OPTIONS and
/// creation, so it is cached per account for `limitTTL`.
public final class HTTPQuotaClient: QuotaClient {
    public struct Failure: Error, CustomStringConvertible {
        public var status: Int
        public var detail: String
        public var description: String { "quota service answered \(status): \(detail)" }
    }

    private let baseURL: String
    private let key: [UInt8]
    private let client: HTTPClient
    private let timeout: TimeAmount
    private let limitTTL: TimeInterval
    private let limits = Mutex<[UUID: (value: Int64, until: Date)]>([:])

    /// - Parameters:
    ///   - baseURL: the quota service, e.g. `http://127.0.0.1:8084` (`INGEST_QUOTA_URL`).
    ///   - secret: `COFFRE_INTERNAL_SECRET`.
    public init(baseURL: String, secret: String, client: HTTPClient = .shared, timeout: TimeAmount = .seconds(5), limitTTL: TimeInterval = 60) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.key = InternalAuth.key(from: secret)
        self.client = client
        self.timeout = timeout
        self.limitTTL = limitTTL
    }

    public func maxUploadSize(tenant: UUID, account: UUID) async throws -> Int64 {
        let now = Date()
        if let cached = limits.withLock({ $0[account] }), cached.until > now { return cached.value }
        let (status, body) = try await call("GET", "/internal/v1/limits", tenant: tenant, account: account)
        guard status == 200, let value = (Self.json(body)?["max_upload_bytes"] as? NSNumber)?.int64Value else {
            throw Failure(status: status, detail: String(decoding: body.prefix(300), as: UTF8.self))
        }
        limits.withLock { cache in
            if cache.count > 100_000 { cache.removeAll() }  // bound memory; a miss only costs one call
            cache[account] = (value, now.addingTimeInterval(limitTTL))
        }
        return value
    }

    public func reserve(tenant: UUID, account: UUID, upload: UUID, bytes: Int64, expiresAt: Date) async throws -> String {
        // RFC3339.format: a Foundation date formatter per call is costly on this path.
        let request: [String: Any] = ["upload_id": upload.uuidString.lowercased(), "bytes": bytes, "expires_at": RFC3339.format(expiresAt)]
        let (status, body) = try await call("POST", "/internal/v1/reservations", tenant: tenant, account: account,
                                            json: try JSONSerialization.data(withJSONObject: request))
        switch status {
        case 200, 201:
            guard let id = Self.json(body)?["reservation_id"] as? String else {
                throw Failure(status: status, detail: "no reservation_id in the answer")
            }
            return id
        case 507:
            throw QuotaRefusal(remaining: (Self.json(body)?["remaining_bytes"] as? NSNumber)?.int64Value)
        default:
            throw Failure(status: status, detail: String(decoding: body.prefix(300), as: UTF8.self))
        }
    }

    public func release(tenant: UUID, account: UUID, reservation: String) async throws {
        // Reservations made before quota existed ("unreserved:…") hold nothing.
        guard let id = UUID(uuidString: reservation) else { return }
        let (status, body) = try await call("DELETE", "/internal/v1/reservations/\(id.uuidString.lowercased())", tenant: tenant, account: account)
        guard (200..<300).contains(status) || status == 404 else {
            throw Failure(status: status, detail: String(decoding: body.prefix(300), as: UTF8.self))
        }
    }

    private func call(_ method: String, _ path: String, tenant: UUID, account: UUID, json: Data? = nil) async throws -> (Int, [UInt8]) {
        var signed = HTTPFields()
        InternalAuth.sign(VerifiedIdentity(tenantID: tenant, accountID: account), method: method, path: path, key: key, into: &signed)
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        for field in signed { request.headers.add(name: field.name.rawName, value: field.value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: json))
        }
        let response = try await client.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), Array(body.readableBytesView))
    }

    private static func json(_ body: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
}
