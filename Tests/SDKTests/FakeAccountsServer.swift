// An in-memory accounts API behind the SDK's `CoffreTransport` seam: honest
// by default (it checks login secrets, rotates refresh tokens, swaps bundles
// on password change), and with hooks that turn it malicious (tamper with the
// key bundle it hands back, ask for weak Argon2id parameters, …).
import CoffreCrypto
@testable import CoffreSDK
import Foundation
import Sodium

final class FakeAccountsServer: CoffreTransport, @unchecked Sendable {
    struct Account {
        var accountID: String
        var tenantID: String
        var email: String
        var salt: String
        var kdf: KDFParameters
        var loginSecret: String
        var recoverySecret: String
        var publicKeys: PublicKeysDocument
        var bundle: KeyBundle
        var totpPending: String?
        var totpEnabled = false
    }

    struct SessionRecord {
        var accountID: String
        var accessToken: String
        var refreshToken: String
        var deviceName: String?
        var revoked = false
    }

    private let lock = NSLock()
    private var accounts: [String: Account] = [:]   // by email
    private var sessions: [String: SessionRecord] = [:]   // by session id
    private(set) var requests: [TransportRequest] = []

    let tenantID = UUID().uuidString.lowercased()
    var serverDescription: String { "http://fake.test" }

    // Hooks (set before use).
    /// Seconds until access tokens expire.
    var expiresIn = 300
    /// Changes the bundle returned by login.
    var tamperLoginBundle: (@Sendable (inout KeyBundle) -> Void)?
    /// Replaces the whole `key_bundle` JSON value returned by login.
    var rawLoginBundle: String?
    /// Changes the bundle returned by the recovery-bundle call.
    var tamperRecoveryBundle: (@Sendable (inout KeyBundle) -> Void)?
    /// Replaces the prelogin answer's KDF parameters / salt.
    var preloginKDF: KDFParameters?
    var preloginSalt: String?
    /// Assigns this account id at signup instead of the proposed one.
    var assignAccountID: String?
    /// Sends ids in upper case, as Foundation's UUID encoding does.
    var uppercaseIDs = false
    /// Answers every request with this response instead.
    var cannedResponse: TransportResponse?

    var recorded: [TransportRequest] { lock.withLock { requests } }
    func account(_ email: String) -> Account? { lock.withLock { accounts[email] } }
    func paths() -> [String] { recorded.map { "\($0.method) \($0.path)" } }
    func activeSessionCount(of accountID: String) -> Int {
        lock.withLock { sessions.values.filter { $0.accountID == accountID && !$0.revoked }.count }
    }

    func send(_ request: TransportRequest) async throws -> TransportResponse {
        lock.withLock {
            requests.append(request)
            if let cannedResponse { return cannedResponse }
            return handle(request)
        }
    }

    // MARK: - Routes

    private func handle(_ request: TransportRequest) -> TransportResponse {
        let body = request.body.flatMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] } ?? [:]
        switch (request.method, request.path) {
        case ("POST", "/v1/auth/prelogin"):
            let email = body["email"] as? String ?? ""
            let account = accounts[email]
            let salt = preloginSalt ?? account?.salt ?? Sodium.base64URLEncode(Array(Sodium.sha256(Array(email.utf8)).prefix(16)))
            let kdf = preloginKDF ?? account?.kdf ?? KDFParameters(.interactive)
            return json(200, ["salt": salt, "kdf": ["algorithm": kdf.algorithm, "opslimit": kdf.opslimit, "memlimit": kdf.memlimit]])

        case ("POST", "/v1/accounts"):
            guard let email = body["email"] as? String, let bundleObject = body["key_bundle"],
                  let bundle = try? JSONDecoder().decode(KeyBundle.self, from: JSONSerialization.data(withJSONObject: bundleObject)),
                  let kdfObject = body["kdf"],
                  let kdf = try? JSONDecoder().decode(KDFParameters.self, from: JSONSerialization.data(withJSONObject: kdfObject)),
                  let keysObject = body["public_keys"],
                  let keys = try? JSONDecoder().decode(PublicKeysDocument.self, from: JSONSerialization.data(withJSONObject: keysObject))
            else { return problem(400, "urn:coffre:problem:bad-request", "Bad request") }
            guard keys.isSelfSignatureValid else { return problem(400, "urn:coffre:problem:bad-request", "Bad request", "bad self-signature") }
            if accounts[email] != nil { return problem(409, CoffreAPIError.emailTakenType, "Conflict") }
            let id = assignAccountID ?? (body["account_id"] as? String) ?? UUID().uuidString.lowercased()
            accounts[email] = Account(accountID: id, tenantID: tenantID, email: email, salt: body["salt"] as! String, kdf: kdf,
                                      loginSecret: body["login_secret"] as! String, recoverySecret: body["recovery_secret"] as! String,
                                      publicKeys: keys, bundle: bundle)
            return json(201, ["account_id": uppercaseIDs ? id.uppercased() : id, "tenant_id": tenantID])

        case ("POST", "/v1/auth/login"):
            guard let email = body["email"] as? String, let account = accounts[email],
                  account.loginSecret == body["login_secret"] as? String
            else { return invalidCredentials() }
            if account.totpEnabled, (body["totp_code"] as? String) != "123456" {
                return problem(401, CoffreAPIError.totpRequiredType, "Two-factor code required")
            }
            var bundle = account.bundle
            tamperLoginBundle?(&bundle)
            var answer = issueTokens(for: account, device: body["device_name"] as? String)
            if let rawLoginBundle {
                answer["key_bundle"] = try! JSONSerialization.jsonObject(with: Data(rawLoginBundle.utf8), options: .fragmentsAllowed)
            } else {
                answer["key_bundle"] = try! JSONSerialization.jsonObject(with: JSONEncoder().encode(bundle))
            }
            return json(200, answer)

        case ("POST", "/v1/auth/refresh"):
            guard let token = body["refresh_token"] as? String,
                  let entry = sessions.first(where: { $0.value.refreshToken == token && !$0.value.revoked }),
                  let account = accounts.values.first(where: { $0.accountID == entry.value.accountID })
            else { return problem(401, "urn:coffre:problem:unauthorized", "Unauthorized") }
            let (id, record) = (entry.key, entry.value)
            var updated = record
            updated.accessToken = "at-" + UUID().uuidString
            updated.refreshToken = "rt-" + UUID().uuidString
            sessions[id] = updated
            return json(200, tokenBody(account: account, sessionID: id, record: updated))

        case ("POST", "/v1/recovery/bundle"), ("POST", "/v1/auth/recovery/bundle"):
            guard let email = body["email"] as? String, let account = accounts[email],
                  account.recoverySecret == body["recovery_secret"] as? String
            else { return invalidCredentials() }
            var bundle = account.bundle
            tamperRecoveryBundle?(&bundle)
            return json(200, ["key_bundle": try! JSONSerialization.jsonObject(with: JSONEncoder().encode(bundle))])

        case ("POST", "/v1/auth/recovery/reset"):
            guard let email = body["email"] as? String, var account = accounts[email],
                  account.recoverySecret == body["recovery_secret"] as? String
            else { return invalidCredentials() }
            account.salt = body["salt"] as! String
            account.loginSecret = body["login_secret"] as! String
            account.bundle = try! JSONDecoder().decode(KeyBundle.self, from: JSONSerialization.data(withJSONObject: body["key_bundle"]!))
            accounts[email] = account
            revokeAll(of: account.accountID, except: nil)
            return TransportResponse(status: 204)

        default:
            return authenticated(request, body: body)
        }
    }

    private func authenticated(_ request: TransportRequest, body: [String: Any]) -> TransportResponse {
        guard let header = request.header("Authorization"), header.hasPrefix("Bearer "),
              let entry = sessions.first(where: { $0.value.accessToken == String(header.dropFirst(7)) && !$0.value.revoked }),
              var account = accounts.values.first(where: { $0.accountID == entry.value.accountID })
        else { return problem(401, "urn:coffre:problem:unauthorized", "Unauthorized") }
        let sessionID = entry.key
        switch (request.method, request.path) {
        case ("POST", "/v1/auth/logout"):
            sessions[sessionID]?.revoked = true
            return TransportResponse(status: 204)
        case ("GET", "/v1/accounts/me"):
            return json(200, ["account_id": account.accountID, "tenant_id": account.tenantID, "email": account.email,
                              "created_at": "2025-01-02T03:04:05Z", "totp_enabled": account.totpEnabled,
                              "public_keys": ["x25519": account.publicKeys.x25519, "ed25519": account.publicKeys.ed25519,
                                              "self_signature": account.publicKeys.selfSignature]])
        case ("GET", "/v1/sessions"):
            let list = sessions.filter { $0.value.accountID == account.accountID && !$0.value.revoked }.map { id, s in
                ["session_id": id, "device_name": s.deviceName ?? "", "created_at": "2025-01-02T03:04:05Z",
                 "last_used_at": "2025-01-02T03:04:05.123Z", "current": id == sessionID] as [String: Any]
            }
            return json(200, ["sessions": list])
        case ("DELETE", let path) where path.hasPrefix("/v1/sessions/"):
            let id = String(path.dropFirst("/v1/sessions/".count))
            guard let target = sessions[id], target.accountID == account.accountID, !target.revoked else {
                return problem(404, "urn:coffre:problem:not-found", "Not found")
            }
            sessions[id]?.revoked = true
            return TransportResponse(status: 204)
        case ("POST", "/v1/accounts/me/totp"):
            account.totpPending = "JBSWY3DPEHPK3PXP"
            accounts[account.email] = account
            return json(200, ["secret": "JBSWY3DPEHPK3PXP",
                              "otpauth_uri": "otpauth://totp/Coffre:\(account.email)?secret=JBSWY3DPEHPK3PXP&issuer=Coffre"])
        case ("POST", "/v1/accounts/me/totp/confirm"):
            guard account.totpPending != nil, body["code"] as? String == "123456" else {
                return problem(400, "urn:coffre:problem:bad-request", "Bad request", "wrong code")
            }
            account.totpEnabled = true
            accounts[account.email] = account
            return TransportResponse(status: 204)
        case ("POST", "/v1/accounts/me/password"):
            guard account.loginSecret == body["current_login_secret"] as? String else { return invalidCredentials() }
            account.salt = body["salt"] as! String
            account.loginSecret = body["login_secret"] as! String
            account.bundle = try! JSONDecoder().decode(KeyBundle.self, from: JSONSerialization.data(withJSONObject: body["key_bundle"]!))
            accounts[account.email] = account
            revokeAll(of: account.accountID, except: sessionID)
            return TransportResponse(status: 204)
        case ("DELETE", "/v1/accounts/me"):
            guard account.loginSecret == body["login_secret"] as? String else { return invalidCredentials() }
            accounts[account.email] = nil
            revokeAll(of: account.accountID, except: nil)
            return TransportResponse(status: 204)
        default:
            return problem(404, "urn:coffre:problem:not-found", "Not found")
        }
    }

    // MARK: - Helpers

    private func revokeAll(of accountID: String, except keep: String?) {
        for (id, record) in sessions where record.accountID == accountID && id != keep {
            sessions[id]?.revoked = true
        }
    }

    private func issueTokens(for account: Account, device: String?) -> [String: Any] {
        let id = UUID().uuidString.lowercased()
        let record = SessionRecord(accountID: account.accountID, accessToken: "at-" + UUID().uuidString,
                                   refreshToken: "rt-" + UUID().uuidString, deviceName: device)
        sessions[id] = record
        return tokenBody(account: account, sessionID: id, record: record)
    }

    private func tokenBody(account: Account, sessionID: String, record: SessionRecord) -> [String: Any] {
        let id: (String) -> String = { [uppercaseIDs] in uppercaseIDs ? $0.uppercased() : $0 }
        return ["access_token": record.accessToken, "refresh_token": record.refreshToken, "token_type": "Bearer",
                "expires_in": expiresIn, "account_id": id(account.accountID), "tenant_id": id(account.tenantID),
                "session_id": id(sessionID)]
    }

    private func invalidCredentials() -> TransportResponse {
        problem(401, CoffreAPIError.invalidCredentialsType, "Invalid credentials", "Wrong email or password.")
    }

    func problem(_ status: Int, _ type: String, _ title: String, _ detail: String? = nil,
                 headers: [String: String] = [:]) -> TransportResponse {
        var object: [String: Any] = ["type": type, "title": title, "status": status]
        if let detail { object["detail"] = detail }
        var all = headers
        all["Content-Type"] = "application/problem+json"
        return TransportResponse(status: status, headers: all, body: Array(try! JSONSerialization.data(withJSONObject: object)))
    }

    private func json(_ status: Int, _ object: [String: Any]) -> TransportResponse {
        TransportResponse(status: status, headers: ["Content-Type": "application/json"],
                          body: Array(try! JSONSerialization.data(withJSONObject: object)))
    }
}
