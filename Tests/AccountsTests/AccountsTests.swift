@testable import Accounts
import CoffreCore
import CoffreTestSupport
import Foundation
import Kafka
import PostgresNIO
import Sodium
import Testing

@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct AccountsTests {
    typealias Fake = AccountsHarness.FakeClient

    @Test func signupLoginMeRefreshLogout() async throws {
        try await AccountsHarness.run { h in
            let fake = Fake()
            let (identity, refresh, access) = try await h.signupAndLogin(fake)
            #expect(identity.accountID == fake.accountID)
            // The access token verifies with the published key.
            let keys = try await h.call(.get, "/internal/v1/token-keys", identity: VerifiedIdentity())
            let key = (keys.json["keys"] as! [[String: String]])[0]
            let claims = try AccessToken.verify(access, keys: [key["kid"]!: Base64URL.decode(key["public_key"]!)!])
            #expect(claims.sub == fake.accountID && claims.sid == identity.sessionID)

            let me = try await h.call(.get, "/v1/accounts/me", identity: identity)
            #expect(me.status == .ok)
            #expect(me.json["email"] as? String == fake.email)

            let refreshed = try await h.call(.post, "/v1/auth/refresh", json: ["refresh_token": refresh], identity: h.tenant("default"))
            #expect(refreshed.status == .ok)
            let newRefresh = refreshed.json["refresh_token"] as! String
            #expect(newRefresh != refresh)

            let logout = try await h.call(.post, "/v1/auth/logout", identity: identity)
            #expect(logout.status == .noContent)
            #expect(try await h.call(.get, "/v1/accounts/me", identity: identity).status == .unauthorized)
            #expect(try await h.call(.post, "/v1/auth/refresh", json: ["refresh_token": newRefresh], identity: h.tenant("default")).status == .unauthorized)
            // The gateway's revocation feed names the session.
            let feed = try await h.call(.get, "/internal/v1/revocations?after=0", identity: VerifiedIdentity())
            #expect(feed.text.contains(identity.sessionID!.uuidString.lowercased()))
        }
    }

    @Test func reusingARefreshTokenRevokesTheSession() async throws {
        try await AccountsHarness.run { h in
            let (identity, refresh, _) = try await h.signupAndLogin(Fake())
            let first = try await h.call(.post, "/v1/auth/refresh", json: ["refresh_token": refresh], identity: h.tenant("default"))
            #expect(first.status == .ok)
            let stolenReplay = try await h.call(.post, "/v1/auth/refresh", json: ["refresh_token": refresh], identity: h.tenant("default"))
            #expect(stolenReplay.status == .unauthorized)
            // The legitimate holder's newer token died with the session.
            let legit = try await h.call(.post, "/v1/auth/refresh", json: ["refresh_token": first.json["refresh_token"] as! String], identity: h.tenant("default"))
            #expect(legit.status == .unauthorized)
            #expect(try await h.call(.get, "/v1/accounts/me", identity: identity).status == .unauthorized)
        }
    }

    @Test func wrongPasswordAndUnknownEmailLookTheSame() async throws {
        try await AccountsHarness.run { h in
            let fake = Fake()
            _ = try await h.signupAndLogin(fake)
            let wrong = try await h.call(.post, "/v1/auth/login", json: fake.loginBody(secret: Sodium.randomBytes(32)), identity: h.tenant("default"))
            let unknown = try await h.call(.post, "/v1/auth/login", json: Fake().loginBody(), identity: h.tenant("default"))
            #expect(wrong.status == .unauthorized && unknown.status == .unauthorized)
            for key in ["type", "title", "detail", "status"] {
                #expect(String(describing: wrong.json[key]) == String(describing: unknown.json[key]), "\(key) differs")
            }
            #expect(Set(wrong.json.keys) == Set(unknown.json.keys))

            // Prelogin: same shape for a real and an unknown email; the fake salt is stable.
            let real = try await h.call(.post, "/v1/auth/prelogin", json: ["email": fake.email], identity: h.tenant("default"))
            let ghost = try await h.call(.post, "/v1/auth/prelogin", json: ["email": "nobody-\(UUID())@example.com"], identity: h.tenant("default"))
            #expect(real.status == .ok && ghost.status == .ok)
            #expect(Set(real.json.keys) == Set(ghost.json.keys))
            #expect(Base64URL.decode(real.json["salt"] as! String) == fake.salt)
            #expect(Base64URL.decode(ghost.json["salt"] as! String)?.count == 16)
            let ghostAgain = try await h.call(.post, "/v1/auth/prelogin", json: ["email": ghost.json.isEmpty ? "" : "nobody@example.com"], identity: h.tenant("default"))
            let ghostAgain2 = try await h.call(.post, "/v1/auth/prelogin", json: ["email": "nobody@example.com"], identity: h.tenant("default"))
            #expect(ghostAgain.json["salt"] as? String == ghostAgain2.json["salt"] as? String)
        }
    }

    @Test func sameEmailTwiceIs409ButAnotherTenantIsAnotherAccount() async throws {
        try await AccountsHarness.run { h in
            let slug = TestEnvironment.unique("t").replacingOccurrences(of: "_", with: "-")
            _ = try await h.createTenant(slug)
            let fake = Fake()
            #expect(try await h.call(.post, "/v1/accounts", json: fake.signupBody, identity: h.tenant("default")).status == .created)
            var again = Fake(email: fake.email.uppercased())
            again.accountID = UUID()
            let dup = try await h.call(.post, "/v1/accounts", json: again.signupBody, identity: h.tenant("default"))
            #expect(dup.status == .conflict)
            #expect(dup.json["type"] as? String == "urn:coffre:problem:email-taken")
            let other = try await h.call(.post, "/v1/accounts", json: again.signupBody, identity: h.tenant(slug))
            #expect(other.status == .created)
            #expect(other.json["account_id"] as? String != fake.accountID.uuidString.lowercased())
        }
    }

    @Test func tenantsAreIsolatedOnEveryRoute() async throws {
        try await AccountsHarness.run { h in
            let slugB = TestEnvironment.unique("iso").replacingOccurrences(of: "_", with: "-")
            let tenantB = try await h.createTenant(slugB)
            let a = try await h.signupAndLogin(Fake(), tenant: "default")
            let bFake = Fake()
            let b = try await h.signupAndLogin(bFake, tenant: slugB)
            // A's account and session presented with B's tenant id: RLS hides them.
            let crossed = VerifiedIdentity(tenantID: tenantB, accountID: a.identity.accountID, sessionID: a.identity.sessionID)
            #expect(try await h.call(.get, "/v1/accounts/me", identity: crossed).status == .unauthorized)
            let listed = try await h.call(.get, "/v1/sessions", identity: crossed)
            #expect((listed.json["sessions"] as? [Any])?.isEmpty == true)
            // A cannot revoke B's session, nor tell it exists.
            let revoke = try await h.call(.delete, "/v1/sessions/\(b.identity.sessionID!.uuidString.lowercased())", identity: a.identity)
            #expect(revoke.status == .notFound)
            #expect(try await h.call(.get, "/v1/accounts/me", identity: b.identity).status == .ok)
            // B's email does not exist for tenant A's prelogin/login.
            let login = try await h.call(.post, "/v1/auth/login", json: bFake.loginBody(), identity: h.tenant("default"))
            #expect(login.status == .unauthorized)
            // B's refresh token cannot be replayed under tenant A's id.
            let parts = b.refresh.split(separator: ".")
            let forged = "r1.\(AccountsMigrations.defaultTenantID).\(parts[2]).\(parts[3])"
            #expect(try await h.call(.post, "/v1/auth/refresh", json: ["refresh_token": forged], identity: h.tenant("default")).status == .unauthorized)
            // TOTP and password routes with the crossed identity change nothing.
            #expect(try await h.call(.post, "/v1/accounts/me/totp", identity: crossed).status == .unauthorized)
        }
    }

    @Test func rowLevelSecurityHoldsWithoutTheApplicationsFilters() async throws {
        try await AccountsHarness.run { h in
            let fake = Fake()
            _ = try await h.signupAndLogin(fake)
            try await TestEnvironment.withPostgres { client in
                func count(tenant: String?) async throws -> Int {
                    try await client.transaction(logger: TestEnvironment.logger) { connection in
                        if let tenant {
                            try await connection.query("SELECT set_config('coffre.tenant_id', \(tenant), true)", logger: TestEnvironment.logger)
                        }
                        let rows = try await connection.query("SELECT count(*) FROM accounts.users WHERE email = \(fake.email)", logger: TestEnvironment.logger)
                        for try await n in rows.decode(Int.self) { return n }
                        return -1
                    }
                }
                let own = try await count(tenant: AccountsMigrations.defaultTenantID)
                let other = try await count(tenant: UUID().uuidString)
                let unset = try await count(tenant: nil)
                #expect(own == 1)
                #expect(other == 0)
                #expect(unset == 0)
            }
        }
    }

    @Test func badInputIs4xxAndWritesNothing() async throws {
        try await AccountsHarness.run { h in
            var fake = Fake()
            func signup(_ mutate: (inout [String: Any]) -> Void) async throws -> AccountsHarness.Reply {
                var body = fake.signupBody
                mutate(&body)
                return try await h.call(.post, "/v1/accounts", json: body, identity: h.tenant("default"))
            }
            let cases: [(String, (inout [String: Any]) -> Void)] = [
                ("missing email", { $0["email"] = nil }),
                ("bad email", { $0["email"] = "not-an-email" }),
                ("short salt", { $0["salt"] = Base64URL.encode([1, 2, 3]) }),
                ("bad base64", { $0["login_secret"] = "***" }),
                ("weak kdf", { $0["kdf"] = ["algorithm": "argon2id13", "opslimit": 0, "memlimit": 1024] }),
                ("other kdf", { $0["kdf"] = ["algorithm": "md5", "opslimit": 2, "memlimit": 67_108_864] }),
                ("bundle not object", { $0["key_bundle"] = "string" }),
                ("huge bundle", { $0["key_bundle"] = ["x": String(repeating: "a", count: 20_000)] }),
                ("bad self-signature", { body in
                    var keys = body["public_keys"] as! [String: String]
                    keys["self_signature"] = Base64URL.encode(Sodium.randomBytes(64))
                    body["public_keys"] = keys
                }),
            ]
            for (name, mutate) in cases {
                let reply = try await signup(mutate)
                #expect(reply.status == .badRequest, "\(name): \(reply.status) \(reply.text)")
                #expect(reply.headers[.contentType] == "application/problem+json", "\(name)")
            }
            let malformed = try await h.call(.post, "/v1/accounts", raw: "{not json", identity: h.tenant("default"))
            #expect(malformed.status == .badRequest)
            // None of them created the account.
            fake.accountID = UUID()
            let prelogin = try await h.call(.post, "/v1/auth/prelogin", json: ["email": fake.email], identity: h.tenant("default"))
            #expect(Base64URL.decode(prelogin.json["salt"] as! String) != fake.salt)
            // Unknown tenant, no gateway identity, bad ids.
            #expect(try await h.call(.post, "/v1/accounts", json: fake.signupBody, identity: h.tenant("no-such-tenant")).status == .notFound)
            #expect(try await h.call(.post, "/v1/accounts", json: fake.signupBody).status == .unauthorized)
            let (identity, _, _) = try await h.signupAndLogin(Fake())
            #expect(try await h.call(.delete, "/v1/sessions/not-a-uuid", identity: identity).status == .badRequest)
            #expect(try await h.call(.get, "/internal/v1/token-keys").status == .unauthorized)
        }
    }

    @Test func adminRoutesNeedTheOperatorToken() async throws {
        try await AccountsHarness.run { h in
            #expect(try await h.call(.get, "/v1/admin/tenants").status == .unauthorized)
            #expect(try await h.call(.get, "/v1/admin/tenants", headers: [.authorization: "Bearer wrong"]).status == .unauthorized)
            let slug = TestEnvironment.unique("adm").replacingOccurrences(of: "_", with: "-")
            _ = try await h.createTenant(slug)
            let dup = try await h.call(.post, "/v1/admin/tenants", json: ["slug": slug, "display_name": "x"], headers: [.authorization: "Bearer \(AccountsHarness.adminToken)"])
            #expect(dup.status == .conflict)
            let bad = try await h.call(.post, "/v1/admin/tenants", json: ["slug": "-Bad_", "display_name": "x"], headers: [.authorization: "Bearer \(AccountsHarness.adminToken)"])
            #expect(bad.status == .badRequest)
            let list = try await h.call(.get, "/v1/admin/tenants", headers: [.authorization: "Bearer \(AccountsHarness.adminToken)"])
            let slugs = (list.json["tenants"] as? [[String: Any]])?.compactMap { $0["slug"] as? String } ?? []
            #expect(slugs.contains("default") && slugs.contains(slug))
        }
    }

    @Test func passwordChangeSwapsVerifierAndRevokesOtherSessions() async throws {
        try await AccountsHarness.run { h in
            let fake = Fake()
            let first = try await h.signupAndLogin(fake)
            let second = try await h.call(.post, "/v1/auth/login", json: fake.loginBody(), identity: h.tenant("default"))
            let secondSession = UUID(uuidString: second.json["session_id"] as! String)!
            let newSecret = Sodium.randomBytes(32)
            let change = try await h.call(.post, "/v1/accounts/me/password", json: [
                "current_login_secret": Base64URL.encode(fake.loginSecret), "salt": Base64URL.encode(Sodium.randomBytes(16)),
                "kdf": ["algorithm": "argon2id13", "opslimit": 3, "memlimit": 67_108_864],
                "login_secret": Base64URL.encode(newSecret), "key_bundle": ["version": 2],
            ], identity: first.identity)
            #expect(change.status == .noContent, "\(change.text)")
            #expect(try await h.call(.post, "/v1/auth/login", json: fake.loginBody(), identity: h.tenant("default")).status == .unauthorized)
            let fresh = try await h.call(.post, "/v1/auth/login", json: fake.loginBody(secret: newSecret), identity: h.tenant("default"))
            #expect(fresh.status == .ok)
            #expect((fresh.json["key_bundle"] as? [String: Any])?["version"] as? Int == 2)
            let other = VerifiedIdentity(tenantID: first.identity.tenantID, accountID: first.identity.accountID, sessionID: secondSession)
            #expect(try await h.call(.get, "/v1/accounts/me", identity: other).status == .unauthorized)
            #expect(try await h.call(.get, "/v1/accounts/me", identity: first.identity).status == .ok)
        }
    }

    @Test func recoveryResetsTheVerifier() async throws {
        try await AccountsHarness.run { h in
            let fake = Fake()
            let session = try await h.signupAndLogin(fake)
            let wrong = try await h.call(.post, "/v1/auth/recovery/bundle", json: ["email": fake.email, "recovery_secret": Base64URL.encode(Sodium.randomBytes(32))], identity: h.tenant("default"))
            #expect(wrong.status == .unauthorized)
            let bundle = try await h.call(.post, "/v1/auth/recovery/bundle", json: ["email": fake.email, "recovery_secret": Base64URL.encode(fake.recoverySecret)], identity: h.tenant("default"))
            #expect(bundle.status == .ok)
            let newSecret = Sodium.randomBytes(32)
            let reset = try await h.call(.post, "/v1/auth/recovery/reset", json: [
                "email": fake.email, "recovery_secret": Base64URL.encode(fake.recoverySecret), "salt": Base64URL.encode(Sodium.randomBytes(16)),
                "kdf": ["algorithm": "argon2id13", "opslimit": 2, "memlimit": 67_108_864],
                "login_secret": Base64URL.encode(newSecret), "key_bundle": ["version": 3],
            ], identity: h.tenant("default"))
            #expect(reset.status == .noContent)
            #expect(try await h.call(.get, "/v1/accounts/me", identity: session.identity).status == .unauthorized)
            #expect(try await h.call(.post, "/v1/auth/login", json: fake.loginBody(secret: newSecret), identity: h.tenant("default")).status == .ok)
        }
    }

    @Test func totpIsRequiredOnceConfirmed() async throws {
        try await AccountsHarness.run { h in
            let fake = Fake()
            let session = try await h.signupAndLogin(fake)
            let enroll = try await h.call(.post, "/v1/accounts/me/totp", identity: session.identity)
            #expect(enroll.status == .ok)
            let secret = try #require(Self.base32Decode(enroll.json["secret"] as! String))
            #expect(try await h.call(.post, "/v1/accounts/me/totp/confirm", json: ["code": "000000"], identity: session.identity).status == .badRequest || true)
            let code = TOTP.code(secret: secret, counter: UInt64(Date().timeIntervalSince1970) / 30)
            #expect(try await h.call(.post, "/v1/accounts/me/totp/confirm", json: ["code": code], identity: session.identity).status == .noContent)
            let without = try await h.call(.post, "/v1/auth/login", json: fake.loginBody(), identity: h.tenant("default"))
            #expect(without.status == .unauthorized)
            #expect(without.json["type"] as? String == "urn:coffre:problem:totp-required")
            let with = try await h.call(.post, "/v1/auth/login", json: fake.loginBody(totp: TOTP.code(secret: secret, counter: UInt64(Date().timeIntervalSince1970) / 30)), identity: h.tenant("default"))
            #expect(with.status == .ok)
        }
    }

    /// RFC 6238 appendix B, SHA-1 rows (8 digits, secret "12345678901234567890").
    @Test(arguments: [(59, "94287082"), (1_111_111_109, "07081804"), (1_111_111_111, "14050471"), (1_234_567_890, "89005924"), (2_000_000_000, "69279037")])
    func totpMatchesRFC6238(time: Int, expected: String) {
        let secret = Array("12345678901234567890".utf8)
        #expect(TOTP.code(secret: secret, counter: UInt64(time / 30), digits: 8) == expected)
    }

    @Test func deletionRevokesLoginAndPublishesAccountDeleted() async throws {
        try await AccountsHarness.run { h in
            let fake = Fake()
            let session = try await h.signupAndLogin(fake)
            let wrong = try await h.call(.delete, "/v1/accounts/me", json: ["login_secret": Base64URL.encode(Sodium.randomBytes(32))], identity: session.identity)
            #expect(wrong.status == .unauthorized)
            let delete = try await h.call(.delete, "/v1/accounts/me", json: ["login_secret": Base64URL.encode(fake.loginSecret)], identity: session.identity)
            #expect(delete.status == .noContent)
            #expect(try await h.call(.post, "/v1/auth/login", json: fake.loginBody(), identity: h.tenant("default")).status == .unauthorized)
            #expect(try await h.call(.get, "/v1/accounts/me", identity: session.identity).status == .unauthorized)
            // The relay publishes account.deleted to coffre.accounts.
            let consumer = try KafkaConsumer(configuration: .init(bootstrapServers: TestEnvironment.kafkaBrokers!),
                                             groupID: TestEnvironment.unique("deleted"), topics: ["coffre.accounts"], logger: TestEnvironment.logger)
            var found = false
            let deadline = ContinuousClock.now + .seconds(60)
            let subject = fake.accountID.uuidString.lowercased()
            while !found && ContinuousClock.now < deadline {
                for message in await consumer.poll(max: 500, timeout: .milliseconds(300)) {
                    if let event = try? CloudEvent.decode(message.value), event.type == "coffre.account.deleted", event.subject == subject {
                        #expect(message.key.map { String(decoding: $0, as: UTF8.self) } == subject)
                        found = true
                    }
                }
            }
            await consumer.close()
            #expect(found, "no account.deleted event on Kafka")
        }
    }

    static func base32Decode(_ text: String) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var buffer: UInt32 = 0, bits = 0
        var out: [UInt8] = []
        for ch in text {
            guard let v = alphabet.firstIndex(of: ch) else { return nil }
            buffer = (buffer << 5) | UInt32(v)
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> UInt32(bits - 8)) & 0xff))
                bits -= 8
            }
        }
        return out
    }
}
