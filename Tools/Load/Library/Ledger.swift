// What the server acknowledged during a run, and nothing else: the accounts
// whose signup got a 2xx, the uploads whose last byte was accepted and the
// shares the key directory stored. The
// verification phase checks exactly this list against the server. Uploads
// keep a hash of their plaintext, never the bytes.
import CoffreSDK
import Foundation
import Sodium
import Synchronization

/// A synthetic account. Its password is random and is never printed.
public struct LoadAccount: Sendable {
    public let index: Int
    public let email: String
    let password: String
    public let accountID: String
    /// The address the account's requests claim in `X-Forwarded-For`.
    public let address: String
}

public struct LoadUpload: Sendable, Codable {
    public let accountIndex: Int
    public let accountID: String
    public let nodeID: String
    public let name: String
    public let plaintextSize: Int64
    public let encryptedSize: Int64
    /// `ContentDigest` of the plaintext, hex.
    public let digest: String
}

/// An upload its owner shared with another account of the run.
public struct LoadShare: Sendable, Codable {
    public let id: String
    public let ownerIndex: Int
    public let recipientIndex: Int
    public let recipientAccountID: String
    public let upload: LoadUpload
}

/// The acknowledged accounts, uploads and shares, and the sessions the run holds.
public final class Ledger: Sendable {
    struct State {
        var accounts: [LoadAccount] = []
        var sessions: [Int: Session] = [:]
        var uploads: [LoadUpload] = []
        var shares: [LoadShare] = []
        var nextAccount = 0
    }

    private let state = Mutex(State())
    public let tenant: String

    public init(tenant: String) {
        self.tenant = tenant
    }

    public var accounts: [LoadAccount] { state.withLock { $0.accounts } }
    public var uploads: [LoadUpload] { state.withLock { $0.uploads } }
    public var shares: [LoadShare] { state.withLock { $0.shares } }

    func reserveAccountIndex() -> Int {
        state.withLock { s in
            defer { s.nextAccount += 1 }
            return s.nextAccount
        }
    }

    func acknowledge(_ account: LoadAccount, session: Session?) {
        state.withLock { s in
            s.accounts.append(account)
            s.sessions[account.index] = session
        }
    }

    func acknowledge(_ upload: LoadUpload) {
        state.withLock { $0.uploads.append(upload) }
    }

    /// Sharing a file again with the same account keeps the share's id (the
    /// directory replaces its parcels): one entry per id.
    func acknowledge(_ share: LoadShare) {
        state.withLock { s in
            if !s.shares.contains(where: { $0.id == share.id }) { s.shares.append(share) }
        }
    }

    func setSession(_ session: Session, for index: Int) {
        state.withLock { $0.sessions[index] = session }
    }

    func session(for index: Int) -> Session? {
        state.withLock { $0.sessions[index] }
    }

    func account(pick: UInt64) -> LoadAccount? {
        state.withLock { s in s.accounts.isEmpty ? nil : s.accounts[Int(pick % UInt64(s.accounts.count))] }
    }

    func account(index: Int) -> LoadAccount? {
        state.withLock { s in s.accounts.first { $0.index == index } }
    }

    /// An account other than `owner` from the older half of the acknowledged
    /// ones: its keys have had time to reach the key directory's log (they
    /// arrive through `account.created`), as a friend's would have.
    func recipient(pick: UInt64, excluding owner: Int) -> LoadAccount? {
        state.withLock { s in
            let older = s.accounts.prefix(max(2, (s.accounts.count + 1) / 2)).filter { $0.index != owner }
            return older.isEmpty ? nil : older[Int((pick >> 20) % UInt64(older.count))]
        }
    }

    func upload(pick: UInt64) -> LoadUpload? {
        state.withLock { s in s.uploads.isEmpty ? nil : s.uploads[Int(pick % UInt64(s.uploads.count))] }
    }

    /// Forgets an upload (tests: to show that the verifier notices a loss
    /// only when the server lost it, not when the ledger changes).
    public func removeUpload(nodeID: String) {
        state.withLock { $0.uploads.removeAll { $0.nodeID == nodeID } }
    }
}

/// A hash of a file's plaintext computed in 1 MiB blocks, so neither side
/// ever holds a whole file: SHA-256 chained over the blocks' SHA-256s.
struct ContentDigest {
    static let block = 1 << 20
    private(set) var value = [UInt8](repeating: 0, count: 32)
    private(set) var count: Int64 = 0

    mutating func add(_ bytes: [UInt8]) {
        value = Sodium.sha256(value + Sodium.sha256(bytes))
        count += Int64(bytes.count)
    }

    var hex: String { value.map { String(format: "%02x", $0) }.joined() }

    /// Writes `size` random bytes to `path` (a new file) and returns their digest.
    static func writeRandomFile(path: String, size: Int) throws -> ContentDigest {
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw LoadError.setup("cannot create \(path)")
        }
        defer { try? handle.close() }
        var digest = ContentDigest()
        var left = size
        repeat {
            let bytes = Sodium.randomBytes(min(left, block))
            digest.add(bytes)
            try handle.write(contentsOf: bytes)
            left -= bytes.count
        } while left > 0
        return digest
    }

    static func of(path: String) throws -> ContentDigest {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw LoadError.setup("cannot read \(path)") }
        defer { try? handle.close() }
        var digest = ContentDigest()
        var first = true
        while true {
            let data = try handle.read(upToCount: block) ?? Data()
            if data.isEmpty && !first { break }
            digest.add(Array(data))
            first = false
            if data.count < block { break }
        }
        return digest
    }
}
