import AsyncHTTPClient
import CoffreCore
import Foundation
import HTTPTypes
import NIOCore

/// A node as blob ingest describes it to the directory: what kind it is and,
/// for a folder, every node below it (not in the trash) at this moment.
struct OwnedNode: Sendable, Decodable {
    var id: String
    var kind: String
    var descendants: [String]
}

/// Asks blob ingest about a node of an owner (`GET /internal/v1/nodes/{id}`
/// signed with the internal secret for the owner's tenant and account), so
/// a share or link can only name the caller's own node. Ingest answers 404
/// for another account's node, another tenant's, or a trashed one.
struct IngestNodes: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var status: Int
        var description: String { "ingest answered \(status) on its internal node route" }
    }

    let baseURL: String
    let key: [UInt8]
    let client: HTTPClient
    let timeout: TimeAmount

    init(baseURL: String, secret: String, client: HTTPClient = .shared, timeout: TimeAmount = .seconds(10)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.key = InternalAuth.key(from: secret)
        self.client = client
        self.timeout = timeout
    }

    /// The owner's node, or nil when ingest does not know it as theirs.
    func node(_ id: UUID, tenant: UUID, owner: UUID) async throws -> OwnedNode? {
        let path = "/internal/v1/nodes/\(id.uuidString.lowercased())"
        var signed = HTTPFields()
        InternalAuth.sign(VerifiedIdentity(tenantID: tenant, accountID: owner), method: "GET", path: path, key: key, into: &signed)
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .GET
        for field in signed { request.headers.add(name: field.name.rawName, value: field.value) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch {
            throw Problem.unavailable("The file service cannot be reached to check the node.", retryAfter: 2)
        }
        // A folder with many thousand descendants is still well under this.
        let body = try await response.body.collect(upTo: 16 << 20)
        switch response.status.code {
        case 200: return try JSONDecoder().decode(OwnedNode.self, from: Data(buffer: body))
        case 404: return nil
        default: throw Failure(status: Int(response.status.code))
        }
    }
}
