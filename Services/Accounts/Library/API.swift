import CoffreCore
import Foundation

/// Request and response bodies of the accounts API (docs/accounts-api.md).
/// Binary values travel as base64url without padding.

struct KDFParameters: Codable, Sendable, Equatable {
    var algorithm: String
    var opslimit: Int64
    var memlimit: Int64

    static let `default` = KDFParameters(algorithm: "argon2id13", opslimit: 2, memlimit: 67_108_864)

    /// Parameters a client may choose: Argon2id, and no weaker than
    /// libsodium's "interactive" limits' floor we accept (and bounded above
    /// so a hostile value cannot make other clients' logins hang).
    func validate() throws(Problem) {
        guard algorithm == "argon2id13" else { throw .badRequest("kdf.algorithm must be argon2id13") }
        guard (1...10).contains(opslimit) else { throw .badRequest("kdf.opslimit must be 1...10") }
        guard (8_388_608...1_073_741_824).contains(memlimit) else { throw .badRequest("kdf.memlimit must be 8 MiB...1 GiB") }
    }
}

struct PublicKeys: Codable, Sendable {
    var x25519: String
    var ed25519: String
    var self_signature: String
}

struct SignupRequest: Decodable, Sendable {
    var account_id: UUID?
    var email: String
    var salt: String
    var kdf: KDFParameters
    var login_secret: String
    var recovery_secret: String
    var public_keys: PublicKeys
    var key_bundle: JSONValue
}

/// Ids in responses are lowercase strings (Foundation would write uppercase).
struct SignupResponse: Encodable, Sendable {
    var account_id: String
    var tenant_id: String
}

extension UUID {
    var lower: String { uuidString.lowercased() }
}

struct PreloginRequest: Decodable, Sendable {
    var email: String
}

struct PreloginResponse: Codable, Sendable {
    var salt: String
    var kdf: KDFParameters
}

struct LoginRequest: Decodable, Sendable {
    var email: String
    var login_secret: String
    var totp_code: String?
    var device_name: String?
}

struct TokenResponse: Encodable, Sendable {
    var access_token: String
    var refresh_token: String
    var token_type = "Bearer"
    var expires_in: Int
    var account_id: String
    var tenant_id: String
    var session_id: String
    var key_bundle: JSONValue?
}

struct RefreshRequest: Decodable, Sendable {
    var refresh_token: String
}

struct MeResponse: Encodable, Sendable {
    var account_id: String
    var tenant_id: String
    var email: String
    var created_at: Date
    var totp_enabled: Bool
    var public_keys: PublicKeys
}

struct SessionInfo: Encodable, Sendable {
    var session_id: String
    var device_name: String
    var created_at: Date
    var last_used_at: Date
    var current: Bool
}

struct SessionsResponse: Encodable, Sendable {
    var sessions: [SessionInfo]
}

struct TOTPEnrollment: Encodable, Sendable {
    var secret: String
    var otpauth_uri: String
}

struct TOTPConfirmRequest: Decodable, Sendable {
    var code: String
}

struct PasswordChangeRequest: Decodable, Sendable {
    var current_login_secret: String
    var salt: String
    var kdf: KDFParameters
    var login_secret: String
    var key_bundle: JSONValue
}

struct RecoveryBundleRequest: Decodable, Sendable {
    var email: String
    var recovery_secret: String
}

struct RecoveryBundleResponse: Encodable, Sendable {
    var key_bundle: JSONValue
}

struct RecoveryResetRequest: Decodable, Sendable {
    var email: String
    var recovery_secret: String
    var salt: String
    var kdf: KDFParameters
    var login_secret: String
    var key_bundle: JSONValue
}

struct DeleteAccountRequest: Decodable, Sendable {
    var login_secret: String
}

struct RateLimits: Codable, Sendable, Equatable {
    var signup_per_minute: Int?
    var login_per_minute: Int?
}

struct CreateTenantRequest: Decodable, Sendable {
    var slug: String
    var display_name: String
    var storage_limit_bytes: Int64?
    var transfer_allowance_bytes: Int64?
    var rate_limits: RateLimits?
    /// Shares with accounts of other tenants that allow them too (false).
    var cross_tenant_shares: Bool?
}

/// `PATCH /v1/admin/tenants/{slug}`: the tenant's sharing policy.
struct UpdateTenantRequest: Decodable, Sendable {
    var cross_tenant_shares: Bool
}

struct Tenant: Codable, Sendable {
    var id: String
    var slug: String
    var display_name: String
    var storage_limit_bytes: Int64
    var transfer_allowance_bytes: Int64
    var rate_limits: RateLimits
    var cross_tenant_shares: Bool
    var created_at: Date

    var uuid: UUID { UUID(uuidString: id)! }
}

struct TenantsResponse: Encodable, Sendable {
    var tenants: [Tenant]
}

enum Validate {
    static func slug(_ slug: String) throws(Problem) {
        let bytes = Array(slug.utf8)
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard (3...32).contains(bytes.count), alnum(bytes.first!), alnum(bytes.last!), bytes.allSatisfy({ alnum($0) || $0 == 0x2D }) else {
            throw .badRequest("slug must be 3-32 characters of a-z, 0-9 and '-', not starting or ending with '-'")
        }
    }

    /// The address as stored and looked up: spaces and tabs around it
    /// dropped, lower-cased; then a light syntactic check (the address is an
    /// identifier here, nothing is sent to it): one `@` with something before
    /// it and a dot after it, no whitespace or line break inside, at most 254 bytes.
    /// (Stdlib only: Foundation's `trimmingCharacters(in:)` was a few
    /// percent of a signup's CPU in accounts.)
    static func email(_ raw: String) throws(Problem) -> String {
        // Unicode White_Space less the line breaks: the spaces (Zs) and tab.
        func isBlank(_ c: Character) -> Bool { c.isWhitespace && !c.isNewline }
        var trimmed = Substring(raw)
        while let first = trimmed.first, isBlank(first) { trimmed.removeFirst() }
        while let last = trimmed.last, isBlank(last) { trimmed.removeLast() }
        let email = trimmed.lowercased()
        let parts = email.utf8.split(separator: UInt8(ascii: "@"), omittingEmptySubsequences: false)
        guard email.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains(UInt8(ascii: ".")),
              !email.contains(where: { $0.isWhitespace })
        else { throw .badRequest("email is not a valid address", type: "urn:coffre:problem:invalid-email") }
        return email
    }

    static func bytes(_ field: String, _ value: String, count: Int) throws(Problem) -> [UInt8] {
        guard let decoded = Base64URL.decode(value), decoded.count == count else {
            throw .badRequest("\(field) must be \(count) bytes, base64url")
        }
        return decoded
    }

    /// The key bundle is opaque, but must be a JSON object of bounded size.
    static func bundle(_ bundle: JSONValue) throws(Problem) -> String {
        guard case .object = bundle else { throw .badRequest("key_bundle must be a JSON object") }
        guard let text = try? CompactJSON.encode(bundle), text.count <= 16 * 1024 else {
            throw .badRequest("key_bundle must be at most 16 KiB")
        }
        return String(decoding: text, as: UTF8.self)
    }
}
