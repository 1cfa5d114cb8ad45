// Looking up someone's public keys without trusting the server that answers.
// A lookup is used only once all of this holds (docs/keydir-api.md):
//
// - the entry parses, is for the account (and tenant) asked about, is not a
//   revoke, and its Ed25519 key signed its keys (and, when this client knew
//   the previous version, the previous key signed the rotation);
// - the checkpoint is signed by the pinned log key (`KeyTrust`), names the
//   pinned origin, and was made within `maxCheckpointAge` of now;
// - the inclusion proof puts exactly this entry at its index in the tree the
//   checkpoint commits to (a key the log does not hold is a substituted key);
// - the checkpoint extends the last one this client stored (consistency
//   proof); smaller = rolled back, same size with another root or a proof
//   that does not verify = forked log;
// - the version is not below the highest one remembered for the contact,
//   and the same version never comes with other keys.
//
// Only then are the checkpoint and the contact's version stored.
import CoffreCrypto
import Foundation
import KeyTransparency
import Sodium

/// Why keys from the directory were refused. Each is a reason not to seal
/// anything to the keys (or trust a signature by them).
public enum KeyDirectoryError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// The directory answered with keys that are not this account's entry in
    /// the log: another account's entry, an entry missing from the log, or
    /// other keys under a version already verified.
    case substitutedKey(account: String, reason: String)
    /// The log's history differs from what this client verified before.
    case forkedLog(String)
    /// The checkpoint is older (smaller) than one this client already verified.
    case rolledBack(stored: UInt64, received: UInt64)
    /// The checkpoint is not signed by the pinned log key.
    case badCheckpointSignature(String)
    /// The checkpoint's signed time is too far from now.
    case staleCheckpoint(ageSeconds: Int64, maxSeconds: Int64)
    /// A lower key version than one this client already verified for the contact.
    case versionRolledBack(account: String, remembered: UInt64, received: UInt64)
    /// The contact's keys are revoked.
    case revoked(account: String, version: UInt64)
    /// The entry's keys are not signed by its own Ed25519 key (or the rotation by the previous one).
    case badSignature(account: String, reason: String)
    /// The log key given explicitly is not the one pinned earlier.
    case logKeyMismatch(pinned: String, given: String)
    /// An entry or proof that does not parse.
    case malformed(String)
    /// `coffre keys --audit`: the log shows keys for this account that are not its own.
    case auditFailed(String)

    public var description: String {
        switch self {
        case let .substitutedKey(account, reason):
            "refusing the keys of \(account): \(reason). The key directory may be trying to substitute keys"
        case let .forkedLog(reason):
            "the key directory's log does not extend the one verified before (\(reason)): it may show different histories to different users"
        case let .rolledBack(stored, received):
            "the key directory answered with an older log (\(received) entries) than one already verified (\(stored) entries): rolled back"
        case let .badCheckpointSignature(reason):
            "the key directory's checkpoint is not signed by the pinned log key (\(reason))"
        case let .staleCheckpoint(age, max):
            age < 0 ? "the key directory's checkpoint is dated \(-age) s in the future (more than \(max) s): check this machine's clock"
                : "the key directory's checkpoint is \(age) s old (more than \(max) s): it may be hiding newer keys"
        case let .versionRolledBack(account, remembered, received):
            "refusing the keys of \(account): version \(received) is older than version \(remembered) verified before"
        case let .revoked(account, version):
            "the keys of \(account) are revoked (version \(version)); nothing can be shared with them until they publish new keys"
        case let .badSignature(account, reason): "refusing the keys of \(account): \(reason)"
        case let .logKeyMismatch(pinned, given):
            "the log key given (\(given)) is not the one pinned earlier (\(pinned)); if the operator really changed it, remove keytrust.json"
        case let .malformed(reason): "unexpected answer from the key directory: \(reason)"
        case let .auditFailed(reason): "key audit failed: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// Keys that passed every check.
public struct VerifiedKeys: Sendable, Equatable {
    public let accountID: String
    public let tenantID: String
    public let version: UInt64
    /// The entry's position in the log.
    public let logIndex: UInt64
    public let x25519: X25519PublicKey
    public let ed25519: Ed25519PublicKey
    /// The checkpoint the entry was proven against.
    public let checkpointSize: UInt64
    public let checkpointTime: Date
    /// The keys are not the ones verified last time for this contact (a
    /// rotation, or the first lookup: see `firstContact`).
    public let changed: Bool
    public let firstContact: Bool

    /// The 60-digit code two people compare out of band.
    public var safetyCode: String { SafetyCode.fingerprint(ed25519Public: ed25519, x25519Public: x25519) }
}

/// One entry of this account's key history, verified.
public struct AuditedKeyEntry: Sendable, Equatable {
    public let version: UInt64
    public let action: String
    public let logIndex: UInt64
    public let x25519: String?
    public let ed25519: String?
    public let reason: String?
    /// The keys of this entry are this client's current keys.
    public let isCurrent: Bool
}

public struct KeyAudit: Sendable {
    public let entries: [AuditedKeyEntry]
    public let checkpointSize: UInt64
    public let checkpointTime: Date
}

// MARK: - Wire (docs/keydir-api.md)

struct KeyLookupWire: Decodable {
    var accountID: String
    var version: UInt64
    var index: UInt64
    var entry: String
    var checkpoint: String
    var inclusionProof: [String]

    enum CodingKeys: String, CodingKey {
        case accountID = "account_id", version, index, entry, checkpoint, inclusionProof = "inclusion_proof"
    }
}

struct LogKeyWire: Decodable {
    var origin: String
    var verifierKey: String
    enum CodingKeys: String, CodingKey { case origin, verifierKey = "verifier_key" }
}

struct ProofWire: Decodable {
    var proof: [String]
}

struct HistoryWire: Decodable {
    struct Item: Decodable {
        var index: UInt64
        var entry: String
    }
    var entries: [Item]
    var checkpoint: String
}

extension CoffreClient {
    // MARK: - Lookups

    /// The verified current keys of an account of the session's tenant (or
    /// of `tenant`, an id, for an account of another tenant: the directory
    /// answers only when both tenants allow cross-tenant shares).
    public func verifiedKeys(_ session: Session, account: String, tenant: String? = nil, trust: KeyTrust) async throws -> VerifiedKeys {
        guard let uuid = UUID(uuidString: account.trimmingCharacters(in: .whitespaces)) else {
            throw CoffreClientError.invalidInput("\"\(account)\" is not an account id")
        }
        let id = uuid.uuidString.lowercased()
        return try await verifiedLookup(session, path: "/v1/keys/accounts/\(id)", expectedAccount: id, email: nil,
                                        expectedTenant: (tenant ?? session.tenantID).lowercased(), trust: trust)
    }

    /// The verified current keys of the account with this email in the
    /// session's tenant. The directory says which account that is; the log
    /// holds account ids, not emails, so compare the safety code out of band
    /// before trusting an email lookup the first time.
    ///
    /// `tenantSlug` looks the email up in another tenant (both tenants must
    /// allow cross-tenant shares). The entry's tenant is then whichever the
    /// directory names: like the email itself, that mapping is the server's
    /// word, which the safety code checks.
    public func verifiedKeys(_ session: Session, email: String, inTenant tenantSlug: String? = nil,
                             trust: KeyTrust) async throws -> VerifiedKeys {
        let email = try Self.normalize(email: email)
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let query = email.addingPercentEncoding(withAllowedCharacters: allowed) ?? email
        var path = "/v1/keys/lookup?email=\(query)"
        var expectedTenant: String? = session.tenantID.lowercased()
        if let slug = tenantSlug?.trimmingCharacters(in: .whitespaces).lowercased(), !slug.isEmpty {
            path += "&tenant=\(slug.addingPercentEncoding(withAllowedCharacters: allowed) ?? slug)"
            expectedTenant = nil
        }
        return try await verifiedLookup(session, path: path, expectedAccount: nil, email: email, expectedTenant: expectedTenant,
                                        trust: trust)
    }

    private func verifiedLookup(_ session: Session, path: String, expectedAccount: String?, email: String?,
                                expectedTenant: String?, trust: KeyTrust) async throws -> VerifiedKeys {
        // Twice at most: a concurrent lookup may store a newer checkpoint in between.
        for _ in 0..<3 {
            let response = try await authorized(session, "GET", path, body: nil)
            let wire = try Self.decode(KeyLookupWire.self, from: response)
            if let verified = try await verify(wire, session: session, expectedAccount: expectedAccount, email: email,
                                               expectedTenant: expectedTenant, trust: trust) {
                return verified
            }
        }
        throw CoffreClientError.invalidResponse("the key directory's log kept moving during the lookup; try again")
    }

    /// Nil when another lookup stored a checkpoint meanwhile (try again).
    /// `expectedTenant` nil accepts the entry's tenant (a lookup by email in
    /// another tenant).
    private func verify(_ wire: KeyLookupWire, session: Session, expectedAccount: String?, email: String?,
                        expectedTenant: String?, trust: KeyTrust) async throws -> VerifiedKeys? {
        guard let bytes = Sodium.base64URLDecode(wire.entry) else { throw KeyDirectoryError.malformed("the entry is not base64url") }
        let entry: KeyLogEntry
        do {
            entry = try KeyLogEntry(parsing: bytes)
        } catch {
            throw KeyDirectoryError.malformed("the key entry does not parse (\(error))")
        }
        let account = entry.account.lowercased()
        let asked = expectedAccount ?? email ?? account
        if let expectedAccount, account != expectedAccount {
            throw KeyDirectoryError.substitutedKey(account: expectedAccount, reason: "the directory answered with the entry of \(account)")
        }
        guard wire.accountID.lowercased() == account else {
            throw KeyDirectoryError.substitutedKey(account: asked, reason: "the answer names \(wire.accountID) but its entry is for \(account)")
        }
        let tenant = entry.tenant.lowercased()
        if let expectedTenant, tenant != expectedTenant {
            throw KeyDirectoryError.substitutedKey(account: asked, reason: "the entry is for another tenant")
        }
        guard wire.version == entry.version else {
            throw KeyDirectoryError.malformed("the answer says version \(wire.version) but the entry is version \(entry.version)")
        }

        let previous = await trust.snapshot.checkpoint
        let checkpoint = try await verifiedCheckpoint(session, note: wire.checkpoint, trust: trust)
        let proof = try Self.hashes(wire.inclusionProof)
        do {
            try MerkleProof.verifyInclusion(leafHash: entry.leafHash, index: wire.index, size: checkpoint.size,
                                            proof: proof, root: checkpoint.rootHash)
        } catch {
            throw KeyDirectoryError.substitutedKey(
                account: asked, reason: "its entry is not at index \(wire.index) of the log the checkpoint commits to (\(error))")
        }
        try await checkConsistency(session, previous: previous, checkpoint: checkpoint)

        let remembered = await trust.contact(account)
        if let remembered, entry.version < remembered.version {
            throw KeyDirectoryError.versionRolledBack(account: asked, remembered: remembered.version, received: entry.version)
        }
        var keys: (X25519PublicKey, Ed25519PublicKey)?
        if entry.action != .revoke {
            keys = try Self.checkedKeys(entry, asked: asked, remembered: remembered)
        }
        if let remembered, entry.version == remembered.version,
           remembered.revoked != (entry.action == .revoke) || remembered.x25519 != entry.x25519 || remembered.ed25519 != entry.ed25519 {
            throw KeyDirectoryError.substitutedKey(account: asked, reason: "version \(entry.version) was verified before with other keys")
        }
        let contact = TrustedContact(version: entry.version, revoked: entry.action == .revoke, x25519: entry.x25519,
                                     ed25519: entry.ed25519, email: email ?? remembered?.email, verifiedAt: trust.now())
        guard try await trust.commit(previous: previous, checkpoint: Self.trusted(checkpoint), contacts: [account: contact]) else {
            return nil
        }
        guard let (x25519, ed25519) = keys else { throw KeyDirectoryError.revoked(account: asked, version: entry.version) }
        return VerifiedKeys(accountID: account, tenantID: tenant, version: entry.version, logIndex: wire.index,
                            x25519: x25519, ed25519: ed25519, checkpointSize: checkpoint.size,
                            checkpointTime: Date(timeIntervalSince1970: TimeInterval(checkpoint.time ?? 0)),
                            changed: remembered.map { $0.x25519 != entry.x25519 || $0.ed25519 != entry.ed25519 } ?? true,
                            firstContact: remembered == nil)
    }

    /// The entry's keys, self-signed (and the rotation signed by the
    /// previous key when this client verified the version just before).
    private static func checkedKeys(_ entry: KeyLogEntry, asked: String,
                                    remembered: TrustedContact?) throws -> (X25519PublicKey, Ed25519PublicKey) {
        guard let x = entry.x25519.flatMap(Sodium.base64URLDecode).flatMap({ try? X25519PublicKey(rawBytes: $0) }),
              let ed = entry.ed25519.flatMap(Sodium.base64URLDecode).flatMap({ try? Ed25519PublicKey(rawBytes: $0) }),
              let signature = entry.selfSignature.flatMap(Sodium.base64URLDecode)
        else { throw KeyDirectoryError.malformed("the entry of \(asked) does not carry two public keys and a self-signature") }
        guard ed.isValidSignature(signature, for: KeyLogEntry.selfSignedMessage(x25519: x.base64URL, ed25519: ed.base64URL)) else {
            throw KeyDirectoryError.badSignature(account: asked, reason: "the keys are not signed by their own Ed25519 key")
        }
        if entry.action == .rotate, let remembered, !remembered.revoked, remembered.version + 1 == entry.version {
            do {
                try entry.verifySignatures(previousEd25519: remembered.ed25519)
            } catch {
                throw KeyDirectoryError.badSignature(account: asked, reason: "the rotation is not signed by the previous key (\(error))")
            }
        }
        return (x, ed)
    }

    // MARK: - Checkpoints

    /// The pinned verifier key: the configured one, the pinned one, or (first
    /// contact) the directory's own, pinned from now on.
    func logVerifier(_ session: Session?, trust: KeyTrust) async throws -> (NoteVerifier, origin: String?) {
        let state = await trust.snapshot
        var key = state.logVerifierKey
        var origin = state.logOrigin
        if let configured = trust.configuredLogKey {
            if let pinned = key, pinned != configured { throw KeyDirectoryError.logKeyMismatch(pinned: pinned, given: configured) }
            if key == nil {
                _ = try Self.noteVerifier(configured)
                try await trust.pin(verifierKey: configured, origin: nil)
                key = configured
            }
        } else if key == nil {
            let response: TransportResponse
            if let session {
                response = try await authorized(session, "GET", "/v1/log/key", body: nil)
            } else {
                response = try await send("GET", "/v1/log/key", body: nil)
                try Self.requireSuccess(response)
            }
            let wire = try Self.decode(LogKeyWire.self, from: response)
            _ = try Self.noteVerifier(wire.verifierKey)
            try await trust.pin(verifierKey: wire.verifierKey, origin: wire.origin)
            key = wire.verifierKey
            origin = wire.origin
        }
        return (try Self.noteVerifier(key!), origin)
    }

    private static func noteVerifier(_ key: String) throws -> NoteVerifier {
        do {
            return try NoteVerifier(verifierKey: key)
        } catch {
            throw KeyDirectoryError.badCheckpointSignature("the log verifier key is not valid (\(error))")
        }
    }

    /// Signature by the pinned key, pinned origin, freshness.
    func verifiedCheckpoint(_ session: Session?, note: String, trust: KeyTrust) async throws -> Checkpoint {
        let (verifier, origin) = try await logVerifier(session, trust: trust)
        let checkpoint: Checkpoint
        do {
            checkpoint = try verifier.verify(note: note)
        } catch NoteError.malformed(let reason) {
            throw KeyDirectoryError.malformed("the checkpoint is malformed (\(reason))")
        } catch NoteError.unknownKey {
            throw KeyDirectoryError.badCheckpointSignature("no signature by \(verifier.name)")
        } catch {
            throw KeyDirectoryError.badCheckpointSignature("the signature does not verify")
        }
        if let origin, checkpoint.origin != origin {
            throw KeyDirectoryError.forkedLog("the checkpoint is for log \"\(checkpoint.origin)\", not \"\(origin)\"")
        }
        if let stored = await trust.snapshot.checkpoint, stored.origin != checkpoint.origin {
            throw KeyDirectoryError.forkedLog("the checkpoint is for log \"\(checkpoint.origin)\", not \"\(stored.origin)\"")
        }
        let max = Int64(trust.maxCheckpointAge)
        guard let time = checkpoint.time else { throw KeyDirectoryError.staleCheckpoint(ageSeconds: Int64.max, maxSeconds: max) }
        let age = Int64(trust.now().timeIntervalSince1970) - time
        guard abs(age) <= max else { throw KeyDirectoryError.staleCheckpoint(ageSeconds: age, maxSeconds: max) }
        return checkpoint
    }

    /// The new checkpoint extends `previous` (the last one stored), proven by
    /// the directory's consistency proof.
    func checkConsistency(_ session: Session?, previous: TrustedCheckpoint?, checkpoint: Checkpoint) async throws {
        guard let previous else { return }
        guard let previousRoot = Sodium.base64URLDecode(previous.rootHash) else {
            throw KeyDirectoryError.malformed("the stored checkpoint is damaged; remove keytrust.json")
        }
        if checkpoint.size < previous.size {
            throw KeyDirectoryError.rolledBack(stored: previous.size, received: checkpoint.size)
        }
        if checkpoint.size == previous.size {
            guard checkpoint.rootHash == previousRoot else {
                throw KeyDirectoryError.forkedLog("another root hash for the same \(checkpoint.size) entries")
            }
            return
        }
        guard previous.size > 0 else { return }  // everything extends the empty log
        let path = "/v1/log/proof/consistency?from=\(previous.size)&to=\(checkpoint.size)"
        let response: TransportResponse
        if let session {
            response = try await authorized(session, "GET", path, body: nil)
        } else {
            response = try await send("GET", path, body: nil)
            try Self.requireSuccess(response)
        }
        let proof = try Self.hashes(try Self.decode(ProofWire.self, from: response).proof)
        do {
            try MerkleProof.verifyConsistency(from: previous.size, to: checkpoint.size, fromRoot: previousRoot,
                                              toRoot: checkpoint.rootHash, proof: proof)
        } catch {
            throw KeyDirectoryError.forkedLog("the log of \(checkpoint.size) entries does not contain the \(previous.size) verified before (\(error))")
        }
    }

    static func trusted(_ checkpoint: Checkpoint) -> TrustedCheckpoint {
        TrustedCheckpoint(origin: checkpoint.origin, size: checkpoint.size, rootHash: Sodium.base64URLEncode(checkpoint.rootHash),
                          time: checkpoint.time ?? 0)
    }

    static func hashes(_ proof: [String]) throws -> [[UInt8]] {
        guard proof.count <= 128 else { throw KeyDirectoryError.malformed("a proof of \(proof.count) hashes") }
        return try proof.map {
            guard let hash = Sodium.base64URLDecode($0), hash.count == 32 else {
                throw KeyDirectoryError.malformed("a proof hash is not 32 bytes of base64url")
            }
            return hash
        }
    }

    // MARK: - Audit of one's own keys

    /// Verifies this account's whole key history in the log (every entry
    /// included in a fresh checkpoint consistent with the stored one, versions
    /// 1, 2, 3… each signed as the rules say) and that its latest keys are
    /// `x25519`/`ed25519` (this client's own). Any entry this client did not
    /// make shows up here: the directory cannot show others a key in this
    /// account's name without it being in this list.
    public func auditOwnKeys(_ session: Session, x25519: X25519PublicKey, ed25519: Ed25519PublicKey,
                             trust: KeyTrust) async throws -> KeyAudit {
        let account = session.accountID.lowercased()
        let tenant = session.tenantID.lowercased()
        for _ in 0..<3 {
            let response = try await authorized(session, "GET", "/v1/keys/accounts/\(account)/history", body: nil)
            let history = try Self.decode(HistoryWire.self, from: response)
            let previous = await trust.snapshot.checkpoint
            let checkpoint = try await verifiedCheckpoint(session, note: history.checkpoint, trust: trust)
            try await checkConsistency(session, previous: previous, checkpoint: checkpoint)
            guard !history.entries.isEmpty else { throw KeyDirectoryError.auditFailed("the log holds no keys for this account") }

            var audited: [AuditedKeyEntry] = []
            var previousEd25519: String?
            var lastIndex: UInt64?
            var last: KeyLogEntry?
            for (position, item) in history.entries.enumerated() {
                guard let bytes = Sodium.base64URLDecode(item.entry), let entry = try? KeyLogEntry(parsing: bytes) else {
                    throw KeyDirectoryError.malformed("history entry \(position + 1) does not parse")
                }
                guard entry.account.lowercased() == account, entry.tenant.lowercased() == tenant else {
                    throw KeyDirectoryError.auditFailed("the history holds an entry of another account")
                }
                guard entry.version == UInt64(position + 1) else {
                    throw KeyDirectoryError.auditFailed("version \(entry.version) where version \(position + 1) belongs")
                }
                if let lastIndex, item.index <= lastIndex {
                    throw KeyDirectoryError.auditFailed("entries are not in log order")
                }
                let proofResponse = try await authorized(
                    session, "GET", "/v1/log/proof/inclusion?index=\(item.index)&size=\(checkpoint.size)", body: nil)
                let proof = try Self.hashes(try Self.decode(ProofWire.self, from: proofResponse).proof)
                do {
                    try MerkleProof.verifyInclusion(leafHash: entry.leafHash, index: item.index, size: checkpoint.size,
                                                    proof: proof, root: checkpoint.rootHash)
                } catch {
                    throw KeyDirectoryError.auditFailed("version \(entry.version) is not in the log at index \(item.index) (\(error))")
                }
                switch entry.action {
                case .publish where last != nil && last?.action != .revoke:
                    throw KeyDirectoryError.auditFailed("version \(entry.version) publishes keys over live ones")
                case .rotate where last == nil || last?.action == .revoke:
                    throw KeyDirectoryError.auditFailed("version \(entry.version) rotates keys that are not live")
                default: break
                }
                do {
                    try entry.verifySignatures(previousEd25519: previousEd25519)
                } catch {
                    throw KeyDirectoryError.auditFailed("version \(entry.version) is not properly signed (\(error))")
                }
                previousEd25519 = entry.action == .revoke ? nil : entry.ed25519
                lastIndex = item.index
                last = entry
                audited.append(AuditedKeyEntry(
                    version: entry.version, action: entry.action.rawValue, logIndex: item.index, x25519: entry.x25519,
                    ed25519: entry.ed25519, reason: entry.reason,
                    isCurrent: entry.x25519 == x25519.base64URL && entry.ed25519 == ed25519.base64URL))
            }
            guard let latest = last, latest.action != .revoke else {
                throw KeyDirectoryError.auditFailed("the log says this account's keys are revoked")
            }
            guard latest.x25519 == x25519.base64URL, latest.ed25519 == ed25519.base64URL else {
                throw KeyDirectoryError.auditFailed("the latest keys in the log (version \(latest.version)) are not this account's keys")
            }
            let remembered = await trust.contact(account)
            if let remembered, remembered.version > latest.version {
                throw KeyDirectoryError.versionRolledBack(account: account, remembered: remembered.version, received: latest.version)
            }
            let contact = TrustedContact(version: latest.version, revoked: false, x25519: latest.x25519, ed25519: latest.ed25519,
                                         email: session.email ?? remembered?.email, verifiedAt: trust.now())
            guard try await trust.commit(previous: previous, checkpoint: Self.trusted(checkpoint), contacts: [account: contact]) else {
                continue
            }
            return KeyAudit(entries: audited, checkpointSize: checkpoint.size,
                            checkpointTime: Date(timeIntervalSince1970: TimeInterval(checkpoint.time ?? 0)))
        }
        throw CoffreClientError.invalidResponse("the key directory's log kept moving during the audit; try again")
    }
}
