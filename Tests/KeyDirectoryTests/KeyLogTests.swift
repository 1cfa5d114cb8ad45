import CoffreCore
import CoffreTestSupport
import Foundation
@testable import KeyDirectory
import KeyTransparency
import Logging
import PostgresNIO
import Sodium
import Testing

/// The key directory's log end to end: account events and client requests
/// in, entries with proofs that verify against signed checkpoints out.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct KeyLogTests {
    typealias H = KeyDirectoryHarness

    /// Checks a `KeyLookup` the way a client must: the checkpoint is signed by
    /// the pinned key, the entry is included in it. Returns the parsed entry.
    @discardableResult
    static func verify(_ lookup: [String: Any]) throws -> KeyLogEntry {
        let note = try #require(lookup["checkpoint"] as? String)
        let checkpoint = try H.verifier.verify(note: note)
        let entryBytes = try #require((lookup["entry"] as? String).flatMap(Base64URL.decode))
        let index = try #require(lookup["index"] as? Int)
        let proof = try #require(lookup["inclusion_proof"] as? [String]).map { try #require(Base64URL.decode($0)) }
        try MerkleProof.verifyInclusion(leafHash: MerkleHash.leaf(entryBytes), index: UInt64(index), size: checkpoint.size,
                                        proof: proof, root: checkpoint.rootHash)
        let entry = try KeyLogEntry(parsing: entryBytes)
        #expect(entry.version == UInt64(try #require(lookup["version"] as? Int)))
        #expect(entry.account == (lookup["account_id"] as? String))
        return entry
    }

    @Test func accountCreatedPublishesKeysWithAVerifiableInclusionProof() async throws {
        let topic = try H.newTopic()
        let tenant = UUID(), account = UUID()
        let keys = TestKeys()
        let email = "Alice.\(account.lower.prefix(8))@Example.org"
        try await AccountEventsScript.produce([AccountEventsScript.created(tenant: tenant, account: account, email: email, keys: keys)], topic: topic)
        try await H.run(topic: topic) { h in
            let alice = H.user(tenant: tenant, account: account)
            let reply = try #require(try await h.waitForVersion(1, of: account, as: alice), "account.created was never published")
            let entry = try Self.verify(reply.json)
            #expect(entry.action == .publish && entry.tenant == tenant.lower)
            #expect(entry.x25519 == keys.x && entry.ed25519 == keys.ed && entry.selfSignature == keys.selfSignature)

            // A client must notice a substituted entry: the same proof does not verify another entry.
            var forged = reply.json
            let other = KeyLogEntry(tenant: tenant.lower, account: account.lower, action: .publish, version: 1, x25519: TestKeys().x,
                                    ed25519: keys.ed, selfSignature: keys.selfSignature, prevSignature: nil, reason: nil)
            forged["entry"] = Base64URL.encode(other.encoded())
            #expect(throws: MerkleError.self) { try Self.verify(forged) }

            // By email, case-insensitively, within the tenant only.
            let bob = H.user(tenant: tenant)
            let byEmail = try await h.call(.get, "/v1/keys/lookup?email=\(email.uppercased())", as: bob)
            #expect(byEmail.status == .ok, "\(byEmail.text)")
            #expect(byEmail.json["index"] as? Int == reply.json["index"] as? Int)
            try Self.verify(byEmail.json)
            let stranger = H.user()
            #expect(try await h.call(.get, "/v1/keys/lookup?email=\(email)", as: stranger).status == .notFound)
            #expect(try await h.call(.get, "/v1/keys/accounts/\(account.lower)", as: stranger).status == .notFound)
            #expect(try await h.call(.get, "/v1/keys/accounts/\(account.lower)", as: nil).status == .unauthorized)

            // The public log serves the same entry and proof to anyone.
            let index = try #require(reply.json["index"] as? Int)
            let (_, checkpoint) = try await h.checkpoint()
            let byIndex = try await h.call(.get, "/v1/log/entries/\(index)")
            #expect(byIndex.json["entry"] as? String == reply.json["entry"] as? String)
            let proof = try await h.call(.get, "/v1/log/proof/inclusion?index=\(index)&size=\(checkpoint.size)")
            #expect(proof.status == .ok)
            let hashes = try #require(proof.json["proof"] as? [String]).compactMap(Base64URL.decode)
            try MerkleProof.verifyInclusion(leafHash: entry.leafHash, index: UInt64(index), size: checkpoint.size, proof: hashes,
                                            root: checkpoint.rootHash)
            let key = try await h.call(.get, "/v1/log/key")
            #expect(key.json["verifier_key"] as? String == H.verifierKey)
            #expect(key.json["origin"] as? String == H.origin)
        }
    }

    @Test func rotateSignedByThePreviousKeyBecomesVersionTwo() async throws {
        try await H.run(topic: try H.newTopic()) { h in
            let alice = H.user()
            let account = alice.accountID!
            let (first, published) = try await h.publish(alice)
            #expect(try Self.verify(published.json).version == 1)
            let second = TestKeys()
            let rotated = try await h.call(.post, "/v1/keys", as: alice, json: first.rotateBody(to: second, account: account, version: 2))
            #expect(rotated.status == .created, "\(rotated.text)")
            let entry = try Self.verify(rotated.json)
            #expect(entry.action == .rotate && entry.version == 2 && entry.ed25519 == second.ed)
            try entry.verifySignatures(previousEd25519: first.ed)

            let history = try await h.call(.get, "/v1/keys/accounts/\(account.lower)/history", as: alice)
            #expect(history.status == .ok)
            let checkpoint = try H.verifier.verify(note: try #require(history.json["checkpoint"] as? String))
            let entries = try #require(history.json["entries"] as? [[String: Any]])
            #expect(entries.count == 2)
            for item in entries {
                let bytes = try #require((item["entry"] as? String).flatMap(Base64URL.decode))
                let index = try #require(item["index"] as? Int)
                let proof = try await h.call(.get, "/v1/log/proof/inclusion?index=\(index)&size=\(checkpoint.size)")
                try MerkleProof.verifyInclusion(leafHash: MerkleHash.leaf(bytes), index: UInt64(index), size: checkpoint.size,
                                                proof: try #require(proof.json["proof"] as? [String]).compactMap(Base64URL.decode),
                                                root: checkpoint.rootHash)
            }
            let current = try await TestEnvironment.withPostgres(poolSize: 1) { pg in
                let signer = try NoteSigner(name: H.origin, seed: H.logSeed)
                let sequencer = LogSequencer(postgres: pg, signer: signer, ready: ReadinessFlag(), logger: TestEnvironment.logger)
                return try await KeyStore(postgres: pg, sequencer: sequencer, publishWait: .zero, logger: TestEnvironment.logger)
                    .currentKeys(tenant: alice.tenantID!, account: account)
            }
            #expect(current == KeyStore.CurrentKeys(x25519: second.x25519, ed25519: second.ed25519, version: 2, revoked: false))

            // A client revoke, signed by the current key.
            let revoked = try await h.call(.post, "/v1/keys", as: alice, json: second.revokeBody(account: account, version: 3))
            #expect(revoked.status == .created, "\(revoked.text)")
            let revoke = try Self.verify(revoked.json)
            #expect(revoke.action == .revoke && revoke.reason == "client" && revoke.version == 3)
        }
    }

    @Test func badChangesAreRefusedWithProblemsAndStoreNothing() async throws {
        try await H.run(topic: try H.newTopic()) { h in
            let alice = H.user()
            let account = alice.accountID!
            let (keys, _) = try await h.publish(alice)
            let next = TestKeys()
            var badSelf = keys.rotateBody(to: next, account: account, version: 2)
            badSelf["self_signature"] = keys.selfSignature  // signed by the old key, not the new one
            var shortKey = keys.rotateBody(to: next, account: account, version: 2)
            shortKey["x25519"] = Base64URL.encode(Array(next.x25519.dropLast()))
            let stranger = TestKeys()
            let cases: [(String, [String: Any], Int, String)] = [
                ("bad self-signature", badSelf, 400, "urn:coffre:problem:bad-signature"),
                ("version going backwards", keys.rotateBody(to: next, account: account, version: 1), 409, "urn:coffre:problem:version-conflict"),
                ("version skipping ahead", keys.rotateBody(to: next, account: account, version: 3), 409, "urn:coffre:problem:version-conflict"),
                ("malformed key", shortKey, 400, "urn:coffre:problem:malformed-key"),
                ("rotate signed by the wrong previous key", stranger.rotateBody(to: next, account: account, version: 2), 400,
                 "urn:coffre:problem:bad-signature"),
                ("rotate signed for another account", keys.rotateBody(to: next, account: UUID(), version: 2), 400, "urn:coffre:problem:bad-signature"),
                ("publish over live keys", next.publishBody(version: 2), 409, "urn:coffre:problem:keys-exist"),
                ("revoke signed by a stranger", stranger.revokeBody(account: account, version: 2), 400, "urn:coffre:problem:bad-signature"),
                ("revoke carrying keys", keys.revokeBody(account: account, version: 2).merging(["x25519": next.x]) { $1 }, 400,
                 "urn:coffre:problem:malformed-key"),
                ("unknown action", ["action": "replace", "version": 2], 400, "urn:coffre:problem:malformed-body"),
            ]
            for (name, body, status, type) in cases {
                let reply = try await h.call(.post, "/v1/keys", as: alice, json: body)
                #expect(Int(reply.status.code) == status, "\(name): \(reply.status) \(reply.text)")
                #expect(reply.headers[.contentType] == "application/problem+json", "\(name)")
                #expect(reply.json["type"] as? String == type, "\(name): \(reply.text)")
            }
            #expect(try await h.call(.post, "/v1/keys", as: alice, raw: "{not json").status == .badRequest)
            #expect(try await h.call(.post, "/v1/keys", as: nil, json: next.publishBody()).status == .unauthorized)
            // Nothing was queued or logged beyond the first publish.
            #expect(try await KeyDirectoryDB.entries(of: account) == 1)
            #expect(try await KeyDirectoryDB.queued(of: account) == 1)
            let lookup = try await h.call(.get, "/v1/keys/accounts/\(account.lower)", as: alice)
            #expect(lookup.json["version"] as? Int == 1)
            // And the account can still rotate properly afterwards.
            let ok = try await h.call(.post, "/v1/keys", as: alice, json: keys.rotateBody(to: next, account: account, version: 2))
            #expect(ok.status == .created, "\(ok.text)")

            // Public log routes: bad ranges are 4xx, never 5xx.
            let (_, checkpoint) = try await h.checkpoint()
            for path in ["/v1/log/proof/inclusion?index=5&size=5", "/v1/log/proof/inclusion?index=0&size=\(checkpoint.size + 1)",
                         "/v1/log/proof/inclusion?index=-1&size=2", "/v1/log/proof/inclusion?size=2",
                         "/v1/log/proof/consistency?from=0&to=1", "/v1/log/proof/consistency?from=3&to=2",
                         "/v1/log/proof/consistency?from=1&to=\(checkpoint.size + 1)", "/v1/log/entries/abc"] {
                let reply = try await h.call(.get, path)
                #expect(reply.status == .badRequest, "\(path): \(reply.status) \(reply.text)")
            }
            #expect(try await h.call(.get, "/v1/log/entries/\(checkpoint.size + 1000)").status == .notFound)
            #expect(try await h.call(.get, "/v1/keys/accounts/not-a-uuid", as: alice).status == .badRequest)
        }
    }

    /// Ten rotations to the same version at once: exactly one is appended,
    /// the others get 409 (from the first check or from the sequencer,
    /// depending on timing), never a second entry.
    @Test func racingChangesForOneVersionAppendExactlyOne() async throws {
        try await H.run(topic: try H.newTopic()) { h in
            let alice = H.user()
            let account = alice.accountID!
            let (keys, _) = try await h.publish(alice)
            let statuses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        let reply = try await h.call(.post, "/v1/keys", as: alice, json: keys.rotateBody(to: TestKeys(), account: account, version: 2))
                        return (Int(reply.status.code), reply.json["type"] as? String)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0.0 == 201 }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0.0 == 409 && $0.1 == "urn:coffre:problem:version-conflict" }.count == 9, "\(statuses)")
            #expect(try await KeyDirectoryDB.entries(of: account) == 2)
        }
    }

    /// Changes that passed the first check but no longer fit when sequenced
    /// (queued straight into the queue here, as two requests racing would
    /// leave them): the sequencer appends the first, refuses the second with
    /// the problem its request answers, and re-checks the previous key's
    /// signature against the state it appends to.
    @Test func sequencerRefusesChangesTheStateNoLongerAllows() async throws {
        try await H.run(topic: try H.newTopic()) { h in
            let alice = H.user()
            let tenant = alice.tenantID!, account = alice.accountID!
            let (keys, _) = try await h.publish(alice)
            func rotate(signedBy signer: TestKeys, version: Int) throws -> PendingChange {
                let next = TestKeys()
                let body = signer.rotateBody(to: next, account: account, version: version)
                return try Transition.change(from: KeyChangeRequest(action: "rotate", version: Int64(version), x25519: next.x, ed25519: next.ed,
                                                                    self_signature: next.selfSignature, prev_signature: body["prev_signature"] as? String),
                                             tenant: tenant, account: account)
            }
            let changes = [try rotate(signedBy: keys, version: 2), try rotate(signedBy: keys, version: 2), try rotate(signedBy: TestKeys(), version: 2)]
            let settled = try await TestEnvironment.withPostgres(poolSize: 2) { pg in
                let signer = try NoteSigner(name: H.origin, seed: H.logSeed)
                let store = KeyStore(postgres: pg, sequencer: LogSequencer(postgres: pg, signer: signer, ready: ReadinessFlag(), logger: TestEnvironment.logger),
                                     publishWait: .zero, logger: TestEnvironment.logger)
                let ids = try await pg.withTenant(tenant, logger: TestEnvironment.logger) { connection in
                    var ids: [Int64] = []
                    for change in changes { ids.append(try await store.enqueue(change, on: connection)) }
                    return ids
                }
                var results: [KeyStore.Settlement] = []
                for id in ids {
                    var settlement = KeyStore.Settlement.queued
                    _ = try await TestEnvironment.eventually(timeout: .seconds(10)) {
                        settlement = try await store.settlement(of: id)
                        if case .queued = settlement { return false }
                        return true
                    }
                    results.append(settlement)
                }
                return results
            }
            guard case .sequenced(_, let version) = settled[0] else { Issue.record("first change not sequenced: \(settled[0])"); return }
            #expect(version == 2)
            guard case .refused(let late) = settled[1], case .refused(let forged) = settled[2] else {
                Issue.record("later changes not refused: \(settled)"); return
            }
            #expect(late.status == .conflict && late.type == "urn:coffre:problem:version-conflict")
            // Version 3 would now be right, but it is refused on the version first; a
            // forged signature at the right version is refused on the signature.
            #expect(forged.status == .conflict)
            #expect(try await KeyDirectoryDB.entries(of: account) == 2)
            let forgedNext = try rotate(signedBy: TestKeys(), version: 3)
            let refused = try await TestEnvironment.withPostgres(poolSize: 2) { pg -> KeyStore.Settlement in
                let signer = try NoteSigner(name: H.origin, seed: H.logSeed)
                let store = KeyStore(postgres: pg, sequencer: LogSequencer(postgres: pg, signer: signer, ready: ReadinessFlag(), logger: TestEnvironment.logger),
                                     publishWait: .zero, logger: TestEnvironment.logger)
                let id = try await pg.withTenant(tenant, logger: TestEnvironment.logger) { try await store.enqueue(forgedNext, on: $0) }
                var settlement = KeyStore.Settlement.queued
                _ = try await TestEnvironment.eventually(timeout: .seconds(10)) {
                    settlement = try await store.settlement(of: id)
                    if case .queued = settlement { return false }
                    return true
                }
                return settlement
            }
            guard case .refused(let badSignature) = refused else { Issue.record("forged rotate not refused: \(refused)"); return }
            #expect(badSignature.status == .badRequest && badSignature.type == "urn:coffre:problem:bad-signature")
            #expect(try await KeyDirectoryDB.entries(of: account) == 2)
        }
    }

    /// While another session holds the sequencer lock nothing is appended:
    /// the request answers 202 with its queue id after KEYDIR_PUBLISH_WAIT_MS,
    /// and the change is appended once the lock is free.
    @Test func withoutTheSequencerLockARequestIsQueuedAndAnswered202() async throws {
        try await H.run(topic: try H.newTopic(), tweak: { $0.publishWait = .milliseconds(400) }) { h in
            let alice = H.user()
            let account = alice.accountID!
            let config = try PostgresSetup.configuration(url: TestEnvironment.postgresURL!, poolSize: 1)
            let holder = try await PostgresConnection.connect(
                configuration: .init(host: config.host!, port: config.port!, username: config.username, password: config.password,
                                     database: config.database, tls: .disable),
                id: 1, logger: TestEnvironment.logger)
            try await holder.query("SELECT pg_advisory_lock(hashtext(\(LogSequencer.lockKey)))", logger: TestEnvironment.logger)
            let reply = try await h.call(.post, "/v1/keys", as: alice, json: TestKeys().publishBody())
            #expect(reply.status == .accepted, "\(reply.text)")
            #expect(reply.json["status"] as? String == "queued" && reply.json["queued_id"] is Int)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await KeyDirectoryDB.entries(of: account) == 0)
            try await holder.query("SELECT pg_advisory_unlock(hashtext(\(LogSequencer.lockKey)))", logger: TestEnvironment.logger)
            try await holder.close()
            let lookup = try await h.waitForVersion(1, of: account, as: alice, timeout: .seconds(10))
            #expect(lookup != nil)
            if let lookup { try Self.verify(lookup.json) }
        }
    }

    @Test func consistencyProofBetweenTwoCheckpointsVerifies() async throws {
        try await H.run(topic: try H.newTopic()) { h in
            try await h.publish(H.user())
            let (_, older) = try await h.checkpoint()
            for _ in 0..<3 { try await h.publish(H.user()) }
            let (_, newer) = try await h.checkpoint()
            #expect(newer.size >= older.size + 3)
            let reply = try await h.call(.get, "/v1/log/proof/consistency?from=\(older.size)&to=\(newer.size)")
            #expect(reply.status == .ok, "\(reply.text)")
            let proof = try #require(reply.json["proof"] as? [String]).compactMap(Base64URL.decode)
            try MerkleProof.verifyConsistency(from: older.size, to: newer.size, fromRoot: older.rootHash, toRoot: newer.rootHash, proof: proof)
            // A forked history (another root at the older size) does not verify.
            var forkedRoot = older.rootHash
            forkedRoot[0] ^= 1
            #expect(throws: MerkleError.self) {
                try MerkleProof.verifyConsistency(from: older.size, to: newer.size, fromRoot: forkedRoot, toRoot: newer.rootHash, proof: proof)
            }
            // With nothing new, the checkpoint is re-signed with a fresh time.
            try await Task.sleep(for: .milliseconds(2100))
            let (_, refreshed) = try await h.checkpoint()
            #expect(try #require(refreshed.time) > (newer.time ?? .max) || refreshed.size > newer.size)
        }
    }

    /// Two service instances (two sequencers) on one database, changes
    /// coming in through both: one log, indices 0..<size without gaps or
    /// duplicates, and the root recomputed from every stored leaf is the
    /// signed one.
    @Test func concurrentSequencersBuildOneConsistentLog() async throws {
        let topic = try H.newTopic()
        let small: @Sendable (inout KeyDirectoryConfiguration) -> Void = { $0.sequencer.batchSize = 16; $0.sequencer.interval = .milliseconds(5) }
        let tenant = UUID()
        try await H.run(topic: topic, tweak: small) { a in
            try await H.run(topic: topic, tweak: small) { b in
                let users = (0..<40).map { _ in H.user(tenant: tenant) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Many small batches for both sequencers to contend over.
                    group.addTask { try await LogBenchmark.enqueuePublishesForTest(count: 400, tenant: tenant) }
                    for (i, user) in users.enumerated() {
                        group.addTask {
                            let reply = try await (i % 2 == 0 ? a : b).call(.post, "/v1/keys", as: user, json: TestKeys().publishBody())
                            #expect(reply.status == .created || reply.status == .accepted, "\(reply.text)")
                        }
                    }
                    try await group.waitForAll()
                }
                for user in users {
                    #expect(try await a.waitForVersion(1, of: user.accountID!, as: user) != nil)
                }
                let drained = try await TestEnvironment.eventually(timeout: .seconds(30)) {
                    try await KeyDirectoryDB.count("SELECT count(*) FROM keydir.queue WHERE state = 'queued' AND tenant_id = $1", tenant) == 0
                }
                #expect(drained)
                let (_, checkpoint) = try await a.checkpoint()
                try await TestEnvironment.withPostgres(poolSize: 1) { pg in
                    let rows = try await pg.query("""
                        SELECT log_index, leaf_hash, entry FROM keydir.entries WHERE log_index < \(Int64(checkpoint.size)) ORDER BY log_index
                        """, logger: TestEnvironment.logger)
                    var frontier = MerkleFrontier()
                    for try await (index, leaf, entry) in rows.decode((Int64, ByteBuffer, ByteBuffer).self) {
                        #expect(UInt64(index) == frontier.size, "gap or duplicate at \(index)")
                        #expect(Array(buffer: leaf) == MerkleHash.leaf(Array(buffer: entry)))
                        frontier.append(leafHash: Array(buffer: leaf))
                    }
                    #expect(frontier.size == checkpoint.size)
                    #expect(frontier.root == checkpoint.rootHash)
                    let perAccount = try await pg.query("""
                        SELECT count(*) FROM keydir.entries WHERE tenant_id = \(tenant) GROUP BY account_id HAVING count(*) <> 1
                        """, logger: TestEnvironment.logger)
                    var doubled = 0
                    for try await _ in perAccount.decode(Int64.self) { doubled += 1 }
                    #expect(doubled == 0)
                    let total = try await pg.query("SELECT count(*) FROM keydir.entries WHERE tenant_id = \(tenant)", logger: TestEnvironment.logger)
                    for try await n in total.decode(Int64.self) { #expect(n == 440) }
                }
            }
        }
    }

    @Test func redeliveredAccountCreatedPublishesOnce() async throws {
        let topic = try H.newTopic()
        let tenant = UUID(), account = UUID()
        let keys = TestKeys()
        let event = AccountEventsScript.created(tenant: tenant, account: account, email: "\(account.lower)@example.org", keys: keys)
        // The same event three times (relay redelivery), and a bad signature for another account.
        let forged = UUID()
        let bad = AccountEventsScript.created(tenant: tenant, account: forged, email: "\(forged.lower)@example.org", keys: TestKeys(),
                                              selfSignature: keys.selfSignature)
        try await AccountEventsScript.produce([event, event, bad, event], topic: topic)
        try await H.run(topic: topic) { h in
            let alice = H.user(tenant: tenant, account: account)
            #expect(try await h.waitForVersion(1, of: account, as: alice) != nil)
            let badSeen = try await TestEnvironment.eventually(timeout: .seconds(30)) { try await KeyDirectoryDB.processed(bad.id) }
            #expect(badSeen)
        }
        // A new consumer group replays the topic from offset 0: a sentinel on
        // the same partition, after the duplicates, says when it got past them.
        let sentinel = AccountEventsScript.created(tenant: tenant, account: UUID(), email: "sentinel.\(account.lower)@example.org", keys: TestKeys())
        try await AccountEventsScript.produce([event, sentinel], topic: topic, key: account.lower)
        try await H.run(topic: topic) { _ in
            let replayed = try await TestEnvironment.eventually(timeout: .seconds(30)) { try await KeyDirectoryDB.processed(sentinel.id) }
            #expect(replayed)
            try await Task.sleep(for: .milliseconds(300))  // a sequencer pass
        }
        #expect(try await KeyDirectoryDB.entries(of: account) == 1)
        #expect(try await KeyDirectoryDB.queued(of: account) == 1)
        #expect(try await KeyDirectoryDB.entries(of: forged) == 0)
        #expect(try await KeyDirectoryDB.queued(of: forged) == 0)
    }

    @Test func accountDeletedAppendsTheDirectorysRevoke() async throws {
        let topic = try H.newTopic()
        let tenant = UUID(), account = UUID()
        let email = "\(account.lower)@example.org"
        try await AccountEventsScript.produce([AccountEventsScript.created(tenant: tenant, account: account, email: email, keys: TestKeys())],
                                              topic: topic)
        try await H.run(topic: topic) { h in
            let bob = H.user(tenant: tenant)
            #expect(try await h.waitForVersion(1, of: account, as: bob) != nil)
            try await AccountEventsScript.produce([AccountEventsScript.deleted(tenant: tenant, account: account)], topic: topic)
            let reply = try #require(try await h.waitForVersion(2, of: account, as: bob))
            let entry = try Self.verify(reply.json)
            #expect(entry.action == .revoke && entry.reason == "account-deleted" && entry.prevSignature == nil)
            #expect(try await h.call(.get, "/v1/keys/lookup?email=\(email)", as: bob).status == .notFound)
        }
    }
}

extension LogBenchmark {
    static func enqueuePublishesForTest(count: Int, tenant: UUID) async throws {
        try await TestEnvironment.withPostgres(poolSize: 2) { pg in
            try await enqueuePublishes(count: count, tenant: tenant, postgres: pg, logger: TestEnvironment.logger)
        }
    }
}
