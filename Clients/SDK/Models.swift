// Public result types of `CoffreClient`.
import CoffreCrypto
import Foundation

/// Salt and Argon2id parameters for an email, already checked against the
/// client's minimum and maximum.
public struct PreloginInfo: Sendable, Equatable {
    public let salt: [UInt8]
    public let kdf: KDFParameters
    public let profile: PasswordProfile
}

/// What the password derives to for one account: the key-encryption key
/// (stays here) and the login secret (sent). Opaque, redacted when printed;
/// lets a caller retry a login (say, with a TOTP code) without running
/// Argon2id again. Drop it as soon as possible.
public struct LoginCredentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let email: String
    let derived: DerivedCredentials
    /// What the password was derived with (kept with the bundle for `unlock`).
    let salt: [UInt8]
    let profile: PasswordProfile

    public var description: String { "LoginCredentials(\(email), redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["email": email], displayStyle: .struct) }
}

public struct SignupResult: Sendable {
    public let accountID: String
    public let tenantID: String
    /// Show this to the user once, and tell them to write it down: it is the
    /// only way back in without the password. It is never stored anywhere.
    public let recoveryKey: String
    /// The logged-in session, or nil when the login right after signup failed
    /// (`loginError` says why); the account exists either way.
    public let session: Session?
    public let loginError: (any Error)?
}

public struct AccountInfo: Sendable {
    public let accountID: String
    public let tenantID: String
    public let email: String
    public let createdAt: Date?
    public let totpEnabled: Bool
    public let publicKeys: PublicKeysDocument
    /// The public keys parse and carry a valid self-signature.
    public let selfSignatureValid: Bool
    /// The 60-digit safety code of the public keys (to compare out of band),
    /// when they parse.
    public let safetyCode: String?
}

public struct SessionInfo: Sendable, Equatable {
    public let sessionID: String
    public let deviceName: String?
    public let createdAt: Date?
    public let lastUsedAt: Date?
    /// The session making this call.
    public let current: Bool
}

public struct TOTPEnrollment: Sendable, CustomStringConvertible {
    /// Base32, for typing into an authenticator app.
    public let secret: String
    /// `otpauth://totp/...` for a QR code.
    public let otpauthURI: String

    public var description: String { "TOTPEnrollment(redacted)" }
}

/// What a client keeps to unlock the account keys later with the password
/// alone, offline: the key bundle exactly as the server stores it (envelopes
/// that open only with the password's key or the recovery key) and the salt
/// and Argon2id parameters the password is derived with. No key in clear.
public struct SavedKeys: Codable, Sendable, Equatable {
    public var keyBundle: KeyBundle
    /// base64url, as the accounts API carries it.
    public var salt: String
    public var kdf: KDFParameters

    enum CodingKeys: String, CodingKey { case keyBundle = "key_bundle", salt, kdf }

    public init(keyBundle: KeyBundle, salt: String, kdf: KDFParameters) {
        self.keyBundle = keyBundle
        self.salt = salt
        self.kdf = kdf
    }
}
