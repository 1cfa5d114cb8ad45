import Foundation
import Hummingbird

extension UUID {
    var lower: String { uuidString.lowercased() }
}

/// A file or folder as the API shows it. `attributes` and `wrapped_key` are
/// the client's ciphertext, passed through as base64.
struct NodeView: ResponseCodable, Sendable, Equatable {
    var id: String
    var parent_id: String?
    var kind: String
    var attributes: String
    var wrapped_key: String
    var size: Int64
    var current_version: String?
    var created_at: Date
    var updated_at: Date
    var trashed_at: Date?
}

struct NodeList: ResponseCodable, Sendable {
    var nodes: [NodeView]
}

struct VersionView: Codable, Sendable, Equatable {
    var id: String
    var size: Int64
    var created_at: Date
    var current: Bool
}

struct VersionList: ResponseCodable, Sendable {
    var versions: [VersionView]
}

struct CreateFolderRequest: Codable, Sendable {
    var id: String?
    var parent_id: String?
    var kind: String
    var attributes: String
    var wrapped_key: String
}

/// `PATCH /v1/nodes/{id}`: `parent_id` present and null moves to the root;
/// absent leaves the parent alone.
struct UpdateNodeRequest: Decodable, Sendable {
    var parentChange: UUID??
    var attributes: String?

    enum CodingKeys: String, CodingKey { case parent_id, attributes }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        attributes = try c.decodeIfPresent(String.self, forKey: .attributes)
        if c.contains(.parent_id) {
            if try c.decodeNil(forKey: .parent_id) {
                parentChange = .some(nil)
            } else {
                let raw = try c.decode(String.self, forKey: .parent_id)
                guard let id = UUID(uuidString: raw) else {
                    throw DecodingError.dataCorruptedError(forKey: .parent_id, in: c, debugDescription: "parent_id is not a UUID")
                }
                parentChange = .some(id)
            }
        } else {
            parentChange = nil
        }
    }
}

/// An upload row.
struct UploadRecord: Sendable {
    var id: UUID
    var tenantID: UUID
    var accountID: UUID
    var nodeID: UUID
    var parentID: UUID?
    var newNode: Bool
    var attributes: [UInt8]?
    var wrappedKey: [UInt8]?
    var length: Int64
    var offset: Int64
    var storeState: String
    var reservationID: String?
    var expiresAt: Date
    var committedAt: Date?
}

/// What a download serves.
struct ServedBlob: Sendable {
    var ownerAccount: UUID
    var versionID: UUID
    var size: Int64
    var blobKey: String
}

struct AccountUsage: Codable, Sendable, Equatable {
    var account_id: String
    var bytes: Int64
    var versions: Int64
}

struct UsageReport: ResponseCodable, Sendable {
    var accounts: [AccountUsage]
}
