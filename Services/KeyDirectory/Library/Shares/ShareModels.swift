import CoffreCore
import Foundation
import Hummingbird

/// `POST /v1/shares`.
struct CreateShareRequest: Decodable, Sendable {
    var node_id: String
    var recipient_account_id: String
    var kind: String
    var parcels: [JSONValue]
}

/// A share as the API shows it: `parcels` are the owner's signed parcels as
/// sent (the recipient opens them with its own key and checks the owner's
/// signature itself).
struct ShareView: ResponseCodable, Sendable {
    var id: String
    var owner_account_id: String
    var owner_tenant_id: String
    var recipient_account_id: String
    /// The owner's tenant unless the two tenants allow cross-tenant shares.
    var recipient_tenant_id: String
    var node_id: String
    var kind: String
    var parcels: [JSONValue]
    var created_at: Date
    var accepted_at: Date?
}

struct ShareList: ResponseCodable, Sendable {
    var shares: [ShareView]
}

/// `POST /v1/links`.
struct CreateLinkRequest: Decodable, Sendable {
    var node_id: String
    var expires_at: String?
    var max_downloads: Int64?
}

struct LinkView: ResponseCodable, Sendable {
    var id: String
    var node_id: String
    var expires_at: Date?
    var max_downloads: Int64?
    var downloads: Int64
    var revoked_at: Date?
    var created_at: Date
}

struct LinkList: ResponseCodable, Sendable {
    var links: [LinkView]
}

/// What ingest learns of a link (`/internal/v1/links/{id}` and its claim):
/// whose node it is, in which tenant, and how many downloads are left.
struct InternalLinkView: ResponseCodable, Sendable {
    var id: String
    var tenant_id: String
    var owner_account_id: String
    var node_id: String
    var expires_at: Date?
    var max_downloads: Int64?
    var downloads: Int64
    /// nil when the link has no download limit.
    var downloads_left: Int64?
}

extension UUID {
    var lowerText: String { uuidString.lowercased() }
}
