// A server that hands back a key bundle it altered, another account's bundle,
// or one with key purposes swapped: the SDK refuses each with
// `keyBundleRejected`, never returns a Session, and hands the tokens back.
// A server asking for cheap Argon2id parameters is refused before any
// password hashing or login.
import CoffreCrypto
@testable import CoffreSDK
import Foundation
import Sodium
import Testing

enum Tamper: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case flipPasswordSlotFirstByte, flipPasswordSlotNonce, flipPasswordSlotCiphertext, flipPasswordSlotTag
    case flipX25519Slot, flipEd25519Slot
    case truncatePasswordSlot
    case swapX25519AndEd25519Slots
    case recoverySlotInPasswordSlot
    case relabelAccountID
    case substituteX25519PublicKey, substituteEd25519PublicKey
    case futureVersion

    var testDescription: String { rawValue }

    func apply(_ bundle: inout KeyBundle) {
        func flip(_ bytes: inout [UInt8], at index: Int) { bytes[index] ^= 0x01 }
        switch self {
        case .flipPasswordSlotFirstByte: flip(&bundle.masterKeyUnderPassword, at: 0)
        case .flipPasswordSlotNonce: flip(&bundle.masterKeyUnderPassword, at: 5)
        case .flipPasswordSlotCiphertext: flip(&bundle.masterKeyUnderPassword, at: 30)
        case .flipPasswordSlotTag: flip(&bundle.masterKeyUnderPassword, at: bundle.masterKeyUnderPassword.count - 1)
        case .flipX25519Slot: flip(&bundle.x25519SecretKey, at: 40)
        case .flipEd25519Slot: flip(&bundle.ed25519Seed, at: bundle.ed25519Seed.count - 3)
        case .truncatePasswordSlot: bundle.masterKeyUnderPassword.removeLast()
        case .swapX25519AndEd25519Slots: swap(&bundle.x25519SecretKey, &bundle.ed25519Seed)
        case .recoverySlotInPasswordSlot: bundle.masterKeyUnderPassword = bundle.masterKeyUnderRecoveryKey
        case .relabelAccountID: bundle.accountID = UUID().uuidString.lowercased()
        case .substituteX25519PublicKey: bundle.x25519PublicKey = X25519KeyPair.generate().publicKey
        case .substituteEd25519PublicKey: bundle.ed25519PublicKey = Ed25519KeyPair.generate().publicKey
        case .futureVersion: bundle.version = 2
        }
    }
}

@Suite struct MaliciousServerTests {
    @Test(arguments: Tamper.allCases)
    func tamperedLoginBundleIsRejected(_ tamper: Tamper) async throws {
        let server = FakeAccountsServer()
        _ = try await signUp(server)
        server.tamperLoginBundle = { tamper.apply(&$0) }
        let reason = await expectKeyBundleRejected {
            _ = try await testClient(server).login(email: "alice@example.com", password: password)
        }
        #expect(reason != nil && !reason!.hasPrefix("WRONG ERROR"), "\(tamper): \(reason ?? "accepted")")
        // The tokens of the refused login were handed back.
        #expect(server.paths().last == "POST /v1/auth/logout")
        let account = try #require(server.account("alice@example.com"))
        #expect(server.activeSessionCount(of: account.accountID) == 1)  // only signup's
    }

    @Test func anotherAccountsBundleIsRejected() async throws {
        let server = FakeAccountsServer()
        _ = try await signUp(server, email: "alice@example.com")
        // Bob even has the same password; his bundle is still not Alice's.
        _ = try await signUp(server, email: "bob@example.com")
        let bob = try #require(server.account("bob@example.com")).bundle
        server.tamperLoginBundle = { $0 = bob }
        let reason = await expectKeyBundleRejected {
            _ = try await testClient(server).login(email: "alice@example.com", password: password)
        }
        #expect(reason?.contains("belongs to account") == true, "\(reason ?? "accepted")")

        // Bob's bundle relabelled with Alice's account id: the envelopes are bound to Bob's.
        let aliceID = try #require(server.account("alice@example.com")).accountID
        server.tamperLoginBundle = { $0 = bob; $0.accountID = aliceID }
        let relabelled = await expectKeyBundleRejected {
            _ = try await testClient(server).login(email: "alice@example.com", password: password)
        }
        #expect(relabelled != nil && !relabelled!.hasPrefix("WRONG ERROR"), "\(relabelled ?? "accepted")")
    }

    @Test func swappedPurposesAreNamed() async throws {
        let server = FakeAccountsServer()
        _ = try await signUp(server)
        server.tamperLoginBundle = { swap(&$0.x25519SecretKey, &$0.ed25519Seed) }
        let reason = await expectKeyBundleRejected {
            _ = try await testClient(server).login(email: "alice@example.com", password: password)
        }
        #expect(reason?.contains("swapped") == true, "\(reason ?? "accepted")")
    }

    @Test(arguments: ["\"garbage\"", "{}", "null", "{\"version\":1}", "[1,2,3]"])
    func malformedBundleIsRejected(_ raw: String) async throws {
        let server = FakeAccountsServer()
        _ = try await signUp(server)
        server.rawLoginBundle = raw
        let reason = await expectKeyBundleRejected {
            _ = try await testClient(server).login(email: "alice@example.com", password: password)
        }
        #expect(reason?.contains("malformed") == true, "\(reason ?? "accepted")")
    }

    @Test func signupRejectsABundleWithOtherKeys() async throws {
        // The login right after signup returns a bundle that opens but holds other keys.
        let server = FakeAccountsServer()
        server.tamperLoginBundle = { $0.x25519PublicKey = X25519KeyPair.generate().publicKey }
        let result = try await testClient(server).signup(email: "alice@example.com", password: password)
        #expect(result.session == nil)
        guard case .keyBundleRejected? = result.loginError as? CoffreClientError else {
            Issue.record("expected keyBundleRejected, got \(String(describing: result.loginError))")
            return
        }
        #expect(!result.recoveryKey.isEmpty)  // the account exists; the recovery key is not lost
    }

    @Test(arguments: Tamper.allCases.filter { $0 != .recoverySlotInPasswordSlot && $0 != .flipPasswordSlotFirstByte
        && $0 != .flipPasswordSlotNonce && $0 != .flipPasswordSlotCiphertext && $0 != .flipPasswordSlotTag
        && $0 != .truncatePasswordSlot })
    func tamperedRecoveryBundleIsRejected(_ tamper: Tamper) async throws {
        let server = FakeAccountsServer()
        let (result, _) = try await signUp(server)
        server.tamperRecoveryBundle = { tamper.apply(&$0) }
        let reason = await expectKeyBundleRejected {
            try await testClient(server).recover(email: "alice@example.com", recoveryKey: result.recoveryKey,
                                                 newPassword: "new password")
        }
        #expect(reason != nil && !reason!.hasPrefix("WRONG ERROR"), "\(tamper): \(reason ?? "accepted")")
        #expect(!server.paths().contains("POST /v1/auth/recovery/reset"))
    }

    @Test func recoverySlotTamperingIsRejected() async throws {
        let server = FakeAccountsServer()
        let (result, _) = try await signUp(server)
        server.tamperRecoveryBundle = { $0.masterKeyUnderRecoveryKey[20] ^= 1 }
        let reason = await expectKeyBundleRejected {
            try await testClient(server).recover(email: "alice@example.com", recoveryKey: result.recoveryKey,
                                                 newPassword: "new password")
        }
        #expect(reason?.contains("masterKeyUnderRecoveryKey") == true, "\(reason ?? "accepted")")
        server.tamperRecoveryBundle = { $0.masterKeyUnderRecoveryKey = $0.masterKeyUnderPassword }
        #expect(await expectKeyBundleRejected {
            try await testClient(server).recover(email: "alice@example.com", recoveryKey: result.recoveryKey,
                                                 newPassword: "new password")
        } != nil)
        #expect(!server.paths().contains("POST /v1/auth/recovery/reset"))
    }
}

@Suite struct KDFParameterTests {
    /// A client built with the default profile (`.interactive`).
    func realClient(_ server: FakeAccountsServer) -> CoffreClient {
        CoffreClient(transport: server, tenant: nil)
    }

    @Test(arguments: [
        KDFParameters(opslimit: 1, memlimit: 8 << 20),          // PasswordProfile.testing
        KDFParameters(opslimit: 1, memlimit: 64 << 20),         // too few passes
        KDFParameters(opslimit: 2, memlimit: 32 << 20),         // too little memory
        KDFParameters(opslimit: 0, memlimit: 0),
        KDFParameters(opslimit: -1, memlimit: 64 << 20),
        KDFParameters(algorithm: "argon2i13", opslimit: 4, memlimit: 64 << 20),
        KDFParameters(algorithm: "scrypt", opslimit: 2, memlimit: 64 << 20),
        KDFParameters(opslimit: 100, memlimit: 64 << 20),       // above the maximum: would hang the device
        KDFParameters(opslimit: 2, memlimit: 8 << 30),
    ])
    func unacceptableParametersAreRefusedBeforeLogin(_ kdf: KDFParameters) async throws {
        let server = FakeAccountsServer()
        server.preloginKDF = kdf
        let client = realClient(server)
        do {
            _ = try await client.login(email: "alice@example.com", password: password)
            Issue.record("accepted \(kdf)")
        } catch CoffreClientError.unacceptableKDF(let reason) {
            #expect(!reason.isEmpty)
        } catch {
            Issue.record("wrong error \(error)")
        }
        #expect(server.paths() == ["POST /v1/auth/prelogin"])
    }

    @Test func interactiveAndStrongerAreAccepted() async throws {
        let server = FakeAccountsServer()
        for kdf in [KDFParameters(.interactive), KDFParameters(.moderate)] {
            server.preloginKDF = kdf
            let info = try await realClient(server).prelogin(email: "alice@example.com")
            #expect(info.kdf == kdf)
        }
    }

    @Test func testProfileClientAcceptsTestParametersOnly() async throws {
        let server = FakeAccountsServer()
        server.preloginKDF = KDFParameters(.testing)
        #expect(try await testClient(server).prelogin(email: "a@b.c").profile == .testing)
        server.preloginKDF = KDFParameters(opslimit: 1, memlimit: 4 << 20)
        await #expect(throws: CoffreClientError.self) { _ = try await testClient(server).prelogin(email: "a@b.c") }
    }

    @Test func badSaltIsRefused() async throws {
        let server = FakeAccountsServer()
        server.preloginKDF = KDFParameters(.testing)
        for salt in [Sodium.base64URLEncode([1, 2, 3]), "not base64url!", Sodium.base64URLEncode(Array(repeating: 7, count: 32))] {
            server.preloginSalt = salt
            await #expect(throws: CoffreClientError.self) {
                _ = try await testClient(server).login(email: "a@b.c", password: password)
            }
        }
        #expect(!server.paths().contains("POST /v1/auth/login"))
    }
}
