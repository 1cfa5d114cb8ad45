import CoffreCore
import Foundation

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
