import CoffreCore
import Foundation
import Hummingbird

/// The accounts API (docs/accounts-api.md). Public routes arrive through the
/// gateway, which signs the caller's identity (or, before login, the tenant
/// slug); `/v1/admin` checks the operator token itself; `/internal` answers
/// only calls signed by the gateway.
struct AccountsRoutes: Sendable {
    let store: AccountsStore
    let adminToken: String?

    func add(to router: Router<CoffreRequestContext>) {
        let admin = router.group("/v1/admin")
        admin.post("/tenants") { request, context -> EditedResponse<Tenant> in
            try requireAdmin(request)
            let body = try await request.decode(as: CreateTenantRequest.self, context: context)
            return .init(status: .created, response: try await store.createTenant(body))
        }
        admin.get("/tenants") { request, _ -> TenantsResponse in
            try requireAdmin(request)
            return TenantsResponse(tenants: try await store.listTenants())
        }
        admin.patch("/tenants/{slug}") { request, context -> Tenant in
            try requireAdmin(request)
            let slug = context.parameters.get("slug") ?? ""
            let body = try await request.decode(as: UpdateTenantRequest.self, context: context)
            return try await store.updateTenant(slug: slug, body)
        }

        router.post("/v1/accounts") { request, context -> EditedResponse<SignupResponse> in
            let tenant = try await tenant(context)
            let body = try await request.decode(as: SignupRequest.self, context: context)
            return .init(status: .created, response: try await store.signup(tenant: tenant, body))
        }
        router.post("/v1/auth/prelogin") { request, context -> PreloginResponse in
            let tenant = try await tenant(context)
            let body = try await request.decode(as: PreloginRequest.self, context: context)
            return try await store.prelogin(tenant: tenant, email: body.email)
        }
        router.post("/v1/auth/login") { request, context -> TokenResponse in
            let tenant = try await tenant(context)
            let body = try await request.decode(as: LoginRequest.self, context: context)
            return try await store.login(tenant: tenant, body)
        }
        router.post("/v1/auth/refresh") { request, context -> TokenResponse in
            _ = try gatewayOnly(context)
            let body = try await request.decode(as: RefreshRequest.self, context: context)
            return try await store.refresh(body)
        }
        router.post("/v1/auth/logout") { _, context -> Response in
            try await store.logout(try AuthenticatedUser(context))
            return Response(status: .noContent)
        }
        router.post("/v1/auth/recovery/bundle") { request, context -> RecoveryBundleResponse in
            let tenant = try await tenant(context)
            let body = try await request.decode(as: RecoveryBundleRequest.self, context: context)
            return try await store.recoveryBundle(tenant: tenant, body)
        }
        router.post("/v1/auth/recovery/reset") { request, context -> Response in
            let tenant = try await tenant(context)
            let body = try await request.decode(as: RecoveryResetRequest.self, context: context)
            try await store.recoveryReset(tenant: tenant, body)
            return Response(status: .noContent)
        }

        router.get("/v1/accounts/me") { _, context -> MeResponse in
            try await store.me(try AuthenticatedUser(context))
        }
        router.delete("/v1/accounts/me") { request, context -> Response in
            let user = try AuthenticatedUser(context)
            let body = try await request.decode(as: DeleteAccountRequest.self, context: context)
            try await store.deleteAccount(user, body)
            return Response(status: .noContent)
        }
        router.post("/v1/accounts/me/password") { request, context -> Response in
            let user = try AuthenticatedUser(context)
            let body = try await request.decode(as: PasswordChangeRequest.self, context: context)
            try await store.changePassword(user, body)
            return Response(status: .noContent)
        }
        router.post("/v1/accounts/me/totp") { _, context -> TOTPEnrollment in
            try await store.enrollTOTP(try AuthenticatedUser(context))
        }
        router.post("/v1/accounts/me/totp/confirm") { request, context -> Response in
            let user = try AuthenticatedUser(context)
            let body = try await request.decode(as: TOTPConfirmRequest.self, context: context)
            try await store.confirmTOTP(user, code: body.code)
            return Response(status: .noContent)
        }
        router.get("/v1/sessions") { _, context -> SessionsResponse in
            try await store.sessions(try AuthenticatedUser(context))
        }
        router.delete("/v1/sessions/{id}") { _, context -> Response in
            let user = try AuthenticatedUser(context)
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
                throw Problem.badRequest("session id must be a UUID")
            }
            try await store.revokeSession(user, id: id)
            return Response(status: .noContent)
        }

        let internalRoutes = router.group("/internal/v1")
        internalRoutes.get("/token-keys") { _, context -> TokenKeysResponse in
            _ = try gatewayOnly(context)
            return TokenKeysResponse(keys: [.init(kid: store.signingKey.kid, public_key: Base64URL.encode(store.signingKey.publicKey))])
        }
        internalRoutes.get("/revocations") { request, context -> RevocationsResponse in
            _ = try gatewayOnly(context)
            let after = request.uri.queryParameters.get("after").flatMap { Int64($0) } ?? 0
            let list = try await store.revocations(after: after)
            return RevocationsResponse(revocations: list, last: list.last?.seq ?? after)
        }
        internalRoutes.get("/tenants/{slug}") { _, context -> Tenant in
            _ = try gatewayOnly(context)
            guard let slug = context.parameters.get("slug"), let tenant = try await store.tenant(slug: slug) else {
                throw Problem.notFound("No such tenant.")
            }
            return tenant
        }
    }

    /// The tenant a pre-login request is for, from the gateway-signed slug.
    func tenant(_ context: CoffreRequestContext) async throws -> Tenant {
        let identity = try gatewayOnly(context)
        guard let slug = identity.tenantSlug else { throw Problem.badRequest("no tenant given") }
        guard let tenant = try await store.tenant(slug: slug) else {
            throw Problem(.notFound, type: "urn:coffre:problem:unknown-tenant", title: "Not found", detail: "No tenant named \(slug).")
        }
        return tenant
    }

    func gatewayOnly(_ context: CoffreRequestContext) throws -> VerifiedIdentity {
        guard let identity = context.identity else {
            throw Problem.unauthorized("This service is reached through the gateway.")
        }
        return identity
    }

    func requireAdmin(_ request: Request) throws {
        guard let adminToken, !adminToken.isEmpty,
              let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              KeyedHash.equal(Array(header.dropFirst(7).utf8), Array(adminToken.utf8))
        else {
            throw Problem(.unauthorized, type: "urn:coffre:problem:admin-only", title: "Unauthorized",
                          detail: "Operator routes need the admin token.", headers: [.wwwAuthenticate: "Bearer"])
        }
    }
}

struct TokenKeysResponse: Encodable, Sendable {
    struct Key: Encodable, Sendable {
        var kid: String
        var public_key: String
    }
    var keys: [Key]
}

struct RevocationsResponse: Encodable, Sendable {
    var revocations: [AccountsStore.Revocation]
    var last: Int64
}

extension Tenant: ResponseEncodable {}
extension TenantsResponse: ResponseEncodable {}
extension SignupResponse: ResponseEncodable {}
extension PreloginResponse: ResponseEncodable {}
extension TokenResponse: ResponseEncodable {}
extension RecoveryBundleResponse: ResponseEncodable {}
extension MeResponse: ResponseEncodable {}
extension TOTPEnrollment: ResponseEncodable {}
extension SessionsResponse: ResponseEncodable {}
extension TokenKeysResponse: ResponseEncodable {}
extension RevocationsResponse: ResponseEncodable {}
