import CoffreCore
import Foundation
import Hummingbird

/// Accounts' keys (docs/keydir-api.md, "Routes"): lookups within the
/// caller's tenant, an account's history, and changes to the caller's own
/// keys. Every handler takes the gateway-verified user first.
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
            return try await keys.lookup(email: email, tenant: user.tenantID)
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
