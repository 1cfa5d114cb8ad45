@testable import CoffreLoad
import CoffreSDK
import CoffreTestSupport
import Foundation
import Testing

/// The launch-replay tool: the shipped `smoke` trace against the whole stack
/// (accounts, keydir, quota, ingest, gateway as processes) passes
/// verification; then one committed blob is deleted behind ingest's back and
/// the verification alone, run again, fails naming that upload; then a share
/// is revoked behind the run's back and it fails naming that share too.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct LoadSmokeTests {
    static let traces = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Tools/Load/Traces").standardized.path

    @Test func smokeTracePassesVerificationAndALostBlobFailsIt() async throws {
        // Each synthetic account is its own client address, as on a launch day.
        let stack = try await Stack(gatewayEnv: ["GATEWAY_TRUST_FORWARDED_FOR": "true"])
        defer { stack.stop() }
        let trace = try Trace.load(path: Self.traces + "/smoke.json")
        let run = try await LoadRun.start(trace: trace, options: LoadOptions(
            gateway: stack.gatewayURL, adminToken: Stack.adminToken, progress: false))
        do {
            try await run.prepare()
            let startedAt = Date()
            let duration = await run.runLoad()
            let verification = await run.verify()
            let report = run.report(duration: duration, startedAt: startedAt, verification: verification)
            #expect(report.passed, "\(report.table)\n\(stack.logs.suffix(3000))")
            #expect(duration >= trace.durationSeconds - 1 && duration < trace.durationSeconds + 40, "\(duration)")
            for kind in OperationKind.allCases {
                let op = try #require(report.operations[kind.rawValue])
                #expect(op.offered > 0 && op.count(.ok) > 0, "\(kind): \(report.table)")
                #expect(op.p99Ms != nil && op.maxMs! >= op.p50Ms!, "\(kind)")
            }
            // Everything scheduled is accounted for, one outcome each.
            let offered = report.operations.values.reduce(0) { $0 + $1.offered }
            let outcomes = report.operations.values.reduce(0) { $0 + $1.outcomes.values.reduce(0, +) }
            #expect(offered == trace.schedule().count && outcomes == offered, "\(offered) offered, \(outcomes) outcomes")
            #expect(verification.uploads == run.ledger.uploads.count && verification.uploadsIntact == verification.uploads)
            #expect(verification.accounts == run.ledger.accounts.count && verification.loginsOK == verification.accounts)
            #expect(verification.ledgerCatchUpSeconds != nil && report.verifiedUploadBytesPerSecond > 0)
            #expect(verification.shares == run.ledger.shares.count && verification.shares > 0
                    && verification.sharesIntact == verification.shares)
            // The three outputs.
            let json = try JSONSerialization.jsonObject(with: try report.json()) as? [String: Any]
            #expect((json?["verification"] as? [String: Any])?["passed"] as? Bool == true)
            #expect(report.svg.hasPrefix("<svg") && report.svg.contains("polyline"))
            #expect(report.table.contains("verification: PASSED"))

            // Break the server: delete one committed blob. Its file is named by
            // upload id, so it is found by its size (the ciphertext's), picked
            // unique and not shared (a shared one would fail twice).
            let blobs = try Self.blobFiles(in: stack.blobDirectory)
            let sizes = Dictionary(grouping: blobs, by: \.size)
            let shared = Set(run.ledger.shares.map(\.upload.nodeID))
            let victim = try #require(run.ledger.uploads.first { sizes[$0.encryptedSize]?.count == 1 && !shared.contains($0.nodeID) },
                                      "no unshared upload of a unique size")
            try FileManager.default.removeItem(atPath: sizes[victim.encryptedSize]![0].path)
            let broken = await run.verify()
            #expect(!broken.passed)
            #expect(broken.failureCount == 1, "\(broken.failures)")
            #expect(broken.failures.first?.contains("upload \(victim.nodeID)") == true
                    && broken.failures.first?.contains("download failed") == true, "\(broken.failures)")
            let brokenReport = run.report(duration: duration, startedAt: startedAt, verification: broken)
            #expect(brokenReport.table.contains("verification: FAILED") && brokenReport.table.contains(victim.nodeID))

            // Break it again: the owner revokes a share the run acknowledged.
            let revoked = try #require(run.ledger.shares.first)
            let owner = try #require(run.ledger.account(index: revoked.ownerIndex))
            let ownerClient = run.factory.client(for: owner)
            try await ownerClient.revokeShare(try await run.session(owner, client: ownerClient), id: revoked.id)
            let unshared = await run.verify()
            #expect(unshared.failureCount == 2 && unshared.sharesIntact == unshared.shares - 1, "\(unshared.failures)")
            #expect(unshared.failures.contains { $0.contains("share \(revoked.id)") }, "\(unshared.failures)")
        } catch {
            await run.shutdown()
            throw error
        }
        await run.shutdown()
    }

    static func blobFiles(in directory: String) throws -> [(path: String, size: Int64)] {
        let root = directory + "/blobs"
        var files: [(String, Int64)] = []
        for shard in try FileManager.default.contentsOfDirectory(atPath: root) {
            for name in try FileManager.default.contentsOfDirectory(atPath: "\(root)/\(shard)") {
                let path = "\(root)/\(shard)/\(name)"
                let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? -1
                files.append((path, size))
            }
        }
        return files
    }
}

/// The schedule: fixed by the seed, ramps as the trace says, and every kind
/// arrives about as often as its rates integrate to.
struct LoadScheduleTests {
    static func trace(_ json: String) throws -> Trace { try JSONDecoder().decode(Trace.self, from: Data(json.utf8)) }

    @Test(arguments: ["poisson", "uniform"])
    func arrivalsFollowTheRamp(arrivals: String) throws {
        let trace = try Self.trace("""
            {"name": "t", "seed": 42, "arrivals": "\(arrivals)", "phases": [
              {"name": "up", "duration_seconds": 100, "rates": {"signup": {"from": 0, "to": 20}, "upload": 5}},
              {"name": "flat", "duration_seconds": 50, "rates": {"signup": 20}}]}
            """)
        let schedule = trace.schedule()
        #expect(schedule.map(\.at) == schedule.map(\.at).sorted())
        #expect(schedule.allSatisfy { (0...150).contains($0.at) })
        let signups = schedule.filter { $0.kind == .signup }
        let uploads = schedule.filter { $0.kind == .upload }
        // 1000 in the ramp + 1000 flat; 500 uploads, none in the flat phase.
        #expect(abs(signups.count - 2000) < 150, "\(signups.count)")
        #expect(abs(uploads.count - 500) < 75 && uploads.allSatisfy { $0.at <= 100 }, "\(uploads.count)")
        // A linear ramp from 0: a quarter of the ramp's arrivals in its first half.
        let firstHalf = signups.filter { $0.at < 50 }.count
        #expect(abs(firstHalf - 250) < 60, "\(firstHalf)")
        #expect(uploads.allSatisfy { (1024...65536).contains($0.size) })
        #expect(trace.schedule().map(\.at) == schedule.map(\.at), "the same seed gives the same schedule")
        var other = trace
        other.seed = 43
        if arrivals == "poisson" { #expect(other.schedule().map(\.at) != schedule.map(\.at)) }
    }

    @Test func sizesHaveAHeavyTail() throws {
        let trace = try Self.trace("""
            {"name": "t", "seed": 7, "sizes": [{"weight": 90, "min_bytes": 1000, "max_bytes": 10000},
                                               {"weight": 10, "min_bytes": 1000000, "max_bytes": 100000000}],
             "phases": [{"name": "p", "duration_seconds": 100, "rates": {"upload": 20}}]}
            """)
        let sizes = trace.schedule().map(\.size)
        let large = sizes.filter { $0 >= 1_000_000 }.count
        #expect(abs(Double(large) / Double(sizes.count) - 0.1) < 0.03, "\(large) of \(sizes.count)")
        #expect(sizes.allSatisfy { (1000...10000).contains($0) || (1_000_000...100_000_000).contains($0) })
    }

    @Test func badTracesAreRefusedWithTheReason() throws {
        let cases = [
            (#"{"name": "t", "phases": []}"#, "at least one phase"),
            (#"{"name": "t", "phases": [{"name": "p", "duration_seconds": 0, "rates": {}}]}"#, "duration_seconds"),
            (#"{"name": "t", "phases": [{"name": "p", "duration_seconds": 5, "rates": {"rename": 1}}]}"#, "unknown operation"),
            (#"{"name": "t", "phases": [{"name": "p", "duration_seconds": 5, "rates": {"signup": -1}}]}"#, "non-negative"),
            (#"{"name": "t", "concurrency": 0, "phases": [{"name": "p", "duration_seconds": 5, "rates": {}}]}"#, "concurrency"),
        ]
        for (json, reason) in cases {
            #expect {
                try Self.trace(json)
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
        // The shipped traces load.
        for name in ["smoke", "launch", "upload-storm"] {
            let trace = try Trace.load(path: LoadSmokeTests.traces + "/\(name).json")
            #expect(trace.name == name && !trace.schedule().isEmpty)
        }
    }
}
