// The SDK's flows against the honest fake server: login, token rotation,
// password change, recovery, TOTP, deletion, and how errors read.
@testable import CoffreCrypto
@testable import CoffreSDK
import Foundation
import Sodium
import Synchronization
import Testing

@Suite struct FlowTests {
    @Test func signupLoginWhoamiRefreshLogout() async throws {
        let server = FakeAccountsServer()
        let (result, _) = try await signUp(server)
        let signupKeys = try #require(await result.session?.keys)
        let client = testClient(server)

        let session = try await client.login(email: " Alice@Example.com ", password: password, deviceName: "laptop")
        #expect(session.accountID == result.accountID)
        #expect(session.email == "alice@example.com")
        let keys = try #require(await session.keys)
        #expect(keys.masterKey == signupKeys.masterKey)
        #expect(keys.ed25519.publicKey == signupKeys.ed25519.publicKey)

        let me = try await client.whoami(session)
        #expect(me.accountID == result.accountID)
        #expect(me.email == "alice@example.com")
        #expect(me.selfSignatureValid)
        #expect(me.safetyCode != nil)
        #expect(me.createdAt == Date(timeIntervalSince1970: 1_735_787_045))

        let list = try await client.sessions(session)
        #expect(list.count == 2)
        #expect(list.filter(\.current).map(\.sessionID) == [session.sessionID])
        #expect(list.first { $0.current }?.deviceName == "laptop")

        let saved = Mutex<[SessionState]>([])
        await session.onStateChange { state in saved.withLock { $0.append(state) } }
        let before = await session.state
        try await client.refresh(session)
        let after = await session.state
        #expect(after.refreshToken != before.refreshToken && after.accessToken != before.accessToken)
        #expect(saved.withLock { $0 } == [after])

        try await client.logout(session)
        #expect(await session.isEnded)
        #expect(await session.keys == nil)
        await #expect(throws: CoffreClientError.sessionEnded) { _ = try await client.whoami(session) }
    }

    @Test func upperCaseIDsFromTheServerAreFine() async throws {
        let server = FakeAccountsServer()
        server.uppercaseIDs = true
        let (result, _) = try await signUp(server)
        let session = try #require(result.session, "\(String(describing: result.loginError))")
        #expect(session.accountID == result.accountID && session.accountID == session.accountID.lowercased())
        try await testClient(server).refresh(session)
        _ = try await testClient(server).login(email: "alice@example.com", password: password)
    }

    @Test func expiredAccessTokenIsRefreshedFirst() async throws {
        let server = FakeAccountsServer()
        server.expiresIn = 0
        let (result, _) = try await signUp(server)
        let session = try #require(result.session)
        let saved = Mutex<[SessionState]>([])
        await session.onStateChange { state in saved.withLock { $0.append(state) } }
        _ = try await testClient(server).whoami(session)
        #expect(Array(server.paths().suffix(2)) == ["POST /v1/auth/refresh", "GET /v1/accounts/me"])
        #expect(saved.withLock { $0.count } == 1)
    }

    @Test func restoredSessionRefreshesOnRejectedToken() async throws {
        let server = FakeAccountsServer()
        let (result, _) = try await signUp(server)
        var state = try await #require(result.session).state
        state.accessToken = "stale"
        let restored = Session(restoring: state)
        #expect(await restored.hasKeys == false)
        let me = try await testClient(server).whoami(restored)
        #expect(me.accountID == result.accountID)
        #expect(Array(server.paths().suffix(3)) == ["GET /v1/accounts/me", "POST /v1/auth/refresh", "GET /v1/accounts/me"])

        // A revoked refresh token ends the session with a clear error.
        var dead = await restored.state
        dead.accessToken = "stale"
        dead.refreshToken = "revoked"
        let gone = Session(restoring: dead)
        await #expect(throws: CoffreClientError.sessionEnded) { _ = try await testClient(server).whoami(gone) }
        #expect(await gone.isEnded)
    }

    @Test func concurrentCallsRefreshOnce() async throws {
        let server = FakeAccountsServer()
        server.expiresIn = 0
        let (result, _) = try await signUp(server)
        let session = try #require(result.session)
        let client = testClient(server)
        server.expiresIn = 300
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { _ = try await client.whoami(session) } }
            try await group.waitForAll()
        }
        #expect(server.paths().filter { $0 == "POST /v1/auth/refresh" }.count == 1)
    }

    @Test func passwordChange() async throws {
        let server = FakeAccountsServer()
        let (result, _) = try await signUp(server)
        let session = try #require(result.session)
        let other = try await testClient(server).login(email: "alice@example.com", password: password)
        let client = testClient(server)
        let oldSalt = try #require(server.account("alice@example.com")).salt

        try await client.changePassword(session, current: password, new: "new password")
        #expect(try #require(server.account("alice@example.com")).salt != oldSalt)
        await #expect(throws: CoffreAPIError.self) { _ = try await client.login(email: "alice@example.com", password: password) }
        let fresh = try await client.login(email: "alice@example.com", password: "new password")
        #expect(await fresh.keys?.masterKey == result.session?.keys?.masterKey)
        // The recovery key still works after a password change.
        _ = try await client.recoveryKeyBundle(email: "alice@example.com", recoveryKey: result.recoveryKey)
        // Other sessions were revoked by the server.
        await #expect(throws: CoffreClientError.sessionEnded) { _ = try await client.whoami(other) }

        // Wrong current password: the server says no, nothing changes.
        await #expect(throws: CoffreAPIError.self) {
            try await client.changePassword(fresh, current: "wrong", new: "x")
        }
        // A session restored from disk has no keys: the email variant logs in first.
        let restored = Session(restoring: await fresh.state)
        await #expect(throws: CoffreClientError.keysUnavailable) {
            try await client.changePassword(restored, current: "new password", new: "x")
        }
        let changed = try await client.changePassword(email: "alice@example.com", current: "new password", new: "third")
        #expect(await changed.hasKeys)
        _ = try await client.whoami(changed)
        _ = try await client.login(email: "alice@example.com", password: "third")
    }

    @Test func recovery() async throws {
        let server = FakeAccountsServer()
        let (result, _) = try await signUp(server)
        let client = testClient(server)
        let lowercaseWithSpaces = result.recoveryKey.lowercased().replacingOccurrences(of: "-", with: " ")
        let accountID = try await client.recover(email: "alice@example.com", recoveryKey: lowercaseWithSpaces,
                                                 newPassword: "recovered password")
        #expect(accountID == result.accountID)
        let session = try await client.login(email: "alice@example.com", password: "recovered password")
        #expect(await session.keys?.masterKey == result.session?.keys?.masterKey)
        // Every earlier session was revoked.
        await #expect(throws: CoffreClientError.sessionEnded) { _ = try await client.whoami(result.session!) }

        // A typo is caught by the checksum before anything is sent.
        var typo = Array(result.recoveryKey)
        typo[0] = typo[0] == "A" ? "B" : "A"
        let count = server.recorded.count
        await #expect(throws: CoffreClientError.invalidRecoveryKey("checksum mismatch (a character was mistyped)")) {
            try await client.recover(email: "alice@example.com", recoveryKey: String(typo), newPassword: "x")
        }
        #expect(server.recorded.count == count)
        // Another account's recovery key: the server refuses it.
        await #expect(throws: CoffreAPIError.self) {
            try await client.recover(email: "alice@example.com", recoveryKey: RecoveryKey.generate().displayString,
                                     newPassword: "x")
        }
    }

    @Test func totpEnrolmentAndLogin() async throws {
        let server = FakeAccountsServer()
        let (result, _) = try await signUp(server)
        let session = try #require(result.session)
        let client = testClient(server)
        let enrollment = try await client.enableTOTP(session)
        #expect(enrollment.otpauthURI.hasPrefix("otpauth://totp/"))
        #expect(!"\(enrollment)".contains(enrollment.secret))
        await #expect(throws: CoffreAPIError.self) { try await client.confirmTOTP(session, code: "000000") }
        try await client.confirmTOTP(session, code: "123 456")
        #expect(try await client.whoami(session).totpEnabled)

        let credentials = try await client.deriveCredentials(email: "alice@example.com", password: password)
        do {
            _ = try await client.login(credentials: credentials)
            Issue.record("login without a code succeeded")
        } catch let error as CoffreAPIError {
            #expect(error.isTOTPRequired)
            #expect(error.description == "a valid two-factor code is required")
        }
        _ = try await client.login(credentials: credentials, totpCode: "123456")
        #expect(!"\(credentials)".contains(credentials.derived.loginSecret.base64URL))
    }

    @Test func revokeAndDelete() async throws {
        let server = FakeAccountsServer()
        let (result, _) = try await signUp(server)
        let session = try #require(result.session)
        let client = testClient(server)
        let other = try await client.login(email: "alice@example.com", password: password)
        try await client.revokeSession(session, id: other.sessionID.uppercased())
        await #expect(throws: CoffreClientError.sessionEnded) { _ = try await client.whoami(other) }
        await #expect(throws: CoffreClientError.invalidInput("\"../me\" is not a session id (a UUID)")) {
            try await client.revokeSession(session, id: "../me")
        }
        await #expect(throws: CoffreAPIError.self) { try await client.deleteAccount(session, password: "wrong") }
        #expect(await session.isEnded == false)
        try await client.deleteAccount(session, password: password)
        #expect(await session.isEnded)
        do {
            _ = try await client.login(email: "alice@example.com", password: password)
            Issue.record("login after deletion succeeded")
        } catch let error as CoffreAPIError {
            #expect(error.isInvalidCredentials)
        }
    }

    @Test func duplicateEmail() async throws {
        let server = FakeAccountsServer()
        _ = try await signUp(server)
        do {
            _ = try await signUp(server)
            Issue.record("second signup succeeded")
        } catch let error as CoffreAPIError {
            #expect(error.isEmailTaken)
            #expect(error.description == "an account with this email already exists")
        }
    }
}

@Suite struct ErrorTests {
    @Test func problemJSONIsDecoded() async throws {
        let server = FakeAccountsServer()
        server.cannedResponse = server.problem(429, "urn:coffre:problem:rate-limited", "Too Many Requests",
                                               headers: ["Retry-After": "12"])
        do {
            _ = try await testClient(server).prelogin(email: "a@b.c")
            Issue.record("no error")
        } catch let error as CoffreAPIError {
            #expect(error.status == 429)
            #expect(error.type == "urn:coffre:problem:rate-limited")
            #expect(error.retryAfter == 12)
            #expect(error.description == "server refused: 429 too many requests, retry in 12 s")
        }
        server.cannedResponse = server.problem(401, CoffreAPIError.invalidCredentialsType, "Unauthorized", "Wrong email or password.")
        await #expect(throws: CoffreAPIError.self) { _ = try await testClient(server).prelogin(email: "a@b.c") }
        do { _ = try await testClient(server).prelogin(email: "a@b.c") } catch {
            #expect("\(error)" == "wrong email or password")
        }
        server.cannedResponse = server.problem(503, "urn:coffre:problem:unavailable", "Service unavailable",
                                               "Upstream overloaded.", headers: ["Retry-After": "3"])
        do { _ = try await testClient(server).prelogin(email: "a@b.c") } catch {
            #expect("\(error)" == "server refused: 503 service unavailable: Upstream overloaded., retry in 3 s")
        }
    }

    @Test func nonProblemErrorsAndGarbage() async throws {
        let server = FakeAccountsServer()
        server.cannedResponse = TransportResponse(status: 502, headers: ["Content-Type": "text/html"], body: Array("<html>".utf8))
        do { _ = try await testClient(server).prelogin(email: "a@b.c") } catch {
            #expect("\(error)" == "server refused: 502 bad gateway")
        }
        server.cannedResponse = TransportResponse(status: 200, body: Array("not json".utf8))
        do { _ = try await testClient(server).prelogin(email: "a@b.c") } catch {
            #expect("\(error)" == "unexpected response from the server: not JSON")
        }
        server.cannedResponse = TransportResponse(status: 200, body: Array(#"{"salt":"AAAAAAAAAAAAAAAAAAAAAA"}"#.utf8))
        do { _ = try await testClient(server).prelogin(email: "a@b.c") } catch {
            #expect("\(error)" == "unexpected response from the server: missing field kdf")
        }
    }

    @Test func retryAfterAsDate() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let header = formatter.string(from: now.addingTimeInterval(30))
        #expect(CoffreAPIError.parseRetryAfter(header, now: now) == 30)
        #expect(CoffreAPIError.parseRetryAfter("soon", now: now) == nil)
    }

    @Test func connectionRefusedIsDescribed() async throws {
        // Port 1 on loopback: nothing listens there.
        let client = CoffreClient(server: URL(string: "http://127.0.0.1:1")!, tenant: nil)
        let started = ContinuousClock.now
        do {
            _ = try await client.prelogin(email: "a@b.c")
            Issue.record("no error")
        } catch let error as CoffreClientError {
            #expect(error == .unreachable(server: "http://127.0.0.1:1", reason: "connection refused"))
            #expect("\(error)" == "cannot reach http://127.0.0.1:1: connection refused")
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
