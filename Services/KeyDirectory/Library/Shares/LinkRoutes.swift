import CoffreCore
import Foundation
import Hummingbird

/// Share links: the owner's routes, and the two internal routes blob ingest
/// calls to serve anonymous downloads (`GET /v1/links/{id}` and
/// `/v1/links/{id}/content` are ingest's). The file key lives only in the
/// link's URL fragment; the directory knows the node, the limits and the
/// count.
struct LinkRoutes: Sendable {
    let store: SharesStore
    let nodes: IngestNodes

    func add(to router: Router<CoffreRequestContext>) {
        router.post("/v1/links") { request, context -> EditedResponse<LinkView> in
            let user = try AuthenticatedUser(context)
            let body = try await request.decode(as: CreateLinkRequest.self, context: context)
            return .init(status: .created, response: try await create(body, user: user))
        }
        router.get("/v1/links") { _, context -> LinkList in
            let user = try AuthenticatedUser(context)
            return LinkList(links: try await store.links(of: user.accountID, tenant: user.tenantID))
        }
        router.delete("/v1/links/{id}") { _, context -> Response in
            let user = try AuthenticatedUser(context)
            try await store.revokeLink(try ShareRoutes.id(context, "link id"), owner: user.accountID, tenant: user.tenantID)
            return Response(status: .noContent)
        }

        // Service-to-service (blob ingest), signed with the internal secret;
        // the gateway never routes /internal.
        router.get("/internal/v1/links/{id}") { _, context -> InternalLinkView in
            guard context.identity != nil else { throw Problem.notFound() }
            return try await store.usableLink(try ShareRoutes.id(context, "link id"))
        }
        router.post("/internal/v1/links/{id}/claim") { _, context -> InternalLinkView in
            guard context.identity != nil else { throw Problem.notFound() }
            return try await store.claim(try ShareRoutes.id(context, "link id"))
        }
    }

    func create(_ body: CreateLinkRequest, user: AuthenticatedUser) async throws -> LinkView {
        let node = try ShareRoutes.uuid(body.node_id, "node_id")
        var expires: Date?
        if let raw = body.expires_at {
            guard let date = RFC3339.parse(raw) else { throw Problem.badRequest("expires_at must be an RFC 3339 time") }
            guard date > Date() else { throw Problem.badRequest("expires_at must be in the future") }
            expires = date
        }
        if let max = body.max_downloads, max < 1 { throw Problem.badRequest("max_downloads must be at least 1") }
        guard let owned = try await nodes.node(node, tenant: user.tenantID, owner: user.accountID) else {
            throw Problem.notFound("No such node.")
        }
        guard owned.kind == "file" else {
            throw Problem.conflict("links point at files; share a folder with an account instead", type: "urn:coffre:problem:node-kind")
        }
        return try await store.createLink(tenant: user.tenantID, owner: user.accountID, node: node, expiresAt: expires,
                                          maxDownloads: body.max_downloads)
    }
}
