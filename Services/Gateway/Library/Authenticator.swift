import CoffreCore
import Foundation
import HTTPTypes

/// Turns `Authorization: Bearer <access token>` into a verified identity:
/// signature by a key accounts published, not expired, session not revoked.
/// Every failure is the same kind of 401 (with `WWW-Authenticate: Bearer`),
/// the detail only says which check failed. Tokens are never logged.
struct Authenticator: Sendable {
    let keys: TokenKeys
    let revocations: RevocationList

    func authenticate(_ headers: HTTPFields, now: Date = Date()) async throws(Problem) -> VerifiedIdentity {
        guard let token = Self.bearerToken(headers) else {
            throw Self.unauthorized("Missing bearer token.", error: nil)
        }
        let claims: AccessClaims
        do {
            claims = try AccessToken.verify(token, keys: keys.current, now: now)
        } catch .unknownKey {
            // A key rotation the gateway has not seen yet, or a made-up kid.
            await keys.refetchForUnknownKey()
            guard keys.isLoaded else {
                throw Problem.unavailable("Token keys are not available yet.", retryAfter: 2)
            }
            do {
                claims = try AccessToken.verify(token, keys: keys.current, now: now)
            } catch {
                throw Self.unauthorized(for: error)
            }
        } catch {
            throw Self.unauthorized(for: error)
        }
        guard !revocations.isRevoked(claims.sid) else {
            throw Self.unauthorized("Session revoked.", error: "invalid_token")
        }
        return VerifiedIdentity(tenantID: claims.tid, accountID: claims.sub, sessionID: claims.sid)
    }

    static func bearerToken(_ headers: HTTPFields) -> String? {
        guard let value = headers[.authorization] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    static func unauthorized(for error: AccessTokenError) -> Problem {
        switch error {
        case .expired: unauthorized("Access token expired.", error: "invalid_token")
        case .unknownKey: unauthorized("Access token signed by an unknown key.", error: "invalid_token")
        case .badSignature, .malformed: unauthorized("Invalid access token.", error: "invalid_token")
        }
    }

    /// RFC 6750 §3: the challenge, with `error="invalid_token"` when a token was sent.
    static func unauthorized(_ detail: String, error: String?) -> Problem {
        var problem = Problem.unauthorized(detail)
        problem.headers[.wwwAuthenticate] = "Bearer realm=\"coffre\"" + (error.map { ", error=\"\($0)\"" } ?? "")
        return problem
    }
}
