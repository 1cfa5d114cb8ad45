import CoffreCore
import Foundation
import Sodium
import Testing
@testable import Gateway

@Suite struct AuthenticationTests {
    @Test func badTokensAre401WithBearerChallenge() async throws {
        try await GatewayHarness.run { h in
            let other = try TokenSigningKey(seed: Sodium.randomBytes(32))
            let valid = try h.token()
            var tampered = Array(valid)
            let i = valid.firstIndex(of: ".")!.utf16Offset(in: valid) + 5
            tampered[i] = tampered[i] == "A" ? "B" : "A"
            let cases: [(String, [(String, String)])] = [
                ("missing", []),
                ("not bearer", [("Authorization", "Basic dXNlcjpwYXNz")]),
                ("garbage", [("Authorization", "Bearer not-a-token")]),
                ("forged: real kid, other key", [("Authorization", "Bearer " + (try h.token(key: other, kid: h.signingKey.kid)))]),
                ("unknown key", [("Authorization", "Bearer " + (try h.token(key: other)))]),
                ("expired", [("Authorization", "Bearer " + (try h.token(expiresIn: -1)))]),
                ("tampered payload", [("Authorization", "Bearer " + String(tampered))]),
            ]
            for (name, headers) in cases {
                let reply = try await h.send("GET", "/v1/accounts/me", headers: headers)
                #expect(reply.status == 401, "\(name)")
                #expect(reply.isProblem, "\(name)")
                #expect(reply.header("www-authenticate")?.hasPrefix("Bearer") == true, "\(name)")
                #expect(reply.echo == nil, "\(name) must not reach the upstream")
            }
        }
    }

    @Test func validTokenForwardsVerifiedIdentityOnly() async throws {
        try await GatewayHarness.run { h in
            let tenant = UUID(), account = UUID(), session = UUID()
            let token = try h.token(tenant: tenant, account: account, session: session)
            let reply = try await h.send("GET", "/v1/accounts/me?x=1", headers: [
                ("Authorization", "Bearer " + token), ("X-Request-Id", "req-abc-1"), ("Connection", "keep-alive, X-Hop"), ("X-Hop", "1"),
            ])
            #expect(reply.status == 200)
            let echo = try #require(reply.echo)
            #expect(echo.identityVerified)
            #expect(echo.tenantID == tenant && echo.accountID == account && echo.sessionID == session)
            #expect(echo.tenantSlug == nil)
            #expect(echo.path == "/v1/accounts/me" && echo.query == "x=1")
            #expect(echo.headers["authorization"] == nil, "services get identity headers, not the token")
            #expect(echo.headers["x-request-id"] == "req-abc-1")
            #expect(echo.headers["x-forwarded-for"] == "127.0.0.1")
            #expect(echo.headers["x-hop"] == nil, "headers named in Connection are hop-by-hop")
            #expect(reply.header("x-request-id") == "req-abc-1")
        }
    }

    @Test func clientSentIdentityHeadersAreStripped() async throws {
        try await GatewayHarness.run { h in
            let forgedAccount = UUID()
            let forged: [(String, String)] = [
                ("X-Coffre-Tenant-Id", UUID().uuidString), ("X-Coffre-Account-Id", forgedAccount.uuidString),
                ("X-Coffre-Session-Id", UUID().uuidString), ("X-Coffre-Tenant-Slug", "evil"),
                ("X-Coffre-Identity-Time", String(Int(Date().timeIntervalSince1970))), ("X-Coffre-Identity-Signature", "AAAA"),
            ]
            // Unauthenticated route: only the resolved tenant slug goes through.
            let prelogin = try await h.send("POST", "/v1/auth/prelogin", headers: forged + [("Content-Type", "application/json")],
                                            body: h.json(#"{"email":"a@b.c"}"#))
            let echo = try #require(prelogin.echo)
            #expect(echo.identityVerified)
            #expect(echo.tenantSlug == "default" && echo.accountID == nil && echo.tenantID == nil && echo.sessionID == nil)
            #expect(echo.headers["x-coffre-identity-signature"] != "AAAA")

            // Authenticated route: the token's identity wins.
            let account = UUID()
            let me = try await h.send("GET", "/v1/accounts/me", headers: forged + [("Authorization", "Bearer " + (try h.token(account: account)))])
            #expect(try #require(me.echo).accountID == account)

            // Authenticated route without a token: the forged headers buy nothing.
            let anonymous = try await h.send("GET", "/v1/sessions", headers: forged)
            #expect(anonymous.status == 401)
        }
    }

    @Test func tenantResolutionForUnauthenticatedRoutes() async throws {
        try await GatewayHarness.run { h in
            let body = h.json(#"{"email":"a@b.c"}"#)
            func slug(_ headers: [(String, String)]) async throws -> String? {
                try await h.send("POST", "/v1/auth/prelogin", headers: headers + [("Content-Type", "application/json")], body: body).echo?.tenantSlug
            }
            let cases: [([(String, String)], String)] = [
                ([], "default"),
                ([("X-Coffre-Tenant", "acme")], "acme"),
                ([("Host", "globex.coffre.example")], "globex"),
                ([("Host", "globex.coffre.example"), ("X-Coffre-Tenant", "acme")], "acme"),
                ([("Host", "coffre.example")], "default"),
                ([("Host", "localhost:8080")], "default"),
            ]
            for (headers, expected) in cases {
                let resolved = try await slug(headers)
                #expect(resolved == expected, "\(headers)")
            }
            let bad = try await h.send("POST", "/v1/auth/prelogin", headers: [("X-Coffre-Tenant", "Not_A_Slug")], body: body)
            #expect(bad.status == 400 && bad.isProblem)
            #expect(bad.json?["type"] as? String == "urn:coffre:problem:bad-tenant")
        }
    }

    @Test func adminRoutesPassAuthorizationThrough() async throws {
        try await GatewayHarness.run { h in
            let reply = try await h.send("GET", "/v1/admin/tenants", headers: [("Authorization", "Bearer operator-secret")])
            let echo = try #require(reply.echo)
            #expect(echo.headers["authorization"] == "Bearer operator-secret")
            #expect(echo.accountID == nil)
        }
    }

    @Test func internalCallsToAccountsAreSigned() async throws {
        try await GatewayHarness.run { h in
            #expect(h.upstream.tokenKeyFetches.load(ordering: .relaxed) >= 1)
            #expect(h.upstream.unsignedInternalCalls.load(ordering: .relaxed) == 0)
        }
    }
}

@Suite struct RevocationTests {
    @Test func revokedSessionStopsWorkingWithinTwoSeconds() async throws {
        try await GatewayHarness.run { h in
            let session = UUID()
            let token = try h.token(session: session)
            #expect(try await h.send("GET", "/v1/sessions", headers: [("Authorization", "Bearer " + token)]).status == 200)
            let other = try h.token()
            let revokedAt = ContinuousClock.now
            h.upstream.revoke(session)
            let refused = try await TestEnvironment.eventually(timeout: .seconds(3), interval: .milliseconds(50)) {
                try await h.send("GET", "/v1/sessions", headers: [("Authorization", "Bearer " + token)]).status == 401
            }
            #expect(refused)
            #expect(ContinuousClock.now - revokedAt < .seconds(2))
            #expect(try await h.send("GET", "/v1/sessions", headers: [("Authorization", "Bearer " + other)]).status == 200)
        }
    }
}

import CoffreTestSupport
