// After the load: did the server keep what it acknowledged? Checked with
// fresh logins, through the gateway, as a user would:
//
// 1. every acknowledged signup logs in (password → Argon2id → login, and the
//    key bundle the server returns opens);
// 2. the quota ledger catches up: each account's `used_bytes` (GET
//    /v1/quota, ciphertext bytes) equals the sum of the ciphertext sizes of
//    the files ingest lists for it, polled until `ledger_timeout_seconds`.
//    This is the consumer-lag check: quota learns of commits only through
//    the blobs topic, so the ledger agreeing with ingest means its consumer
//    drained what was produced (no lag metric is exported; the longest wait
//    is reported). Every acknowledged upload must be among the listed files;
//    committed files the run never saw acknowledged (an answer lost to a
//    timeout) are counted, not failed;
// 3. no account holds more than its limit (used, and used + reserved);
// 4. every acknowledged upload downloads, decrypts (the SDK authenticates
//    every chunk and the final tag) and hashes to what was uploaded;
// 5. every acknowledged share reaches its recipient: it is among the
//    recipient's incoming shares, accepts, opens (the owner's keys verified
//    in the directory, the parcel's signature checked and unsealed) and the
//    shared file downloads through the grant and hashes to what was
//    uploaded. Ingest learns of a share from the key directory's events, so
//    a share not readable yet is retried until `ledger_timeout_seconds`.
//
// Any failure fails the run and says which account or upload.
import CoffreSDK
import Foundation
import Synchronization

public struct VerificationReport: Codable, Sendable {
    public var passed: Bool { failureCount == 0 }
    public var failureCount = 0
    /// The first failures, one line each.
    public var failures: [String] = []
    public var accounts = 0
    public var loginsOK = 0
    public var uploads = 0
    public var uploadsIntact = 0
    /// Plaintext bytes downloaded, decrypted and matched.
    public var verifiedBytes: Int64 = 0
    /// The longest any account's quota took, from its first check (right
    /// after its login, once the load was over), to agree with what ingest
    /// lists: the consumer lag left when the load stopped. Nil: some account
    /// never agreed within the bound.
    public var ledgerCatchUpSeconds: Double?
    /// Files ingest committed that the run never saw acknowledged.
    public var committedNotAcknowledged = 0
    public var accountsOverQuota = 0
    public var shares = 0
    /// Shares the recipient opened and read back intact.
    public var sharesIntact = 0
    public var seconds: Double = 0

    enum CodingKeys: String, CodingKey {
        case passed, failureCount = "failure_count", failures, accounts, loginsOK = "logins_ok", uploads
        case uploadsIntact = "uploads_intact", verifiedBytes = "verified_bytes", ledgerCatchUpSeconds = "ledger_catch_up_seconds"
        case committedNotAcknowledged = "committed_not_acknowledged", accountsOverQuota = "accounts_over_quota", seconds
        case shares, sharesIntact = "shares_intact"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(passed, forKey: .passed)
        try c.encode(failureCount, forKey: .failureCount)
        try c.encode(failures, forKey: .failures)
        try c.encode(accounts, forKey: .accounts)
        try c.encode(loginsOK, forKey: .loginsOK)
        try c.encode(uploads, forKey: .uploads)
        try c.encode(uploadsIntact, forKey: .uploadsIntact)
        try c.encode(verifiedBytes, forKey: .verifiedBytes)
        try c.encode(ledgerCatchUpSeconds, forKey: .ledgerCatchUpSeconds)
        try c.encode(committedNotAcknowledged, forKey: .committedNotAcknowledged)
        try c.encode(accountsOverQuota, forKey: .accountsOverQuota)
        try c.encode(shares, forKey: .shares)
        try c.encode(sharesIntact, forKey: .sharesIntact)
        try c.encode(seconds, forKey: .seconds)
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        failureCount = try c.decode(Int.self, forKey: .failureCount)
        failures = try c.decode([String].self, forKey: .failures)
        accounts = try c.decode(Int.self, forKey: .accounts)
        loginsOK = try c.decode(Int.self, forKey: .loginsOK)
        uploads = try c.decode(Int.self, forKey: .uploads)
        uploadsIntact = try c.decode(Int.self, forKey: .uploadsIntact)
        verifiedBytes = try c.decode(Int64.self, forKey: .verifiedBytes)
        ledgerCatchUpSeconds = try c.decodeIfPresent(Double.self, forKey: .ledgerCatchUpSeconds)
        committedNotAcknowledged = try c.decode(Int.self, forKey: .committedNotAcknowledged)
        accountsOverQuota = try c.decode(Int.self, forKey: .accountsOverQuota)
        shares = try c.decodeIfPresent(Int.self, forKey: .shares) ?? 0
        sharesIntact = try c.decodeIfPresent(Int.self, forKey: .sharesIntact) ?? 0
        seconds = try c.decode(Double.self, forKey: .seconds)
    }

    static let shownFailures = 50

    mutating func fail(_ line: String) {
        failureCount += 1
        if failures.count < Self.shownFailures { failures.append(line) }
    }
}

extension LoadRun {
    public func verify() async -> VerificationReport {
        let started = ContinuousClock.now
        let report = Mutex(VerificationReport())
        let accounts = ledger.accounts
        let uploads = Dictionary(grouping: ledger.uploads, by: \.accountIndex)
        report.withLock {
            $0.accounts = accounts.count
            $0.uploads = uploads.values.reduce(0) { $0 + $1.count }
        }
        let sessions = Mutex([Int: Session]())

        // 1. Logins.
        try? await forEach(accounts, concurrency: trace.verifyConcurrency) { account in
            do {
                let session = try await self.factory.client(for: account).login(email: account.email, password: account.password)
                sessions.withLock { $0[account.index] = session }
                report.withLock { $0.loginsOK += 1 }
            } catch {
                report.withLock { $0.fail("account \(account.accountID) (\(account.email)): login failed: \(error)") }
            }
        }

        // 2 and 3. The ledger against ingest's listing, until they agree.
        let deadline = started + .seconds(trace.ledgerTimeoutSeconds)
        let caughtUp = Mutex(Duration.zero)
        let agreed = Mutex(true)
        try? await forEach(accounts, concurrency: trace.verifyConcurrency) { account in
            guard let session = sessions.withLock({ $0[account.index] }) else { return }
            let client = self.factory.client(for: account)
            let expected = uploads[account.index] ?? []
            var last = ""
            let firstCheck = ContinuousClock.now
            while true {
                do {
                    let listing = try await client.listFolder(session, folderID: nil)
                    let files = listing.nodes.filter { !$0.isFolder }
                    let committed = files.reduce(Int64(0)) { $0 + ($1.encryptedSize ?? 0) }
                    let listed = Set(files.map(\.id))
                    let missing = expected.filter { !listed.contains($0.nodeID) }
                    if !listing.rejected.isEmpty || !missing.isEmpty {
                        report.withLock { r in
                            for node in missing {
                                r.fail("upload \(node.nodeID) of account \(account.accountID) (\(node.encryptedSize) bytes): acknowledged but not in the account's files")
                            }
                            for rejected in listing.rejected { r.fail("account \(account.accountID): the server listed a node that does not open: \(rejected)") }
                        }
                        agreed.withLock { $0 = false }
                        return
                    }
                    let quota = try await client.quota(session)
                    if quota.usedBytes == committed {
                        let over = quota.usedBytes > quota.limitBytes || quota.usedBytes + quota.reservedBytes > quota.limitBytes
                        report.withLock { r in
                            r.committedNotAcknowledged += files.count - expected.count
                            if over {
                                r.accountsOverQuota += 1
                                r.fail("account \(account.accountID): over its quota (used \(quota.usedBytes) + reserved \(quota.reservedBytes) > limit \(quota.limitBytes))")
                            }
                        }
                        let took = ContinuousClock.now - firstCheck
                        caughtUp.withLock { $0 = max($0, took) }
                        return
                    }
                    last = "quota counts \(quota.usedBytes) bytes used, ingest holds \(committed) bytes in \(files.count) files"
                } catch {
                    last = "\(error)"
                }
                guard ContinuousClock.now < deadline else {
                    report.withLock { $0.fail("account \(account.accountID): the quota ledger did not catch up within \(self.trace.ledgerTimeoutSeconds) s: \(last)") }
                    agreed.withLock { $0 = false }
                    return
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        if agreed.withLock({ $0 }) {
            let took = caughtUp.withLock { $0 }
            report.withLock { $0.ledgerCatchUpSeconds = took.seconds }
        }

        // 4. Every acknowledged upload, downloaded and compared.
        let work = accounts.flatMap { account in (uploads[account.index] ?? []).map { (account, $0) } }
        try? await forEach(work, concurrency: trace.verifyConcurrency) { account, upload in
            let what = "upload \(upload.nodeID) of account \(account.accountID) (\(upload.plaintextSize) bytes)"
            guard let session = sessions.withLock({ $0[account.index] }) else {
                report.withLock { $0.fail("\(what): not checked, the account did not log in") }
                return
            }
            do {
                let bytes = try await self.fetch(upload, account: account, client: self.factory.client(for: account), session: session)
                report.withLock {
                    $0.uploadsIntact += 1
                    $0.verifiedBytes += bytes
                }
            } catch {
                report.withLock { $0.fail("\(what): download failed: \(error)") }
            }
        }

        // 5. Every acknowledged share, from its recipient's side.
        let shares = ledger.shares
        report.withLock { $0.shares = shares.count }
        let accountsByIndex = Dictionary(uniqueKeysWithValues: accounts.map { ($0.index, $0) })
        let shareDeadline = ContinuousClock.now + .seconds(trace.ledgerTimeoutSeconds)
        try? await forEach(Array(Dictionary(grouping: shares, by: \.recipientIndex)), concurrency: trace.verifyConcurrency) { index, received in
            func fail(_ share: LoadShare, _ why: String) {
                report.withLock { $0.fail("share \(share.id) of upload \(share.upload.nodeID) to account \(share.recipientAccountID): \(why)") }
            }
            guard let account = accountsByIndex[index], let session = sessions.withLock({ $0[index] }) else {
                for share in received { fail(share, "not checked, the recipient did not log in") }
                return
            }
            let client = self.factory.client(for: account)
            let incoming: [ShareInfo]
            do {
                incoming = try await client.incomingShares(session)
            } catch {
                for share in received { fail(share, "listing the recipient's incoming shares failed: \(error)") }
                return
            }
            for share in received {
                guard let listed = incoming.first(where: { $0.id == share.id }) else {
                    fail(share, "acknowledged but not among the recipient's incoming shares")
                    continue
                }
                do {
                    let bytes = try await self.readShared(share, listed: listed, account: account, client: client, session: session,
                                                          until: shareDeadline)
                    report.withLock {
                        $0.sharesIntact += 1
                        $0.verifiedBytes += bytes
                    }
                } catch {
                    fail(share, "the recipient could not read it: \(error)")
                }
            }
        }
        return report.withLock { r in
            r.seconds = (ContinuousClock.now - started).seconds
            return r
        }
    }
}

extension LoadRun {
    /// Accepts, opens and downloads a share as its recipient. Until the grant
    /// reaches ingest (a `share.created` event) the node answers 404: that
    /// is retried until `deadline`, anything else fails at once.
    func readShared(_ share: LoadShare, listed: ShareInfo, account: LoadAccount, client: CoffreClient, session: Session,
                    until deadline: ContinuousClock.Instant) async throws -> Int64 {
        if listed.acceptedAt == nil { try await client.acceptShare(session, id: share.id) }
        while true {
            do {
                let opened = try await client.openShare(session, share: listed, trust: try trust(for: account))
                return try await fetch(share.upload, account: account, client: client, session: session, node: opened.root)
            } catch let error as CoffreAPIError where error.status == 404 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }
}
