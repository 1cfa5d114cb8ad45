// The JSON bodies of the file tree API (docs/ingest-api.md), field for
// field. Opaque bytes (`attributes`, `wrapped_key`) are standard base64 here,
// unlike the accounts API's base64url.
import Foundation

struct NodeWire: Decodable, Sendable {
    var id: String
    var parentID: String?
    var kind: String
    var attributes: String
    /// Absent or empty when a share grantee reads someone else's node.
    var wrappedKey: String?
    var size: Int64?
    var currentVersion: String?
    var createdAt: FlexibleDate?
    var updatedAt: FlexibleDate?
    var trashedAt: FlexibleDate?

    enum CodingKeys: String, CodingKey {
        case id, parentID = "parent_id", kind, attributes, wrappedKey = "wrapped_key", size
        case currentVersion = "current_version", createdAt = "created_at", updatedAt = "updated_at"
        case trashedAt = "trashed_at"
    }
}

struct NodesResponse: Decodable {
    var nodes: [NodeWire]
}

struct VersionWire: Decodable {
    var id: String
    var size: Int64
    var createdAt: FlexibleDate?
    var current: Bool?

    enum CodingKeys: String, CodingKey { case id, size, createdAt = "created_at", current }
}

struct VersionsResponse: Decodable {
    var versions: [VersionWire]
}

struct CreateFolderBody: Encodable {
    var id: String
    var parentID: String?
    var kind = "folder"
    var attributes: String
    var wrappedKey: String

    enum CodingKeys: String, CodingKey { case id, parentID = "parent_id", kind, attributes, wrappedKey = "wrapped_key" }
}

/// A move and/or rename. `parent_id` absent = stays, `null` = to the root.
struct UpdateNodeBody: Encodable {
    enum Parent {
        case unchanged
        case root
        case folder(String)
    }

    var parent: Parent
    var attributes: String?

    enum CodingKeys: String, CodingKey { case parentID = "parent_id", attributes }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch parent {
        case .unchanged: break
        case .root: try c.encodeNil(forKey: .parentID)
        case .folder(let id): try c.encode(id, forKey: .parentID)
        }
        try c.encodeIfPresent(attributes, forKey: .attributes)
    }
}

extension Array where Element == UInt8 {
    /// Standard base64 with padding, as the file API carries bytes.
    var base64: String { Data(self).base64EncodedString() }

    init?(base64 text: String) {
        guard let data = Data(base64Encoded: text) else { return nil }
        self = Array(data)
    }
}
