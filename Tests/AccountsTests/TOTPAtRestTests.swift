@testable import Accounts
import CoffreCore
import CoffreTestSupport
import Foundation
import PostgresNIO
import Sodium
import Synchronization
import Testing

/// TOTP seeds are sealed at rest (`TOTPSealer`): what Postgres holds is not
/// the seed, an envelope only opens for its own account, column and key, and
/// seeds stored in clear by an older version still work and get sealed.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct TOTPAtRestTests {
    typealias Fake = AccountsHarness.FakeClient
    typealias Session = (identity: VerifiedIdentity, refresh: String, access: String)

    static func now() -> UInt64 { UInt64(Date().timeIntervalSince1970) / 30 }

    /// Enrols and confirms two-factor; returns the seed the client was shown.
    static func enableTOTP(_ h: AccountsHarness, _ session: Session) async throws -> [UInt8] {
        let enroll = try await h.call(.post, "/v1/accounts/me/totp", identity: session.identity)
        #expect(enroll.status == .ok)
        let seed = try #require(AccountsTests.base32Decode(enroll.json["secret"] as! String))
        let confirm = try await h.call(.post, "/v1/accounts/me/totp/confirm", json: ["code": TOTP.code(secret: seed, counter: now())],
                                       identity: session.identity)
        #expect(confirm.status == .noContent)
        return seed
    }

    static func login(_ h: AccountsHarness, _ fake: Fake, seed: [UInt8]?) async throws -> AccountsHarness.Reply {
        try await h.call(.post, "/v1/auth/login", json: fake.loginBody(totp: seed.map { TOTP.code(secret: $0, counter: now()) }),
                         identity: h.tenant("default"))
    }

    /// Reads or writes a TOTP column with plain SQL, as someone with the database would.
    static func column(_ name: String, of session: Session) async throws -> [UInt8]? {
        try await TestEnvironment.withPostgres(poolSize: 1) { client in
            try await client.transaction(logger: TestEnvironment.logger) { connection in
                try await connection.query("SELECT set_config('coffre.tenant_id', \(session.identity.tenantID!.uuidString.lowercased()), true)",
                                           logger: TestEnvironment.logger)
                let rows = try await connection.query("SELECT \(unescaped: name) FROM accounts.users WHERE id = \(session.identity.accountID!)",
                                                      logger: TestEnvironment.logger)
                for try await value in rows.decode(ByteBuffer?.self) { return value.map { Array(buffer: $0) } }
                return nil
            }
        }
    }

    static func set(_ name: String, of session: Session, to value: [UInt8]?) async throws {
        try await TestEnvironment.withPostgres(poolSize: 1) { client in
            try await client.transaction(logger: TestEnvironment.logger) { connection in
                try await connection.query("SELECT set_config('coffre.tenant_id', \(session.identity.tenantID!.uuidString.lowercased()), true)",
                                           logger: TestEnvironment.logger)
                try await connection.query("UPDATE accounts.users SET \(unescaped: name) = \(value.map { ByteBuffer(bytes: $0) }) WHERE id = \(session.identity.accountID!)",
                                           logger: TestEnvironment.logger)
            }
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }

    @Test func theDatabaseHoldsNoSeedAndTwoFactorStillWorks() async throws {
        try await AccountsHarness.run { h in
            let fake = Fake()
            let session = try await h.signupAndLogin(fake)
            let enroll = try await h.call(.post, "/v1/accounts/me/totp", identity: session.identity)
            let seed = try #require(AccountsTests.base32Decode(enroll.json["secret"] as! String))
            let pending = try #require(try await Self.column("totp_pending", of: session))
            #expect(pending != seed && !Self.contains(pending, seed))
            #expect(pending.count == 1 + 24 + seed.count + 16 && pending[0] == TOTPSealer.version)

            let confirm = try await h.call(.post, "/v1/accounts/me/totp/confirm", json: ["code": TOTP.code(secret: seed, counter: Self.now())],
                                           identity: session.identity)
            #expect(confirm.status == .noContent)
            let confirmed = try #require(try await Self.column("totp_secret", of: session))
            #expect(try await Self.column("totp_pending", of: session) == nil)
            #expect(!Self.contains(confirmed, seed) && confirmed != pending)
            #expect(confirmed.count == pending.count && confirmed[0] == TOTPSealer.version)

            let without = try await Self.login(h, fake, seed: nil)
            #expect(without.status == .unauthorized && without.json["type"] as? String == "urn:coffre:problem:totp-required")
            #expect(try await Self.login(h, fake, seed: Sodium.randomBytes(20)).status == .unauthorized)
            #expect(try await Self.login(h, fake, seed: seed).status == .ok)
            #expect(try await h.call(.get, "/v1/accounts/me", identity: session.identity).json["totp_enabled"] as? Bool == true)
        }
    }

    @Test func anEnvelopeCopiedOntoAnotherAccountDoesNotOpen() async throws {
        try await AccountsHarness.run { h in
            let a = Fake(), b = Fake()
            let sessionA = try await h.signupAndLogin(a)
            let sessionB = try await h.signupAndLogin(b)
            let seed = try await Self.enableTOTP(h, sessionA)
            let sealedForA = try #require(try await Self.column("totp_secret", of: sessionA))
            try await Self.set("totp_secret", of: sessionB, to: sealedForA)
            // Fails closed: neither A's code nor no code lets B in.
            let withCode = try await Self.login(h, b, seed: seed)
            #expect(withCode.status == .internalServerError && withCode.json["access_token"] == nil)
            #expect(try await Self.login(h, b, seed: nil).status == .internalServerError)
            // A pending envelope does not pass as a confirmed one either, even on its own account.
            _ = try await h.call(.post, "/v1/accounts/me/totp", identity: sessionA.identity)
            let pendingForA = try #require(try await Self.column("totp_pending", of: sessionA))
            try await Self.set("totp_secret", of: sessionA, to: pendingForA)
            #expect(try await Self.login(h, a, seed: seed).status == .internalServerError)
        }
    }

    @Test func aWrongKeyFailsClosed() async throws {
        let fake = Fake()
        let seed = try await Self.runReturning { h in
            let session = try await h.signupAndLogin(fake)
            return try await Self.enableTOTP(h, session)
        }
        try await AccountsHarness.run(configure: { $0.totpKey = "not-the-key-the-seed-was-sealed-with" }) { h in
            let reply = try await Self.login(h, fake, seed: seed)
            #expect(reply.status == .internalServerError && reply.json["access_token"] == nil)
            #expect(try await Self.login(h, fake, seed: nil).status == .internalServerError)
        }
        // With the right key again, nothing was lost.
        try await AccountsHarness.run { h in
            let reply = try await Self.login(h, fake, seed: seed)
            #expect(reply.status == .ok)
        }
    }

    @Test func seedsStoredInClearStillWorkAndAreSealedOnUse() async throws {
        try await AccountsHarness.run { h in
            let fake = Fake()
            let session = try await h.signupAndLogin(fake)
            // As an older version left them: bare 20-byte seeds.
            let seed = Sodium.randomBytes(20)
            try await Self.set("totp_secret", of: session, to: seed)
            #expect(try await Self.login(h, fake, seed: nil).status == .unauthorized)
            #expect(try await Self.column("totp_secret", of: session) == seed, "a refused login seals nothing")
            #expect(try await Self.login(h, fake, seed: seed).status == .ok)
            let sealed = try #require(try await Self.column("totp_secret", of: session))
            #expect(sealed != seed && !Self.contains(sealed, seed) && sealed[0] == TOTPSealer.version)
            #expect(try await Self.login(h, fake, seed: seed).status == .ok)

            let newSeed = Sodium.randomBytes(20)
            try await Self.set("totp_pending", of: session, to: newSeed)
            let confirm = try await h.call(.post, "/v1/accounts/me/totp/confirm", json: ["code": TOTP.code(secret: newSeed, counter: Self.now())],
                                           identity: session.identity)
            #expect(confirm.status == .noContent)
            #expect(!Self.contains(try #require(try await Self.column("totp_secret", of: session)), newSeed))
            #expect(try await Self.login(h, fake, seed: newSeed).status == .ok)
        }
    }

    static func runReturning<T: Sendable>(_ body: @Sendable @escaping (AccountsHarness) async throws -> T) async throws -> T {
        let result = Mutex<T?>(nil)
        try await AccountsHarness.run { h in
            let value = try await body(h)
            result.withLock { $0 = value }
        }
        return try #require(result.withLock { $0 })
    }
}

@Suite struct TOTPSealerTests {
    let sealer = TOTPSealer(key: Sodium.randomBytes(32))
    let account = UUID()

    @Test func roundTripsAndBindsAccountPurposeKeyAndVersion() throws {
        let seed = Sodium.randomBytes(20)
        let sealed = try sealer.seal(seed, account: account, purpose: .confirmed)
        #expect(sealed.count == 61 && sealed[0] == 1)
        let opened = try sealer.open(sealed, account: account, purpose: .confirmed)
        #expect(opened.seed == seed && !opened.isLegacy)
        #expect(throws: TOTPSealer.Unreadable.self) { try sealer.open(sealed, account: UUID(), purpose: .confirmed) }
        #expect(throws: TOTPSealer.Unreadable.self) { try sealer.open(sealed, account: account, purpose: .pending) }
        #expect(throws: TOTPSealer.Unreadable.self) { try TOTPSealer(key: Sodium.randomBytes(32)).open(sealed, account: account, purpose: .confirmed) }
        for index in [0, 1, 30, sealed.count - 1] {
            var altered = sealed
            altered[index] ^= 0x01
            #expect(throws: TOTPSealer.Unreadable.self) { try sealer.open(altered, account: account, purpose: .confirmed) }
        }
        #expect(throws: TOTPSealer.Unreadable.self) { try sealer.open(Array(sealed.prefix(40)), account: account, purpose: .confirmed) }
        // Random nonces: sealing twice never gives the same bytes.
        #expect(try sealer.seal(seed, account: account, purpose: .confirmed) != sealed)
    }

    @Test func aBareSeedIsLegacy() throws {
        let seed = Sodium.randomBytes(20)
        let opened = try sealer.open(seed, account: account, purpose: .confirmed)
        #expect(opened.seed == seed && opened.isLegacy)
    }

    @Test func theKeyIsSeparatedFromThePepper() {
        let key = TOTPSealer.key(from: "secret")
        #expect(key.count == 32)
        #expect(key != KeyedHash.hash(Array("coffre-verifier-pepper".utf8), key: InternalAuth.key(from: "secret")))
        #expect(key != TOTPSealer.key(from: "other"))
    }
}
