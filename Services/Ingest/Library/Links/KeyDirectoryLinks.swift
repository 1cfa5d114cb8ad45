import AsyncHTTPClient
import CoffreCore
import Foundation
import HTTPTypes
import NIOCore

/// A share link as the key directory answers ingest: whose file it is and
/// how many downloads are left.
struct LinkGrant: Decodable, Sendable {
    var id: String
    var tenant_id: String
    var owner_account_id: String
    var node_id: String
    var expires_at: String?
    var downloads_left: Int64?

    var tenant: UUID? { UUID(uuidString: tenant_id) }
    var owner: UUID? { UUID(uuidString: owner_account_id) }
    var node: UUID? { UUID(uuidString: node_id) }
}

/// The key directory's internal link routes (docs/keydir-api.md, "Share
/// links"), signed with the internal secret and no user: the link id is the
/// only credential of an anonymous download. The directory's 404 and 410
/// come back as the same problems; anything else means it is unavailable.
struct KeyDirectoryLinks: Sendable {
    let baseURL: String
    let key: [UInt8]
    let client: HTTPClient
    let timeout: TimeAmount

    /// - Parameters:
    ///   - baseURL: the key directory, e.g. `http://127.0.0.1:8082` (`INGEST_KEYDIR_URL`).
    ///   - secret: `COFFRE_INTERNAL_SECRET`.
    init(baseURL: String, secret: String, client: HTTPClient = .shared, timeout: TimeAmount = .seconds(5)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.key = InternalAuth.key(from: secret)
        self.client = client
        self.timeout = timeout
    }

    /// The link if it can be used now (404 unknown, 410 expired/revoked/used up).
    func link(_ id: UUID) async throws -> LinkGrant {
        try await call("GET", "/internal/v1/links/\(id.lower)")
    }

    /// Takes one download of the link; exactly N claims succeed for a limit of N.
    func claim(_ id: UUID) async throws -> LinkGrant {
        try await call("POST", "/internal/v1/links/\(id.lower)/claim")
    }

    private func call(_ method: String, _ path: String) async throws -> LinkGrant {
        var signed = HTTPFields()
        InternalAuth.sign(VerifiedIdentity(), method: method, path: path, key: key, into: &signed)
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        for field in signed { request.headers.add(name: field.name.rawName, value: field.value) }
        let status: UInt
        let body: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: timeout)
            status = response.status.code
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw Problem.unavailable("The key directory cannot be reached.", retryAfter: 2)
        }
        switch status {
        case 200:
            guard let grant = try? JSONDecoder().decode(LinkGrant.self, from: Data(buffer: body)),
                  grant.tenant != nil, grant.owner != nil, grant.node != nil else {
                throw Problem.unavailable("The key directory gave an unreadable answer.", retryAfter: 2)
            }
            return grant
        case 404:
            throw Problem.notFound("No such link.")
        case 410:
            let detail = (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])?["detail"] as? String
            throw Problem(.gone, type: "urn:coffre:problem:link-gone", title: "Link gone", detail: detail ?? "This link cannot be used any more.")
        default:
            throw Problem.unavailable("The key directory answered \(status).", retryAfter: 2)
        }
    }
}
