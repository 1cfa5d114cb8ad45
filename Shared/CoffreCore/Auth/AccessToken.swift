import Foundation
import Sodium

/// What an access token asserts. Issued by accounts at login/refresh,
/// checked by the gateway (and by any service) without calling accounts.
public struct AccessClaims: Codable, Sendable, Equatable {
    /// Tenant id.
    public var tid: UUID
    /// Account id.
    public var sub: UUID
    /// Session id (revocation is per session).
    public var sid: UUID
    /// Issued at / expires at, seconds since 1970.
    public var iat: Int64
    public var exp: Int64
    /// Id of the signing key.
    public var kid: String

    public init(tid: UUID, sub: UUID, sid: UUID, iat: Int64, exp: Int64, kid: String) {
        self.tid = tid
        self.sub = sub
        self.sid = sid
        self.iat = iat
        self.exp = exp
        self.kid = kid
    }
}

public enum AccessTokenError: Error, Equatable, Sendable {
    case malformed
    case unknownKey
    case badSignature
    case expired
}

/// `v1.<payload>.<signature>`, both base64url: the payload is the claims'
/// JSON, the signature an Ed25519 signature over `coffre-access-v1.<payload>`
/// (the prefix keeps this signing key from ever signing anything that could
/// be read as another kind of message).
public enum AccessToken {
    static let domain = "coffre-access-v1."

    public static func sign(_ claims: AccessClaims, with key: TokenSigningKey) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let payload = Sodium.base64URLEncode(Array(try encoder.encode(claims)))
        let signature = try Sodium.Sign.detached(Array((domain + payload).utf8), secretKey: key.secretKey)
        return "v1." + payload + "." + Sodium.base64URLEncode(signature)
    }

    /// Checks format, key, signature and expiry; returns the claims.
    public static func verify(_ token: String, keys: [String: [UInt8]], now: Date = Date()) throws(AccessTokenError) -> AccessClaims {
        guard token.utf8.count < 2048 else { throw .malformed }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1",
              let payloadBytes = Sodium.base64URLDecode(String(parts[1])),
              let signature = Sodium.base64URLDecode(String(parts[2])),
              let claims = try? JSONDecoder().decode(AccessClaims.self, from: Data(payloadBytes))
        else { throw .malformed }
        guard let publicKey = keys[claims.kid] else { throw .unknownKey }
        guard Sodium.Sign.verifyDetached(signature, message: Array((domain + parts[1]).utf8), publicKey: publicKey) else {
            throw .badSignature
        }
        guard Int64(now.timeIntervalSince1970) < claims.exp else { throw .expired }
        return claims
    }
}

/// The Ed25519 key accounts signs access tokens with.
public struct TokenSigningKey: Sendable {
    public let publicKey: [UInt8]
    let secretKey: [UInt8]
    /// Short id derived from the public key, carried in each token.
    public let kid: String

    public init(seed: [UInt8]) throws {
        let pair = try Sodium.Sign.keyPair(seed: seed)
        publicKey = pair.publicKey
        secretKey = pair.secretKey
        kid = Sodium.sha256(pair.publicKey).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Every accounts replica must sign with the same key: from
    /// `ACCOUNTS_TOKEN_SIGNING_SEED` (base64url, 32 bytes), or in development
    /// derived from the internal secret.
    public static func fromConfiguration(seed: String?, internalSecret: String) throws(ConfigurationError) -> TokenSigningKey {
        if let seed {
            guard let bytes = Sodium.base64URLDecode(seed), bytes.count == 32, let key = try? TokenSigningKey(seed: bytes) else {
                throw ConfigurationError(key: "ACCOUNTS_TOKEN_SIGNING_SEED", problem: "expected 32 bytes, base64url")
            }
            return key
        }
        let derived = (try? Sodium.genericHash(Array("coffre token signing seed".utf8), key: InternalAuth.key(from: internalSecret))) ?? []
        guard let key = try? TokenSigningKey(seed: derived) else {
            throw ConfigurationError(key: "ACCOUNTS_TOKEN_SIGNING_SEED", problem: "cannot derive a signing key")
        }
        return key
    }
}
