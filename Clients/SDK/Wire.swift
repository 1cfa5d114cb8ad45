// The JSON bodies of the accounts API (docs/accounts-api.md), field for
// field. Binary values are base64url without padding.
import CoffreCrypto
import Foundation
import Sodium

/// Argon2id parameters as they travel: `{"algorithm":"argon2id13","opslimit":2,"memlimit":67108864}`.
public struct KDFParameters: Codable, Sendable, Equatable {
    public static let argon2id13 = "argon2id13"

    public var algorithm: String
    public var opslimit: Int64
    public var memlimit: Int64

    public init(algorithm: String = KDFParameters.argon2id13, opslimit: Int64, memlimit: Int64) {
        self.algorithm = algorithm
        self.opslimit = opslimit
        self.memlimit = memlimit
    }

    public init(_ profile: PasswordProfile) {
        self.init(opslimit: Int64(profile.opsLimit), memlimit: Int64(profile.memLimit))
    }

    /// The profile these parameters describe, if this client accepts it:
    /// Argon2id v1.3, at least `minimum` and at most `PasswordProfile.maximum`.
    public func acceptedProfile(minimum: PasswordProfile) throws(CoffreClientError) -> PasswordProfile {
        guard algorithm == Self.argon2id13 else {
            throw .unacceptableKDF("algorithm \"\(algorithm)\" is not \(Self.argon2id13)")
        }
        guard opslimit > 0, memlimit > 0, memlimit <= Int64(Int.max) else {
            throw .unacceptableKDF("invalid limits (opslimit \(opslimit), memlimit \(memlimit))")
        }
        let profile = PasswordProfile(opsLimit: UInt64(opslimit), memLimit: Int(memlimit))
        guard profile.isAtLeast(minimum) else {
            throw .unacceptableKDF(
                "opslimit \(opslimit), memlimit \(Self.mebibytes(memlimit)) is weaker than the minimum "
                    + "(opslimit \(minimum.opsLimit), memlimit \(Self.mebibytes(Int64(minimum.memLimit)))); "
                    + "a server asking for this could brute-force the password")
        }
        guard PasswordProfile.maximum.isAtLeast(profile) else {
            throw .unacceptableKDF(
                "opslimit \(opslimit), memlimit \(Self.mebibytes(memlimit)) is above this client's maximum "
                    + "(opslimit \(PasswordProfile.maximum.opsLimit), memlimit \(Self.mebibytes(Int64(PasswordProfile.maximum.memLimit))))")
        }
        return profile
    }

    static func mebibytes(_ bytes: Int64) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
    }
}

/// An account's public keys with the self-signature over
/// `coffre-keys-v1\n<x25519 b64url>\n<ed25519 b64url>`.
public struct PublicKeysDocument: Codable, Sendable, Equatable {
    public var x25519: String
    public var ed25519: String
    public var selfSignature: String

    enum CodingKeys: String, CodingKey {
        case x25519, ed25519
        case selfSignature = "self_signature"
    }

    public init(x25519: String, ed25519: String, selfSignature: String) {
        self.x25519 = x25519
        self.ed25519 = ed25519
        self.selfSignature = selfSignature
    }

    public static func signedMessage(x25519: String, ed25519: String) -> [UInt8] {
        Array("coffre-keys-v1\n\(x25519)\n\(ed25519)".utf8)
    }

    /// Signs the account's public keys with its Ed25519 key.
    public static func make(for keys: AccountKeys) -> PublicKeysDocument {
        let x = keys.x25519.publicKey.base64URL
        let ed = keys.ed25519.publicKey.base64URL
        let signature = keys.ed25519.signature(for: signedMessage(x25519: x, ed25519: ed))
        return PublicKeysDocument(x25519: x, ed25519: ed, selfSignature: Sodium.base64URLEncode(signature))
    }

    /// True when both keys parse and the Ed25519 key signed them.
    public var isSelfSignatureValid: Bool {
        guard let edBytes = Sodium.base64URLDecode(ed25519), let ed = try? Ed25519PublicKey(rawBytes: edBytes),
              let xBytes = Sodium.base64URLDecode(x25519), (try? X25519PublicKey(rawBytes: xBytes)) != nil,
              let signature = Sodium.base64URLDecode(selfSignature)
        else { return false }
        return ed.isValidSignature(signature, for: Self.signedMessage(x25519: x25519, ed25519: ed25519))
    }
}

// MARK: - Requests (internal)

struct PreloginBody: Encodable {
    var email: String
}

struct SignupBody: Encodable {
    var accountID: String
    var email: String
    var salt: String
    var kdf: KDFParameters
    var loginSecret: String
    var recoverySecret: String
    var publicKeys: PublicKeysDocument
    var keyBundle: KeyBundle

    enum CodingKeys: String, CodingKey {
        case accountID = "account_id", email, salt, kdf
        case loginSecret = "login_secret", recoverySecret = "recovery_secret"
        case publicKeys = "public_keys", keyBundle = "key_bundle"
    }
}

struct LoginBody: Encodable {
    var email: String
    var loginSecret: String
    var totpCode: String?
    var deviceName: String?

    enum CodingKeys: String, CodingKey {
        case email, loginSecret = "login_secret", totpCode = "totp_code", deviceName = "device_name"
    }
}

struct RefreshBody: Encodable {
    var refreshToken: String
    enum CodingKeys: String, CodingKey { case refreshToken = "refresh_token" }
}

struct TOTPConfirmBody: Encodable {
    var code: String
}

struct PasswordChangeBody: Encodable {
    var currentLoginSecret: String
    var salt: String
    var kdf: KDFParameters
    var loginSecret: String
    var keyBundle: KeyBundle

    enum CodingKeys: String, CodingKey {
        case currentLoginSecret = "current_login_secret", salt, kdf
        case loginSecret = "login_secret", keyBundle = "key_bundle"
    }
}

struct RecoveryBundleBody: Encodable {
    var email: String
    var recoverySecret: String
    enum CodingKeys: String, CodingKey { case email, recoverySecret = "recovery_secret" }
}

struct RecoveryResetBody: Encodable {
    var email: String
    var recoverySecret: String
    var salt: String
    var kdf: KDFParameters
    var loginSecret: String
    var keyBundle: KeyBundle

    enum CodingKeys: String, CodingKey {
        case email, recoverySecret = "recovery_secret", salt, kdf
        case loginSecret = "login_secret", keyBundle = "key_bundle"
    }
}

struct DeleteAccountBody: Encodable {
    var loginSecret: String
    enum CodingKeys: String, CodingKey { case loginSecret = "login_secret" }
}

// MARK: - Responses (internal)

struct PreloginResponse: Decodable {
    var salt: String
    var kdf: KDFParameters
}

struct SignupResponse: Decodable {
    var accountID: String
    var tenantID: String
    enum CodingKeys: String, CodingKey { case accountID = "account_id", tenantID = "tenant_id" }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        accountID = try c.decode(String.self, forKey: .accountID).lowercased()
        tenantID = try c.decode(String.self, forKey: .tenantID).lowercased()
    }
}

/// Login and refresh. The key bundle is decoded separately, so a malformed
/// bundle is reported as a rejected bundle, not a protocol error.
struct TokenResponse: Decodable {
    var accessToken: String
    var refreshToken: String
    var expiresIn: Int
    var accountID: String
    var tenantID: String
    var sessionID: String

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token", refreshToken = "refresh_token", expiresIn = "expires_in"
        case accountID = "account_id", tenantID = "tenant_id", sessionID = "session_id"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        accessToken = try c.decode(String.self, forKey: .accessToken)
        refreshToken = try c.decode(String.self, forKey: .refreshToken)
        expiresIn = try c.decode(Int.self, forKey: .expiresIn)
        // UUIDs are case-insensitive, and Foundation encodes them in upper
        // case; key bundles are bound to the lowercase form.
        accountID = try c.decode(String.self, forKey: .accountID).lowercased()
        tenantID = try c.decode(String.self, forKey: .tenantID).lowercased()
        sessionID = try c.decode(String.self, forKey: .sessionID).lowercased()
    }
}

struct KeyBundleHolder: Decodable {
    var keyBundle: KeyBundle
    enum CodingKeys: String, CodingKey { case keyBundle = "key_bundle" }
}

struct MeResponse: Decodable {
    var accountID: String
    var tenantID: String
    var email: String
    var createdAt: FlexibleDate?
    var totpEnabled: Bool
    var publicKeys: PublicKeysDocument

    enum CodingKeys: String, CodingKey {
        case accountID = "account_id", tenantID = "tenant_id", email, createdAt = "created_at"
        case totpEnabled = "totp_enabled", publicKeys = "public_keys"
    }
}

struct SessionsResponse: Decodable {
    struct Item: Decodable {
        var sessionID: String
        var deviceName: String?
        var createdAt: FlexibleDate?
        var lastUsedAt: FlexibleDate?
        var current: Bool?

        enum CodingKeys: String, CodingKey {
            case sessionID = "session_id", deviceName = "device_name", createdAt = "created_at"
            case lastUsedAt = "last_used_at", current
        }
    }
    var sessions: [Item]
}

struct TOTPEnrollmentResponse: Decodable {
    var secret: String
    var otpauthURI: String
    enum CodingKeys: String, CodingKey { case secret, otpauthURI = "otpauth_uri" }
}

/// A timestamp as the server may send it: RFC 3339 text (with or without
/// fractional seconds) or seconds since 1970 (Foundation's reference date
/// when the value is small enough to be one, as `JSONEncoder`'s default does).
struct FlexibleDate: Decodable {
    var date: Date

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            if let date = try? Date(text, strategy: .iso8601) {
                self.date = date
                return
            }
            if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) {
                self.date = date
                return
            }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 date")
        }
        let number = try container.decode(Double.self)
        // JSONEncoder's default strategy counts from 2001; real epoch values today are > 1e9.
        date = number > 1_000_000_000 ? Date(timeIntervalSince1970: number) : Date(timeIntervalSinceReferenceDate: number)
    }
}
