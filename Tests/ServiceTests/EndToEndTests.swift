import AsyncHTTPClient
import NIOHTTP1
import CoffreCore
import CoffreSDK
import CoffreTestSupport
import Foundation
import Kafka
import Testing

/// Issue 3's checks through the gateway, over real sockets, with the real
/// client SDK (client-side Argon2id with the SDK's light test profile).
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct EndToEndTests {
    @Test func signupLoginWhoamiRefreshLogout() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let client = stack.client()
        let email = uniqueEmail()
        let signup = try await client.signup(email: email, password: "correct horse battery staple")
        #expect(!signup.recoveryKey.isEmpty)
        let session = try await client.login(email: email, password: "correct horse battery staple")
        #expect(await session.hasKeys)
        let me = try await client.whoami(session)
        #expect(me.email == email && me.accountID == signup.accountID)
        #expect(me.selfSignatureValid)
        let before = (await session.state).refreshToken
        try await client.refresh(session)
        #expect((await session.state).refreshToken != before)
        #expect(try await client.whoami(session).accountID == signup.accountID)
        let token = (await session.state).accessToken
        try await client.logout(session)
        // The revoked session's still-unexpired access token stops working at the gateway within seconds.
        let dead = try await TestEnvironment.eventually(timeout: .seconds(5), interval: .milliseconds(200)) {
            try await stack.raw(.GET, "/v1/accounts/me", headers: ["Authorization": "Bearer \(token)"]).status == 401
        }
        #expect(dead)
    }

    @Test func passwordChangeThenOnlyTheNewPasswordWorks() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let client = stack.client()
        let email = uniqueEmail()
        _ = try await client.signup(email: email, password: "old password 1")
        let session = try await client.login(email: email, password: "old password 1")
        try await client.changePassword(session, current: "old password 1", new: "new password 2")
        await #expect(throws: (any Error).self) { _ = try await client.login(email: email, password: "old password 1") }
        let fresh = try await client.login(email: email, password: "new password 2")
        #expect(await fresh.hasKeys)
    }

    @Test func recoveryWithTheRecoveryKey() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let client = stack.client()
        let email = uniqueEmail()
        let signup = try await client.signup(email: email, password: "forgotten one")
        _ = try await client.recover(email: email, recoveryKey: signup.recoveryKey, newPassword: "brand new one")
        await #expect(throws: (any Error).self) { _ = try await client.login(email: email, password: "forgotten one") }
        let renewed = try await client.login(email: email, password: "brand new one")
        #expect(await renewed.hasKeys)
    }

    @Test func deletionStopsLoginAndPublishesAccountDeleted() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let client = stack.client()
        let email = uniqueEmail()
        let signup = try await client.signup(email: email, password: "delete me please")
        let session = try await client.login(email: email, password: "delete me please")
        try await client.deleteAccount(session, password: "delete me please")
        do {
            _ = try await client.login(email: email, password: "delete me please")
            Issue.record("login worked after deletion")
        } catch let error as CoffreAPIError {
            #expect(error.status == 401)
        }
        let consumer = try KafkaConsumer(configuration: .init(bootstrapServers: TestEnvironment.kafkaBrokers!),
                                         groupID: TestEnvironment.unique("e2e"), topics: ["coffre.accounts"], logger: TestEnvironment.logger)
        var found = false
        let deadline = ContinuousClock.now + .seconds(60)
        while !found && ContinuousClock.now < deadline {
            for m in await consumer.poll(max: 500, timeout: .milliseconds(300)) {
                if let e = try? CloudEvent.decode(m.value), e.type == "coffre.account.deleted", e.subject == signup.accountID { found = true }
            }
        }
        await consumer.close()
        #expect(found)
    }

    @Test func wrongPasswordAndUnknownEmailAreIdentical401s() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let client = stack.client()
        let email = uniqueEmail()
        _ = try await client.signup(email: email, password: "the right one")
        func failure(_ email: String, _ password: String) async -> CoffreAPIError? {
            do { _ = try await client.login(email: email, password: password); return nil } catch { return error as? CoffreAPIError }
        }
        let wrong = await failure(email, "the wrong one")
        let unknown = await failure(uniqueEmail(), "the right one")
        #expect(wrong?.status == 401 && unknown?.status == 401)
        #expect(wrong?.type == unknown?.type && wrong?.title == unknown?.title && wrong?.detail == unknown?.detail)
        let real = try await stack.raw(.POST, "/v1/auth/prelogin", body: #"{"email":"\#(email)"}"#)
        let ghost = try await stack.raw(.POST, "/v1/auth/prelogin", body: #"{"email":"\#(uniqueEmail())"}"#)
        #expect(real.status == 200 && ghost.status == 200)
        #expect(Set(real.json.keys) == Set(ghost.json.keys))
        #expect(Set((real.json["kdf"] as? [String: Any] ?? [:]).keys) == Set((ghost.json["kdf"] as? [String: Any] ?? [:]).keys))
        #expect((real.json["salt"] as? String)?.count == (ghost.json["salt"] as? String)?.count)
    }

    @Test func forgedExpiredWrongKeyAndInternalHeadersGetNothing() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let client = stack.client()
        let email = uniqueEmail()
        _ = try await client.signup(email: email, password: "token tests")
        let session = try await client.login(email: email, password: "token tests")
        let good = (await session.state).accessToken
        #expect(try await stack.raw(.GET, "/v1/accounts/me", headers: ["Authorization": "Bearer \(good)"]).status == 200)

        // Tampered claims (another account id) with the original signature.
        let parts = good.split(separator: ".").map(String.init)
        var claims = try JSONSerialization.jsonObject(with: Data(Base64URL.decode(parts[1])!)) as! [String: Any]
        claims["sub"] = UUID().uuidString.lowercased()
        let forged = "v1." + Base64URL.encode(Array(try JSONSerialization.data(withJSONObject: claims))) + "." + parts[2]
        // Properly signed by another key, and expired by the real key's format.
        let rogue = try TokenSigningKey(seed: Array(repeating: 7, count: 32))
        let now = Int64(Date().timeIntervalSince1970)
        let tid = UUID(uuidString: (await session.state).tenantID)!, sub = UUID(uuidString: (await session.state).accountID)!, sid = UUID(uuidString: (await session.state).sessionID)!
        let wrongKey = try AccessToken.sign(AccessClaims(tid: tid, sub: sub, sid: sid, iat: now, exp: now + 300, kid: rogue.kid), with: rogue)
        let sameKidWrongKey = try AccessToken.sign(AccessClaims(tid: tid, sub: sub, sid: sid, iat: now, exp: now + 300, kid: (claims["kid"] as! String)), with: rogue)
        for token in [forged, wrongKey, sameKidWrongKey, "garbage", ""] {
            let reply = try await stack.raw(.GET, "/v1/accounts/me", headers: ["Authorization": "Bearer \(token)"])
            #expect(reply.status == 401, "token \(token.prefix(20)) → \(reply.status)")
            #expect(reply.header("content-type") == "application/problem+json")
        }
        // Identity headers sent by a client are stripped, whatever they claim.
        let spoof = try await stack.raw(.GET, "/v1/accounts/me", headers: [
            "X-Coffre-Tenant-Id": (await session.state).tenantID, "X-Coffre-Account-Id": (await session.state).accountID,
            "X-Coffre-Session-Id": (await session.state).sessionID, "X-Coffre-Identity-Time": String(now), "X-Coffre-Identity-Signature": "AAAA",
        ])
        #expect(spoof.status == 401)
        // And sent straight to accounts (bypassing the gateway), unsigned headers are worthless.
        var direct = HTTPClientRequest(url: "http://127.0.0.1:\(stack.accountsPort)/v1/accounts/me")
        direct.headers.add(name: "X-Coffre-Tenant-Id", value: (await session.state).tenantID)
        direct.headers.add(name: "X-Coffre-Account-Id", value: (await session.state).accountID)
        direct.headers.add(name: "X-Coffre-Session-Id", value: (await session.state).sessionID)
        #expect(try await HTTPClient.shared.execute(direct, timeout: .seconds(5)).status.code == 401)
        // Internal routes are not reachable through the gateway.
        #expect(try await stack.raw(.GET, "/internal/v1/token-keys").status == 404)
    }

    @Test func tenantsCannotSeeEachOther() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let slug = uniqueSlug()
        try await stack.createTenant(slug)
        let a = stack.client(tenant: "default"), b = stack.client(tenant: slug)
        let email = uniqueEmail()
        _ = try await a.signup(email: email, password: "tenant a pass")
        // The same email in another tenant is another account.
        let bSignup = try await b.signup(email: email, password: "tenant b pass")
        let aSession = try await a.login(email: email, password: "tenant a pass")
        let bSession = try await b.login(email: email, password: "tenant b pass")
        #expect((await aSession.state).accountID != (await bSession.state).accountID)
        #expect((await aSession.state).tenantID != (await bSession.state).tenantID)
        // A's password in tenant B, and B's in tenant A: 401.
        await #expect(throws: (any Error).self) { _ = try await b.login(email: email, password: "tenant a pass") }
        // A's token cannot reach B's sessions or account, whatever tenant header it adds.
        let token = (await aSession.state).accessToken
        let sessions = try await stack.raw(.GET, "/v1/sessions", headers: ["Authorization": "Bearer \(token)", "X-Coffre-Tenant": slug])
        #expect(sessions.status == 200)
        #expect(!sessions.body.contains((await bSession.state).sessionID))
        let revoke = try await stack.raw(.DELETE, "/v1/sessions/\((await bSession.state).sessionID)", headers: ["Authorization": "Bearer \(token)"])
        #expect(revoke.status == 404)
        let me = try await stack.raw(.GET, "/v1/accounts/me", headers: ["Authorization": "Bearer \(token)", "X-Coffre-Tenant": slug])
        #expect(me.json["account_id"] as? String == (await aSession.state).accountID)
        #expect(try await b.whoami(bSession).accountID == bSignup.accountID)
    }

    @Test func rateLimitTripsAndRecovers() async throws {
        let stack = try await Stack(gatewayEnv: ["GATEWAY_RATE_PER_IP_BURST": "5", "GATEWAY_RATE_PER_IP_PER_MINUTE": "60"])
        defer { stack.stop() }
        var statuses: [Int] = []
        var limited: Stack.Reply?
        for _ in 0..<8 {
            let reply = try await stack.raw(.POST, "/v1/auth/prelogin", body: #"{"email":"rl@example.com"}"#)
            statuses.append(reply.status)
            if reply.status == 429 { limited = reply }
        }
        #expect(statuses.prefix(5).allSatisfy { $0 == 200 }, "\(statuses)")
        #expect(statuses.suffix(3).allSatisfy { $0 == 429 }, "\(statuses)")
        let retry = Int(limited?.header("retry-after") ?? "") ?? 0
        #expect(retry >= 1)
        #expect(limited?.header("ratelimit") != nil)
        #expect(limited?.header("content-type") == "application/problem+json")
        try await Task.sleep(for: .seconds(Double(retry) + 0.5))
        #expect(try await stack.raw(.POST, "/v1/auth/prelogin", body: #"{"email":"rl@example.com"}"#).status == 200)
    }

    /// A tenant row's own `rate_limits` through the real accounts service's
    /// `GET /internal/v1/tenants/{slug}`; the default tenant keeps the
    /// gateway's defaults.
    @Test func aTenantsOwnLoginLimitApplies() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let slug = uniqueSlug()
        let created = try await stack.raw(.POST, "/v1/admin/tenants",
                                          body: #"{"slug":"\#(slug)","display_name":"limited","rate_limits":{"login_per_minute":2}}"#,
                                          headers: ["Authorization": "Bearer \(Stack.adminToken)"])
        #expect(created.status == 201)
        var statuses: [Int] = []
        for _ in 0..<3 {
            statuses.append(try await stack.raw(.POST, "/v1/auth/prelogin", body: #"{"email":"rl@example.com"}"#, headers: ["X-Coffre-Tenant": slug]).status)
        }
        #expect(statuses == [200, 200, 429])
        for _ in 0..<3 {
            #expect(try await stack.raw(.POST, "/v1/auth/prelogin", body: #"{"email":"rl@example.com"}"#).status == 200)
        }
    }

    @Test func badInputGetsProblemJSON() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let cases: [(String, String?, Int)] = [
            ("/v1/accounts", "{not json", 400),
            ("/v1/accounts", #"{"email":"x@example.com"}"#, 400),
            ("/v1/auth/login", #"{"email":"x@example.com","login_secret":"short"}"#, 401),
            ("/v1/auth/prelogin", #"{"email":"no-at-sign"}"#, 400),
            ("/v1/auth/refresh", #"{"refresh_token":"r1.bad"}"#, 401),
        ]
        for (path, body, expected) in cases {
            let reply = try await stack.raw(.POST, path, body: body)
            #expect(reply.status == expected, "\(path) \(body ?? "") → \(reply.status) \(reply.body)")
            #expect(reply.header("content-type") == "application/problem+json")
        }
        let huge = String(repeating: "a", count: 2 << 20)
        let tooLarge = try await stack.raw(.POST, "/v1/accounts", body: #"{"email":"\#(huge)"}"#)
        #expect(tooLarge.status == 413)
        let badTenant = try await stack.raw(.POST, "/v1/auth/prelogin", body: #"{"email":"a@example.com"}"#, headers: ["X-Coffre-Tenant": "Bad Tenant!"])
        #expect(badTenant.status == 400)
        let unknownTenant = try await stack.raw(.POST, "/v1/auth/prelogin", body: #"{"email":"a@example.com"}"#, headers: ["X-Coffre-Tenant": "no-such-tenant"])
        #expect(unknownTenant.status == 404)
    }
}

/// Every accounts route called with tenant A's credentials (and tenant A's
/// header on the pre-login routes): nothing of tenant B is read, listed,
/// counted or changed.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct TenantIsolationEveryRouteTests {
    @Test func tenantACannotReachTenantB() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let slugB = uniqueSlug()
        try await stack.createTenant(slugB)
        let a = stack.client(tenant: "default"), b = stack.client(tenant: slugB)
        let emailA = uniqueEmail(), emailB = uniqueEmail()
        _ = try await a.signup(email: emailA, password: "password of a")
        _ = try await b.signup(email: emailB, password: "password of b")
        let aSession = try await a.login(email: emailA, password: "password of a")
        let bSession = try await b.login(email: emailB, password: "password of b")
        let bState = await bSession.state
        let bSessionsBefore = try await b.sessions(bSession).map(\.sessionID)
        let bPrelogin = try await stack.raw(.POST, "/v1/auth/prelogin", body: #"{"email":"\#(emailB)"}"#, headers: ["X-Coffre-Tenant": slugB])
        let token = "Bearer " + (await aSession.state).accessToken
        let auth = ["Authorization": token, "X-Coffre-Tenant": slugB]

        // Pre-login routes under tenant A know nothing of B's email.
        let pre = try await stack.raw(.POST, "/v1/auth/prelogin", body: #"{"email":"\#(emailB)"}"#)
        #expect(pre.status == 200 && pre.json["salt"] as? String != bPrelogin.json["salt"] as? String)
        #expect(try await stack.raw(.POST, "/v1/auth/recovery/bundle", body: #"{"email":"\#(emailB)","recovery_secret":"\#(Base64URL.encode(Array(repeating: 1, count: 32)))"}"#).status == 401)
        #expect(try await stack.raw(.POST, "/v1/auth/refresh", body: #"{"refresh_token":"\#(bState.refreshToken)"}"#, headers: ["X-Coffre-Tenant": "default"]).status != 500)

        // Authenticated routes with A's token (and B's tenant header, which must not matter).
        let me = try await stack.raw(.GET, "/v1/accounts/me", headers: auth)
        #expect(me.json["email"] as? String == emailA)
        let listed = try await stack.raw(.GET, "/v1/sessions", headers: auth)
        #expect(!listed.body.contains(bState.sessionID) && !listed.body.contains(bState.accountID))
        #expect(try await stack.raw(.DELETE, "/v1/sessions/\(bState.sessionID)", headers: auth).status == 404)
        #expect(try await stack.raw(.POST, "/v1/accounts/me/totp", headers: auth).status == 200)
        #expect(try await stack.raw(.POST, "/v1/accounts/me/totp/confirm", body: #"{"code":"000000"}"#, headers: auth).status == 400)
        let wrongSecret = Base64URL.encode(Array(repeating: 2, count: 32))
        #expect(try await stack.raw(.POST, "/v1/accounts/me/password", body: #"{"current_login_secret":"\#(wrongSecret)","salt":"\#(Base64URL.encode(Array(repeating: 3, count: 16)))","kdf":{"algorithm":"argon2id13","opslimit":2,"memlimit":67108864},"login_secret":"\#(wrongSecret)","key_bundle":{}}"#, headers: auth).status == 401)
        #expect(try await stack.raw(.DELETE, "/v1/accounts/me", body: #"{"login_secret":"\#(wrongSecret)"}"#, headers: auth).status == 401)
        #expect(try await stack.raw(.POST, "/v1/auth/logout", headers: auth).status == 204)

        // B is untouched: same sessions, still logged in, no 2FA, same salt, can log in again.
        let bAfter = try await b.whoami(bSession)
        #expect(bAfter.email == emailB && !bAfter.totpEnabled)
        #expect(try await b.sessions(bSession).map(\.sessionID) == bSessionsBefore)
        let bPreloginAfter = try await stack.raw(.POST, "/v1/auth/prelogin", body: #"{"email":"\#(emailB)"}"#, headers: ["X-Coffre-Tenant": slugB])
        #expect(bPreloginAfter.json["salt"] as? String == bPrelogin.json["salt"] as? String)
        #expect(try await b.login(email: emailB, password: "password of b").state.accountID == bState.accountID)
    }
}
