// What a client remembers about the key directory between runs, so that a
// server cannot quietly change its story: the log's verifier key (pinned on
// first contact unless given explicitly), the newest checkpoint this client
// verified (every later one must be consistent with it: no rollback, no
// fork), and per contact the highest key version verified and its keys.
//
// Pinning: `logKey` given (the CLI's COFFRE_LOG_KEY or --log-key) is used
// and pinned; a pinned key that differs from it is refused. Without it the
// first lookup fetches `GET /v1/log/key` and pins what it gets (trust on
// first use), and every later run uses the pinned key only.
//
// The CLI keeps this in `keytrust.json` beside the session (0600), keyed by
// server; logging out does not forget it. It holds public keys and hashes
// only.
import Foundation

/// The newest checkpoint a client verified.
public struct TrustedCheckpoint: Codable, Sendable, Equatable {
    public var origin: String
    public var size: UInt64
    /// base64url of the 32-byte root hash.
    public var rootHash: String
    /// Unix seconds, from the checkpoint's `time` line.
    public var time: Int64
}

/// A contact (or this account) as last verified.
public struct TrustedContact: Codable, Sendable, Equatable {
    public var version: UInt64
    public var revoked: Bool
    /// base64url public keys of `version` (nil once revoked).
    public var x25519: String?
    public var ed25519: String?
    public var email: String?
    public var verifiedAt: Date

    enum CodingKeys: String, CodingKey {
        case version, revoked, x25519, ed25519, email, verifiedAt = "verified_at"
    }
}

/// Everything remembered about one server's key directory.
public struct KeyTrustState: Codable, Sendable, Equatable {
    public var logVerifierKey: String?
    public var logOrigin: String?
    public var checkpoint: TrustedCheckpoint?
    /// By lowercase account id.
    public var contacts: [String: TrustedContact] = [:]

    public init() {}

    enum CodingKeys: String, CodingKey {
        case logVerifierKey = "log_verifier_key", logOrigin = "log_origin", checkpoint, contacts
    }
}

public actor KeyTrust {
    public nonisolated let server: String
    public nonisolated let fileURL: URL?
    /// A verifier key given explicitly (it wins over trust on first use).
    public nonisolated let configuredLogKey: String?
    /// The oldest a checkpoint may be (by its signed time) to be accepted.
    public nonisolated let maxCheckpointAge: TimeInterval
    nonisolated let now: @Sendable () -> Date
    private var state: KeyTrustState

    public static let defaultMaxCheckpointAge: TimeInterval = 600

    /// `fileURL` nil keeps everything in memory (tests, one-shot tools).
    public init(server: String, fileURL: URL? = nil, logKey: String? = nil,
                maxCheckpointAge: TimeInterval = KeyTrust.defaultMaxCheckpointAge,
                now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.server = server
        self.fileURL = fileURL
        configuredLogKey = logKey.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        self.maxCheckpointAge = maxCheckpointAge
        self.now = now
        state = try fileURL.map { try Self.load(from: $0)[server] ?? KeyTrustState() } ?? KeyTrustState()
    }

    public var snapshot: KeyTrustState { state }

    public func contact(_ accountID: String) -> TrustedContact? {
        state.contacts[accountID.lowercased()]
    }

    // MARK: - Updates (all or nothing, saved before they count)

    func pin(verifierKey: String, origin: String?) throws {
        var next = state
        next.logVerifierKey = verifierKey
        next.logOrigin = origin
        try save(next)
    }

    /// Records a verified checkpoint and contact, unless another lookup
    /// stored a checkpoint since `previous` was read (then false: verify again).
    func commit(previous: TrustedCheckpoint?, checkpoint: TrustedCheckpoint, contacts: [String: TrustedContact]) throws -> Bool {
        guard state.checkpoint == previous else { return false }
        var next = state
        if previous.map({ checkpoint.size > $0.size || checkpoint.time > $0.time }) ?? true { next.checkpoint = checkpoint }
        for (account, var contact) in contacts {
            // Whole seconds, as the file keeps them.
            contact.verifiedAt = Date(timeIntervalSince1970: contact.verifiedAt.timeIntervalSince1970.rounded(.down))
            next.contacts[account] = contact
        }
        try save(next)
        return true
    }

    /// Forgets the pinned log key and checkpoint (an operator rotated the
    /// log's key, told out of band). Contacts stay.
    public func resetLog() throws {
        var next = state
        next.logVerifierKey = nil
        next.logOrigin = nil
        next.checkpoint = nil
        try save(next)
    }

    private func save(_ next: KeyTrustState) throws {
        if let fileURL {
            var all = try Self.load(from: fileURL)
            all[server] = next
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            try SessionStore.writePrivately(try encoder.encode(TrustFile(servers: all)), to: fileURL)
        }
        state = next
    }

    private struct TrustFile: Codable {
        var servers: [String: KeyTrustState]
    }

    static func load(from url: URL) throws -> [String: KeyTrustState] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            if FileManager.default.fileExists(atPath: url.path) { throw SessionStoreError.io(path: url.path, reason: "cannot read") }
            return [:]
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let file = try? decoder.decode(TrustFile.self, from: data) else { throw SessionStoreError.corrupt(path: url.path) }
        return file.servers
    }
}

extension SessionStore {
    /// What the key directory's checks remember (`KeyTrust`), beside the session.
    public var keyTrustURL: URL { fileURL.deletingLastPathComponent().appendingPathComponent("keytrust.json") }
}
