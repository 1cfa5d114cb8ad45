import HTTPTypes

/// One public operation: what the gateway accepts, where it sends it and
/// what it checks first. Path templates use `{name}` for a segment, the same
/// syntax as the Hummingbird router and OpenAPI, so one string serves both.
public struct PublicRoute: Sendable, Hashable, CustomStringConvertible {
    public enum Target: String, Sendable, Hashable, CaseIterable {
        case accounts, keydir, ingest, quota
        /// Answered by the gateway itself (health, metrics, the OpenAPI document).
        case gateway
    }

    public enum Access: Sendable, Hashable {
        /// `Authorization: Bearer <access token>`, checked by the gateway.
        case token
        /// Like `token` when an `Authorization` header is sent (a bad token
        /// is still a 401); without one the request goes on anonymously.
        /// Only for discovery that must work before login (tus `OPTIONS`).
        case optionalToken
        /// No user yet (signup, prelogin, login, refresh, recovery): the
        /// tenant comes from `X-Coffre-Tenant` or the host name.
        case tenant
        /// Operator routes: the admin token passes through untouched and
        /// the service (accounts, quota) checks it.
        case operatorToken
        /// No credentials at all: the gateway's own routes, and public
        /// service routes (the key directory's log, share-link reads), which
        /// are forwarded with an empty signed identity. A token sent along is
        /// ignored, never checked.
        case open
    }

    /// Which of a tenant's limits a rate-limited route counts against: its
    /// row may set `signup_per_minute` and `login_per_minute`.
    public enum RateLimitKind: String, Sendable, Hashable {
        case signup, login
    }

    public var method: HTTPRequest.Method
    public var path: String
    public var target: Target
    public var access: Access
    /// Under the per-IP and per-tenant token buckets (the credential-guessing
    /// and signup-flood routes), and which tenant limit applies.
    public var rateLimit: RateLimitKind?
    public var rateLimited: Bool { rateLimit != nil }
    /// The body streams to the service with no size limit (uploads).
    public var streamsBody: Bool
    /// The response is a file's bytes (downloads): like an upload with a
    /// body, it is admitted under the transfer limit, not the request one.
    public var streamsResponse: Bool

    public init(_ method: HTTPRequest.Method, _ path: String, _ target: Target, _ access: Access,
                rateLimit: RateLimitKind? = nil, streamsBody: Bool = false, streamsResponse: Bool = false) {
        self.method = method
        self.path = path
        self.target = target
        self.access = access
        self.rateLimit = rateLimit
        self.streamsBody = streamsBody
        self.streamsResponse = streamsResponse
    }

    public var description: String { "\(method.rawValue) \(path)" }
}

/// The authoritative list of the public API. The router serves exactly
/// these (anything else is a 404, a known path with another method a 405),
/// and `OpenAPIDocumentTests` fails when the OpenAPI document and this list
/// disagree. A service that adds a public route adds it here and in
/// `OpenAPIDocument.swift`.
public enum PublicRoutes {
    public static let all: [PublicRoute] = gateway + accounts + keydir + ingest + quota

    static let gateway: [PublicRoute] = [
        .init(.get, "/healthz", .gateway, .open),
        .init(.get, "/readyz", .gateway, .open),
        .init(.get, "/metrics", .gateway, .open),
        .init(.get, "/openapi.json", .gateway, .open),
        .init(.get, "/openapi.yaml", .gateway, .open),
    ]

    static let accounts: [PublicRoute] = [
        .init(.post, "/v1/admin/tenants", .accounts, .operatorToken),
        .init(.get, "/v1/admin/tenants", .accounts, .operatorToken),
        .init(.patch, "/v1/admin/tenants/{slug}", .accounts, .operatorToken),
        .init(.post, "/v1/accounts", .accounts, .tenant, rateLimit: .signup),
        // Everything that proves or renews a credential counts as login.
        .init(.post, "/v1/auth/prelogin", .accounts, .tenant, rateLimit: .login),
        .init(.post, "/v1/auth/login", .accounts, .tenant, rateLimit: .login),
        .init(.post, "/v1/auth/refresh", .accounts, .tenant, rateLimit: .login),
        .init(.post, "/v1/auth/recovery/bundle", .accounts, .tenant, rateLimit: .login),
        .init(.post, "/v1/auth/recovery/reset", .accounts, .tenant, rateLimit: .login),
        .init(.post, "/v1/auth/logout", .accounts, .token),
        .init(.get, "/v1/accounts/me", .accounts, .token),
        .init(.delete, "/v1/accounts/me", .accounts, .token),
        .init(.post, "/v1/accounts/me/totp", .accounts, .token),
        .init(.post, "/v1/accounts/me/totp/confirm", .accounts, .token),
        .init(.post, "/v1/accounts/me/password", .accounts, .token),
        .init(.get, "/v1/sessions", .accounts, .token),
        .init(.delete, "/v1/sessions/{id}", .accounts, .token),
    ]

    /// docs/keydir-api.md: the transparency log (public, so anyone can
    /// audit it), account keys, shares and the owner's share links.
    static let keydir: [PublicRoute] = [
        .init(.get, "/v1/log/checkpoint", .keydir, .open),
        .init(.get, "/v1/log/key", .keydir, .open),
        .init(.get, "/v1/log/proof/inclusion", .keydir, .open),
        .init(.get, "/v1/log/proof/consistency", .keydir, .open),
        .init(.get, "/v1/log/entries/{index}", .keydir, .open),
        .init(.get, "/v1/keys/accounts/{account}", .keydir, .token),
        .init(.get, "/v1/keys/accounts/{account}/history", .keydir, .token),
        .init(.get, "/v1/keys/lookup", .keydir, .token),
        .init(.post, "/v1/keys", .keydir, .token),
        .init(.post, "/v1/shares", .keydir, .token),
        .init(.get, "/v1/shares/incoming", .keydir, .token),
        .init(.get, "/v1/shares/outgoing", .keydir, .token),
        .init(.post, "/v1/shares/{id}/accept", .keydir, .token),
        .init(.get, "/v1/shares/{id}", .keydir, .token),
        .init(.delete, "/v1/shares/{id}", .keydir, .token),
        .init(.post, "/v1/links", .keydir, .token),
        .init(.get, "/v1/links", .keydir, .token),
        .init(.delete, "/v1/links/{id}", .keydir, .token),
    ]

    /// docs/ingest-api.md: tus 1.0.0 uploads, the file tree, downloads.
    static let ingest: [PublicRoute] = [
        // tus discovery works before login; with a token ingest adds the
        // account's Tus-Max-Size.
        .init(.options, "/v1/uploads", .ingest, .optionalToken),
        .init(.post, "/v1/uploads", .ingest, .token, streamsBody: true),
        .init(.head, "/v1/uploads/{id}", .ingest, .token),
        .init(.patch, "/v1/uploads/{id}", .ingest, .token, streamsBody: true),
        .init(.delete, "/v1/uploads/{id}", .ingest, .token),
        .init(.post, "/v1/nodes", .ingest, .token),
        .init(.get, "/v1/nodes", .ingest, .token),
        .init(.get, "/v1/trash", .ingest, .token),
        .init(.get, "/v1/nodes/{id}", .ingest, .token),
        .init(.patch, "/v1/nodes/{id}", .ingest, .token),
        .init(.delete, "/v1/nodes/{id}", .ingest, .token),
        .init(.post, "/v1/nodes/{id}/restore", .ingest, .token),
        .init(.get, "/v1/nodes/{id}/versions", .ingest, .token),
        .init(.post, "/v1/nodes/{id}/versions/{version}/restore", .ingest, .token),
        .init(.delete, "/v1/nodes/{id}/versions/{version}", .ingest, .token),
        .init(.get, "/v1/nodes/{id}/content", .ingest, .token, streamsResponse: true),
        // Share links (docs/keydir-api.md): anonymous reads, served by ingest
        // after the key directory vouches for the link. Creating, listing and
        // revoking links are the key directory's (above).
        .init(.get, "/v1/links/{id}", .ingest, .open),
        .init(.get, "/v1/links/{id}/content", .ingest, .open, streamsResponse: true),
    ]

    /// docs/quota-api.md: the user's own usage, and the operator routes
    /// (quota checks the admin token itself, as accounts does for its own).
    /// Quota's `/internal/v1` routes (reservations, limits) are ingest's
    /// only and never routed here.
    static let quota: [PublicRoute] = [
        .init(.get, "/v1/quota", .quota, .token),
        .init(.get, "/v1/admin/quota/tenants", .quota, .operatorToken),
        .init(.get, "/v1/admin/quota/tenants/{tenant}", .quota, .operatorToken),
        .init(.get, "/v1/admin/quota/tenants/{tenant}/accounts/{account}", .quota, .operatorToken),
        .init(.put, "/v1/admin/quota/tenants/{tenant}/accounts/{account}", .quota, .operatorToken),
        .init(.post, "/v1/admin/quota/reconcile", .quota, .operatorToken),
    ]

    /// Services whose public API is not declared above yet: every method
    /// under each prefix goes to the service, with a verified token. This is
    /// scaffolding; when a service's author lists its routes above (and in the
    /// OpenAPI document), its prefixes come out of this list so unknown paths
    /// there become 404s at the gateway too.
    public static let undeclaredPrefixes: [(prefix: String, target: PublicRoute.Target, streamsBody: Bool)] = []

    /// The methods the router knows about; any of them on a declared path
    /// that the path does not declare is a 405.
    static let knownMethods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
}
