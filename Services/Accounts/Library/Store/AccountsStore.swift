import CoffreCore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Everything accounts reads and writes. Tenant-owned rows are only touched
/// inside `withTenant`, which sets the row-level-security tenant for the
/// transaction, so a query that forgot its tenant filter still sees one
/// tenant's rows only.
struct AccountsStore: Sendable {
    let postgres: PostgresClient
    let outbox: Outbox
    let hasher: VerifierHasher
    /// Seals the TOTP seeds in `users.totp_secret` and `users.totp_pending`.
    let totp: TOTPSealer
    let signingKey: TokenSigningKey
    /// Writes signups, in batches when they queue up.
    let signups: SignupCommitter
    let logger: Logger
    /// How long a request waits for a Postgres connection before it is
    /// answered 503 (`COFFRE_POSTGRES_WAIT_SECONDS`).
    var postgresWait: Duration = .seconds(5)
    let accessTokenTTL: Int64 = 300
    let tenantCache = TenantCache()
    static let topic = "coffre.accounts"
    static let source = "/coffre/accounts"

    // MARK: transactions

    func withTenant<T: Sendable>(_ tenantID: UUID, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await postgres.withTenant(tenantID, leaseTimeout: postgresWait, logger: logger, body)
    }

    /// One connection for a few statements outside any tenant (the tenants
    /// table, the revocation feed), with the same bounded wait.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await postgres.withConnection(leaseTimeout: postgresWait, body)
    }

    func emit(_ type: String, tenant: UUID, subject: UUID, data: JSONValue, on connection: PostgresConnection) async throws {
        let event = CloudEvent(source: Self.source, type: type, subject: subject.uuidString.lowercased(),
                               tenant: tenant.uuidString.lowercased(), data: data)
        try await outbox.enqueue(event, topic: Self.topic, key: subject.uuidString.lowercased(), on: connection, logger: logger)
    }

    // MARK: tenants

    static let tenantColumns = "id, slug, display_name, storage_limit_bytes, transfer_allowance_bytes, rate_limits::text, cross_tenant_shares, created_at"

    func decodeTenants(_ rows: PostgresRowSequence) async throws -> [Tenant] {
        var tenants: [Tenant] = []
        for try await (id, slug, name, storage, transfer, limits, crossTenant, created)
            in rows.decode((UUID, String, String, Int64, Int64, String, Bool, Date).self) {
            let rateLimits = (try? JSONDecoder().decode(RateLimits.self, from: Data(limits.utf8))) ?? RateLimits()
            tenants.append(Tenant(id: id.lower, slug: slug, display_name: name, storage_limit_bytes: storage,
                                  transfer_allowance_bytes: transfer, rate_limits: rateLimits, cross_tenant_shares: crossTenant,
                                  created_at: created))
        }
        return tenants
    }

    /// Tenants by slug, cached for a few seconds: every pre-login request
    /// needs one, and they change only through the admin API.
    func tenant(slug: String) async throws -> Tenant? {
        if let cached = tenantCache.get(slug) { return cached }
        let tenant = try await withConnection { connection in
            try await decodeTenants(try await connection.query(
                "SELECT \(unescaped: Self.tenantColumns) FROM accounts.tenants WHERE slug = \(slug)", logger: logger)).first
        }
        if let tenant { tenantCache.put(slug, tenant) }
        return tenant
    }

    func listTenants() async throws -> [Tenant] {
        try await withConnection { connection in
            try await decodeTenants(try await connection.query(
                "SELECT \(unescaped: Self.tenantColumns) FROM accounts.tenants ORDER BY created_at, slug", logger: logger))
        }
    }

    func createTenant(_ request: CreateTenantRequest) async throws -> Tenant {
        try Validate.slug(request.slug)
        let name = request.display_name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200 else { throw Problem.badRequest("display_name must be 1-200 characters") }
        let storage = request.storage_limit_bytes ?? 50_000_000_000
        let transfer = request.transfer_allowance_bytes ?? 10_000_000_000
        guard storage >= 0, transfer >= 0 else { throw Problem.badRequest("limits must not be negative") }
        let limits = request.rate_limits ?? RateLimits()
        if let s = limits.signup_per_minute, s < 0 { throw Problem.badRequest("rate_limits.signup_per_minute must not be negative") }
        if let l = limits.login_per_minute, l < 0 { throw Problem.badRequest("rate_limits.login_per_minute must not be negative") }
        let limitsJSON = String(decoding: try JSONEncoder().encode(limits), as: UTF8.self)
        let id = UUID()
        let crossTenant = request.cross_tenant_shares ?? false
        return try await postgres.transaction(leaseTimeout: postgresWait, logger: logger) { connection in
            let rows = try await connection.query("""
                INSERT INTO accounts.tenants (id, slug, display_name, storage_limit_bytes, transfer_allowance_bytes, rate_limits,
                                              cross_tenant_shares)
                VALUES (\(id), \(request.slug), \(name), \(storage), \(transfer), \(limitsJSON)::jsonb, \(crossTenant))
                ON CONFLICT (slug) DO NOTHING
                RETURNING \(unescaped: Self.tenantColumns)
                """, logger: logger)
            guard let tenant = try await decodeTenants(rows).first else {
                throw Problem.conflict("a tenant with slug \(request.slug) exists", type: "urn:coffre:problem:tenant-exists")
            }
            try await emit("coffre.tenant.created", tenant: id, subject: id, data: .object([
                "tenant_id": .string(id.uuidString.lowercased()), "slug": .string(tenant.slug),
                "storage_limit_bytes": .int(storage), "transfer_allowance_bytes": .int(transfer),
                "cross_tenant_shares": .bool(crossTenant),
            ]), on: connection)
            return tenant
        }
    }

    /// Changes whether the tenant allows cross-tenant shares and emits
    /// `tenant.updated` (the key directory applies it to new shares; shares
    /// made before stay until revoked).
    func updateTenant(slug: String, _ request: UpdateTenantRequest) async throws -> Tenant {
        try await postgres.transaction(leaseTimeout: postgresWait, logger: logger) { connection in
            let rows = try await connection.query("""
                UPDATE accounts.tenants SET cross_tenant_shares = \(request.cross_tenant_shares) WHERE slug = \(slug)
                RETURNING \(unescaped: Self.tenantColumns)
                """, logger: logger)
            guard let tenant = try await decodeTenants(rows).first else { throw Problem.notFound("No tenant \(slug).") }
            try await emit("coffre.tenant.updated", tenant: tenant.uuid, subject: tenant.uuid, data: .object([
                "tenant_id": .string(tenant.id), "slug": .string(tenant.slug),
                "cross_tenant_shares": .bool(tenant.cross_tenant_shares),
            ]), on: connection)
            return tenant
        }
    }

    // MARK: signup, prelogin, login

    static func selfSignedMessage(_ keys: PublicKeys) -> [UInt8] {
        Array("coffre-keys-v1\n\(keys.x25519)\n\(keys.ed25519)".utf8)
    }

    /// The `account.created` event: the new account's public keys, for the key directory.
    static func accountCreated(tenant: String, account: UUID, email: String, keys: PublicKeys) -> CloudEvent {
        CloudEvent(source: source, type: "coffre.account.created", subject: account.lower, tenant: tenant, data: .object([
            "tenant_id": .string(tenant), "account_id": .string(account.lower), "email": .string(email),
            "public_keys": .object([
                "x25519": .string(keys.x25519), "ed25519": .string(keys.ed25519), "self_signature": .string(keys.self_signature),
            ]),
        ]))
    }

    func signup(tenant: Tenant, _ request: SignupRequest) async throws -> SignupResponse {
        let email = try Validate.email(request.email)
        let salt = try Validate.bytes("salt", request.salt, count: 16)
        try request.kdf.validate()
        let loginSecret = try Validate.bytes("login_secret", request.login_secret, count: 32)
        let recoverySecret = try Validate.bytes("recovery_secret", request.recovery_secret, count: 32)
        let x25519 = try Validate.bytes("public_keys.x25519", request.public_keys.x25519, count: 32)
        let ed25519 = try Validate.bytes("public_keys.ed25519", request.public_keys.ed25519, count: 32)
        let signature = try Validate.bytes("public_keys.self_signature", request.public_keys.self_signature, count: 64)
        guard KeyedHash.verifyEd25519(signature: signature, message: Self.selfSignedMessage(request.public_keys), publicKey: ed25519) else {
            throw Problem.badRequest("public_keys.self_signature does not verify", type: "urn:coffre:problem:bad-signature")
        }
        let bundle = try Validate.bundle(request.key_bundle)
        let accountID = request.account_id ?? UUID()
        let verifier = hasher.verifier(account: accountID, secret: loginSecret, purpose: "login")
        let recoveryVerifier = hasher.verifier(account: accountID, secret: recoverySecret, purpose: "recovery")
        let event = Self.accountCreated(tenant: tenant.id, account: accountID, email: email, keys: request.public_keys)
        let row = SignupCommitter.Row(
            id: accountID, email: email, salt: ByteBuffer(bytes: salt), opslimit: request.kdf.opslimit, memlimit: request.kdf.memlimit,
            verifier: ByteBuffer(bytes: verifier), recoveryVerifier: ByteBuffer(bytes: recoveryVerifier),
            x25519: ByteBuffer(bytes: x25519), ed25519: ByteBuffer(bytes: ed25519), signature: ByteBuffer(bytes: signature),
            bundle: bundle, eventID: event.id, payload: ByteBuffer(bytes: try event.encoded()))
        // The user row and its outbox event are committed together or not at
        // all, possibly in one transaction with other signups (group commit).
        let inserted = try await signups.insert(row, tenant: tenant.uuid)
        guard inserted else {
            // Same email in this tenant, or (rarely) a client-proposed id already used.
            throw Problem.conflict("an account with this email exists in this tenant", type: "urn:coffre:problem:email-taken")
        }
        return SignupResponse(account_id: accountID.lower, tenant_id: tenant.id)
    }

    struct UserRow: Sendable {
        var id: UUID
        var salt: [UInt8]
        var kdf: KDFParameters
        var verifier: [UInt8]
        var recoveryVerifier: [UInt8]
        var bundle: String
        /// As stored: a `TOTPSealer` envelope (or a legacy bare seed).
        var totpSecret: [UInt8]?
    }

    func user(email: String, on connection: PostgresConnection) async throws -> UserRow? {
        let rows = try await connection.query("""
            SELECT id, salt, kdf_opslimit, kdf_memlimit, verifier, recovery_verifier, key_bundle::text, totp_secret
            FROM accounts.users WHERE email = \(email)
            """, logger: logger)
        for try await (id, salt, ops, mem, verifier, recovery, bundle, totp) in rows.decode((UUID, ByteBuffer, Int64, Int64, ByteBuffer, ByteBuffer, String, ByteBuffer?).self) {
            return UserRow(id: id, salt: Array(buffer: salt), kdf: KDFParameters(algorithm: "argon2id13", opslimit: ops, memlimit: mem),
                           verifier: Array(buffer: verifier), recoveryVerifier: Array(buffer: recovery), bundle: bundle,
                           totpSecret: totp.map { Array(buffer: $0) })
        }
        return nil
    }

    func prelogin(tenant: Tenant, email rawEmail: String) async throws -> PreloginResponse {
        let email = try Validate.email(rawEmail)
        let user = try await withTenant(tenant.uuid) { try await self.user(email: email, on: $0) }
        if let user {
            return PreloginResponse(salt: Base64URL.encode(user.salt), kdf: user.kdf)
        }
        return PreloginResponse(salt: Base64URL.encode(hasher.fakeSalt(tenant: tenant.uuid, email: email)), kdf: .default)
    }

    static let invalidCredentials = Problem(.unauthorized, type: "urn:coffre:problem:invalid-credentials",
                                            title: "Unauthorized", detail: "Wrong email or password.")

    /// Checks the login secret; unknown email and wrong secret fail the same way.
    func authenticate(email: String, secret: [UInt8], purpose: String, on connection: PostgresConnection) async throws -> UserRow {
        let user = try await self.user(email: email, on: connection)
        let candidate = hasher.verifier(account: user?.id ?? UUID(), secret: secret, purpose: purpose)
        guard let user, KeyedHash.equal(candidate, purpose == "login" ? user.verifier : user.recoveryVerifier) else {
            throw Self.invalidCredentials
        }
        return user
    }

    func login(tenant: Tenant, _ request: LoginRequest) async throws -> TokenResponse {
        let email = try Validate.email(request.email)
        guard let secret = Base64URL.decode(request.login_secret), secret.count == 32 else { throw Self.invalidCredentials }
        let device = String((request.device_name ?? "").prefix(100))
        return try await withTenant(tenant.uuid) { connection in
            let user = try await authenticate(email: email, secret: secret, purpose: "login", on: connection)
            if let stored = user.totpSecret {
                let totp = try self.totp.open(stored, account: user.id, purpose: .confirmed)
                guard let code = request.totp_code, TOTP.verify(code, secret: totp.seed) else {
                    throw Problem(.unauthorized, type: "urn:coffre:problem:totp-required", title: "Unauthorized",
                                  detail: "A valid two-factor code is required.")
                }
                if totp.isLegacy {
                    // Stored in clear by an older version: sealed now, in this
                    // login's transaction (unless something changed it meanwhile).
                    let sealed = ByteBuffer(bytes: try self.totp.seal(totp.seed, account: user.id, purpose: .confirmed))
                    try await connection.query("""
                        UPDATE accounts.users SET totp_secret = \(sealed) WHERE id = \(user.id) AND totp_secret = \(ByteBuffer(bytes: stored))
                        """, logger: logger)
                }
            }
            let sessionID = UUID()
            try await connection.query("""
                INSERT INTO accounts.sessions (tenant_id, id, account_id, device_name) VALUES (\(tenant.uuid), \(sessionID), \(user.id), \(device))
                """, logger: logger)
            var response = try await issueTokens(tenant: tenant.uuid, account: user.id, session: sessionID, on: connection)
            response.key_bundle = try JSONDecoder().decode(JSONValue.self, from: Data(user.bundle.utf8))
            return response
        }
    }

    func issueTokens(tenant: UUID, account: UUID, session: UUID, on connection: PostgresConnection) async throws -> TokenResponse {
        let refresh = RefreshToken.issue(tenantID: tenant, sessionID: session)
        try await connection.query("""
            INSERT INTO accounts.refresh_tokens (hash, tenant_id, session_id) VALUES (\(ByteBuffer(bytes: hasher.refreshHash(refresh.secret))), \(tenant), \(session))
            """, logger: logger)
        let now = Int64(Date().timeIntervalSince1970)
        let claims = AccessClaims(tid: tenant, sub: account, sid: session, iat: now, exp: now + accessTokenTTL, kid: signingKey.kid)
        return TokenResponse(access_token: try AccessToken.sign(claims, with: signingKey), refresh_token: refresh.string,
                             expires_in: Int(accessTokenTTL), account_id: account.lower, tenant_id: tenant.lower, session_id: session.lower, key_bundle: nil)
    }

    static let invalidRefresh = Problem(.unauthorized, type: "urn:coffre:problem:invalid-refresh-token", title: "Unauthorized",
                                        detail: "The refresh token is invalid, expired or was already used.")

    /// Rotates a refresh token. A superseded token presented again means it
    /// leaked (or was replayed): the whole session is revoked.
    func refresh(_ request: RefreshRequest) async throws -> TokenResponse {
        guard let token = RefreshToken(parsing: request.refresh_token) else { throw Self.invalidRefresh }
        let hash = hasher.refreshHash(token.secret)
        enum Outcome: Sendable { case issued(TokenResponse), reused }
        let outcome = try await withTenant(token.tenantID) { connection -> Outcome in
            let rows = try await connection.query("""
                SELECT r.superseded_at IS NOT NULL, s.revoked_at IS NOT NULL, s.account_id, s.id
                FROM accounts.refresh_tokens r JOIN accounts.sessions s ON s.id = r.session_id
                WHERE r.hash = \(ByteBuffer(bytes: hash)) AND r.session_id = \(token.sessionID)
                FOR UPDATE OF r, s
                """, logger: logger)
            var found: (Bool, Bool, UUID, UUID)?
            for try await row in rows.decode((Bool, Bool, UUID, UUID).self) { found = row }
            guard let (superseded, revoked, account, session) = found, !revoked else { throw Self.invalidRefresh }
            if superseded {
                try await revoke(session: session, account: account, tenant: token.tenantID, reason: "refresh-token-reuse", on: connection)
                return .reused
            }
            try await connection.query("UPDATE accounts.refresh_tokens SET superseded_at = now() WHERE hash = \(ByteBuffer(bytes: hash))", logger: logger)
            try await connection.query("UPDATE accounts.sessions SET last_used_at = now() WHERE id = \(session)", logger: logger)
            return .issued(try await issueTokens(tenant: token.tenantID, account: account, session: session, on: connection))
        }
        switch outcome {
        case .issued(let response): return response
        case .reused: throw Self.invalidRefresh  // the revocation above is committed
        }
    }

    // MARK: sessions

    func revoke(session: UUID, account: UUID, tenant: UUID, reason: String, on connection: PostgresConnection) async throws {
        let rows = try await connection.query("""
            UPDATE accounts.sessions SET revoked_at = now(), revoke_reason = \(reason)
            WHERE id = \(session) AND account_id = \(account) AND revoked_at IS NULL RETURNING id
            """, logger: logger)
        var changed = false
        for try await _ in rows { changed = true }
        guard changed else { return }
        try await recordRevocation(session: session, on: connection)
        try await emit("coffre.session.revoked", tenant: tenant, subject: account, data: .object([
            "tenant_id": .string(tenant.uuidString.lowercased()), "account_id": .string(account.uuidString.lowercased()),
            "session_id": .string(session.uuidString.lowercased()), "reason": .string(reason),
        ]), on: connection)
    }

    func recordRevocation(session: UUID, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO accounts.revocations (session_id, expires_at) VALUES (\(session), now() + make_interval(secs => \(Double(accessTokenTTL + 60))))
            """, logger: logger)
    }

    /// Revokes every active session of the account except `keep`.
    func revokeAll(account: UUID, tenant: UUID, except keep: UUID?, reason: String, on connection: PostgresConnection) async throws {
        let rows = try await connection.query("""
            SELECT id FROM accounts.sessions WHERE account_id = \(account) AND revoked_at IS NULL
            """, logger: logger)
        var ids: [UUID] = []
        for try await id in rows.decode(UUID.self) where id != keep { ids.append(id) }
        for id in ids {
            try await revoke(session: id, account: account, tenant: tenant, reason: reason, on: connection)
        }
    }

    func logout(_ user: AuthenticatedUser) async throws {
        try await withTenant(user.tenantID) { connection in
            try await revoke(session: user.sessionID, account: user.accountID, tenant: user.tenantID, reason: "logout", on: connection)
        }
    }

    func sessions(_ user: AuthenticatedUser) async throws -> SessionsResponse {
        try await withTenant(user.tenantID) { connection in
            let rows = try await connection.query("""
                SELECT id, device_name, created_at, last_used_at FROM accounts.sessions
                WHERE account_id = \(user.accountID) AND revoked_at IS NULL ORDER BY created_at
                """, logger: logger)
            var sessions: [SessionInfo] = []
            for try await (id, device, created, used) in rows.decode((UUID, String, Date, Date).self) {
                sessions.append(SessionInfo(session_id: id.lower, device_name: device, created_at: created, last_used_at: used, current: id == user.sessionID))
            }
            return SessionsResponse(sessions: sessions)
        }
    }

    func revokeSession(_ user: AuthenticatedUser, id: UUID) async throws {
        try await withTenant(user.tenantID) { connection in
            let rows = try await connection.query("""
                SELECT 1 FROM accounts.sessions WHERE id = \(id) AND account_id = \(user.accountID) AND revoked_at IS NULL
                """, logger: logger)
            var exists = false
            for try await _ in rows { exists = true }
            guard exists else { throw Problem.notFound("No such session.") }
            try await revoke(session: id, account: user.accountID, tenant: user.tenantID, reason: "revoked-by-user", on: connection)
        }
    }

    /// True when the session exists, belongs to the user and is not revoked.
    func requireActiveSession(_ user: AuthenticatedUser, on connection: PostgresConnection) async throws {
        let rows = try await connection.query("""
            SELECT 1 FROM accounts.sessions WHERE id = \(user.sessionID) AND account_id = \(user.accountID) AND revoked_at IS NULL
            """, logger: logger)
        for try await _ in rows { return }
        throw Problem.unauthorized("This session was revoked.")
    }

    // MARK: me

    func me(_ user: AuthenticatedUser) async throws -> MeResponse {
        try await withTenant(user.tenantID) { connection in
            try await requireActiveSession(user, on: connection)
            let rows = try await connection.query("""
                SELECT email, created_at, totp_secret IS NOT NULL, public_x25519, public_ed25519, self_signature
                FROM accounts.users WHERE id = \(user.accountID)
                """, logger: logger)
            for try await (email, created, totp, x, ed, sig) in rows.decode((String, Date, Bool, ByteBuffer, ByteBuffer, ByteBuffer).self) {
                return MeResponse(account_id: user.accountID.lower, tenant_id: user.tenantID.lower, email: email, created_at: created, totp_enabled: totp,
                                  public_keys: PublicKeys(x25519: Base64URL.encode(Array(buffer: x)), ed25519: Base64URL.encode(Array(buffer: ed)),
                                                          self_signature: Base64URL.encode(Array(buffer: sig))))
            }
            throw Problem.unauthorized("This account no longer exists.")
        }
    }

    // MARK: TOTP

    func enrollTOTP(_ user: AuthenticatedUser) async throws -> TOTPEnrollment {
        let secret = KeyedHash.random(TOTPSealer.legacySeedLength)
        let sealed = ByteBuffer(bytes: try totp.seal(secret, account: user.accountID, purpose: .pending))
        let email = try await withTenant(user.tenantID) { connection -> String in
            try await requireActiveSession(user, on: connection)
            let rows = try await connection.query("""
                UPDATE accounts.users SET totp_pending = \(sealed) WHERE id = \(user.accountID) RETURNING email
                """, logger: logger)
            for try await email in rows.decode(String.self) { return email }
            throw Problem.unauthorized("This account no longer exists.")
        }
        let base32 = TOTP.base32(secret)
        let label = "Coffre:" + (email.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? "account")
        return TOTPEnrollment(secret: base32, otpauth_uri: "otpauth://totp/\(label)?secret=\(base32)&issuer=Coffre&algorithm=SHA1&digits=6&period=30")
    }

    func confirmTOTP(_ user: AuthenticatedUser, code: String) async throws {
        try await withTenant(user.tenantID) { connection in
            try await requireActiveSession(user, on: connection)
            let rows = try await connection.query("SELECT totp_pending FROM accounts.users WHERE id = \(user.accountID) FOR UPDATE", logger: logger)
            var pending: [UInt8]?
            for try await value in rows.decode(ByteBuffer?.self) { pending = value.map { Array(buffer: $0) } }
            guard let pending else { throw Problem.conflict("No two-factor enrolment is pending; start one first.") }
            let seed = try totp.open(pending, account: user.accountID, purpose: .pending).seed
            guard TOTP.verify(code, secret: seed) else {
                throw Problem.badRequest("The code does not match; check the device's clock and try again.", type: "urn:coffre:problem:totp-invalid")
            }
            // Sealed again for the other column: the purpose is in the
            // associated data, so a pending envelope never passes as confirmed.
            let sealed = ByteBuffer(bytes: try totp.seal(seed, account: user.accountID, purpose: .confirmed))
            try await connection.query("""
                UPDATE accounts.users SET totp_secret = \(sealed), totp_pending = NULL WHERE id = \(user.accountID)
                """, logger: logger)
        }
    }

    // MARK: password, recovery, deletion

    /// For changes a stolen access token must not make alone (password,
    /// deletion): the session is live and the caller knows the login secret.
    /// Locks the user row for the rest of the transaction.
    func confirmLoginSecret(_ secret: [UInt8], of user: AuthenticatedUser, on connection: PostgresConnection) async throws {
        try await requireActiveSession(user, on: connection)
        let rows = try await connection.query("SELECT verifier FROM accounts.users WHERE id = \(user.accountID) FOR UPDATE", logger: logger)
        var stored: [UInt8]?
        for try await v in rows.decode(ByteBuffer.self) { stored = Array(buffer: v) }
        guard let stored, KeyedHash.equal(hasher.verifier(account: user.accountID, secret: secret, purpose: "login"), stored) else {
            throw Self.invalidCredentials
        }
    }

    /// A new password's salt, KDF parameters, login secret and re-wrapped
    /// bundle, checked once for both password change and recovery.
    struct NewCredentials: Sendable {
        var salt: [UInt8]
        var kdf: KDFParameters
        var loginSecret: [UInt8]
        var bundle: String

        init(salt: String, kdf: KDFParameters, loginSecret: String, bundle: JSONValue) throws(Problem) {
            self.salt = try Validate.bytes("salt", salt, count: 16)
            try kdf.validate()
            self.kdf = kdf
            self.loginSecret = try Validate.bytes("login_secret", loginSecret, count: 32)
            self.bundle = try Validate.bundle(bundle)
        }
    }

    /// Swaps verifier, KDF parameters and bundle in one statement; recovery
    /// also clears two-factor (the lost device may be why the user recovers).
    func replaceCredentials(_ new: NewCredentials, account: UUID, clearTOTP: Bool, on connection: PostgresConnection) async throws {
        let verifier = ByteBuffer(bytes: hasher.verifier(account: account, secret: new.loginSecret, purpose: "login"))
        try await connection.query("""
            UPDATE accounts.users SET salt = \(ByteBuffer(bytes: new.salt)), kdf_opslimit = \(new.kdf.opslimit), kdf_memlimit = \(new.kdf.memlimit),
                verifier = \(verifier), key_bundle = \(new.bundle)::jsonb,
                totp_secret = CASE WHEN \(clearTOTP) THEN NULL ELSE totp_secret END,
                totp_pending = CASE WHEN \(clearTOTP) THEN NULL ELSE totp_pending END
            WHERE id = \(account)
            """, logger: logger)
    }

    func changePassword(_ user: AuthenticatedUser, _ request: PasswordChangeRequest) async throws {
        guard let current = Base64URL.decode(request.current_login_secret), current.count == 32 else { throw Self.invalidCredentials }
        let new = try NewCredentials(salt: request.salt, kdf: request.kdf, loginSecret: request.login_secret, bundle: request.key_bundle)
        try await withTenant(user.tenantID) { connection in
            try await confirmLoginSecret(current, of: user, on: connection)
            try await replaceCredentials(new, account: user.accountID, clearTOTP: false, on: connection)
            try await revokeAll(account: user.accountID, tenant: user.tenantID, except: user.sessionID, reason: "password-changed", on: connection)
        }
    }

    func recoveryBundle(tenant: Tenant, _ request: RecoveryBundleRequest) async throws -> RecoveryBundleResponse {
        let email = try Validate.email(request.email)
        guard let secret = Base64URL.decode(request.recovery_secret), secret.count == 32 else { throw Self.invalidCredentials }
        let bundle = try await withTenant(tenant.uuid) { connection in
            try await authenticate(email: email, secret: secret, purpose: "recovery", on: connection).bundle
        }
        return RecoveryBundleResponse(key_bundle: try JSONDecoder().decode(JSONValue.self, from: Data(bundle.utf8)))
    }

    func recoveryReset(tenant: Tenant, _ request: RecoveryResetRequest) async throws {
        let email = try Validate.email(request.email)
        guard let secret = Base64URL.decode(request.recovery_secret), secret.count == 32 else { throw Self.invalidCredentials }
        let new = try NewCredentials(salt: request.salt, kdf: request.kdf, loginSecret: request.login_secret, bundle: request.key_bundle)
        try await withTenant(tenant.uuid) { connection in
            let user = try await authenticate(email: email, secret: secret, purpose: "recovery", on: connection)
            try await replaceCredentials(new, account: user.id, clearTOTP: true, on: connection)
            try await revokeAll(account: user.id, tenant: tenant.uuid, except: nil, reason: "recovered", on: connection)
        }
    }

    func deleteAccount(_ user: AuthenticatedUser, _ request: DeleteAccountRequest) async throws {
        guard let secret = Base64URL.decode(request.login_secret), secret.count == 32 else { throw Self.invalidCredentials }
        try await withTenant(user.tenantID) { connection in
            try await confirmLoginSecret(secret, of: user, on: connection)
            try await revokeAll(account: user.accountID, tenant: user.tenantID, except: nil, reason: "account-deleted", on: connection)
            try await connection.query("DELETE FROM accounts.users WHERE id = \(user.accountID)", logger: logger)
            try await emit("coffre.account.deleted", tenant: user.tenantID, subject: user.accountID, data: .object([
                "tenant_id": .string(user.tenantID.uuidString.lowercased()), "account_id": .string(user.accountID.uuidString.lowercased()),
            ]), on: connection)
        }
    }

    // MARK: internal

    struct Revocation: Encodable, Sendable {
        var seq: Int64
        var session_id: String
        var expires_at: Int64
    }

    func revocations(after: Int64) async throws -> [Revocation] {
        try await withConnection { connection in
            let rows = try await connection.query("""
                SELECT seq, session_id, extract(epoch FROM expires_at)::bigint FROM accounts.revocations
                WHERE seq > \(after) AND expires_at > now() ORDER BY seq LIMIT 5000
                """, logger: logger)
            var out: [Revocation] = []
            for try await (seq, session, expires) in rows.decode((Int64, UUID, Int64).self) {
                out.append(Revocation(seq: seq, session_id: session.lower, expires_at: expires))
            }
            return out
        }
    }
}

/// Slug → tenant, kept five seconds. A tenant created on another replica is
/// found at once (misses are not cached); limit changes show within seconds.
final class TenantCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: (Tenant, ContinuousClock.Instant)] = [:]
    private let ttl: Duration = .seconds(5)

    func get(_ slug: String) -> Tenant? {
        lock.lock()
        defer { lock.unlock() }
        guard let (tenant, at) = entries[slug], ContinuousClock.now - at < ttl else { return nil }
        return tenant
    }

    func put(_ slug: String, _ tenant: Tenant) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count > 10_000 { entries.removeAll() }
        entries[slug] = (tenant, ContinuousClock.now)
    }
}
