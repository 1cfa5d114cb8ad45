import CoffreCore
import Foundation
import Sodium

/// How accounts turns client secrets into what it stores.
///
/// The login secret is the output of the client's Argon2id (256 bits): it is
/// already slow to guess from a password, so a second slow hash here would
/// only cost CPU at signup bursts. The server stores BLAKE2b-256 keyed with a
/// server-side pepper over (account id ‖ secret): a database leak alone gives
/// an attacker nothing to test password guesses against, and a verifier
/// copied between accounts does not match.
struct VerifierHasher: Sendable {
    let pepper: [UInt8]

    init(pepper: [UInt8]) {
        self.pepper = pepper
    }

    func verifier(account: UUID, secret: [UInt8], purpose: String) -> [UInt8] {
        KeyedHash.hash(Array(purpose.utf8) + [0] + Array(account.uuidString.lowercased().utf8) + [0] + secret, key: pepper)
    }

    /// Salt for prelogin of an unknown email: deterministic, so asking twice
    /// gives the same answer, and indistinguishable from a random real one.
    func fakeSalt(tenant: UUID, email: String) -> [UInt8] {
        Array(KeyedHash.hash(Array("prelogin\0\(tenant.uuidString.lowercased())\0\(email)".utf8), key: pepper).prefix(16))
    }

    func refreshHash(_ secret: [UInt8]) -> [UInt8] {
        KeyedHash.hash(Array("refresh\0".utf8) + secret, key: pepper)
    }
}

/// Refresh tokens: `r1.<tenant id>.<session id>.<32 random bytes>`. The ids
/// only route the lookup; the random part is checked against its hash.
struct RefreshToken: Sendable {
    var tenantID: UUID
    var sessionID: UUID
    var secret: [UInt8]

    static func issue(tenantID: UUID, sessionID: UUID) -> RefreshToken {
        RefreshToken(tenantID: tenantID, sessionID: sessionID, secret: KeyedHash.random(32))
    }

    var string: String {
        "r1.\(tenantID.uuidString.lowercased()).\(sessionID.uuidString.lowercased()).\(Base64URL.encode(secret))"
    }

    init(tenantID: UUID, sessionID: UUID, secret: [UInt8]) {
        self.tenantID = tenantID
        self.sessionID = sessionID
        self.secret = secret
    }

    init?(parsing text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "r1",
              let tenant = UUID(uuidString: String(parts[1])), let session = UUID(uuidString: String(parts[2])),
              let secret = Base64URL.decode(String(parts[3])), secret.count == 32
        else { return nil }
        self.init(tenantID: tenant, sessionID: session, secret: secret)
    }
}

/// TOTP seeds at rest (`users.totp_secret`, `users.totp_pending`). Unlike a
/// login secret, a TOTP seed must be read back to check codes, so it cannot
/// be stored as a hash: it is sealed with XChaCha20-Poly1305 under a server
/// key kept outside the database (`ACCOUNTS_TOTP_KEY`, else derived from
/// `COFFRE_INTERNAL_SECRET` under its own label). A database dump alone then
/// yields no second factor.
///
/// Envelope: version byte (1) ‖ 24-byte random nonce ‖ ciphertext and tag.
/// The associated data binds the version, the column's purpose and the
/// account id, so an envelope copied onto another account, or from the
/// pending column to the confirmed one, does not open. Anything that does
/// not open is an error, never "no second factor" (fail closed).
///
/// Rows written before encryption hold the bare 20-byte seed; they are
/// accepted on read (`Opened.isLegacy`) and sealed again by the transaction
/// that read them (login, confirmation). See the README.
struct TOTPSealer: Sendable {
    enum Purpose: String, Sendable {
        case confirmed = "totp-secret"
        case pending = "totp-pending"
    }

    struct Opened: Sendable {
        var seed: [UInt8]
        /// Stored in clear by an older version: seal it on the way out.
        var isLegacy: Bool
    }

    /// The stored value neither opens with this key for this account and
    /// purpose nor is a legacy seed. Names no secret.
    struct Unreadable: Error, CustomStringConvertible {
        var account: UUID
        var purpose: Purpose
        var description: String {
            "the stored \(purpose.rawValue) of account \(account.uuidString.lowercased()) does not open (wrong ACCOUNTS_TOTP_KEY, or an altered row)"
        }
    }

    static let version: UInt8 = 1
    /// What `enrollTOTP` has always generated; an envelope is never this short.
    static let legacySeedLength = 20

    private let key: [UInt8]

    init(key: [UInt8]) {
        precondition(key.count == Sodium.AEAD.keyBytes, "TOTP key must be \(Sodium.AEAD.keyBytes) bytes")
        self.key = key
    }

    /// The key for `ACCOUNTS_TOTP_KEY` (any string, or the internal secret in
    /// development), separated by label from the pepper derived from the same input.
    static func key(from secret: String) -> [UInt8] {
        KeyedHash.hash(Array("coffre-totp-seal-key".utf8), key: InternalAuth.key(from: secret))
    }

    static func associatedData(account: UUID, purpose: Purpose, version: UInt8) -> [UInt8] {
        Array("coffre-totp".utf8) + [0, version] + Array(purpose.rawValue.utf8) + [0] + Array(account.uuidString.lowercased().utf8)
    }

    func seal(_ seed: [UInt8], account: UUID, purpose: Purpose) throws -> [UInt8] {
        let nonce = Sodium.randomBytes(Sodium.AEAD.nonceBytes)
        let sealed = try Sodium.AEAD.encrypt(seed, additionalData: Self.associatedData(account: account, purpose: purpose, version: Self.version),
                                             nonce: nonce, key: key)
        return [Self.version] + nonce + sealed
    }

    func open(_ stored: [UInt8], account: UUID, purpose: Purpose) throws(Unreadable) -> Opened {
        if stored.count == Self.legacySeedLength { return Opened(seed: stored, isLegacy: true) }
        let header = 1 + Sodium.AEAD.nonceBytes
        guard stored.count > header + Sodium.AEAD.tagBytes, stored[0] == Self.version else {
            throw Unreadable(account: account, purpose: purpose)
        }
        do {
            let seed = try Sodium.AEAD.decrypt(Array(stored[header...]),
                                               additionalData: Self.associatedData(account: account, purpose: purpose, version: stored[0]),
                                               nonce: Array(stored[1..<header]), key: key)
            return Opened(seed: seed, isLegacy: false)
        } catch {
            throw Unreadable(account: account, purpose: purpose)
        }
    }
}
