import CoffreCore
import Foundation
import KeyTransparency
import Sodium

/// An account's latest keys as the directory holds them (`keydir.accounts`).
/// `x25519`/`ed25519` are the keys of the latest publish or rotate; after a
/// revoke they stay, with `revoked` set.
struct KeyState: Sendable, Equatable {
    var version: UInt64
    var latestIndex: UInt64?
    var x25519: [UInt8]?
    var ed25519: [UInt8]?
    var revoked: Bool

    /// Has keys that may be used, rotated or revoked.
    var isLive: Bool { version > 0 && !revoked && ed25519 != nil }
}

/// A change waiting for a place in the log: a `keydir.queue` row.
struct PendingChange: Sendable {
    enum Origin: String, Sendable {
        /// `POST /v1/keys`: the caller chose (and, for rotate/revoke, signed) the version.
        case client
        /// Account events: the version is the next one when sequenced.
        case directory
    }

    var id: Int64 = 0
    var tenant: UUID
    var account: UUID
    var origin: Origin
    var action: KeyLogEntry.Action
    var version: UInt64?
    var x25519: [UInt8]?
    var ed25519: [UInt8]?
    var selfSignature: [UInt8]?
    var prevSignature: [UInt8]?
    var reason: String?
}

/// The rules of an account's key history (docs/keydir-api.md, "Entries"):
/// versions go up one by one; `publish` only when the account has no live
/// keys; `rotate` and a client's `revoke` only over live keys, signed by the
/// previous Ed25519 key. Checked before a change is queued (so a bad request
/// stores nothing) and again when it is sequenced (the state may have moved).
enum Transition {
    /// The entry `change` appends after `state`, or the problem refusing it.
    /// `checkSelfSignature` is false in the sequencer: a self-signature
    /// depends only on the row, which was checked before it was queued; the
    /// previous key's signature depends on the state, so it is always checked.
    static func entry(for change: PendingChange, after state: KeyState?, checkSelfSignature: Bool = true) throws(Problem) -> KeyLogEntry {
        let current = state?.version ?? 0
        let live = state?.isLive ?? false
        let version: UInt64
        switch change.origin {
        case .client:
            guard let requested = change.version, requested == current + 1 else {
                throw KeyProblems.versionConflict("version must be \(current + 1), the account's next version")
            }
            version = requested
        case .directory:
            version = current + 1
        }
        switch change.action {
        case .publish:
            guard !live else {
                throw Problem.conflict("the account already has live keys (version \(current)); rotate them instead",
                                       type: "urn:coffre:problem:keys-exist")
            }
        case .rotate, .revoke:
            guard live else {
                throw Problem.conflict("the account has no live keys to \(change.action.rawValue)", type: "urn:coffre:problem:no-keys")
            }
        }
        let entry = KeyLogEntry(
            tenant: change.tenant.lower, account: change.account.lower, action: change.action, version: version,
            x25519: change.x25519.map(Base64URL.encode), ed25519: change.ed25519.map(Base64URL.encode),
            selfSignature: change.selfSignature.map(Base64URL.encode), prevSignature: change.prevSignature.map(Base64URL.encode),
            reason: change.reason)
        let signedByPrevious = change.action == .rotate || (change.action == .revoke && change.reason == "client")
        if checkSelfSignature || signedByPrevious {
            do {
                try entry.verifySignatures(previousEd25519: live ? state?.ed25519.map(Base64URL.encode) : nil)
            } catch {
                switch error {
                case .badSignature(let detail): throw KeyProblems.badSignature(detail)
                case .malformed(let detail): throw KeyProblems.malformedKey(detail)
                }
            }
        }
        return entry
    }

    /// The state after `entry` was appended at `index`.
    static func apply(_ entry: KeyLogEntry, index: UInt64, to state: KeyState?) -> KeyState {
        switch entry.action {
        case .publish, .rotate:
            return KeyState(version: entry.version, latestIndex: index, x25519: entry.x25519.flatMap(Base64URL.decode),
                            ed25519: entry.ed25519.flatMap(Base64URL.decode), revoked: false)
        case .revoke:
            return KeyState(version: entry.version, latestIndex: index, x25519: state?.x25519, ed25519: state?.ed25519, revoked: true)
        }
    }

    /// A client's request as a pending change, with every field's shape
    /// checked (lengths, which fields each action carries). Signatures and
    /// versions are `entry(for:after:)`'s.
    static func change(from request: KeyChangeRequest, tenant: UUID, account: UUID) throws(Problem) -> PendingChange {
        guard let action = KeyLogEntry.Action(rawValue: request.action) else {
            throw Problem.badRequest("action must be publish, rotate or revoke", type: "urn:coffre:problem:malformed-body")
        }
        guard request.version >= 1 else { throw KeyProblems.versionConflict("version must be at least 1") }
        func bytes(_ field: String, _ value: String?, count: Int) throws(Problem) -> [UInt8]? {
            guard let value else { return nil }
            guard let decoded = Base64URL.decode(value), decoded.count == count else {
                throw KeyProblems.malformedKey("\(field) must be \(count) bytes of base64url")
            }
            return decoded
        }
        func required(_ field: String, _ value: String?, count: Int) throws(Problem) -> [UInt8] {
            guard let decoded = try bytes(field, value, count: count) else {
                throw KeyProblems.malformedKey("\(action.rawValue) needs \(field)")
            }
            return decoded
        }
        func absent(_ field: String, _ value: String?) throws(Problem) {
            guard value == nil else { throw KeyProblems.malformedKey("\(action.rawValue) carries no \(field)") }
        }
        var change = PendingChange(tenant: tenant, account: account, origin: .client, action: action, version: UInt64(request.version))
        switch action {
        case .publish, .rotate:
            change.x25519 = try required("x25519", request.x25519, count: Sodium.Box.publicKeyBytes)
            change.ed25519 = try required("ed25519", request.ed25519, count: Sodium.Sign.publicKeyBytes)
            change.selfSignature = try required("self_signature", request.self_signature, count: Sodium.Sign.signatureBytes)
            if action == .rotate {
                change.prevSignature = try required("prev_signature", request.prev_signature, count: Sodium.Sign.signatureBytes)
            } else {
                try absent("prev_signature", request.prev_signature)
            }
        case .revoke:
            try absent("x25519", request.x25519)
            try absent("ed25519", request.ed25519)
            try absent("self_signature", request.self_signature)
            change.prevSignature = try required("prev_signature", request.prev_signature, count: Sodium.Sign.signatureBytes)
            change.reason = "client"
        }
        return change
    }
}
