// A key directory (docs/keydir-api.md) behind the SDK's transport seam, over
// a REAL transparency log built with KeyTransparency: entries hashed into a
// MerkleFrontier, every perfect node kept so any inclusion or consistency
// proof can be assembled, checkpoints signed with a NoteSigner. Honest by
// default; hooks rewrite lookups, checkpoints and proofs the way a
// malicious directory would. Shares and links are kept in memory too, and
// anything else (the node tree, contents) is passed to a FakeIngestServer;
// the public link routes read the linked file from it.
@testable import CoffreCrypto
@testable import CoffreSDK
import Foundation
import KeyTransparency
import Sodium

/// A real log: entries, frontier, stored node hashes, signed checkpoints.
struct FakeLog {
    let origin: String
    var signer: NoteSigner
    private(set) var entries: [[UInt8]] = []
    private(set) var frontier = MerkleFrontier()
    private(set) var nodes: [MerkleNodeID: [UInt8]] = [:]

    init(origin: String = "coffre.test/keys", seed: [UInt8] = Sodium.randomBytes(32)) {
        self.origin = origin
        signer = try! NoteSigner(name: origin, seed: seed)
    }

    @discardableResult
    mutating func append(_ entry: KeyLogEntry) -> UInt64 {
        let index = frontier.size
        entries.append(entry.encoded())
        for (id, hash) in frontier.append(leafHash: entry.leafHash) { nodes[id] = hash }
        return index
    }

    var size: UInt64 { frontier.size }

    func root(size: UInt64) -> [UInt8] {
        size == 0 ? MerkleHash.empty : try! MerkleProof.root(of: MerkleProof.rootPlan(size: size), hashes: nodes)
    }

    /// A signed note for the tree of `size` leaves (default: all), made at `time`.
    func note(size: UInt64? = nil, time: Date = Date(), signer other: NoteSigner? = nil) -> String {
        let size = size ?? self.size
        return (other ?? signer).sign(Checkpoint(origin: origin, size: size, rootHash: root(size: size),
                                                 time: Int64(time.timeIntervalSince1970)))
    }

    func inclusion(index: UInt64, size: UInt64) -> [String] {
        try! MerkleProof.assemble(MerkleProof.inclusionPlan(index: index, size: size), hashes: nodes).map(Sodium.base64URLEncode)
    }

    func consistency(from: UInt64, to: UInt64) throws -> [String] {
        try MerkleProof.assemble(MerkleProof.consistencyPlan(from: from, to: to), hashes: nodes).map(Sodium.base64URLEncode)
    }
}

/// What a lookup answers; hooks may rewrite any of it.
struct LookupAnswer {
    var accountID: String
    var version: UInt64
    var index: UInt64
    var entry: [UInt8]
    var checkpoint: String
    var proof: [String]
}

final class FakeKeyDirectory: CoffreTransport, @unchecked Sendable {
    struct Account {
        var id: String
        var email: String
        /// Log indices of the account's entries, oldest first.
        var indices: [UInt64] = []
        var keys: AccountKeys?
    }

    struct ShareRecord {
        var id: String
        var nodeID: String
        var owner: String
        var recipient: String
        var kind: String
        var parcels: [Any]
        var acceptedAt: String?
    }

    struct LinkRecord {
        var id: String
        var nodeID: String
        var owner: String
        var expiresAt: String?
        var maxDownloads: Int?
        var downloads = 0
        var revoked = false
    }

    private let lock = NSLock()
    let tenantID = UUID().uuidString.lowercased()
    private(set) var log: FakeLog
    private var accounts: [String: Account] = [:]
    private var shares: [String: ShareRecord] = [:]
    private var links: [String: LinkRecord] = [:]
    private var recorded: [String] = []
    let ingest: FakeIngestServer
    var serverDescription: String { "http://fake.test" }

    // Hooks (set before use).
    /// Rewrites a lookup's answer.
    var tamperLookup: (@Sendable (inout LookupAnswer, FakeKeyDirectory) -> Void)?
    /// Replaces the answer to `GET /v1/log/proof/consistency`.
    var tamperConsistency: (@Sendable (UInt64, UInt64) -> [String]?)?
    /// When the log "made" the checkpoint lookups are answered with.
    var checkpointTime: @Sendable () -> Date = { Date() }
    /// Answers `GET /v1/log/key` with this instead of the log's key.
    var advertisedKey: String?
    /// Leaves `owner_account_id` out of public link answers.
    var hideLinkOwner = false
    /// Answers a request meant for ingest instead of ingest (nil: passes it on).
    var interceptIngest: (@Sendable (TransportRequest) -> TransportResponse?)?

    /// The log key's seed, so a test can build a fork signed by the same key.
    let seed: [UInt8]

    init(ingest: FakeIngestServer = FakeIngestServer(), seed: [UInt8] = Sodium.randomBytes(32)) {
        self.ingest = ingest
        self.seed = seed
        log = FakeLog(seed: seed)
    }

    var verifierKey: String { lock.withLock { log.signer.verifierKey } }
    var paths: [String] { lock.withLock { recorded } }
    func withLog<T>(_ body: (inout FakeLog) -> T) -> T { lock.withLock { body(&log) } }

    // MARK: - Directory state

    /// Signs up an account and publishes its first keys (version 1).
    @discardableResult
    func addAccount(email: String, keys: AccountKeys = AccountKeys.generate().keys) -> (id: String, keys: AccountKeys) {
        let id = UUID().uuidString.lowercased()
        lock.withLock {
            accounts[id] = Account(id: id, email: email.lowercased(), keys: keys)
            appendLocked(account: id, Self.publish(tenant: tenantID, account: id, version: 1, keys: keys))
        }
        return (id, keys)
    }

    /// A new version signed over by the previous keys.
    func rotate(_ account: String, to keys: AccountKeys) {
        lock.withLock {
            guard let old = accounts[account]?.keys else { return }
            let version = UInt64(accounts[account]!.indices.count + 1)
            var entry = Self.publish(tenant: tenantID, account: account, version: version, keys: keys)
            entry.action = .rotate
            entry.prevSignature = Sodium.base64URLEncode(old.ed25519.signature(for: KeyLogEntry.transitionMessage(
                account: account, action: .rotate, version: version, x25519: entry.x25519, ed25519: entry.ed25519)))
            accounts[account]!.keys = keys
            appendLocked(account: account, entry)
        }
    }

    func revoke(_ account: String) {
        lock.withLock {
            guard let old = accounts[account]?.keys else { return }
            let version = UInt64(accounts[account]!.indices.count + 1)
            let signature = old.ed25519.signature(for: KeyLogEntry.transitionMessage(
                account: account, action: .revoke, version: version, x25519: nil, ed25519: nil))
            accounts[account]!.keys = nil
            appendLocked(account: account, KeyLogEntry(
                tenant: tenantID, account: account, action: .revoke, version: version, x25519: nil, ed25519: nil,
                selfSignature: nil, prevSignature: Sodium.base64URLEncode(signature), reason: "client"))
        }
    }

    /// Appends an entry for `account` exactly as given (a malicious directory can).
    func appendRaw(account: String, _ entry: KeyLogEntry) {
        lock.withLock { appendLocked(account: account, entry) }
    }

    /// Other accounts' entries, so proofs have some depth.
    func addNoise(_ count: Int) {
        for index in 0..<count { addAccount(email: "noise\(index)-\(UUID().uuidString.prefix(6))@example.com") }
    }

    private func appendLocked(account: String, _ entry: KeyLogEntry) {
        let index = log.append(entry)
        accounts[account]?.indices.append(index)
    }

    static func publish(tenant: String, account: String, version: UInt64, keys: AccountKeys) -> KeyLogEntry {
        let x = keys.x25519.publicKey.base64URL
        let ed = keys.ed25519.publicKey.base64URL
        return KeyLogEntry(tenant: tenant, account: account, action: .publish, version: version, x25519: x, ed25519: ed,
                           selfSignature: Sodium.base64URLEncode(keys.ed25519.signature(for: KeyLogEntry.selfSignedMessage(x25519: x, ed25519: ed))),
                           prevSignature: nil, reason: nil)
    }

    /// The honest answer for an account's latest entry, against the current checkpoint.
    func honestLookup(_ account: String) -> LookupAnswer? {
        lock.withLock { lookupLocked(account) }
    }

    private func lookupLocked(_ account: String) -> LookupAnswer? {
        guard let index = accounts[account]?.indices.last else { return nil }
        let size = log.size
        return LookupAnswer(accountID: account, version: UInt64(accounts[account]!.indices.count), index: index,
                            entry: log.entries[Int(index)], checkpoint: log.note(size: size, time: checkpointTime()),
                            proof: log.inclusion(index: index, size: size))
    }

    /// A session on this directory for `account` (the bearer token is the account id).
    func session(for account: String, keys: AccountKeys, email: String? = nil) -> Session {
        let state = SessionState(server: serverDescription, tenant: nil, email: email, accountID: account, tenantID: tenantID,
                                 sessionID: UUID().uuidString.lowercased(), accessToken: account, refreshToken: "rt",
                                 accessTokenExpiresAt: Date().addingTimeInterval(3600))
        return Session(state: state, keys: keys, keyBundle: nil)
    }

    // MARK: - Transport

    func send(_ request: TransportRequest) async throws -> TransportResponse {
        let local: TransportResponse? = lock.withLock {
            recorded.append("\(request.method) \(request.path)")
            return handle(request)
        }
        if let local { return local }
        if let linked = try await publicLink(request) { return linked }
        if let answer = interceptIngest?(request) { return answer }
        return try await ingest.send(request)
    }

    private func caller(_ request: TransportRequest) -> String? {
        guard let value = request.header("Authorization"), value.hasPrefix("Bearer ") else { return nil }
        return String(value.dropFirst(7))
    }

    /// Nil: not a directory route (ingest's).
    private func handle(_ request: TransportRequest) -> TransportResponse? {
        let parts = request.path.split(separator: "?", maxSplits: 1).map(String.init)
        let path = parts[0]
        var query: [String: String] = [:]
        for pair in (parts.count > 1 ? parts[1] : "").split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { query[kv[0]] = kv[1].removingPercentEncoding ?? kv[1] }
        }
        let segments = path.split(separator: "/").map(String.init)
        guard segments.count >= 2, ["keys", "log", "shares", "links"].contains(segments[1]) else { return nil }
        if segments[1] == "links", request.method == "GET", segments.count >= 3 { return nil }  // public: ingest's
        guard let me = caller(request) else { return problem(401, "Unauthorized") }
        switch (request.method, path) {
        case ("GET", "/v1/log/key"):
            return json(200, ["origin": log.origin, "verifier_key": advertisedKey ?? log.signer.verifierKey])
        case ("GET", "/v1/log/checkpoint"):
            return TransportResponse(status: 200, body: Array(log.note(time: checkpointTime()).utf8))
        case ("GET", "/v1/log/proof/consistency"):
            guard let from = query["from"].flatMap(UInt64.init), let to = query["to"].flatMap(UInt64.init) else {
                return problem(400, "Bad Request")
            }
            if let proof = tamperConsistency?(from, to) { return json(200, ["from": from, "to": to, "proof": proof]) }
            guard to <= log.size else { return problem(400, "Bad Request") }
            guard let proof = try? log.consistency(from: from, to: to) else { return problem(400, "Bad Request") }
            return json(200, ["from": from, "to": to, "proof": proof])
        case ("GET", "/v1/log/proof/inclusion"):
            guard let index = query["index"].flatMap(UInt64.init), let size = query["size"].flatMap(UInt64.init),
                  index < size, size <= log.size else { return problem(400, "Bad Request") }
            return json(200, ["index": index, "size": size, "proof": log.inclusion(index: index, size: size)])
        case ("GET", "/v1/keys/lookup"):
            guard let email = query["email"], let account = accounts.values.first(where: { $0.email == email.lowercased() }) else {
                return problem(404, "Not Found")
            }
            return lookupResponse(account.id)
        case ("GET", _) where segments.count == 4 && segments[1] == "keys" && segments[2] == "accounts":
            return lookupResponse(segments[3])
        case ("GET", _) where segments.count == 5 && segments[4] == "history":
            guard let account = accounts[segments[3]] else { return problem(404, "Not Found") }
            return json(200, ["entries": account.indices.map { ["index": $0, "entry": Sodium.base64URLEncode(log.entries[Int($0)])] },
                              "checkpoint": log.note(time: checkpointTime())])
        case ("POST", "/v1/shares"):
            let body = (try? JSONSerialization.jsonObject(with: Data(request.body ?? [])) as? [String: Any]) ?? [:]
            guard let node = body["node_id"] as? String, let recipient = body["recipient_account_id"] as? String,
                  let kind = body["kind"] as? String, let parcels = body["parcels"] as? [Any], !parcels.isEmpty,
                  accounts[recipient] != nil else { return problem(400, "Bad Request") }
            let share = ShareRecord(id: UUID().uuidString.lowercased(), nodeID: node, owner: me, recipient: recipient,
                                    kind: kind, parcels: parcels)
            shares[share.id] = share
            return json(201, render(share))
        case ("GET", "/v1/shares/incoming"):
            return json(200, ["shares": shares.values.filter { $0.recipient == me }.map(render)])
        case ("GET", "/v1/shares/outgoing"):
            return json(200, ["shares": shares.values.filter { $0.owner == me }.map(render)])
        case ("POST", _) where segments.count == 4 && segments[1] == "shares" && segments[3] == "accept":
            guard shares[segments[2]]?.recipient == me else { return problem(404, "Not Found") }
            shares[segments[2]]!.acceptedAt = "2025-01-02T03:04:05Z"
            return json(200, render(shares[segments[2]]!))
        case ("DELETE", _) where segments.count == 3 && segments[1] == "shares":
            guard let share = shares[segments[2]], share.owner == me || share.recipient == me else { return problem(404, "Not Found") }
            shares[segments[2]] = nil
            return TransportResponse(status: 204)
        case ("POST", "/v1/links"):
            let body = (try? JSONSerialization.jsonObject(with: Data(request.body ?? [])) as? [String: Any]) ?? [:]
            guard let node = body["node_id"] as? String else { return problem(400, "Bad Request") }
            let link = LinkRecord(id: UUID().uuidString.lowercased(), nodeID: node, owner: me, expiresAt: body["expires_at"] as? String,
                                  maxDownloads: body["max_downloads"] as? Int)
            links[link.id] = link
            return json(201, render(link))
        case ("GET", "/v1/links"):
            return json(200, ["links": links.values.filter { $0.owner == me }.map(render)])
        case ("DELETE", _) where segments.count == 3 && segments[1] == "links":
            guard links[segments[2]]?.owner == me else { return problem(404, "Not Found") }
            links[segments[2]]!.revoked = true
            return TransportResponse(status: 204)
        default:
            return problem(404, "Not Found")
        }
    }

    private func lookupResponse(_ account: String) -> TransportResponse {
        guard var answer = lookupLocked(account) else { return problem(404, "Not Found") }
        tamperLookup?(&answer, self)
        return json(200, ["account_id": answer.accountID, "version": answer.version, "index": answer.index,
                          "entry": Sodium.base64URLEncode(answer.entry), "checkpoint": answer.checkpoint,
                          "inclusion_proof": answer.proof])
    }

    /// Unlocked helpers for hooks (called with the lock held).
    func lookupWhileHandling(_ account: String) -> LookupAnswer? { lookupLocked(account) }
    var logWhileHandling: FakeLog { log }

    /// `GET /v1/links/{id}` and `/content`, anonymous, as ingest answers them.
    private func publicLink(_ request: TransportRequest) async throws -> TransportResponse? {
        let segments = request.path.split(separator: "/").map(String.init)
        guard request.method == "GET", segments.count >= 3, segments[0] == "v1", segments[1] == "links" else { return nil }
        let claim = segments.count == 4 && segments[3] == "content"
        let found: LinkRecord? = lock.withLock {
            guard var link = links[segments[2]], !link.revoked, link.maxDownloads.map({ link.downloads < $0 }) ?? true else { return nil }
            if claim {
                link.downloads += 1
                links[link.id] = link
            }
            return link
        }
        guard let link = found, let node = ingest.node(link.nodeID),
              let version = node.versions.first(where: { $0.id == node.current }) else { return problem(410, "Gone") }
        if claim { return TransportResponse(status: 200, body: version.bytes) }
        var object: [String: Any] = ["id": link.id, "node_id": link.nodeID, "size": version.bytes.count,
                                     "attributes": node.attributes, "expires_at": link.expiresAt as Any? ?? NSNull(),
                                     "downloads_left": link.maxDownloads.map { $0 - link.downloads } as Any? ?? NSNull()]
        if !hideLinkOwner { object["owner_account_id"] = link.owner }
        return json(200, object)
    }

    var linkRecords: [LinkRecord] { lock.withLock { Array(links.values) } }

    private func render(_ share: ShareRecord) -> [String: Any] {
        ["id": share.id, "node_id": share.nodeID, "owner_account_id": share.owner, "recipient_account_id": share.recipient,
         "kind": share.kind, "parcels": share.parcels, "created_at": "2025-01-02T03:04:05Z",
         "accepted_at": share.acceptedAt as Any? ?? NSNull()]
    }

    private func render(_ link: LinkRecord) -> [String: Any] {
        ["id": link.id, "node_id": link.nodeID, "expires_at": link.expiresAt as Any? ?? NSNull(),
         "max_downloads": link.maxDownloads as Any? ?? NSNull(), "downloads": link.downloads,
         "revoked_at": link.revoked ? "2025-01-02T03:04:05Z" : NSNull(), "created_at": "2025-01-02T03:04:05Z"]
    }

    func problem(_ status: Int, _ title: String) -> TransportResponse {
        TransportResponse(status: status, headers: ["Content-Type": "application/problem+json"],
                          body: Array(try! JSONSerialization.data(withJSONObject: ["type": "about:blank", "title": title, "status": status])))
    }

    private func json(_ status: Int, _ object: [String: Any]) -> TransportResponse {
        TransportResponse(status: status, headers: ["Content-Type": "application/json"],
                          body: Array(try! JSONSerialization.data(withJSONObject: object)))
    }
}
