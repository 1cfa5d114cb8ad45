// The file tree as the client sees it: nodes whose names and metadata are
// decrypted here, and the tree operations (folders, move, rename, trash,
// restore, purge, versions). The server stores for each node only its
// sealed attributes and its key wrapped under the owner's master key; both
// are bound to the account and the node id, so a node whose key or
// attributes were altered, swapped with another node's or taken from
// another account is rejected rather than shown under a wrong name.
//
// The tree *structure* (which folder holds what) is the server's to keep
// and is not authenticated: a malicious server can hide or move nodes, not
// rename them or make one file's key open another.
import CoffreCrypto
import Foundation
import Sodium

/// What is sealed in a node's `attributes`: the name and, for files, the
/// plaintext size and modification time. `kind` is bound too, so a server
/// cannot present a folder as a file.
public struct NodeAttributes: Codable, Sendable, Equatable {
    public var name: String
    public var kind: RemoteNode.Kind?
    /// Plaintext bytes (files).
    public var size: Int64?
    /// Seconds since 1970 (files).
    public var mtime: Int64?

    public init(name: String, kind: RemoteNode.Kind, size: Int64? = nil, mtime: Int64? = nil) {
        self.name = name
        self.kind = kind
        self.size = size
        self.mtime = mtime
    }
}

/// A node of the account's tree, decrypted.
public struct RemoteNode: Sendable {
    public enum Kind: String, Sendable, Codable {
        case file, folder
    }

    public let id: String
    public let parentID: String?
    public let kind: Kind
    public let attributes: NodeAttributes
    /// Ciphertext bytes of the current version (files).
    public let encryptedSize: Int64?
    public let currentVersion: String?
    public let createdAt: Date?
    public let updatedAt: Date?
    public let trashedAt: Date?
    /// The node key (redacts itself when printed) and its wrapped form.
    let key: FileKey
    let wrappedKey: [UInt8]

    public var name: String { attributes.name }
    public var isFolder: Bool { kind == .folder }
    /// Plaintext size of the current version: from its ciphertext size (the
    /// attributes describe the last upload, which an older version restored
    /// since is not), else from the attributes.
    public var size: Int64? {
        encryptedSize.flatMap { FileEncryptor.plaintextSize(encryptedSize: Int($0)).map(Int64.init) } ?? attributes.size
    }
    public var modified: Date? {
        attributes.mtime.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? updatedAt
    }

    /// Opens a node the server sent: its key must unwrap under the master
    /// key for (owner, id) and its attributes open under that key for the
    /// same (owner, id).
    static func open(_ wire: NodeWire, keys: AccountKeys, owner: String) throws(FilesError) -> RemoteNode {
        try open(wire, owner: owner) { id, wrapped throws(FilesError) in
            do {
                return try keys.masterKey.unwrapNodeKey(wrapped, nodeID: id, owner: owner)
            } catch {
                throw .nodeRejected(id: id, reason: "its key does not open for this account and node")
            }
        }
    }

    /// Opens a node of someone else's tree with its key from a share parcel
    /// (`keys` by node id); `owner` is the account whose tree it is in (its
    /// attributes are bound to it). A node without a parcel is rejected.
    static func open(_ wire: NodeWire, sharedKeys keys: [String: FileKey], owner: String) throws(FilesError) -> RemoteNode {
        try open(wire, owner: owner) { id, _ throws(FilesError) in
            guard let key = keys[id] else { throw .nodeRejected(id: id, reason: "the share holds no key for it (added after sharing?)") }
            return key
        }
    }

    private static func open(_ wire: NodeWire, owner: String,
                             key keyFor: (String, [UInt8]) throws(FilesError) -> FileKey) throws(FilesError) -> RemoteNode {
        guard let uuid = UUID(uuidString: wire.id) else { throw .nodeRejected(id: wire.id, reason: "the id is not a UUID") }
        let id = uuid.uuidString.lowercased()
        guard let kind = Kind(rawValue: wire.kind) else { throw .nodeRejected(id: id, reason: "unknown kind \"\(wire.kind)\"") }
        guard let wrapped = [UInt8](base64: wire.wrappedKey ?? ""), let sealed = [UInt8](base64: wire.attributes) else {
            throw .nodeRejected(id: id, reason: "key or attributes are not base64")
        }
        let key = try keyFor(id, wrapped)
        let attributes: NodeAttributes
        do {
            attributes = try Attributes.open(NodeAttributes.self, from: sealed, fileKey: key, nodeID: id, owner: owner)
        } catch is EnvelopeError {
            throw .nodeRejected(id: id, reason: "its attributes do not open for this node")
        } catch {
            throw .nodeRejected(id: id, reason: "its attributes are not valid JSON")
        }
        if let sealedKind = attributes.kind, sealedKind != kind {
            throw .nodeRejected(id: id, reason: "listed as a \(kind.rawValue) but sealed as a \(sealedKind.rawValue)")
        }
        return RemoteNode(id: id, parentID: wire.parentID.flatMap { UUID(uuidString: $0)?.uuidString.lowercased() },
                          kind: kind, attributes: attributes, encryptedSize: wire.size,
                          currentVersion: wire.currentVersion?.lowercased(), createdAt: wire.createdAt?.date,
                          updatedAt: wire.updatedAt?.date, trashedAt: wire.trashedAt?.date, key: key, wrappedKey: wrapped)
    }
}

/// A folder's children (or the trash): the nodes that opened, and those
/// that did not (shown to the user as a warning, never under a name).
public struct NodeListing: Sendable {
    public var nodes: [RemoteNode]
    public var rejected: [FilesError]
}

/// One version of a file.
public struct FileVersion: Sendable, Equatable {
    public let id: String
    /// Ciphertext bytes.
    public let encryptedSize: Int64
    public let createdAt: Date?
    public let isCurrent: Bool

    /// Plaintext bytes, from the ciphertext size (default chunk size).
    public var size: Int64? { FileEncryptor.plaintextSize(encryptedSize: Int(encryptedSize)).map(Int64.init) }
}

extension CoffreClient {
    /// The account keys of a session, or `keysUnavailable`.
    static func keys(of session: Session) async throws -> AccountKeys {
        guard let keys = await session.keys else { throw CoffreClientError.keysUnavailable }
        return keys
    }

    static func validate(name: String) throws(FilesError) -> String {
        let name = name.precomposedStringWithCanonicalMapping
        guard !name.isEmpty else { throw .invalidName("empty") }
        guard !name.contains("/") else { throw .invalidName("\"\(name)\" contains a slash") }
        guard name != ".", name != ".." else { throw .invalidName("\"\(name)\" is reserved") }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .invalidName("control characters are not allowed")
        }
        guard name.utf8.count <= 1024 else { throw .invalidName("longer than 1024 bytes") }
        return name
    }

    static func normalizedID(_ id: String) throws(FilesError) -> String {
        guard let uuid = UUID(uuidString: id.trimmingCharacters(in: .whitespaces)) else {
            throw .invalidPath("\"\(id)\" is not a node id")
        }
        return uuid.uuidString.lowercased()
    }

    func openNode(_ response: TransportResponse, session: Session, expectedID: String? = nil) async throws -> RemoteNode {
        let wire = try Self.decode(NodeWire.self, from: response)
        let node = try RemoteNode.open(wire, keys: try await Self.keys(of: session), owner: session.accountID.lowercased())
        if let expectedID, node.id != expectedID {
            throw FilesError.nodeRejected(id: node.id, reason: "the server answered with another node than \(expectedID)")
        }
        return node
    }

    func openListing(_ response: TransportResponse, session: Session, parentID: String?? = .none) async throws -> NodeListing {
        let keys = try await Self.keys(of: session)
        let owner = session.accountID.lowercased()
        var listing = NodeListing(nodes: [], rejected: [])
        for wire in try Self.decode(NodesResponse.self, from: response).nodes {
            do {
                let node = try RemoteNode.open(wire, keys: keys, owner: owner)
                if case .some(let parent) = parentID, node.parentID != parent {
                    throw FilesError.nodeRejected(id: node.id, reason: "listed in a folder it is not in")
                }
                listing.nodes.append(node)
            } catch let error as FilesError {
                listing.rejected.append(error)
            }
        }
        listing.nodes.sort { ($0.isFolder ? 0 : 1, $0.name) < ($1.isFolder ? 0 : 1, $1.name) }
        return listing
    }

    // MARK: - Reading the tree

    /// A folder's children (`nil` = the root), names decrypted.
    public func listFolder(_ session: Session, folderID: String?) async throws -> NodeListing {
        let query = try folderID.map { "?parent=\(try Self.normalizedID($0))" } ?? ""
        let response = try await authorized(session, "GET", "/v1/nodes\(query)", body: nil)
        return try await openListing(response, session: session, parentID: .some(folderID.map { $0.lowercased() }))
    }

    public func node(_ session: Session, id: String) async throws -> RemoteNode {
        let id = try Self.normalizedID(id)
        return try await openNode(try await authorized(session, "GET", "/v1/nodes/\(id)", body: nil), session: session, expectedID: id)
    }

    // MARK: - Changing the tree

    /// A new folder with its own random key, wrapped under the master key
    /// and bound to its id (chosen here); its name sealed under that key.
    public func createFolder(_ session: Session, name: String, parentID: String?) async throws -> RemoteNode {
        let name = try Self.validate(name: name)
        let keys = try await Self.keys(of: session)
        let owner = session.accountID.lowercased()
        let id = UUID().uuidString.lowercased()
        let key = FileKey.generate()
        let body = CreateFolderBody(
            id: id, parentID: try parentID.map { try Self.normalizedID($0) },
            attributes: try Attributes.seal(NodeAttributes(name: name, kind: .folder), fileKey: key, nodeID: id, owner: owner).base64,
            wrappedKey: try keys.masterKey.wrap(nodeKey: key, nodeID: id, owner: owner).base64)
        let response = try await authorized(session, "POST", "/v1/nodes", body: Self.encode(body))
        return try await openNode(response, session: session, expectedID: id)
    }

    /// Moves `node` into a folder (`nil` = the root), renaming it on the way
    /// when `newName` is given; a folder into itself or a descendant is a 409.
    public func move(_ session: Session, node: RemoteNode, intoFolder folderID: String?,
                     newName: String? = nil) async throws -> RemoteNode {
        let parent: UpdateNodeBody.Parent = try folderID.map { .folder(try Self.normalizedID($0)) } ?? .root
        return try await update(session, node: node, parent: parent, newName: newName)
    }

    /// Renames a node in place: the new name is sealed under the node's own key.
    public func rename(_ session: Session, node: RemoteNode, to newName: String) async throws -> RemoteNode {
        try await update(session, node: node, parent: .unchanged, newName: newName)
    }

    private func update(_ session: Session, node: RemoteNode, parent: UpdateNodeBody.Parent,
                        newName: String?) async throws -> RemoteNode {
        var sealed: String?
        if let newName {
            var attributes = node.attributes
            attributes.name = try Self.validate(name: newName)
            attributes.kind = node.kind
            sealed = try Attributes.seal(attributes, fileKey: node.key, nodeID: node.id,
                                         owner: session.accountID.lowercased()).base64
        }
        let body = UpdateNodeBody(parent: parent, attributes: sealed)
        let response = try await authorized(session, "PATCH", "/v1/nodes/\(node.id)", body: Self.encode(body))
        return try await openNode(response, session: session, expectedID: node.id)
    }

    /// Moves a node (and its subtree) to the trash.
    @discardableResult
    public func trash(_ session: Session, id: String) async throws -> RemoteNode {
        let id = try Self.normalizedID(id)
        return try await openNode(try await authorized(session, "DELETE", "/v1/nodes/\(id)", body: nil),
                                  session: session, expectedID: id)
    }

    /// The nodes trashed directly (not those inside a trashed folder).
    public func listTrash(_ session: Session) async throws -> NodeListing {
        try await openListing(try await authorized(session, "GET", "/v1/trash", body: nil), session: session)
    }

    /// Back where it was, or to the root if that folder is gone.
    @discardableResult
    public func restore(_ session: Session, id: String) async throws -> RemoteNode {
        let id = try Self.normalizedID(id)
        return try await openNode(try await authorized(session, "POST", "/v1/nodes/\(id)/restore", body: nil),
                                  session: session, expectedID: id)
    }

    /// Removes a node, its subtree and every version's content for good.
    public func purge(_ session: Session, id: String) async throws {
        let id = try Self.normalizedID(id)
        _ = try await authorized(session, "DELETE", "/v1/nodes/\(id)?purge=true", body: nil)
    }

    // MARK: - Versions

    /// A file's versions, newest first.
    public func versions(_ session: Session, nodeID: String) async throws -> [FileVersion] {
        let id = try Self.normalizedID(nodeID)
        let response = try await authorized(session, "GET", "/v1/nodes/\(id)/versions", body: nil)
        return try Self.decode(VersionsResponse.self, from: response).versions.map {
            FileVersion(id: $0.id.lowercased(), encryptedSize: $0.size, createdAt: $0.createdAt?.date, isCurrent: $0.current ?? false)
        }
    }

    /// Makes an older version current again (the current one is kept).
    @discardableResult
    public func restoreVersion(_ session: Session, nodeID: String, versionID: String) async throws -> RemoteNode {
        let id = try Self.normalizedID(nodeID)
        let version = try Self.normalizedID(versionID)
        let response = try await authorized(session, "POST", "/v1/nodes/\(id)/versions/\(version)/restore", body: nil)
        return try await openNode(response, session: session, expectedID: id)
    }

    /// Deletes a version that is not the current one.
    public func purgeVersion(_ session: Session, nodeID: String, versionID: String) async throws {
        let id = try Self.normalizedID(nodeID)
        let version = try Self.normalizedID(versionID)
        _ = try await authorized(session, "DELETE", "/v1/nodes/\(id)/versions/\(version)", body: nil)
    }
}
