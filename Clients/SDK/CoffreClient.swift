// The Coffre client: the accounts API with every piece of cryptography on
// this side. What leaves the client is the email, the salt and Argon2id
// parameters, the login secret, the recovery secret, public keys with their
// self-signature, and the key bundle (AEAD envelopes). Never the password,
// the key-encryption key, the master key, a private key or the recovery key.
//
// Anything the server hands back that keys will be taken from (the key
// bundle, the Argon2id parameters) is treated as hostile until verified.
import AsyncHTTPClient
import CoffreCrypto
import Foundation
import Logging
import Sodium

public struct CoffreClient: Sendable {
    public let transport: any CoffreTransport
    /// Sent as `X-Coffre-Tenant` on unauthenticated calls; authenticated calls
    /// get their tenant from the token.
    public let tenant: String?
    /// The Argon2id cost for new passwords (signup, password change, recovery).
    public let profile: PasswordProfile
    /// The cheapest Argon2id parameters accepted from the server at login:
    /// `.interactive`, unless the client was built with a cheaper (test) profile.
    public let minimumProfile: PasswordProfile
    let logger: Logger

    public static let tenantHeader = "X-Coffre-Tenant"
    /// An access token this close to expiry is refreshed before use.
    static let refreshMargin: TimeInterval = 15

    public init(server: URL, tenant: String?, httpClient: HTTPClient = .coffre, profile: PasswordProfile = .interactive,
                logger: Logger = Logger(label: "coffre.sdk")) {
        self.init(transport: HTTPClientTransport(server: server, httpClient: httpClient, logger: logger),
                  tenant: tenant, profile: profile, logger: logger)
    }

    public init(transport: any CoffreTransport, tenant: String?, profile: PasswordProfile = .interactive,
                logger: Logger = Logger(label: "coffre.sdk")) {
        self.transport = transport
        self.tenant = tenant.flatMap { $0.isEmpty ? nil : $0 }
        self.profile = profile
        minimumProfile = profile.isAtLeast(.interactive) ? .interactive : profile
        self.logger = logger
    }

    public var server: String { transport.serverDescription }

    // MARK: - Signup

    /// Creates an account. The account id is chosen here (a random UUID) and
    /// sent as `account_id`, because the key bundle is bound to it before the
    /// server has seen anything. Then logs in with the same derived
    /// credentials (no second Argon2id run).
    public func signup(email: String, password: String, deviceName: String? = nil) async throws -> SignupResult {
        let email = try Self.normalize(email: email)
        let accountID = UUID().uuidString.lowercased()
        let salt = DerivedCredentials.makeSalt()
        let derived = try await Argon2.derive(password: password, salt: salt, profile: profile, minimum: minimumProfile)
        let (keys, recoveryKey) = AccountKeys.generate()
        let body = try Self.signupBody(accountID: accountID, email: email, salt: salt, profile: profile,
                                       derived: derived, keys: keys, recoveryKey: recoveryKey)
        let response = try await send("POST", "/v1/accounts", body: body, tenantHeader: true)
        try Self.requireSuccess(response)
        let created = try Self.decode(SignupResponse.self, from: response)
        guard created.accountID == accountID else {
            throw CoffreClientError.accountIDMismatch(expected: accountID, received: created.accountID)
        }

        var session: Session?
        var loginError: (any Error)?
        do {
            let established = try await login(credentials: LoginCredentials(email: email, derived: derived, salt: salt, profile: profile),
                                              totpCode: nil, deviceName: deviceName)
            // The bundle that came back must hold exactly the keys just made.
            guard let unlocked = await established.keys, unlocked.masterKey == keys.masterKey,
                  unlocked.x25519.publicKey == keys.x25519.publicKey, unlocked.ed25519.publicKey == keys.ed25519.publicKey
            else { throw CoffreClientError.keyBundleRejected("the server returned a bundle with other keys than the ones signed up") }
            session = established
        } catch {
            loginError = error
        }
        return SignupResult(accountID: accountID, tenantID: created.tenantID, recoveryKey: recoveryKey.displayString,
                            session: session, loginError: loginError)
    }

    /// The signup request body, exactly as sent.
    static func signupBody(accountID: String, email: String, salt: [UInt8], profile: PasswordProfile,
                           derived: DerivedCredentials, keys: AccountKeys, recoveryKey: RecoveryKey) throws -> [UInt8] {
        let bundle = try keys.makeBundle(accountID: accountID, kek: derived.keyEncryptionKey, recoveryKey: recoveryKey)
        return try encode(SignupBody(
            accountID: accountID, email: email, salt: Sodium.base64URLEncode(salt), kdf: KDFParameters(profile),
            loginSecret: derived.loginSecret.base64URL, recoverySecret: RecoverySecret.derive(from: recoveryKey),
            publicKeys: PublicKeysDocument.make(for: keys), keyBundle: bundle))
    }

    // MARK: - Login

    /// Salt and Argon2id parameters for `email`, refused if weaker than
    /// `minimumProfile` or costlier than `PasswordProfile.maximum`.
    public func prelogin(email: String) async throws -> PreloginInfo {
        let email = try Self.normalize(email: email)
        let response = try await send("POST", "/v1/auth/prelogin", body: Self.encode(PreloginBody(email: email)),
                                      tenantHeader: true)
        try Self.requireSuccess(response)
        let answer = try Self.decode(PreloginResponse.self, from: response)
        guard let salt = Sodium.base64URLDecode(answer.salt), salt.count == DerivedCredentials.saltLength else {
            throw CoffreClientError.invalidResponse("the salt is not \(DerivedCredentials.saltLength) bytes of base64url")
        }
        let profile = try answer.kdf.acceptedProfile(minimum: minimumProfile)
        return PreloginInfo(salt: salt, kdf: answer.kdf, profile: profile)
    }

    /// Prelogin, then Argon2id (off the cooperative pool).
    public func deriveCredentials(email: String, password: String) async throws -> LoginCredentials {
        let email = try Self.normalize(email: email)
        guard !password.isEmpty else { throw CoffreClientError.invalidInput("the password is empty") }
        let info = try await prelogin(email: email)
        let derived = try await Argon2.derive(password: password, salt: info.salt, profile: info.profile,
                                              minimum: minimumProfile)
        return LoginCredentials(email: email, derived: derived, salt: info.salt, profile: info.profile)
    }

    public func login(email: String, password: String, totpCode: String? = nil,
                      deviceName: String? = nil) async throws -> Session {
        let credentials = try await deriveCredentials(email: email, password: password)
        return try await login(credentials: credentials, totpCode: totpCode, deviceName: deviceName)
    }

    /// Logs in and unlocks the returned key bundle. A bundle that does not
    /// unlock and verify (altered, another account's, slots swapped, public
    /// keys not matching) throws `keyBundleRejected`; no Session is returned
    /// and the tokens the server issued are given back (logout).
    public func login(credentials: LoginCredentials, totpCode: String? = nil,
                      deviceName: String? = nil) async throws -> Session {
        let code = totpCode?.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " ", with: "")
        let body = try Self.encode(LoginBody(email: credentials.email, loginSecret: credentials.derived.loginSecret.base64URL,
                                             totpCode: code.flatMap { $0.isEmpty ? nil : $0 }, deviceName: deviceName))
        let response = try await send("POST", "/v1/auth/login", body: body, tenantHeader: true)
        try Self.requireSuccess(response)
        let tokens = try Self.decode(TokenResponse.self, from: response)
        let keys: AccountKeys
        let bundle: KeyBundle
        do {
            bundle = try Self.decodeBundle(from: response)
            keys = try Self.unlock(bundle, accountID: tokens.accountID) {
                try AccountKeys.unlock(bundle: bundle, accountID: tokens.accountID, kek: credentials.derived.keyEncryptionKey)
            }
        } catch {
            // Hand the tokens back; nothing from this login is used.
            _ = try? await send("POST", "/v1/auth/logout", body: nil, bearer: tokens.accessToken)
            throw error
        }
        let state = SessionState(server: server, tenant: tenant, email: credentials.email, accountID: tokens.accountID,
                                 tenantID: tokens.tenantID, sessionID: tokens.sessionID, accessToken: tokens.accessToken,
                                 refreshToken: tokens.refreshToken,
                                 accessTokenExpiresAt: Session.expiry(in: tokens.expiresIn))
        return Session(state: state, keys: keys, keyBundle: bundle,
                       savedKeys: SavedKeys(keyBundle: bundle, salt: Sodium.base64URLEncode(credentials.salt),
                                            kdf: KDFParameters(credentials.profile)))
    }

    // MARK: - Tokens and sessions

    /// Rotates the tokens now (it also happens on its own before they expire).
    /// The new refresh token is announced through `Session.onStateChange`.
    public func refresh(_ session: Session) async throws {
        try await session.rotate(replacing: nil) { refreshToken in
            try await self.performRefresh(session: session, refreshToken: refreshToken)
        }
    }

    private func performRefresh(session: Session, refreshToken: String) async throws -> TokenResponse {
        let body = try Self.encode(RefreshBody(refreshToken: refreshToken))
        let response = try await send("POST", "/v1/auth/refresh", body: body, tenantHeader: true)
        try Self.requireSuccess(response)
        let tokens = try Self.decode(TokenResponse.self, from: response)
        guard tokens.accountID.lowercased() == session.accountID.lowercased(),
              tokens.sessionID.lowercased() == session.sessionID.lowercased() else {
            throw CoffreClientError.invalidResponse("refresh returned tokens for another account or session")
        }
        return tokens
    }

    /// Revokes this session on the server and forgets its keys. A session the
    /// server already ended counts as logged out.
    public func logout(_ session: Session) async throws {
        do {
            _ = try await authorized(session, "POST", "/v1/auth/logout", body: nil)
        } catch CoffreClientError.sessionEnded {
        }
        await session.markEnded()
    }

    public func whoami(_ session: Session) async throws -> AccountInfo {
        let response = try await authorized(session, "GET", "/v1/accounts/me", body: nil)
        let me = try Self.decode(MeResponse.self, from: response)
        var safetyCode: String?
        if let x = Sodium.base64URLDecode(me.publicKeys.x25519).flatMap({ try? X25519PublicKey(rawBytes: $0) }),
           let ed = Sodium.base64URLDecode(me.publicKeys.ed25519).flatMap({ try? Ed25519PublicKey(rawBytes: $0) }) {
            safetyCode = SafetyCode.fingerprint(ed25519Public: ed, x25519Public: x)
        }
        return AccountInfo(accountID: me.accountID.lowercased(), tenantID: me.tenantID.lowercased(), email: me.email, createdAt: me.createdAt?.date,
                           totpEnabled: me.totpEnabled, publicKeys: me.publicKeys,
                           selfSignatureValid: me.publicKeys.isSelfSignatureValid, safetyCode: safetyCode)
    }

    public func sessions(_ session: Session) async throws -> [SessionInfo] {
        let response = try await authorized(session, "GET", "/v1/sessions", body: nil)
        return try Self.decode(SessionsResponse.self, from: response).sessions.map {
            SessionInfo(sessionID: $0.sessionID.lowercased(), deviceName: $0.deviceName, createdAt: $0.createdAt?.date,
                        lastUsedAt: $0.lastUsedAt?.date, current: $0.current ?? false)
        }
    }

    public func revokeSession(_ session: Session, id: String) async throws {
        guard let uuid = UUID(uuidString: id.trimmingCharacters(in: .whitespaces)) else {
            throw CoffreClientError.invalidInput("\"\(id)\" is not a session id (a UUID)")
        }
        let sessionID = uuid.uuidString.lowercased()
        _ = try await authorized(session, "DELETE", "/v1/sessions/\(sessionID)", body: nil)
        if sessionID == session.sessionID.lowercased() { await session.markEnded() }
    }

    // MARK: - Keys for a restored session

    /// Unlocks the account keys of a session restored from disk (which holds
    /// tokens only) with the password and what a login saved (`SavedKeys`):
    /// Argon2id with the saved salt and parameters (held to this client's
    /// minimum and maximum, as at login), then the bundle opens here. Nothing
    /// goes to the server: no new session, no rate-limited call. A password
    /// that does not open the bundle is `wrongPassword`.
    public func unlock(_ session: Session, password: String, saved: SavedKeys) async throws {
        let accountID = session.accountID.lowercased()
        guard saved.keyBundle.accountID.lowercased() == accountID else {
            throw CoffreClientError.keyBundleRejected("the saved bundle belongs to account \(saved.keyBundle.accountID), not \(accountID)")
        }
        guard let salt = Sodium.base64URLDecode(saved.salt), salt.count == DerivedCredentials.saltLength else {
            throw CoffreClientError.keyBundleRejected("the saved salt is not \(DerivedCredentials.saltLength) bytes of base64url")
        }
        let profile = try saved.kdf.acceptedProfile(minimum: minimumProfile)
        let derived = try await Argon2.derive(password: password, salt: salt, profile: profile, minimum: minimumProfile)
        let keys: AccountKeys
        do {
            keys = try AccountKeys.unlock(bundle: saved.keyBundle, accountID: accountID, kek: derived.keyEncryptionKey)
        } catch KeyBundleError.slotUnreadable(.masterKeyUnderPassword, _) {
            throw CoffreClientError.wrongPassword
        } catch let error as KeyBundleError {
            throw CoffreClientError.keyBundleRejected(error.reason)
        }
        await session.update(keys: keys, bundle: saved.keyBundle, savedKeys: saved)
    }

    // MARK: - Two-factor

    /// Starts TOTP enrolment; nothing changes at login until `confirmTOTP`.
    public func enableTOTP(_ session: Session) async throws -> TOTPEnrollment {
        let response = try await authorized(session, "POST", "/v1/accounts/me/totp", body: nil)
        let answer = try Self.decode(TOTPEnrollmentResponse.self, from: response)
        return TOTPEnrollment(secret: answer.secret, otpauthURI: answer.otpauthURI)
    }

    public func confirmTOTP(_ session: Session, code: String) async throws {
        let code = code.filter { !$0.isWhitespace }
        guard !code.isEmpty else { throw CoffreClientError.invalidInput("the two-factor code is empty") }
        _ = try await authorized(session, "POST", "/v1/accounts/me/totp/confirm", body: Self.encode(TOTPConfirmBody(code: code)))
    }

    // MARK: - Password change

    /// Changes the password of a session that holds the account keys (one
    /// logged in by this process). The master key is re-wrapped under the new
    /// password's key-encryption key, with a new salt; the recovery slot is
    /// untouched. The server revokes every other session.
    public func changePassword(_ session: Session, current: String, new: String) async throws {
        guard await session.hasKeys else { throw CoffreClientError.keysUnavailable }
        let email: String
        if let known = session.email { email = known } else { email = try await whoami(session).email }
        let credentials = try await deriveCredentials(email: email, password: current)
        try await changePassword(session, currentLoginSecret: credentials.derived.loginSecret, new: new)
    }

    /// Logs in with the current password (and TOTP code if enabled), then
    /// changes the password from that fresh session, which stays valid and is
    /// returned; every other session of the account is revoked by the server.
    /// For callers whose session was restored from disk and holds no keys.
    public func changePassword(email: String, current: String, new: String, totpCode: String? = nil,
                               deviceName: String? = nil) async throws -> Session {
        let credentials = try await deriveCredentials(email: email, password: current)
        return try await changePassword(credentials: credentials, new: new, totpCode: totpCode, deviceName: deviceName)
    }

    /// As above, with credentials already derived (to retry with a TOTP code).
    public func changePassword(credentials: LoginCredentials, new: String, totpCode: String? = nil,
                               deviceName: String? = nil) async throws -> Session {
        guard !new.isEmpty else { throw CoffreClientError.invalidInput("the new password is empty") }
        let session = try await login(credentials: credentials, totpCode: totpCode, deviceName: deviceName)
        do {
            try await changePassword(session, currentLoginSecret: credentials.derived.loginSecret, new: new)
        } catch {
            try? await logout(session)
            throw error
        }
        return session
    }

    private func changePassword(_ session: Session, currentLoginSecret: LoginSecret, new: String) async throws {
        guard !new.isEmpty else { throw CoffreClientError.invalidInput("the new password is empty") }
        guard let keys = await session.keys, let bundle = await session.keyBundle else {
            throw CoffreClientError.keysUnavailable
        }
        let salt = DerivedCredentials.makeSalt()
        let derived = try await Argon2.derive(password: new, salt: salt, profile: profile, minimum: minimumProfile)
        let newBundle = try Self.unlock(bundle, accountID: session.accountID) {
            try keys.rewrap(bundle, newKEK: derived.keyEncryptionKey)
        }
        let body = try Self.encode(PasswordChangeBody(
            currentLoginSecret: currentLoginSecret.base64URL, salt: Sodium.base64URLEncode(salt), kdf: KDFParameters(profile),
            loginSecret: derived.loginSecret.base64URL, keyBundle: newBundle))
        _ = try await authorized(session, "POST", "/v1/accounts/me/password", body: body)
        await session.update(keys: keys, bundle: newBundle,
                             savedKeys: SavedKeys(keyBundle: newBundle, salt: Sodium.base64URLEncode(salt), kdf: KDFParameters(profile)))
    }

    // MARK: - Recovery

    /// The key bundle, fetched with the recovery secret and verified to open
    /// with the recovery key.
    public func recoveryKeyBundle(email: String, recoveryKey: String) async throws -> KeyBundle {
        try await recoveredKeys(email: try Self.normalize(email: email), recoveryKey: Self.parse(recoveryKey: recoveryKey)).bundle
    }

    /// Sets a new password with the recovery key: the bundle is opened with
    /// the recovery key, the master key re-wrapped under the new password, and
    /// the server resets the verifier and revokes every session. Returns the
    /// account id. Log in afterwards with the new password.
    @discardableResult
    public func recover(email: String, recoveryKey: String, newPassword: String) async throws -> String {
        let email = try Self.normalize(email: email)
        let key = try Self.parse(recoveryKey: recoveryKey)
        guard !newPassword.isEmpty else { throw CoffreClientError.invalidInput("the new password is empty") }
        let (bundle, keys) = try await recoveredKeys(email: email, recoveryKey: key)
        let salt = DerivedCredentials.makeSalt()
        let derived = try await Argon2.derive(password: newPassword, salt: salt, profile: profile, minimum: minimumProfile)
        let newBundle = try Self.unlock(bundle, accountID: bundle.accountID) {
            try keys.rewrap(bundle, newKEK: derived.keyEncryptionKey)
        }
        let body = try Self.encode(RecoveryResetBody(
            email: email, recoverySecret: RecoverySecret.derive(from: key), salt: Sodium.base64URLEncode(salt),
            kdf: KDFParameters(profile), loginSecret: derived.loginSecret.base64URL, keyBundle: newBundle))
        let response = try await send("POST", "/v1/auth/recovery/reset", body: body, tenantHeader: true)
        try Self.requireSuccess(response)
        return bundle.accountID
    }

    private func recoveredKeys(email: String, recoveryKey: RecoveryKey) async throws -> (bundle: KeyBundle, keys: AccountKeys) {
        let body = try Self.encode(RecoveryBundleBody(email: email, recoverySecret: RecoverySecret.derive(from: recoveryKey)))
        let response = try await send("POST", "/v1/auth/recovery/bundle", body: body, tenantHeader: true)
        try Self.requireSuccess(response)
        let bundle = try Self.decodeBundle(from: response)
        // The account id is only known from the bundle here; every envelope is
        // bound to it, so a relabelled bundle does not open.
        let keys = try Self.unlock(bundle, accountID: bundle.accountID) {
            try AccountKeys.unlock(bundle: bundle, accountID: bundle.accountID, recoveryKey: recoveryKey)
        }
        return (bundle, keys)
    }

    // MARK: - Deletion

    /// Deletes the account after proving the password again. Every session ends.
    public func deleteAccount(_ session: Session, password: String) async throws {
        let email: String
        if let known = session.email { email = known } else { email = try await whoami(session).email }
        let credentials = try await deriveCredentials(email: email, password: password)
        let body = try Self.encode(DeleteAccountBody(loginSecret: credentials.derived.loginSecret.base64URL))
        _ = try await authorized(session, "DELETE", "/v1/accounts/me", body: body)
        await session.markEnded()
    }

    // MARK: - Plumbing

    static func normalize(email: String) throws(CoffreClientError) -> String {
        let trimmed = email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard !trimmed.isEmpty else { throw .invalidInput("the email is empty") }
        guard trimmed.contains("@"), !trimmed.hasPrefix("@"), !trimmed.hasSuffix("@") else {
            throw .invalidInput("\"\(trimmed)\" is not an email address")
        }
        return trimmed
    }

    /// Checks a typed recovery key (characters, length, checksum) without
    /// sending anything; throws `invalidRecoveryKey` with the reason.
    public static func checkRecoveryKey(_ text: String) throws(CoffreClientError) {
        _ = try parse(recoveryKey: text)
    }

    static func parse(recoveryKey: String) throws(CoffreClientError) -> RecoveryKey {
        do {
            return try RecoveryKey(displayString: recoveryKey)
        } catch let error as RecoveryKeyError {
            throw .invalidRecoveryKey(error.reason)
        } catch {
            throw .invalidRecoveryKey("unreadable")
        }
    }

    /// Runs a bundle operation, reporting any failure as `keyBundleRejected`.
    static func unlock<T>(_ bundle: KeyBundle, accountID: String, _ body: () throws -> T) throws(CoffreClientError) -> T {
        do {
            return try body()
        } catch let error as KeyBundleError {
            throw .keyBundleRejected(error.reason)
        } catch {
            throw .keyBundleRejected("\(error)")
        }
    }

    static func decodeBundle(from response: TransportResponse) throws(CoffreClientError) -> KeyBundle {
        do {
            return try JSONDecoder().decode(KeyBundleHolder.self, from: Data(response.body)).keyBundle
        } catch {
            throw .keyBundleRejected("malformed key bundle (\(describe(decodingError: error)))")
        }
    }

    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, from response: TransportResponse) throws(CoffreClientError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(response.body))
        } catch {
            throw .invalidResponse(describe(decodingError: error))
        }
    }

    static func describe(decodingError error: any Error) -> String {
        guard let error = error as? DecodingError else { return "not JSON" }
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map(\.stringValue).joined(separator: ".")
            return keys.isEmpty ? "" : " at \(keys)"
        }
        switch error {
        case let .keyNotFound(key, context): return "missing field \(key.stringValue)\(path(context))"
        case let .typeMismatch(_, context), let .valueNotFound(_, context): return "wrong type\(path(context))"
        case let .dataCorrupted(context):
            return context.codingPath.isEmpty ? "not JSON" : "invalid value\(path(context))"
        @unknown default: return "invalid JSON"
        }
    }

    static func requireSuccess(_ response: TransportResponse) throws(CoffreAPIError) {
        guard (200..<300).contains(response.status) else { throw CoffreAPIError.from(response) }
    }

    func send(_ method: String, _ path: String, body: [UInt8]?, tenantHeader: Bool = false,
              bearer: String? = nil) async throws -> TransportResponse {
        var headers = ["Accept": "application/json"]
        if body != nil { headers["Content-Type"] = "application/json" }
        if tenantHeader, let tenant { headers[Self.tenantHeader] = tenant }
        if let bearer { headers["Authorization"] = "Bearer \(bearer)" }
        return try await transport.send(TransportRequest(method: method, path: path, headers: headers, body: body))
    }

    /// An authenticated call: refreshes a token about to expire first, and
    /// once more on a 401 that is not about the credentials in the body.
    /// Non-2xx answers throw.
    func authorized(_ session: Session, _ method: String, _ path: String, body: [UInt8]?) async throws -> TransportResponse {
        let response = try await withToken(session) { token in
            try await self.send(method, path, body: body, bearer: token)
        }
        try Self.requireSuccess(response)
        return response
    }

    /// An authenticated request as built by the caller (tus headers, binary
    /// bodies); every status but a token rejection comes back as a response.
    func authorized(_ session: Session, request: TransportRequest) async throws -> TransportResponse {
        try await withToken(session) { token in
            var request = request
            request.headers["Authorization"] = "Bearer \(token)"
            return try await self.transport.send(request)
        }
    }

    /// As above, streaming a 2xx body to `consume` (downloads).
    func authorized(_ session: Session, request: TransportRequest,
                    streamingTo consume: ([UInt8]) async throws -> Void) async throws -> TransportResponse {
        try await withToken(session) { token in
            var request = request
            request.headers["Authorization"] = "Bearer \(token)"
            return try await self.transport.send(request, streamingTo: consume)
        }
    }

    /// Runs `perform` with a fresh enough access token; on a token rejection,
    /// refreshes and runs it once more (a 401 carries no body worth keeping,
    /// so nothing was consumed).
    private func withToken(_ session: Session, _ perform: (String) async throws -> TransportResponse) async throws -> TransportResponse {
        if await session.isEnded { throw CoffreClientError.sessionEnded }
        var (token, expiresAt) = await session.currentAccessToken()
        if expiresAt.timeIntervalSinceNow < Self.refreshMargin {
            try await rotate(session, replacing: token)
            token = await session.currentAccessToken().token
        }
        var response = try await perform(token)
        if Self.isTokenRejection(response) {
            try await rotate(session, replacing: token)
            token = await session.currentAccessToken().token
            response = try await perform(token)
            if Self.isTokenRejection(response) {
                await session.markEnded()
                throw CoffreClientError.sessionEnded
            }
        }
        return response
    }

    private func rotate(_ session: Session, replacing token: String) async throws {
        try await session.rotate(replacing: token) { refreshToken in
            try await self.performRefresh(session: session, refreshToken: refreshToken)
        }
    }

    /// A 401 about the token, not about a password or TOTP code in the body.
    static func isTokenRejection(_ response: TransportResponse) -> Bool {
        guard response.status == 401 else { return false }
        let error = CoffreAPIError.from(response)
        return !error.isInvalidCredentials && !error.isTOTPRequired
    }
}
