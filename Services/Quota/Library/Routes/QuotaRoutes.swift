import CoffreCore
import Foundation
import HTTPTypes
import Hummingbird

/// The quota API (docs/quota-api.md). `/internal/v1` answers only calls
/// signed with the internal secret for one tenant and account (blob ingest);
/// `/v1/quota` answers the gateway-verified user; `/v1/admin/quota` checks
/// the operator token itself.
struct QuotaRoutes: Sendable {
    let store: QuotaStore
    let reconciler: Reconciler?
    let adminToken: String?

    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")

    func add(to router: Router<CoffreRequestContext>) {
        let internalRoutes = router.group("/internal/v1")
        internalRoutes.post("/reservations") { request, context -> EditedResponse<ReservationResponse> in
            let (tenant, account) = try caller(context)
            let body = try await request.decode(as: ReserveRequest.self, context: context)
            let upload = try Validate.uuid(body.upload_id, "upload_id")
            guard body.bytes >= 0 else { throw Problem.badRequest("bytes must not be negative", type: "urn:coffre:problem:invalid-bytes") }
            guard let expires = Timestamp.parse(body.expires_at) else {
                throw Problem.badRequest("expires_at is not an RFC 3339 time", type: "urn:coffre:problem:invalid-expiry")
            }
            let now = Date()
            guard expires > now, expires.timeIntervalSince(now) <= Double(store.policy.maxReservationSeconds) else {
                throw Problem.badRequest("expires_at must be in the future and at most \(store.policy.maxReservationSeconds) s away",
                                         type: "urn:coffre:problem:invalid-expiry")
            }
            switch try await store.reserve(tenant: tenant, account: account, upload: upload, bytes: body.bytes, expiresAt: expires) {
            case .granted(let reservation):
                return .init(status: .created, response: reservation)
            case .refused(let remaining, let closed):
                throw Problem(Self.insufficientStorage, type: "urn:coffre:problem:quota-exceeded", title: "Storage quota exceeded",
                              detail: closed ? "The account is closed." : "The account has no room for \(body.bytes) more bytes.",
                              extensions: ["remaining_bytes": .int(remaining), "requested_bytes": .int(body.bytes)])
            }
        }
        internalRoutes.delete("/reservations/{id}") { _, context -> Response in
            let (tenant, account) = try caller(context)
            let id = try Validate.uuid(context.parameters.get("id"), "reservation id")
            try await store.release(tenant: tenant, account: account, reservation: id)
            return Response(status: .noContent)
        }
        internalRoutes.get("/limits") { _, context -> LimitsResponse in
            let (tenant, account) = try caller(context)
            let view = try await store.view(tenant: tenant, account: account)
            return LimitsResponse(max_upload_bytes: view.limit_bytes, storage_limit_bytes: view.limit_bytes)
        }

        router.get("/v1/quota") { _, context -> QuotaView in
            let user = try AuthenticatedUser(context)
            return try await store.view(tenant: user.tenantID, account: user.accountID)
        }

        let admin = router.group("/v1/admin/quota")
        admin.get("/tenants") { request, _ -> TenantTotalsResponse in
            try requireAdmin(request)
            var totals: [TenantTotals] = []
            for tenant in try await store.tenantIDs() {
                if let t = try await store.tenantTotals(tenant) { totals.append(t) }
            }
            return TenantTotalsResponse(tenants: totals)
        }
        admin.get("/tenants/{tenant}") { request, context -> TenantTotals in
            try requireAdmin(request)
            let tenant = try Validate.uuid(context.parameters.get("tenant"), "tenant id")
            guard let totals = try await store.tenantTotals(tenant) else { throw Problem.notFound("Quota knows no such tenant.") }
            return totals
        }
        admin.get("/tenants/{tenant}/accounts/{account}") { request, context -> QuotaView in
            try requireAdmin(request)
            let tenant = try Validate.uuid(context.parameters.get("tenant"), "tenant id")
            let account = try Validate.uuid(context.parameters.get("account"), "account id")
            return try await store.view(tenant: tenant, account: account)
        }
        admin.put("/tenants/{tenant}/accounts/{account}") { request, context -> QuotaView in
            try requireAdmin(request)
            let tenant = try Validate.uuid(context.parameters.get("tenant"), "tenant id")
            let account = try Validate.uuid(context.parameters.get("account"), "account id")
            let body = try await request.decode(as: OverrideRequest.self, context: context)
            for value in [body.storage_limit_bytes, body.transfer_allowance_bytes].compactMap({ $0 }) where value < 0 {
                throw Problem.badRequest("limits must not be negative", type: "urn:coffre:problem:invalid-limit")
            }
            return try await store.setOverride(tenant: tenant, account: account, storage: body.storage_limit_bytes,
                                               transfer: body.transfer_allowance_bytes)
        }
        admin.post("/reconcile") { request, _ -> ReconciliationReport in
            try requireAdmin(request)
            guard let reconciler else {
                throw Problem.unavailable("reconciliation needs QUOTA_INGEST_URL", retryAfter: 60)
            }
            let repair = request.uri.queryParameters.get("repair").map { ["1", "true", "yes"].contains($0.lowercased()) } ?? false
            // One tenant instead of every tenant quota knows (one call to
            // ingest instead of thousands on a large deployment).
            let tenant = try request.uri.queryParameters.get("tenant").map { try Validate.uuid($0, "tenant") }
            return try await reconciler.run(repair: repair, only: tenant)
        }
    }

    /// The tenant and account an internal call is signed for.
    func caller(_ context: CoffreRequestContext) throws -> (UUID, UUID) {
        guard let identity = context.identity, let tenant = identity.tenantID, let account = identity.accountID else {
            throw Problem.unauthorized("This route answers signed service calls for one account.")
        }
        return (tenant, account)
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
