// The open-model driver. Every operation of the schedule has a due time; the
// dispatcher starts it then, whatever the previous ones are doing, so a slow
// server gets more concurrent work rather than less offered load. At most
// `concurrency` operations run at once; one that cannot start within the
// trace's drop tolerance of its due time is counted as dropped, never
// silently skipped. Latency runs from the due time to the end.
import AsyncHTTPClient
import CoffreSDK
import Foundation
import Logging
import NIOCore
import Sodium
import Synchronization

public struct LoadOptions: Sendable {
    public var gateway: URL
    /// The operator token (`COFFRE_ADMIN_TOKEN`) to create the run's tenant.
    public var adminToken: String?
    /// Use this existing tenant instead of creating one.
    public var tenant: String?
    public var forwardedFor: Bool
    /// Where upload sources and downloads are written (and removed).
    public var scratchDirectory: String
    /// A progress line on stderr every second.
    public var progress: Bool

    public init(gateway: URL, adminToken: String?, tenant: String? = nil, forwardedFor: Bool = true,
                scratchDirectory: String = NSTemporaryDirectory(), progress: Bool = true) {
        self.gateway = gateway
        self.adminToken = adminToken
        self.tenant = tenant
        self.forwardedFor = forwardedFor
        self.scratchDirectory = scratchDirectory
        self.progress = progress
    }
}

public final class LoadRun: Sendable {
    public let trace: Trace
    public let options: LoadOptions
    public let ledger: Ledger
    let recorder = Recorder()
    /// Plaintext bytes of the preparation's uploads (verified, but not the run's throughput).
    let preparedBytes = Mutex<Int64>(0)
    /// When the timed phase started (nil before).
    let clockStart = Mutex<ContinuousClock.Instant?>(nil)
    let factory: ClientFactory
    /// Each account's trust in the key directory's log (in memory), as its
    /// own client would keep it: first checkpoint on first use, then
    /// consistency proofs from there.
    let trusts = Mutex<[Int: KeyTrust]>([:])
    let runID: String
    let scratch: String
    let logger: Logger

    /// Creates the tenant (unless one is given) and the HTTP client.
    public static func start(trace: Trace, options: LoadOptions, logger: Logger = Logger(label: "coffre.load")) async throws -> LoadRun {
        let runID = "load-" + String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10))
        let httpClient = ClientFactory.makeHTTPClient(connections: trace.concurrency + trace.verifyConcurrency,
                                                      timeoutSeconds: trace.requestTimeoutSeconds)
        do {
            let tenant: String
            if let given = options.tenant {
                tenant = given
            } else {
                tenant = runID
                try await createTenant(slug: tenant, plan: trace.tenant, options: options, httpClient: httpClient)
            }
            let run = LoadRun(trace: trace, options: options, tenant: tenant, runID: runID, httpClient: httpClient, logger: logger)
            try FileManager.default.createDirectory(atPath: run.scratch, withIntermediateDirectories: true)
            return run
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
    }

    private init(trace: Trace, options: LoadOptions, tenant: String, runID: String, httpClient: HTTPClient, logger: Logger) {
        self.trace = trace
        self.options = options
        self.runID = runID
        self.logger = logger
        ledger = Ledger(tenant: tenant)
        factory = ClientFactory(gateway: options.gateway, tenant: tenant, httpClient: httpClient,
                                timeout: .seconds(trace.requestTimeoutSeconds), forwardedFor: options.forwardedFor, logger: logger)
        scratch = (options.scratchDirectory as NSString).appendingPathComponent(runID)
    }

    public func shutdown() async {
        try? FileManager.default.removeItem(atPath: scratch)
        try? await factory.httpClient.shutdown()
    }

    static func createTenant(slug: String, plan: Trace.TenantPlan, options: LoadOptions, httpClient: HTTPClient) async throws {
        guard let token = options.adminToken, !token.isEmpty else {
            throw LoadError.setup("creating the run's tenant needs the operator token (--admin-token or COFFRE_ADMIN_TOKEN), or pass --tenant")
        }
        var body: [String: Any] = ["slug": slug, "display_name": "coffre-load \(slug)"]
        if let v = plan.storageLimitBytes { body["storage_limit_bytes"] = v }
        if let v = plan.transferAllowanceBytes { body["transfer_allowance_bytes"] = v }
        var limits: [String: Int] = [:]
        if let v = plan.signupPerMinute { limits["signup_per_minute"] = v }
        if let v = plan.loginPerMinute { limits["login_per_minute"] = v }
        if !limits.isEmpty { body["rate_limits"] = limits }
        var request = HTTPClientRequest(url: options.gateway.absoluteString.trimmingTrailingSlash + "/v1/admin/tenants")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: .seconds(30))
        } catch {
            throw LoadError.setup("cannot reach the gateway at \(options.gateway.absoluteString): \(error)")
        }
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status.code == 201 else {
            throw LoadError.setup("creating tenant \(slug) answered \(response.status.code): \(text.prefix(300))")
        }
    }

    // MARK: - Preparation (unmeasured)

    /// The trace's `prepare` accounts and uploads, before the clock starts.
    public func prepare() async throws {
        var rng = SplitMix64(seed: trace.seed ^ 0x5EED)
        try await forEach(Array(0..<trace.prepare.accounts), concurrency: trace.verifyConcurrency) { _ in
            let (outcome, detail) = await self.signup()
            if outcome != .ok { throw LoadError.setup("a preparation signup failed (\(outcome.rawValue)): \(detail ?? "")") }
        }
        let uploads = (0..<trace.prepare.uploads).map { _ in (trace.sampleSize(&rng), rng.next()) }
        try await forEach(uploads, concurrency: trace.verifyConcurrency) { size, pick in
            let (outcome, detail) = await self.upload(size: size, pick: pick)
            if outcome != .ok { throw LoadError.setup("a preparation upload failed (\(outcome.rawValue)): \(detail ?? "")") }
        }
        preparedBytes.withLock { $0 = recorder.snapshot.uploadedPlainBytes }
        recorder.resetBytes()
    }

    // MARK: - The timed phase

    public func runLoad() async -> Double {
        let schedule = trace.schedule()
        let duration = trace.durationSeconds
        let tolerance = Duration.milliseconds(trace.dropToleranceMs)
        let cap = trace.concurrency
        let start = ContinuousClock.now
        clockStart.withLock { $0 = start }
        let progress = options.progress ? Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { break }
                let elapsed = (ContinuousClock.now - start).seconds
                FileHandle.standardError.write(Data((recorder.progressLine(elapsed: elapsed, duration: duration) + "\n").utf8))
            }
        } : nil
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for operation in schedule {
                let due = start + .seconds(operation.at)
                recorder.offered(operation.kind, at: operation.at)
                if due > .now { try? await Task.sleep(until: due, clock: .continuous) }
                while running >= cap {
                    await group.next()
                    running -= 1
                }
                let now = ContinuousClock.now
                if now - due > tolerance {
                    recorder.record(operation.kind, outcome: .dropped, latencyMicros: 0, finished: (now - start).seconds,
                                    detail: "not started within \(trace.dropToleranceMs) ms: \(cap) operations in flight")
                    continue
                }
                running += 1
                group.addTask {
                    self.recorder.started()
                    let (outcome, detail) = await self.perform(operation)
                    self.recorder.ended()
                    let end = ContinuousClock.now
                    self.recorder.record(operation.kind, outcome: outcome, latencyMicros: (end - due).micros,
                                         finished: (end - start).seconds, detail: detail)
                }
            }
            // The run lasts the trace's length at least, even if its last
            // operations were due before the end.
            try? await Task.sleep(until: start + .seconds(duration), clock: .continuous)
        }
        progress?.cancel()
        return (ContinuousClock.now - start).seconds
    }

    func perform(_ operation: ScheduledOperation) async -> (Outcome, String?) {
        switch operation.kind {
        case .signup: await signup()
        case .login: await login(pick: operation.pick)
        case .upload: await upload(size: operation.size, pick: operation.pick)
        case .download: await download(pick: operation.pick)
        case .share: await share(pick: operation.pick)
        }
    }

    // MARK: - Operations (through the SDK, as the CLI does them)

    func signup() async -> (Outcome, String?) {
        let index = ledger.reserveAccountIndex()
        let address = ClientFactory.address(of: index)
        let email = "\(runID)-\(index)@example.com"
        let password = Sodium.base64URLEncode(Sodium.randomBytes(18))
        do {
            let result = try await factory.client(address: address).signup(email: email, password: password)
            ledger.acknowledge(LoadAccount(index: index, email: email, password: password, accountID: result.accountID,
                                           address: address), session: result.session)
            return (.ok, nil)
        } catch {
            return (Outcome.classify(error), "\(error)")
        }
    }

    func login(pick: UInt64) async -> (Outcome, String?) {
        guard let account = ledger.account(pick: pick) else { return (.unavailable, "no account yet") }
        do {
            let session = try await factory.client(for: account).login(email: account.email, password: account.password)
            ledger.setSession(session, for: account.index)
            return (.ok, nil)
        } catch {
            return (Outcome.classify(error), "\(error)")
        }
    }

    /// The account's session, logging in when it has none (a signup whose login failed).
    func session(_ account: LoadAccount, client: CoffreClient) async throws -> Session {
        if let session = ledger.session(for: account.index) { return session }
        let session = try await client.login(email: account.email, password: account.password)
        ledger.setSession(session, for: account.index)
        return session
    }

    func upload(size: Int, pick: UInt64) async -> (Outcome, String?) {
        guard let account = ledger.account(pick: pick) else { return (.unavailable, "no account yet") }
        let client = factory.client(for: account)
        let path = (scratch as NSString).appendingPathComponent("up-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let digest = try ContentDigest.writeRandomFile(path: path, size: size)
            let session = try await session(account, client: client)
            let result = try await client.upload(session, file: path, toFolder: nil, name: "load-\(UUID().uuidString.lowercased()).bin",
                                                 options: UploadOptions(maxAttempts: trace.uploadAttempts))
            ledger.acknowledge(LoadUpload(accountIndex: account.index, accountID: account.accountID, nodeID: result.nodeID,
                                          name: result.name, plaintextSize: result.plaintextSize,
                                          encryptedSize: result.encryptedSize, digest: digest.hex))
            recorder.addBytes(uploadedPlain: result.plaintextSize, uploadedCipher: result.encryptedSize,
                              at: clockStart.withLock { $0 }.map { (ContinuousClock.now - $0).seconds })
            return (.ok, nil)
        } catch {
            return (Outcome.classify(error), "\(error)")
        }
    }

    func download(pick: UInt64) async -> (Outcome, String?) {
        guard let upload = ledger.upload(pick: pick) else { return (.unavailable, "no upload yet") }
        guard let account = ledger.accounts.first(where: { $0.index == upload.accountIndex }) else { return (.unavailable, nil) }
        do {
            let size = try await fetch(upload, account: account, client: factory.client(for: account))
            recorder.addBytes(downloadedPlain: size)
            return (.ok, nil)
        } catch let mismatch as ContentMismatch {
            return (.failed, mismatch.description)
        } catch {
            return (Outcome.classify(error), "\(error)")
        }
    }

    /// The owner of an acknowledged upload shares it with another account:
    /// the recipient's keys verified in the directory (self-signature,
    /// inclusion in a signed checkpoint consistent with the owner's last
    /// one), the file key sealed to its X25519 key and signed.
    func share(pick: UInt64) async -> (Outcome, String?) {
        guard let upload = ledger.upload(pick: pick), let owner = ledger.account(index: upload.accountIndex),
              let recipient = ledger.recipient(pick: pick, excluding: owner.index) else {
            return (.unavailable, "no upload or no second account yet")
        }
        let client = factory.client(for: owner)
        do {
            let session = try await session(owner, client: client)
            let keys = try await client.verifiedKeys(session, account: recipient.accountID, trust: try trust(for: owner))
            let node = try await client.node(session, id: upload.nodeID)
            let share = try await client.share(session, node: node, with: keys)
            ledger.acknowledge(LoadShare(id: share.id, ownerIndex: owner.index, recipientIndex: recipient.index,
                                         recipientAccountID: recipient.accountID, upload: upload))
            return (.ok, nil)
        } catch {
            return (Outcome.classify(error), "\(error)")
        }
    }

    func trust(for account: LoadAccount) throws -> KeyTrust {
        if let trust = trusts.withLock({ $0[account.index] }) { return trust }
        let trust = try KeyTrust(server: options.gateway.absoluteString)
        return trusts.withLock { trusts in
            if let first = trusts[account.index] { return first }
            trusts[account.index] = trust
            return trust
        }
    }

    struct ContentMismatch: Error, CustomStringConvertible {
        let description: String
    }

    /// Downloads and decrypts `upload` (through the SDK, which authenticates
    /// every chunk) and compares the plaintext with its digest.
    func fetch(_ upload: LoadUpload, account: LoadAccount, client: CoffreClient, session given: Session? = nil,
               node givenNode: RemoteNode? = nil) async throws -> Int64 {
        let session = if let given { given } else { try await session(account, client: client) }
        let path = (scratch as NSString).appendingPathComponent("down-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let node = if let givenNode { givenNode } else { try await client.node(session, id: upload.nodeID) }
        _ = try await client.download(session, node: node, to: path)
        let digest = try ContentDigest.of(path: path)
        guard digest.count == upload.plaintextSize, digest.hex == upload.digest else {
            throw ContentMismatch(description: "decrypted to \(digest.count) bytes that differ from the \(upload.plaintextSize) bytes uploaded")
        }
        return digest.count
    }

    func forEach<T: Sendable>(_ items: [T], concurrency: Int, _ body: @escaping @Sendable (T) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for item in items {
                if running >= concurrency {
                    try await group.next()
                    running -= 1
                }
                running += 1
                group.addTask { try await body(item) }
            }
            try await group.waitForAll()
        }
    }
}

/// The whole run as `coffre-load` does it: tenant, preparation, timed load,
/// verification, report. The report says whether verification passed.
public enum LoadTool {
    public static func run(trace: Trace, options: LoadOptions, logger: Logger = Logger(label: "coffre.load")) async throws -> LoadReport {
        let run = try await LoadRun.start(trace: trace, options: options, logger: logger)
        do {
            if options.progress { note("tenant \(run.ledger.tenant): preparing \(trace.prepare.accounts) accounts, \(trace.prepare.uploads) uploads") }
            try await run.prepare()
            if options.progress { note("load: \(trace.schedule().count) operations over \(Int(trace.durationSeconds)) s") }
            let startedAt = Date()
            let duration = await run.runLoad()
            if options.progress { note("verifying \(run.ledger.accounts.count) accounts, \(run.ledger.uploads.count) uploads") }
            let verification = await run.verify()
            let report = run.report(duration: duration, startedAt: startedAt, verification: verification)
            await run.shutdown()
            return report
        } catch {
            await run.shutdown()
            throw error
        }
    }

    static func note(_ line: String) {
        FileHandle.standardError.write(Data("coffre-load: \(line)\n".utf8))
    }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    var micros: UInt64 {
        let c = components
        return UInt64(max(0, c.seconds)) * 1_000_000 + UInt64(max(0, c.attoseconds / 1_000_000_000_000))
    }
}

extension String {
    var trimmingTrailingSlash: String {
        var text = self
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}
