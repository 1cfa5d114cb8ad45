import CoffreCore
import Foundation
import Hummingbird

/// Accounts' keys (docs/keydir-api.md, "Routes"): lookups within the
/// caller's tenant (or another one, when both allow cross-tenant shares),
/// an account's history, and changes to the caller's own keys. Every
/// handler takes the gateway-verified user first.
struct KeyRoutes: Sendable {
    let keys: KeyStore

    func add(to router: Router<CoffreRequestContext>) {
        router.get("/v1/keys/accounts/{account}") { _, context -> KeyLookup in
            let user = try AuthenticatedUser(context)
            return try await keys.lookup(account: try accountID(context), tenant: user.tenantID)
        }
        router.get("/v1/keys/accounts/{account}/history") { _, context -> KeyHistory in
            let user = try AuthenticatedUser(context)
            return try await keys.history(account: try accountID(context), tenant: user.tenantID)
        }
        router.get("/v1/keys/lookup") { request, context -> KeyLookup in
            let user = try AuthenticatedUser(context)
            guard let email = request.uri.queryParameters.get("email") else {
                throw Problem.badRequest("missing query parameter email", type: "urn:coffre:problem:invalid-email")
            }
            // `tenant` (a slug): an account of another tenant, when both allow cross-tenant shares.
            var target: UUID?
            if let slug = request.uri.queryParameters.get("tenant") {
                guard (1...64).contains(slug.utf8.count) else {
                    throw Problem.badRequest("tenant must be a tenant's slug", type: "urn:coffre:problem:bad-tenant")
                }
                target = try await keys.sharingTenant(slug: String(slug), caller: user.tenantID)
            }
            return try await keys.lookup(email: email, tenant: user.tenantID, in: target)
        }
        router.post("/v1/keys") { request, context -> Response in
            let user = try AuthenticatedUser(context)
            let body = try await request.decode(as: KeyChangeRequest.self, context: context)
            switch try await keys.submit(body, user: user) {
            case .sequenced(let lookup):
                return try EditedResponse(status: .created, response: lookup).response(from: request, context: context)
            case .queued(let id):
                return try EditedResponse(status: .accepted, response: QueuedKeyChange(queued_id: id, status: "queued"))
                    .response(from: request, context: context)
            }
        }
    }

    private func accountID(_ context: CoffreRequestContext) throws -> UUID {
        guard let raw = context.parameters.get("account"), let id = UUID(uuidString: raw) else {
            throw Problem.badRequest("account must be a UUID", type: "urn:coffre:problem:bad-id")
        }
        return id
    }
}
