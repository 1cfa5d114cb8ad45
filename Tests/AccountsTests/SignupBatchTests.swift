@testable import Accounts
import CoffreCore
import CoffreTestSupport
import Foundation
import NIOCore
import PostgresNIO
import Sodium
import Testing

/// Group commit of signups (`SignupCommitter`) against the real schema: a
/// burst of signups with taken emails and ids mixed in is written in
/// batches, and each signup still gets its own answer, row and event.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct SignupBatchTests {
    typealias Fake = AccountsHarness.FakeClient

    /// A signup row as `AccountsStore.signup` makes it, with its event.
    static func row(_ fake: Fake, tenant: UUID, bundle: String = #"{"version":1,"opaque":"AAAA"}"#) throws -> SignupCommitter.Row {
        let keys = fake.publicKeys
        let event = AccountsStore.accountCreated(tenant: tenant.uuidString.lowercased(), account: fake.accountID, email: fake.email.lowercased(),
                                                 keys: PublicKeys(x25519: keys["x25519"]!, ed25519: keys["ed25519"]!, self_signature: keys["self_signature"]!))
        return SignupCommitter.Row(
            id: fake.accountID, email: fake.email.lowercased(), salt: ByteBuffer(bytes: fake.salt), opslimit: 2, memlimit: 67_108_864,
            verifier: ByteBuffer(bytes: Sodium.randomBytes(32)), recoveryVerifier: ByteBuffer(bytes: Sodium.randomBytes(32)),
            x25519: ByteBuffer(bytes: fake.box.publicKey), ed25519: ByteBuffer(bytes: fake.signing.publicKey),
            signature: ByteBuffer(bytes: Sodium.randomBytes(64)), bundle: bundle, eventID: event.id, payload: ByteBuffer(bytes: try event.encoded()))
    }

    @Test func aBurstIsWrittenInBatchesWithOneAnswerEach() async throws {
        try await AccountsHarness.run { h in
            let defaultTenant = UUID(uuidString: AccountsMigrations.defaultTenantID)!
            let otherTenant = try await h.createTenant(TestEnvironment.unique("t").replacingOccurrences(of: "_", with: "-"))
            // One account exists before the burst.
            let existing = Fake()
            #expect(try await h.call(.post, "/v1/accounts", json: existing.signupBody, identity: h.tenant("default")).status == .created)

            struct Case { var row: SignupCommitter.Row; var tenant: UUID; var label: String }
            var cases: [Case] = []
            let fresh = (0..<30).map { _ in Fake() }
            for fake in fresh { cases.append(Case(row: try Self.row(fake, tenant: defaultTenant), tenant: defaultTenant, label: "fresh")) }
            // Five emails asked for twice in the burst (other ids, other case).
            for fake in fresh.prefix(5) {
                var twin = Fake(email: fake.email.uppercased())
                twin.accountID = UUID()
                cases.append(Case(row: try Self.row(twin, tenant: defaultTenant), tenant: defaultTenant, label: "email-twin"))
            }
            // An id asked for twice, with another email.
            var idTwin = Fake()
            idTwin.accountID = fresh[10].accountID
            cases.append(Case(row: try Self.row(idTwin, tenant: defaultTenant), tenant: defaultTenant, label: "id-twin"))
            // The email taken before the burst.
            var late = Fake(email: existing.email)
            late.accountID = UUID()
            cases.append(Case(row: try Self.row(late, tenant: defaultTenant), tenant: defaultTenant, label: "taken"))
            // The same emails in another tenant are other accounts.
            for fake in fresh.suffix(5) {
                var elsewhere = Fake(email: fake.email)
                elsewhere.accountID = UUID()
                cases.append(Case(row: try Self.row(elsewhere, tenant: otherTenant), tenant: otherTenant, label: "other-tenant"))
            }
            // A row Postgres refuses (its bundle is not JSON) fails its batch;
            // the others of that batch are written one by one instead.
            let broken = Fake()
            cases.append(Case(row: try Self.row(broken, tenant: defaultTenant, bundle: "{not json"), tenant: defaultTenant, label: "broken"))
            cases.shuffle()
            let burst = cases

            try await TestEnvironment.withPostgres { postgres in
                let cases = burst
                // One statement at a time, so the burst has to queue up.
                let committer = SignupCommitter(postgres: postgres, topic: AccountsStore.topic, options: .init(maxBatch: 16, maxRunning: 1),
                                                logger: TestEnvironment.logger)
                let answers = try await withThrowingTaskGroup(of: (Int, Result<Bool, any Error>).self) { group in
                    for (index, item) in cases.enumerated() {
                        group.addTask {
                            do { return (index, .success(try await committer.insert(item.row, tenant: item.tenant))) } catch { return (index, .failure(error)) }
                        }
                    }
                    var answers: [Int: Result<Bool, any Error>] = [:]
                    for try await (index, answer) in group { answers[index] = answer }
                    return answers
                }
                func created(_ index: Int) -> Bool? { if case .success(let value) = answers[index] { value } else { nil } }

                #expect(committer.largestBatch.load(ordering: .relaxed) > 1, "the burst was written one signup per statement")
                #expect(committer.largestBatch.load(ordering: .relaxed) <= 16)
                for (index, item) in cases.enumerated() {
                    switch item.label {
                    case "fresh", "email-twin", "id-twin":
                        #expect(created(index) != nil)
                    case "taken":
                        #expect(created(index) == false)
                    case "other-tenant":
                        #expect(created(index) == true)
                    case "broken":
                        #expect(created(index) == nil, "a row Postgres refuses must fail")
                    default:
                        Issue.record("unknown case \(item.label)")
                    }
                }
                // Exactly one of each pair of twins was created, and the row
                // in the table is the winner's (checked below).
                for fake in fresh.prefix(5) {
                    let pair = cases.indices.filter { cases[$0].row.email == fake.email.lowercased() && cases[$0].tenant == defaultTenant }
                    #expect(pair.count == 2)
                    #expect(pair.filter { created($0) == true }.count == 1, "one of two signups with one email is created")
                }
                let idPair = cases.indices.filter { cases[$0].row.id == fresh[10].accountID }
                #expect(idPair.filter { created($0) == true }.count == 1, "one of two signups with one id is created")
                #expect(cases.indices.filter { cases[$0].label == "fresh" && cases[$0].row.id != fresh[10].accountID && created($0) == false }.count
                        <= 5, "only email twins may lose")

                // Rows and events: one account and one event per signup answered true, none for the others.
                let createdIDs = Set(cases.indices.filter { created($0) == true }.map { cases[$0].row.id })
                let allIDs = Set(cases.map(\.row.id)).subtracting([existing.accountID])
                var stored: [UUID: String] = [:]
                var events: [String: Int] = [:]
                for tenant in [defaultTenant, otherTenant] {
                    // Row-level security: one tenant's rows per transaction.
                    let rows = try await postgres.withTransaction(logger: TestEnvironment.logger) { connection in
                        try await connection.query("SELECT set_config('coffre.tenant_id', \(tenant.uuidString), true)", logger: TestEnvironment.logger)
                        let rows = try await connection.query("SELECT id, email FROM accounts.users WHERE id = ANY(\(Array(allIDs)))",
                                                              logger: TestEnvironment.logger)
                        var found: [(UUID, String)] = []
                        for try await row in rows.decode((UUID, String).self) { found.append(row) }
                        return found
                    }
                    for (id, email) in rows { stored[id] = email }
                }
                try await postgres.withConnection { connection in
                    let keys = allIDs.map { $0.uuidString.lowercased() }
                    let outbox = try await connection.query("SELECT key, count(*) FROM accounts.outbox WHERE key = ANY(\(keys)) GROUP BY key",
                                                            logger: TestEnvironment.logger)
                    for try await (key, count) in outbox.decode((String, Int).self) { events[key] = count }
                }
                #expect(Set(stored.keys) == createdIDs)
                #expect(Set(events.keys) == Set(createdIDs.map { $0.uuidString.lowercased() }))
                #expect(events.values.allSatisfy { $0 == 1 }, "one account.created per account: \(events.values.sorted())")
                for index in cases.indices where created(index) == true {
                    #expect(stored[cases[index].row.id] == cases[index].row.email)
                }
            }
        }
    }
}

extension SignupBatchTests {
    /// A statement can fail after Postgres committed it (the connection is
    /// lost before the answer): the signups are then written again one by
    /// one, and each must still be answered by what happened to its own row.
    /// Here the first statement's commit is the plain `insert`; `retry` is
    /// what the failed statement's signups go through.
    @Test func aSignupCommittedBeforeItsStatementFailedIsAnsweredAsCreated() async throws {
        try await AccountsHarness.run { _ in
            let tenant = UUID(uuidString: AccountsMigrations.defaultTenantID)!
            try await TestEnvironment.withPostgres { postgres in
                let committer = SignupCommitter(postgres: postgres, topic: AccountsStore.topic, options: .init(), logger: TestEnvironment.logger)
                let first = try Self.row(Fake(), tenant: tenant)
                #expect(try await committer.insert(first, tenant: tenant))
                // The same signup again, as after an ambiguous failure: created, no second row or event.
                #expect(try await committer.retry(first, tenant: tenant), "a signup whose commit went through was answered as a taken email")
                // Another signup for that email (another id and login secret): taken.
                var rival = Fake(email: first.email)
                rival.accountID = UUID()
                #expect(try await committer.retry(try Self.row(rival, tenant: tenant), tenant: tenant) == false)
                // The same id with another verifier (not this signup's secret): not created.
                var impostor = try Self.row(Fake(), tenant: tenant)
                impostor.id = first.id
                #expect(try await committer.retry(impostor, tenant: tenant) == false)
                // A signup that was not written at all is written by the retry.
                let fresh = try Self.row(Fake(), tenant: tenant)
                #expect(try await committer.retry(fresh, tenant: tenant))

                let ids = [first.id, rival.accountID, fresh.id]
                var stored: [UUID: String] = [:]
                try await postgres.withTenant(tenant, logger: TestEnvironment.logger) { connection in
                    let rows = try await connection.query("SELECT id, email FROM accounts.users WHERE id = ANY(\(ids))", logger: TestEnvironment.logger)
                    for try await (id, email) in rows.decode((UUID, String).self) { stored[id] = email }
                }
                #expect(stored == [first.id: first.email, fresh.id: fresh.email])
                var events: [String: Int] = [:]
                try await postgres.withConnection { connection in
                    let keys = ids.map { $0.uuidString.lowercased() }
                    let outbox = try await connection.query("SELECT key, count(*) FROM accounts.outbox WHERE key = ANY(\(keys)) GROUP BY key",
                                                            logger: TestEnvironment.logger)
                    for try await (key, count) in outbox.decode((String, Int).self) { events[key] = count }
                }
                #expect(events == [first.id.uuidString.lowercased(): 1, fresh.id.uuidString.lowercased(): 1])
            }
        }
    }
}

@Suite struct SignupBatchConfigurationTests {
    @Test func defaultsAndBounds() throws {
        let defaults = try AccountsConfiguration(env: EnvironmentReader([:]))
        #expect(defaults.signupBatchMax == 64)
        #expect(defaults.signupWriters == 1)
        let set = try AccountsConfiguration(env: EnvironmentReader(["ACCOUNTS_SIGNUP_BATCH_MAX": "1", "ACCOUNTS_SIGNUP_WRITERS": "2"]))
        #expect(set.signupBatchMax == 1)
        #expect(set.signupWriters == 2)
        for (key, value) in [("ACCOUNTS_SIGNUP_BATCH_MAX", "0"), ("ACCOUNTS_SIGNUP_WRITERS", "0"), ("ACCOUNTS_SIGNUP_WRITERS", "many")] {
            do {
                _ = try AccountsConfiguration(env: EnvironmentReader([key: value]))
                Issue.record("\(key)=\(value) was accepted")
            } catch {
                #expect(error.key == key)
            }
        }
    }
}
