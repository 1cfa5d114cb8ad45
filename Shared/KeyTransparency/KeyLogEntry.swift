// One entry of the key directory's log: an account publishing, rotating or
// revoking its public keys. The leaf is the exact bytes of `encoded()`, a
// fixed sequence of `field value` lines, so server and clients hash the same
// bytes without any JSON canonicalisation question.
import Sodium

public enum KeyLogEntryError: Error, Equatable, Sendable {
    case malformed(String)
    case badSignature(String)
}

public struct KeyLogEntry: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable {
        case publish, rotate, revoke
    }

    public static let header = "coffre-key-entry-v1"

    public var tenant: String
    public var account: String
    public var action: Action
    /// 1 for the first publish, then +1 per entry of the account.
    public var version: UInt64
    /// base64url public keys; nil for a revoke.
    public var x25519: String?
    public var ed25519: String?
    /// The new Ed25519 key over `selfSignedMessage`.
    public var selfSignature: String?
    /// The previous Ed25519 key over `transitionMessage` (rotate, client revoke).
    public var prevSignature: String?
    /// Revoke only: "client" or "account-deleted".
    public var reason: String?

    public init(tenant: String, account: String, action: Action, version: UInt64, x25519: String?, ed25519: String?,
                selfSignature: String?, prevSignature: String?, reason: String?) {
        self.tenant = tenant
        self.account = account
        self.action = action
        self.version = version
        self.x25519 = x25519
        self.ed25519 = ed25519
        self.selfSignature = selfSignature
        self.prevSignature = prevSignature
        self.reason = reason
    }

    private var fields: [(String, String)] {
        [
            ("tenant", tenant), ("account", account), ("action", action.rawValue), ("version", String(version)),
            ("x25519", x25519 ?? "-"), ("ed25519", ed25519 ?? "-"), ("self_signature", selfSignature ?? "-"),
            ("prev_signature", prevSignature ?? "-"), ("reason", reason ?? "-"),
        ]
    }

    public func encoded() -> [UInt8] {
        var text = Self.header + "\n"
        for (name, value) in fields { text += "\(name) \(value)\n" }
        return Array(text.utf8)
    }

    public var leafHash: [UInt8] { MerkleHash.leaf(encoded()) }

    /// Parses an entry; only the canonical encoding is accepted (parsing then
    /// encoding gives back the same bytes).
    public init(parsing bytes: [UInt8]) throws(KeyLogEntryError) {
        guard let text = String(validating: bytes, as: UTF8.self), text.hasSuffix("\n") else {
            throw .malformed("an entry is UTF-8 text ending with a newline")
        }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        let names = ["tenant", "account", "action", "version", "x25519", "ed25519", "self_signature", "prev_signature", "reason"]
        guard lines.count == names.count + 1, lines[0] == Self.header else { throw .malformed("not a coffre-key-entry-v1") }
        var values: [String] = []
        for (line, name) in zip(lines.dropFirst(), names) {
            guard line.hasPrefix(name + " ") else { throw .malformed("expected field \(name)") }
            let value = String(line.dropFirst(name.count + 1))
            guard !value.isEmpty, !value.contains(" ") else { throw .malformed("bad value for \(name)") }
            values.append(value)
        }
        func optional(_ value: String) -> String? { value == "-" ? nil : value }
        guard let action = Action(rawValue: values[2]) else { throw .malformed("unknown action") }
        guard let version = UInt64(values[3]), version >= 1 else { throw .malformed("bad version") }
        self.init(tenant: values[0], account: values[1], action: action, version: version,
                  x25519: optional(values[4]), ed25519: optional(values[5]), selfSignature: optional(values[6]),
                  prevSignature: optional(values[7]), reason: optional(values[8]))
        guard encoded() == bytes else { throw .malformed("not in canonical form") }
    }

    /// What an account's Ed25519 key signs over its own public keys (the
    /// message accounts checks at signup too).
    public static func selfSignedMessage(x25519: String, ed25519: String) -> [UInt8] {
        Array("coffre-keys-v1\n\(x25519)\n\(ed25519)".utf8)
    }

    /// What the previous Ed25519 key signs to hand over to new keys (rotate)
    /// or to revoke them.
    public static func transitionMessage(account: String, action: Action, version: UInt64, x25519: String?, ed25519: String?) -> [UInt8] {
        Array("coffre-key-transition-v1\n\(account)\n\(action.rawValue)\n\(version)\n\(x25519 ?? "-")\n\(ed25519 ?? "-")".utf8)
    }

    /// Checks the entry's own shape and signatures. `previousEd25519` is the
    /// account's Ed25519 key before this entry (nil when it had none, or
    /// after a revoke).
    public func verifySignatures(previousEd25519: String?) throws(KeyLogEntryError) {
        switch action {
        case .publish, .rotate:
            guard let x25519, let ed25519, let selfSignature,
                  let x = Sodium.base64URLDecode(x25519), x.count == Sodium.Box.publicKeyBytes,
                  let ed = Sodium.base64URLDecode(ed25519), ed.count == Sodium.Sign.publicKeyBytes,
                  let signature = Sodium.base64URLDecode(selfSignature) else {
                throw .malformed("publish and rotate carry both public keys and a self-signature")
            }
            guard Sodium.Sign.verifyDetached(signature, message: Self.selfSignedMessage(x25519: x25519, ed25519: ed25519), publicKey: ed) else {
                throw .badSignature("self-signature does not verify")
            }
            guard reason == nil else { throw .malformed("only a revoke has a reason") }
            if action == .rotate {
                try verifyTransition(previousEd25519: previousEd25519)
            } else if prevSignature != nil {
                throw .malformed("a publish has no previous signature")
            }
        case .revoke:
            guard x25519 == nil, ed25519 == nil, selfSignature == nil else { throw .malformed("a revoke carries no keys") }
            switch reason {
            case "client":
                try verifyTransition(previousEd25519: previousEd25519)
            case "account-deleted":
                guard prevSignature == nil else { throw .malformed("the directory's revoke is unsigned") }
            default:
                throw .malformed("unknown revoke reason")
            }
        }
    }

    private func verifyTransition(previousEd25519: String?) throws(KeyLogEntryError) {
        guard let previousEd25519, let previous = Sodium.base64URLDecode(previousEd25519), previous.count == Sodium.Sign.publicKeyBytes else {
            throw .badSignature("there is no previous key to sign the transition")
        }
        guard let prevSignature, let signature = Sodium.base64URLDecode(prevSignature),
              Sodium.Sign.verifyDetached(signature, message: Self.transitionMessage(account: account, action: action, version: version,
                                                                                   x25519: x25519, ed25519: ed25519),
                                         publicKey: previous) else {
            throw .badSignature("the previous key did not sign this transition")
        }
    }
}
