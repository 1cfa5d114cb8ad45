// Sharing keys, not files. To share a node, the owner seals its key (and,
// for a folder, the key of every node below it) to the recipient's X25519
// key as verified in the key directory, and signs each parcel with its own
// Ed25519 key (`ShareParcel`). The server stores the parcels opaque; ingest
// lets the recipient read the nodes' ciphertext (grants).
//
// To open a share, the recipient looks up the owner's keys in the directory
// (verified like any lookup), checks every parcel's addressing and
// signature with them, and only then unseals; nodes of the shared tree are
// then opened with their key from a parcel instead of the owner's master
// key (their attributes are bound to the owner's account id, which the
// recipient knows from the share). A node the server lists that has no
// parcel (added after sharing, or slipped in by the server) is rejected.
import CoffreCrypto
import Foundation
import Sodium

public enum ShareError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// A parcel failed its checks: not from the owner, not for this account, altered, or sealed to another key.
    case parcelRejected(nodeID: String, reason: String)
    case notTheRecipient(shareID: String)
    /// The share holds no parcel for its own node.
    case missingParcel(nodeID: String)
    case revoked(shareID: String)
    /// A folder too large to share in one go.
    case tooManyNodes(Int)
    /// Someone else's node (or a folder with nodes that do not open) cannot be shared.
    case cannotShare(String)

    public var description: String {
        switch self {
        case let .parcelRejected(nodeID, reason):
            "the key of node \(nodeID) in this share was rejected (\(reason)); the server may be broken or malicious"
        case let .notTheRecipient(id): "share \(id) is not addressed to this account"
        case let .missingParcel(nodeID): "the share holds no key for its node \(nodeID)"
        case let .revoked(id): "share \(id) was revoked"
        case let .tooManyNodes(count): "the folder holds more than \(count) nodes; share smaller folders"
        case let .cannotShare(reason): "cannot share: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// A share as the directory lists it.
public struct ShareInfo: Sendable, Equatable {
    public let id: String
    public let nodeID: String
    public let ownerAccountID: String
    public let recipientAccountID: String
    /// The tenants of the two accounts (the same unless both tenants allow
    /// cross-tenant shares); nil from a directory that does not say.
    public let ownerTenantID: String?
    public let recipientTenantID: String?
    public let kind: RemoteNode.Kind
    public let createdAt: Date?
    public let acceptedAt: Date?
    public let revokedAt: Date?
    public let parcels: [ShareParcel]
}

/// A share whose parcels verified and opened: the nodes of the shared tree
/// can be listed and downloaded with it.
public struct OpenedShare: Sendable {
    public let share: ShareInfo
    /// The owner's keys, as verified in the directory.
    public let owner: VerifiedKeys
    /// The shared node itself.
    public let root: RemoteNode
    /// Node keys by node id, from the parcels.
    let keys: [String: FileKey]

    public var nodeCount: Int { keys.count }
}

// MARK: - Wire

struct ShareWire: Decodable {
    var id: String
    var nodeID: String
    var ownerAccountID: String
    var recipientAccountID: String
    var ownerTenantID: String?
    var recipientTenantID: String?
    var kind: String
    var parcels: [ShareParcel]?
    var createdAt: FlexibleDate?
    var acceptedAt: FlexibleDate?
    var revokedAt: FlexibleDate?

    enum CodingKeys: String, CodingKey {
        case id, nodeID = "node_id", ownerAccountID = "owner_account_id", recipientAccountID = "recipient_account_id"
        case ownerTenantID = "owner_tenant_id", recipientTenantID = "recipient_tenant_id"
        case kind, parcels, createdAt = "created_at", acceptedAt = "accepted_at", revokedAt = "revoked_at"
    }

    func info() throws(CoffreClientError) -> ShareInfo {
        guard let id = UUID(uuidString: id), let node = UUID(uuidString: nodeID), let owner = UUID(uuidString: ownerAccountID),
              let recipient = UUID(uuidString: recipientAccountID), let kind = RemoteNode.Kind(rawValue: kind)
        else { throw .invalidResponse("a share with malformed ids or kind") }
        func tenant(_ raw: String?) throws(CoffreClientError) -> String? {
            guard let raw else { return nil }
            guard let id = UUID(uuidString: raw) else { throw .invalidResponse("a share with a malformed tenant id") }
            return id.uuidString.lowercased()
        }
        return ShareInfo(id: id.uuidString.lowercased(), nodeID: node.uuidString.lowercased(),
                         ownerAccountID: owner.uuidString.lowercased(), recipientAccountID: recipient.uuidString.lowercased(),
                         ownerTenantID: try tenant(ownerTenantID), recipientTenantID: try tenant(recipientTenantID),
                         kind: kind, createdAt: createdAt?.date, acceptedAt: acceptedAt?.date, revokedAt: revokedAt?.date,
                         parcels: parcels ?? [])
    }
}

struct SharesWire: Decodable {
    var shares: [ShareWire]
}

struct CreateShareBody: Encodable {
    var nodeID: String
    var recipientAccountID: String
    var kind: String
    var parcels: [ShareParcel]

    enum CodingKeys: String, CodingKey {
        case nodeID = "node_id", recipientAccountID = "recipient_account_id", kind, parcels
    }
}

extension CoffreClient {
    /// Most nodes one folder share carries (one parcel each).
    public static let maxSharedNodes = 10_000

    // MARK: - Owner side

    /// Shares a node of this account with the account holding `email` (in
    /// tenant `tenantSlug` if given, when both tenants allow cross-tenant
    /// shares), whose keys are verified in the directory first.
    public func share(_ session: Session, node: RemoteNode, withEmail email: String, inTenant tenantSlug: String? = nil,
                      trust: KeyTrust) async throws -> ShareInfo {
        let recipient = try await verifiedKeys(session, email: email, inTenant: tenantSlug, trust: trust)
        return try await share(session, node: node, with: recipient)
    }

    /// Shares a node with an account whose keys were verified. A folder is
    /// shared with everything in it now (one parcel per node).
    public func share(_ session: Session, node: RemoteNode, with recipient: VerifiedKeys) async throws -> ShareInfo {
        let keys = try await Self.keys(of: session)
        let me = session.accountID.lowercased()
        guard recipient.accountID != me else { throw ShareError.cannotShare("that is this account") }
        let nodes = node.isFolder ? try await subtree(session, of: node) : [node]
        let parcels = try nodes.map {
            try ShareParcel.seal(nodeKey: $0.key, recipientX25519: recipient.x25519, senderSigningKey: keys.ed25519,
                                 senderAccount: me, recipientAccount: recipient.accountID, nodeID: $0.id)
        }
        let body = CreateShareBody(nodeID: node.id, recipientAccountID: recipient.accountID, kind: node.kind.rawValue,
                                   parcels: parcels)
        let response = try await authorized(session, "POST", "/v1/shares", body: Self.encode(body))
        let share = try Self.decode(ShareWire.self, from: response).info()
        guard share.nodeID == node.id, share.recipientAccountID == recipient.accountID, share.ownerAccountID == me else {
            throw CoffreClientError.invalidResponse("the share created is not the one asked for")
        }
        return share
    }

    /// A folder and every node below it (not in the trash), the folder first.
    public func subtree(_ session: Session, of folder: RemoteNode) async throws -> [RemoteNode] {
        var nodes = [folder]
        var index = 0
        while index < nodes.count {
            let current = nodes[index]
            index += 1
            guard current.isFolder else { continue }
            let listing = try await listFolder(session, folderID: current.id)
            if let rejected = listing.rejected.first {
                throw ShareError.cannotShare("\(rejected.description)")
            }
            nodes += listing.nodes
            guard nodes.count <= Self.maxSharedNodes else { throw ShareError.tooManyNodes(Self.maxSharedNodes) }
        }
        return nodes
    }

    public func outgoingShares(_ session: Session) async throws -> [ShareInfo] {
        try Self.decode(SharesWire.self, from: try await authorized(session, "GET", "/v1/shares/outgoing", body: nil)).shares.map {
            try $0.info()
        }
    }

    // MARK: - Recipient side

    public func incomingShares(_ session: Session) async throws -> [ShareInfo] {
        try Self.decode(SharesWire.self, from: try await authorized(session, "GET", "/v1/shares/incoming", body: nil)).shares.map {
            try $0.info()
        }
    }

    /// One share of this account (incoming or outgoing), from the listings.
    public func share(_ session: Session, id: String) async throws -> ShareInfo {
        let id = try Self.normalizedID(id)
        if let share = try await incomingShares(session).first(where: { $0.id == id }) { return share }
        if let share = try await outgoingShares(session).first(where: { $0.id == id }) { return share }
        throw FilesError.notFound("share \(id)")
    }

    @discardableResult
    public func acceptShare(_ session: Session, id: String) async throws -> ShareInfo {
        let id = try Self.normalizedID(id)
        let share = try Self.decode(ShareWire.self, from: try await authorized(session, "POST", "/v1/shares/\(id)/accept", body: nil)).info()
        guard share.id == id else { throw CoffreClientError.invalidResponse("the server answered with another share") }
        return share
    }

    /// Revokes (owner) or declines (recipient) a share.
    public func revokeShare(_ session: Session, id: String) async throws {
        let id = try Self.normalizedID(id)
        _ = try await authorized(session, "DELETE", "/v1/shares/\(id)", body: nil)
    }

    /// Pauses between asking again for a shared node that answered 404.
    static let grantLagPauses: [Duration] = [.milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(3)]

    /// The shared node itself. Ingest learns of a grant from the key
    /// directory's event, a moment after the share exists, so a share opened
    /// as soon as it arrives can meet a 404 for its node: that 404 is
    /// believed only after asking again for about seven seconds.
    func sharedNode(_ session: Session, id: String) async throws -> TransportResponse {
        var pauses = Self.grantLagPauses[...]
        while true {
            do {
                return try await authorized(session, "GET", "/v1/nodes/\(id)", body: nil)
            } catch let error as CoffreAPIError where error.status == 404 {
                guard let pause = pauses.popFirst() else { throw error }
                try await Task.sleep(for: pause)
            }
        }
    }

    /// Verifies and opens an incoming share: the owner's keys from the
    /// directory, every parcel checked against them and unsealed, then the
    /// shared node itself fetched and opened with its parcel key.
    public func openShare(_ session: Session, share listed: ShareInfo, trust: KeyTrust) async throws -> OpenedShare {
        let me = session.accountID.lowercased()
        guard listed.recipientAccountID == me else { throw ShareError.notTheRecipient(shareID: listed.id) }
        let share = listed
        if share.revokedAt != nil { throw ShareError.revoked(shareID: share.id) }
        let keys = try await Self.keys(of: session)
        // The owner's entry must be of the tenant the share names (the
        // recipient's own unless both tenants allow cross-tenant shares).
        let owner = try await verifiedKeys(session, account: share.ownerAccountID, tenant: share.ownerTenantID, trust: trust)

        var nodeKeys: [String: FileKey] = [:]
        for parcel in share.parcels {
            let nodeID = parcel.nodeID.lowercased()
            guard UUID(uuidString: nodeID) != nil, nodeKeys[nodeID] == nil else {
                throw ShareError.parcelRejected(nodeID: nodeID, reason: "a malformed or repeated node id")
            }
            do {
                nodeKeys[nodeID] = try parcel.open(recipientKeys: keys.x25519, recipientAccount: me,
                                                   senderSigningPublic: owner.ed25519, senderAccount: share.ownerAccountID,
                                                   nodeID: parcel.nodeID)
            } catch let error as ShareParcelError {
                throw ShareError.parcelRejected(nodeID: nodeID, reason: error.reason)
            }
        }
        guard nodeKeys[share.nodeID] != nil else { throw ShareError.missingParcel(nodeID: share.nodeID) }
        if share.kind == .file, nodeKeys.count != 1 {
            throw ShareError.parcelRejected(nodeID: share.nodeID, reason: "a file share with keys of other nodes")
        }
        let response = try await sharedNode(session, id: share.nodeID)
        let root = try RemoteNode.open(try Self.decode(NodeWire.self, from: response), sharedKeys: nodeKeys,
                                       owner: share.ownerAccountID)
        guard root.id == share.nodeID else {
            throw FilesError.nodeRejected(id: root.id, reason: "the server answered with another node than \(share.nodeID)")
        }
        guard root.kind == share.kind else {
            throw FilesError.nodeRejected(id: root.id, reason: "shared as a \(share.kind.rawValue) but it is a \(root.kind.rawValue)")
        }
        return OpenedShare(share: share, owner: owner, root: root, keys: nodeKeys)
    }

    /// The children of a folder of an opened share (`nil` = the shared folder
    /// itself), each opened with its key from the share.
    public func listShared(_ session: Session, share: OpenedShare, folderID: String? = nil) async throws -> NodeListing {
        let folder = try folderID.map { try Self.normalizedID($0) } ?? share.root.id
        guard share.keys[folder] != nil else { throw FilesError.notFound("\(folder) in this share") }
        let response = try await authorized(session, "GET", "/v1/nodes?parent=\(folder)", body: nil)
        var listing = NodeListing(nodes: [], rejected: [])
        for wire in try Self.decode(NodesResponse.self, from: response).nodes {
            do {
                let node = try RemoteNode.open(wire, sharedKeys: share.keys, owner: share.share.ownerAccountID)
                guard node.parentID == folder else {
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

    /// A node of an opened share by its path below the shared node (the
    /// empty path is the shared node).
    public func resolveShared(_ session: Session, share: OpenedShare, path: RemotePath) async throws -> RemoteNode {
        var current = share.root
        var walked = RemotePath.root
        for name in path.components {
            guard current.isFolder else { throw FilesError.notAFolder(walked.description) }
            walked = walked.appending(name)
            let listing = try await listShared(session, share: share, folderID: current.id)
            guard let child = try Self.child(named: name, in: listing, path: walked) else { throw FilesError.notFound(walked.description) }
            current = child
        }
        return current
    }
}

extension ShareParcelError {
    var reason: String {
        switch self {
        case let .unsupportedVersion(version): "unknown parcel version \(version)"
        case .wrongRecipient: "it is addressed to another account"
        case .wrongSender: "it names another sender than the share's owner"
        case .wrongNode: "it is for another node"
        case .sealedToAnotherKey: "it was sealed to a key that is not this account's"
        case .invalidSignature: "its signature does not verify with the owner's key from the directory"
        case .cannotUnseal: "it does not open with this account's key"
        case .senderMismatch: "the sealed key names another signer"
        case .malformed: "it is malformed"
        }
    }
}
