import Foundation
import HTTPTypes
import Hummingbird
import Sodium

/// Who the gateway says is calling, after it checked the access token (or,
/// for signup/login, which tenant the request is for).
public struct VerifiedIdentity: Sendable, Equatable {
    /// Tenant slug, set on unauthenticated calls (signup, prelogin, login).
    public var tenantSlug: String?
    public var tenantID: UUID?
    public var accountID: UUID?
    public var sessionID: UUID?

    public init(tenantSlug: String? = nil, tenantID: UUID? = nil, accountID: UUID? = nil, sessionID: UUID? = nil) {
        self.tenantSlug = tenantSlug
        self.tenantID = tenantID
        self.accountID = accountID
        self.sessionID = sessionID
    }
}

extension HTTPField.Name {
    public static let coffreTenantSlug = HTTPField.Name("X-Coffre-Tenant-Slug")!
    public static let coffreTenantID = HTTPField.Name("X-Coffre-Tenant-Id")!
    public static let coffreAccountID = HTTPField.Name("X-Coffre-Account-Id")!
    public static let coffreSessionID = HTTPField.Name("X-Coffre-Session-Id")!
    public static let coffreIdentityTime = HTTPField.Name("X-Coffre-Identity-Time")!
    public static let coffreIdentitySignature = HTTPField.Name("X-Coffre-Identity-Signature")!
    /// Tenant chosen by the client for signup/prelogin/login (gateway input only).
    public static let coffreTenant = HTTPField.Name("X-Coffre-Tenant")!
}

/// The headers by which the gateway tells a service who is calling. They are
/// MACed (keyed BLAKE2b, key from `COFFRE_INTERNAL_SECRET`) over the identity,
/// the method, the path and a timestamp, so a client that reaches a service
/// directly, or sends these headers through the gateway (which strips them),
/// cannot forge an identity.
public enum InternalAuth {
    public static let identityHeaders: [HTTPField.Name] = [
        .coffreTenantSlug, .coffreTenantID, .coffreAccountID, .coffreSessionID, .coffreIdentityTime, .coffreIdentitySignature,
    ]
    /// How old a signed identity may be.
    public static let maxSkew: TimeInterval = 60

    public static func key(from secret: String) -> [UInt8] {
        (try? Sodium.genericHash(Array(("coffre-internal-v1:" + secret).utf8))) ?? []
    }

    static func canonical(_ identity: VerifiedIdentity, method: String, path: String, time: String) -> [UInt8] {
        let fields = [
            "v1", identity.tenantSlug ?? "", identity.tenantID?.uuidString.lowercased() ?? "",
            identity.accountID?.uuidString.lowercased() ?? "", identity.sessionID?.uuidString.lowercased() ?? "",
            method, path, time,
        ]
        return Array(fields.joined(separator: "\n").utf8)
    }

    /// Removes every identity header (the gateway does this to each incoming request).
    public static func strip(_ headers: inout HTTPFields) {
        for name in identityHeaders { headers[name] = nil }
    }

    /// Adds the signed identity headers for a request to `path` (path only, no query).
    public static func sign(_ identity: VerifiedIdentity, method: String, path: String, key: [UInt8], into headers: inout HTTPFields, now: Date = Date()) {
        strip(&headers)
        let time = String(Int64(now.timeIntervalSince1970))
        if let v = identity.tenantSlug { headers[.coffreTenantSlug] = v }
        if let v = identity.tenantID { headers[.coffreTenantID] = v.uuidString.lowercased() }
        if let v = identity.accountID { headers[.coffreAccountID] = v.uuidString.lowercased() }
        if let v = identity.sessionID { headers[.coffreSessionID] = v.uuidString.lowercased() }
        headers[.coffreIdentityTime] = time
        let mac = (try? Sodium.genericHash(canonical(identity, method: method, path: path, time: time), key: key)) ?? []
        headers[.coffreIdentitySignature] = Sodium.base64URLEncode(mac)
    }

    /// The identity in `headers` if its MAC checks out and it is fresh; nil otherwise.
    public static func verify(_ headers: HTTPFields, method: String, path: String, key: [UInt8], now: Date = Date()) -> VerifiedIdentity? {
        guard let time = headers[.coffreIdentityTime], let seconds = Int64(time),
              abs(now.timeIntervalSince1970 - Double(seconds)) <= maxSkew,
              let signature = headers[.coffreIdentitySignature].flatMap(Sodium.base64URLDecode)
        else { return nil }
        func uuid(_ name: HTTPField.Name) -> (ok: Bool, value: UUID?) {
            guard let raw = headers[name] else { return (true, nil) }
            guard let parsed = UUID(uuidString: raw) else { return (false, nil) }
            return (true, parsed)
        }
        let tenant = uuid(.coffreTenantID), account = uuid(.coffreAccountID), session = uuid(.coffreSessionID)
        guard tenant.ok, account.ok, session.ok else { return nil }
        let identity = VerifiedIdentity(tenantSlug: headers[.coffreTenantSlug], tenantID: tenant.value, accountID: account.value, sessionID: session.value)
        guard let expected = try? Sodium.genericHash(canonical(identity, method: method, path: path, time: time), key: key),
              Sodium.constantTimeEqual(expected, signature)
        else { return nil }
        return identity
    }
}

/// Puts the gateway-verified identity (if any) into the request context.
/// Requests with identity headers that do not verify are treated as
/// anonymous, and handlers that need a user answer 401.
public struct InternalIdentityMiddleware: RouterMiddleware {
    public typealias Context = CoffreRequestContext
    let key: [UInt8]

    public init(secret: String) {
        key = InternalAuth.key(from: secret)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.identity = InternalAuth.verify(request.headers, method: request.method.rawValue, path: request.uri.path, key: key)
        return try await next(request, context)
    }
}

/// A caller the gateway authenticated with an access token. Handlers that
/// need a user take one of these, so none can forget the check.
public struct AuthenticatedUser: Sendable, Equatable {
    public let tenantID: UUID
    public let accountID: UUID
    public let sessionID: UUID

    public init(_ context: CoffreRequestContext) throws {
        guard let identity = context.identity, let tenant = identity.tenantID, let account = identity.accountID, let session = identity.sessionID else {
            throw Problem.unauthorized()
        }
        tenantID = tenant
        accountID = account
        sessionID = session
    }
}
