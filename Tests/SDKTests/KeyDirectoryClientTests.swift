// The SDK's key-directory checks against a fake directory running a real
// transparency log (FakeKeyDirectory): an honest directory passes; one that
// substitutes keys, forks or rolls back its log, signs with another key,
// serves stale checkpoints, goes back to an older key version or hides a
// revocation is refused every time, and nothing it said is remembered.
@testable import CoffreCrypto
@testable import CoffreSDK
import Foundation
import KeyTransparency
import Sodium
import Testing

struct DirectoryFixture {
    let server: FakeKeyDirectory
    let alice: (id: String, keys: AccountKeys)
    let bob: (id: String, keys: AccountKeys)
    let carol: (id: String, keys: AccountKeys)
    let client: CoffreClient
    let session: Session
    let trust: KeyTrust

    init(trust makeTrust: ((String) throws -> KeyTrust)? = nil, ingest: FakeIngestServer = FakeIngestServer()) throws {
        server = FakeKeyDirectory(ingest: ingest)
        server.addNoise(5)
        alice = server.addAccount(email: "alice@example.com")
        server.addNoise(2)
        bob = server.addAccount(email: "bob@example.com")
        carol = server.addAccount(email: "carol@example.com")
        server.addNoise(3)
        client = CoffreClient(transport: server, tenant: nil, profile: .testing)
        session = server.session(for: alice.id, keys: alice.keys, email: "alice@example.com")
        trust = try makeTrust?(server.serverDescription) ?? KeyTrust(server: server.serverDescription)
    }

    func session(of account: (id: String, keys: AccountKeys)) -> Session {
        server.session(for: account.id, keys: account.keys)
    }

    func lookupBob() async throws -> VerifiedKeys {
        try await client.verifiedKeys(session, email: "bob@example.com", trust: trust)
    }
}

/// The KeyDirectoryError `body` throws, or a description of what happened instead.
enum Refusal {
    case success(KeyDirectoryError)
    case failure(String)
}

func directoryError(_ body: () async throws -> Void) async -> Refusal {
    do {
        try await body()
        return .failure("accepted")
    } catch let error as KeyDirectoryError {
        return .success(error)
    } catch {
        return .failure("WRONG ERROR: \(error)")
    }
}

extension KeyDirectoryError {
    var kind: String {
        switch self {
        case .substitutedKey: "substitutedKey"
        case .forkedLog: "forkedLog"
        case .rolledBack: "rolledBack"
        case .badCheckpointSignature: "badCheckpointSignature"
        case .staleCheckpoint: "staleCheckpoint"
        case .versionRolledBack: "versionRolledBack"
        case .revoked: "revoked"
        case .badSignature: "badSignature"
        case .logKeyMismatch: "logKeyMismatch"
        case .malformed: "malformed"
        case .auditFailed: "auditFailed"
        }
    }
}

func expectRefusal(_ kind: String, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
    switch await directoryError(body) {
    case .success(let error):
        #expect(error.kind == kind, "expected \(kind), got \(error)", sourceLocation: sourceLocation)
        #expect(!error.description.isEmpty, sourceLocation: sourceLocation)
    case .failure(let what):
        Issue.record("expected \(kind), got \(what)", sourceLocation: sourceLocation)
    }
}

@Suite struct KeyDirectoryClientTests {
    // MARK: - Honest directory

    @Test func honestLookupVerifiesAndIsRemembered() async throws {
        let f = try DirectoryFixture()
        let keys = try await f.lookupBob()
        #expect(keys.accountID == f.bob.id)
        #expect(keys.x25519 == f.bob.keys.x25519.publicKey && keys.ed25519 == f.bob.keys.ed25519.publicKey)
        #expect(keys.version == 1 && keys.firstContact && keys.changed)
        #expect(keys.safetyCode == SafetyCode.fingerprint(ed25519Public: f.bob.keys.ed25519.publicKey,
                                                         x25519Public: f.bob.keys.x25519.publicKey))
        let state = await f.trust.snapshot
        #expect(state.logVerifierKey == f.server.verifierKey)
        #expect(state.checkpoint?.size == f.server.withLog { $0.size })
        #expect(state.contacts[f.bob.id]?.version == 1 && state.contacts[f.bob.id]?.email == "bob@example.com")

        // The log grows; the next lookup proves the new checkpoint extends the stored one.
        f.server.addNoise(7)
        let again = try await f.client.verifiedKeys(f.session, account: f.bob.id, trust: f.trust)
        #expect(!again.firstContact && !again.changed && again.checkpointSize == keys.checkpointSize + 7)
        #expect(f.server.paths.contains("GET /v1/log/proof/consistency?from=\(keys.checkpointSize)&to=\(keys.checkpointSize + 7)"))
        // The log key was fetched once, on first use, then pinned.
        #expect(f.server.paths.filter { $0 == "GET /v1/log/key" }.count == 1)
    }

    @Test func rotationIsAcceptedWithTheOldKeysSignature() async throws {
        let f = try DirectoryFixture()
        _ = try await f.lookupBob()
        let newKeys = AccountKeys.generate().keys
        f.server.rotate(f.bob.id, to: newKeys)
        let rotated = try await f.lookupBob()
        #expect(rotated.version == 2 && rotated.changed && !rotated.firstContact)
        #expect(rotated.x25519 == newKeys.x25519.publicKey)
    }

    @Test func configuredLogKeyIsUsedAndAMismatchRefused() async throws {
        let server = FakeKeyDirectory()
        let bob = server.addAccount(email: "bob@example.com")
        let me = server.addAccount(email: "me@example.com")
        let client = CoffreClient(transport: server, tenant: nil, profile: .testing)
        let session = server.session(for: me.id, keys: me.keys)
        let trust = try KeyTrust(server: server.serverDescription, logKey: server.verifierKey)
        _ = try await client.verifiedKeys(session, account: bob.id, trust: trust)
        #expect(!server.paths.contains("GET /v1/log/key"))

        // A directory advertising another key on first use is not believed when the key was given.
        let other = try NoteSigner(name: "coffre.test/keys", seed: Sodium.randomBytes(32)).verifierKey
        let mismatched = try KeyTrust(server: server.serverDescription, logKey: other)
        try await mismatched.pin(verifierKey: server.verifierKey, origin: nil)
        await expectRefusal("logKeyMismatch") { _ = try await client.verifiedKeys(session, account: bob.id, trust: mismatched) }
    }

    @Test func trustPersistsAcrossRuns() async throws {
        let directory = NSTemporaryDirectory() + "coffre-trust-" + UUID().uuidString
        let file = URL(fileURLWithPath: directory + "/keytrust.json")
        let f = try DirectoryFixture(trust: { try KeyTrust(server: $0, fileURL: file) })
        let first = try await f.lookupBob()
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)

        // A later run: the pinned key and stored checkpoint come from the file.
        let later = try KeyTrust(server: f.server.serverDescription, fileURL: file)
        #expect(await later.snapshot == (await f.trust.snapshot))
        let stale = f.server.honestLookup(f.bob.id)!
        f.server.addNoise(3)
        _ = try await f.client.verifiedKeys(f.session, account: f.carol.id, trust: later)
        // … and the rollback to the first run's checkpoint is caught by a third run.
        let third = try KeyTrust(server: f.server.serverDescription, fileURL: file)
        f.server.tamperLookup = { answer, _ in answer = stale }
        await expectRefusal("rolledBack") { _ = try await f.client.verifiedKeys(f.session, account: f.bob.id, trust: third) }
        #expect(await third.snapshot.checkpoint?.size == first.checkpointSize + 3)
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: - Substituted keys

    @Test func entryWithOtherKeysNotInTheLogIsRefused() async throws {
        let f = try DirectoryFixture()
        let mallory = AccountKeys.generate().keys
        let forged = FakeKeyDirectory.publish(tenant: f.server.tenantID, account: f.bob.id, version: 1, keys: mallory)
        f.server.tamperLookup = { answer, _ in answer.entry = forged.encoded() }
        await expectRefusal("substitutedKey") { _ = try await f.lookupBob() }
        #expect(await f.trust.snapshot.contacts[f.bob.id] == nil)
        #expect(await f.trust.snapshot.checkpoint == nil)
    }

    @Test func proofForAnotherLeafIsRefused() async throws {
        let f = try DirectoryFixture()
        let mallory = AccountKeys.generate().keys
        let forged = FakeKeyDirectory.publish(tenant: f.server.tenantID, account: f.bob.id, version: 1, keys: mallory)
        let carol = f.carol.id
        // Bob's forged entry with the index and inclusion proof of Carol's (real) entry.
        f.server.tamperLookup = { answer, server in
            let real = server.lookupWhileHandling(carol)!
            answer.entry = forged.encoded()
            answer.index = real.index
            answer.proof = real.proof
        }
        await expectRefusal("substitutedKey") { _ = try await f.lookupBob() }
        // A proof of the right length for the wrong index fails too.
        f.server.tamperLookup = { answer, _ in answer.index += 1 }
        await expectRefusal("substitutedKey") { _ = try await f.lookupBob() }
    }

    @Test func anotherAccountsEntryIsRefused() async throws {
        let f = try DirectoryFixture()
        let carol = f.carol.id
        // Carol's real entry and proof, labelled as Bob's or not: asked by id, refused both ways.
        f.server.tamperLookup = { answer, server in
            let id = answer.accountID
            answer = server.lookupWhileHandling(carol)!
            answer.accountID = id
        }
        await expectRefusal("substitutedKey") { _ = try await f.client.verifiedKeys(f.session, account: f.bob.id, trust: f.trust) }
        f.server.tamperLookup = { answer, server in answer = server.lookupWhileHandling(carol)! }
        await expectRefusal("substitutedKey") { _ = try await f.client.verifiedKeys(f.session, account: f.bob.id, trust: f.trust) }
    }

    @Test func entryOfAnotherTenantIsRefused() async throws {
        let f = try DirectoryFixture()
        let bob = f.bob
        f.server.appendRaw(account: "x", FakeKeyDirectory.publish(tenant: UUID().uuidString.lowercased(), account: bob.id,
                                                                  version: 1, keys: bob.keys))
        let index = f.server.withLog { $0.size - 1 }
        f.server.tamperLookup = { answer, server in
            let log = server.logWhileHandling
            answer.index = index
            answer.entry = log.entries[Int(index)]
            answer.proof = log.inclusion(index: index, size: log.size)
        }
        await expectRefusal("substitutedKey") { _ = try await f.lookupBob() }
    }

    @Test func sameVersionWithOtherKeysIsRefusedEvenIfLogged() async throws {
        let f = try DirectoryFixture()
        _ = try await f.lookupBob()
        // The directory logs a second "version 1" for Bob with its own keys and shows it to Alice.
        let mallory = AccountKeys.generate().keys
        f.server.appendRaw(account: "x", FakeKeyDirectory.publish(tenant: f.server.tenantID, account: f.bob.id, version: 1, keys: mallory))
        let index = f.server.withLog { $0.size - 1 }
        f.server.tamperLookup = { answer, server in
            let log = server.logWhileHandling
            answer.index = index
            answer.entry = log.entries[Int(index)]
            answer.proof = log.inclusion(index: index, size: log.size)
        }
        await expectRefusal("substitutedKey") { _ = try await f.lookupBob() }
        #expect(await f.trust.contact(f.bob.id)?.x25519 == f.bob.keys.x25519.publicKey.base64URL)
    }

    @Test func badSelfSignatureOrUnsignedRotationIsRefused() async throws {
        let f = try DirectoryFixture()
        // Keys not signed by their own Ed25519 key.
        let mallory = AccountKeys.generate().keys
        var entry = FakeKeyDirectory.publish(tenant: f.server.tenantID, account: f.carol.id, version: 2, keys: mallory)
        entry.action = .rotate
        entry.selfSignature = Sodium.base64URLEncode(mallory.ed25519.signature(for: Array("something else".utf8)))
        f.server.appendRaw(account: f.carol.id, entry)
        await expectRefusal("badSignature") { _ = try await f.client.verifiedKeys(f.session, account: f.carol.id, trust: f.trust) }

        // A rotation of Bob's keys that Bob's previous key did not sign.
        _ = try await f.lookupBob()
        var rotation = FakeKeyDirectory.publish(tenant: f.server.tenantID, account: f.bob.id, version: 2, keys: mallory)
        rotation.action = .rotate
        rotation.prevSignature = Sodium.base64URLEncode(mallory.ed25519.signature(for: KeyLogEntry.transitionMessage(
            account: f.bob.id, action: .rotate, version: 2, x25519: rotation.x25519, ed25519: rotation.ed25519)))
        f.server.appendRaw(account: f.bob.id, rotation)
        await expectRefusal("badSignature") { _ = try await f.lookupBob() }
    }

    // MARK: - The log itself

    @Test func forkedLogIsRefused() async throws {
        let f = try DirectoryFixture()
        let verified = try await f.lookupBob()
        let stored = await f.trust.snapshot.checkpoint
        // A second history signed by the same log key: the same accounts, other noise, larger.
        var fork = FakeLog(seed: f.server.seed)
        let bobEntry = FakeKeyDirectory.publish(tenant: f.server.tenantID, account: f.bob.id, version: 1, keys: f.bob.keys)
        for _ in 0..<4 { fork.append(FakeKeyDirectory.publish(tenant: f.server.tenantID, account: UUID().uuidString.lowercased(), version: 1, keys: AccountKeys.generate().keys)) }
        let bobIndex = fork.append(bobEntry)
        for _ in 0..<Int(verified.checkpointSize) { fork.append(FakeKeyDirectory.publish(tenant: f.server.tenantID, account: UUID().uuidString.lowercased(), version: 1, keys: AccountKeys.generate().keys)) }
        let forked = fork
        f.server.tamperLookup = { answer, _ in
            answer.index = bobIndex
            answer.entry = bobEntry.encoded()
            answer.checkpoint = forked.note()
            answer.proof = forked.inclusion(index: bobIndex, size: forked.size)
        }
        f.server.tamperConsistency = { from, to in try? forked.consistency(from: from, to: to) }
        await expectRefusal("forkedLog") { _ = try await f.lookupBob() }

        // The fork at exactly the stored size: another root for the same size.
        f.server.tamperLookup = { answer, _ in
            let size = verified.checkpointSize
            answer.index = bobIndex
            answer.entry = bobEntry.encoded()
            answer.checkpoint = forked.note(size: size)
            answer.proof = forked.inclusion(index: bobIndex, size: size)
        }
        await expectRefusal("forkedLog") { _ = try await f.lookupBob() }
        #expect(await f.trust.snapshot.checkpoint == stored)
    }

    @Test func consistencyProofThatDoesNotVerifyIsAFork() async throws {
        let f = try DirectoryFixture()
        _ = try await f.lookupBob()
        f.server.addNoise(3)
        f.server.tamperConsistency = { from, to in [Sodium.base64URLEncode(Sodium.randomBytes(32))] }
        await expectRefusal("forkedLog") { _ = try await f.lookupBob() }
        f.server.tamperConsistency = { _, _ in [] }
        await expectRefusal("forkedLog") { _ = try await f.lookupBob() }
    }

    @Test func rolledBackCheckpointIsRefused() async throws {
        let f = try DirectoryFixture()
        let old = f.server.honestLookup(f.bob.id)!
        f.server.addNoise(4)
        _ = try await f.lookupBob()
        // The old (smaller, honestly signed, fresh) checkpoint with a valid proof against it.
        let oldSize = f.server.withLog { $0.size } - 4
        f.server.tamperLookup = { answer, server in
            answer = old
            answer.checkpoint = server.logWhileHandling.note(size: oldSize)
        }
        await expectRefusal("rolledBack") { _ = try await f.lookupBob() }
    }

    @Test func checkpointSignedByAnotherKeyIsRefused() async throws {
        let f = try DirectoryFixture()
        let impostor = try NoteSigner(name: "coffre.test/keys", seed: Sodium.randomBytes(32))
        _ = try await f.lookupBob()  // pins the real key
        f.server.tamperLookup = { answer, server in answer.checkpoint = server.logWhileHandling.note(signer: impostor) }
        await expectRefusal("badCheckpointSignature") { _ = try await f.lookupBob() }

        // The right key's signature over another body (the size changed after signing).
        f.server.tamperLookup = { answer, server in
            let note = server.logWhileHandling.note()
            var lines = note.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            lines[1] = String(UInt64(lines[1])! + 1)
            answer.checkpoint = lines.joined(separator: "\n")
        }
        await expectRefusal("badCheckpointSignature") { _ = try await f.lookupBob() }
    }

    @Test func aDirectoryThatSignsWithAnotherKeyThanPinnedAtFirstUseIsRefused() async throws {
        let f = try DirectoryFixture()
        let impostor = try NoteSigner(name: "coffre.test/keys", seed: Sodium.randomBytes(32))
        try await f.trust.pin(verifierKey: impostor.verifierKey, origin: "coffre.test/keys")
        await expectRefusal("badCheckpointSignature") { _ = try await f.lookupBob() }
    }

    @Test func staleOrFutureCheckpointIsRefused() async throws {
        let f = try DirectoryFixture()
        f.server.checkpointTime = { Date().addingTimeInterval(-11 * 60) }
        await expectRefusal("staleCheckpoint") { _ = try await f.lookupBob() }
        f.server.checkpointTime = { Date().addingTimeInterval(11 * 60) }
        await expectRefusal("staleCheckpoint") { _ = try await f.lookupBob() }
        #expect(await f.trust.snapshot.checkpoint == nil)
        f.server.checkpointTime = { Date().addingTimeInterval(-9 * 60) }
        _ = try await f.lookupBob()

        // The bound is configurable.
        let patient = try KeyTrust(server: f.server.serverDescription, maxCheckpointAge: 3600)
        f.server.checkpointTime = { Date().addingTimeInterval(-30 * 60) }
        _ = try await f.client.verifiedKeys(f.session, account: f.bob.id, trust: patient)
    }

    // MARK: - Versions

    @Test func olderVersionThanRememberedIsRefused() async throws {
        let f = try DirectoryFixture()
        let v1 = f.server.honestLookup(f.bob.id)!
        f.server.rotate(f.bob.id, to: AccountKeys.generate().keys)
        #expect(try await f.lookupBob().version == 2)
        // Version 1 is really in the log: only the remembered version catches it.
        f.server.tamperLookup = { answer, server in
            let log = server.logWhileHandling
            answer.version = 1
            answer.index = v1.index
            answer.entry = v1.entry
            answer.proof = log.inclusion(index: v1.index, size: log.size)
        }
        await expectRefusal("versionRolledBack") { _ = try await f.lookupBob() }
    }

    @Test func revokedKeysAreRefusedAndTheRevocationCannotBeHidden() async throws {
        let f = try DirectoryFixture()
        let v1 = f.server.honestLookup(f.bob.id)!
        _ = try await f.lookupBob()
        f.server.revoke(f.bob.id)
        await expectRefusal("revoked") { _ = try await f.lookupBob() }
        #expect(await f.trust.contact(f.bob.id)?.revoked == true)
        // The directory now pretends the revocation never happened.
        f.server.tamperLookup = { answer, server in
            let log = server.logWhileHandling
            answer.version = 1
            answer.index = v1.index
            answer.entry = v1.entry
            answer.proof = log.inclusion(index: v1.index, size: log.size)
        }
        await expectRefusal("versionRolledBack") { _ = try await f.lookupBob() }
    }

    // MARK: - Audit of one's own keys

    @Test func auditPassesForAnHonestHistoryAndCatchesARogueKey() async throws {
        let f = try DirectoryFixture()
        let newKeys = AccountKeys.generate().keys
        f.server.rotate(f.alice.id, to: newKeys)
        let session = f.server.session(for: f.alice.id, keys: newKeys)
        let audit = try await f.client.auditOwnKeys(session, x25519: newKeys.x25519.publicKey, ed25519: newKeys.ed25519.publicKey,
                                                    trust: f.trust)
        #expect(audit.entries.map(\.version) == [1, 2] && audit.entries.map(\.isCurrent) == [false, true])
        #expect(f.server.paths.filter { $0.hasPrefix("GET /v1/log/proof/inclusion") }.count == 2)

        // The directory slips in keys of its own for Alice (shown to others): her audit fails.
        let mallory = AccountKeys.generate().keys
        var rogue = FakeKeyDirectory.publish(tenant: f.server.tenantID, account: f.alice.id, version: 3, keys: mallory)
        rogue.action = .rotate
        f.server.appendRaw(account: f.alice.id, rogue)
        await expectRefusal("auditFailed") {
            _ = try await f.client.auditOwnKeys(session, x25519: newKeys.x25519.publicKey, ed25519: newKeys.ed25519.publicKey,
                                                trust: f.trust)
        }
    }

    @Test func auditFailsWhenTheLatestKeysAreNotMine() async throws {
        let f = try DirectoryFixture()
        let mine = AccountKeys.generate().keys
        await expectRefusal("auditFailed") {
            _ = try await f.client.auditOwnKeys(f.session, x25519: mine.x25519.publicKey, ed25519: mine.ed25519.publicKey, trust: f.trust)
        }
    }

    @Test func malformedAnswersAreRefused() async throws {
        let f = try DirectoryFixture()
        f.server.tamperLookup = { answer, _ in answer.entry = Array("coffre-key-entry-v1\ntenant x\n".utf8) }
        await expectRefusal("malformed") { _ = try await f.lookupBob() }
        f.server.tamperLookup = { answer, _ in answer.proof = ["not base64!"] }
        await expectRefusal("malformed") { _ = try await f.lookupBob() }
        f.server.tamperLookup = { answer, _ in answer.checkpoint = "garbage" }
        switch await directoryError({ _ = try await f.lookupBob() }) {
        case .success(let error): #expect(["malformed", "badCheckpointSignature"].contains(error.kind))
        case .failure(let what): Issue.record("expected a refusal, got \(what)")
        }
    }
}
