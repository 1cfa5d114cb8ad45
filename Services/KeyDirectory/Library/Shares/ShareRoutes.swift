import CoffreCore
import Foundation
import Hummingbird

/// Shares between users and share links (docs/keydir-api.md, "Shares" and
/// "Share links"). The directory stores what the owner sealed and signed;
/// it checks addressing, keys, signatures and node ownership, and never
/// holds anything that opens a node key.
struct ShareRoutes: Sendable {
    let store: SharesStore
    let nodes: IngestNodes
    /// At most this many parcels per share (one per node of a folder's subtree).
    static let maxParcels = 10_000

    func add(to router: Router<CoffreRequestContext>) {
        router.post("/v1/shares") { request, context -> EditedResponse<ShareView> in
            let user = try AuthenticatedUser(context)
            let body = try await request.decode(as: CreateShareRequest.self, context: context)
            return .init(status: .created, response: try await create(body, user: user))
        }
        router.get("/v1/shares/incoming") { _, context -> ShareList in
            let user = try AuthenticatedUser(context)
            return ShareList(shares: try await store.shares(of: user.accountID, tenant: user.tenantID, incoming: true))
        }
        router.get("/v1/shares/outgoing") { _, context -> ShareList in
            let user = try AuthenticatedUser(context)
            return ShareList(shares: try await store.shares(of: user.accountID, tenant: user.tenantID, incoming: false))
        }
        router.get("/v1/shares/{id}") { _, context -> ShareView in
            let user = try AuthenticatedUser(context)
            return try await store.share(try Self.id(context, "share id"), for: user.accountID, tenant: user.tenantID)
        }
        router.post("/v1/shares/{id}/accept") { _, context -> ShareView in
            let user = try AuthenticatedUser(context)
            return try await store.accept(try Self.id(context, "share id"), recipient: user.accountID, tenant: user.tenantID)
        }
        router.delete("/v1/shares/{id}") { _, context -> Response in
            let user = try AuthenticatedUser(context)
            try await store.delete(try Self.id(context, "share id"), by: user.accountID, tenant: user.tenantID)
            return Response(status: .noContent)
        }
    }

    static func id(_ context: CoffreRequestContext, _ field: String) throws -> UUID {
        try uuid(context.parameters.get("id") ?? "", field)
    }

    static func uuid(_ raw: String, _ field: String) throws -> UUID {
        guard raw.count == 36, let id = UUID(uuidString: raw) else { throw Problem.badRequest("\(field) must be a UUID") }
        return id
    }

    /// Every check, cheapest first; nothing is stored unless all pass.
    func create(_ body: CreateShareRequest, user: AuthenticatedUser) async throws -> ShareView {
        let node = try Self.uuid(body.node_id, "node_id")
        let recipient = try Self.uuid(body.recipient_account_id, "recipient_account_id")
        guard body.kind == "file" || body.kind == "folder" else { throw Problem.badRequest("kind must be \"file\" or \"folder\"") }
        guard recipient != user.accountID else { throw Problem.badRequest("a share needs another account than the owner") }
        guard !body.parcels.isEmpty, body.parcels.count <= Self.maxParcels else {
            throw Problem.badRequest("parcels must hold 1 to \(Self.maxParcels) parcels")
        }
        let parcels = try body.parcels.enumerated().map { try ShareParcelCheck($0.element, index: $0.offset) }
        for (index, parcel) in parcels.enumerated() {
            guard UUID(uuidString: parcel.senderAccount) == user.accountID else {
                throw Problem.badRequest("parcels[\(index)]: senderAccount must be the caller's account", type: "urn:coffre:problem:parcel-address")
            }
            guard UUID(uuidString: parcel.recipientAccount) == recipient else {
                throw Problem.badRequest("parcels[\(index)]: recipientAccount must be recipient_account_id", type: "urn:coffre:problem:parcel-address")
            }
        }
        let parcelNodes = parcels.map(\.nodeID)
        guard Set(parcelNodes).count == parcelNodes.count else {
            throw Problem.badRequest("two parcels name the same node", type: "urn:coffre:problem:parcel-nodes")
        }

        // The node must be the caller's (ingest answers for the owner only).
        guard let owned = try await nodes.node(node, tenant: user.tenantID, owner: user.accountID) else {
            throw Problem.notFound("No such node.")
        }
        guard owned.kind == body.kind else {
            throw Problem.conflict("the node is a \(owned.kind), not a \(body.kind)", type: "urn:coffre:problem:node-kind")
        }
        let expected = Set([node] + owned.descendants.compactMap { UUID(uuidString: $0) })
        let given = Set(parcelNodes)
        guard given == expected else {
            var problem = Problem.conflict("parcels must cover exactly the node and its \(expected.count - 1) descendants",
                                           type: "urn:coffre:problem:parcel-nodes")
            problem.extensions["missing"] = .int(Int64(expected.subtracting(given).count))
            problem.extensions["unexpected"] = .int(Int64(given.subtracting(expected).count))
            throw problem
        }

        return try await store.createShare(tenant: user.tenantID, owner: user.accountID, recipient: recipient, node: node,
                                           kind: body.kind, parcels: body.parcels) { connection in
            // Row-level security limits these reads to the caller's tenant
            // (and to other tenants when both allow cross-tenant shares): an
            // account of any other tenant is as unknown as no account.
            guard let keys = try await store.keys.currentKeys(account: recipient, on: connection),
                  let recipientTenant = try await store.keys.tenant(of: recipient, on: connection) else {
                throw Problem.notFound("No account with published keys has this id in your tenant (or in a tenant yours may share with).")
            }
            guard !keys.revoked else {
                throw Problem.conflict("the recipient's keys are revoked", type: "urn:coffre:problem:recipient-keys-revoked")
            }
            let recipientX25519 = keys.x25519
            for (index, parcel) in parcels.enumerated() where !KeyedHash.equal(parcel.recipientX25519, recipientX25519) {
                var problem = Problem.conflict("parcels[\(index)] is sealed to a key that is not the recipient's current key",
                                               type: "urn:coffre:problem:stale-recipient-key")
                problem.extensions["recipient_key_version"] = .int(Int64(keys.version))
                throw problem
            }
            guard let own = try await store.keys.currentKeys(account: user.accountID, on: connection), !own.revoked else {
                throw Problem.conflict("publish (or re-publish) your keys before sharing", type: "urn:coffre:problem:no-owner-keys")
            }
            for (index, parcel) in parcels.enumerated() where !parcel.signatureVerifies(ownerEd25519: own.ed25519) {
                throw Problem.badRequest("parcels[\(index)]: the signature does not verify with your current signing key",
                                         type: "urn:coffre:problem:bad-signature")
            }
            return recipientTenant
        }
    }
}
