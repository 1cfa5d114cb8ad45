// Checkpoints in the C2SP tlog-checkpoint format, signed as C2SP signed notes
// with an Ed25519 key:
//
//     <origin>
//     <tree size>
//     <base64 root hash>
//     time <unix seconds>        (extension line: when the log signed it)
//
//     — <key name> <base64(4-byte key id ‖ 64-byte signature)>
//
// The key id is the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key);
// the verifier key is written `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
import Foundation
import Sodium

public struct Checkpoint: Sendable, Equatable {
    public var origin: String
    public var size: UInt64
    public var rootHash: [UInt8]
    /// Unix seconds when the log made this checkpoint (the `time` extension line).
    public var time: Int64?

    public init(origin: String, size: UInt64, rootHash: [UInt8], time: Int64?) {
        self.origin = origin
        self.size = size
        self.rootHash = rootHash
        self.time = time
    }

    /// The signed text: every line ends with a newline.
    public var body: String {
        var text = "\(origin)\n\(size)\n\(Data(rootHash).base64EncodedString())\n"
        if let time { text += "time \(time)\n" }
        return text
    }

    public static func parse(body: String) throws(NoteError) -> Checkpoint {
        guard body.hasSuffix("\n") else { throw .malformed("checkpoint body must end with a newline") }
        let lines = body.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3, !lines[0].isEmpty else { throw .malformed("a checkpoint has origin, size and root lines") }
        guard let size = UInt64(lines[1]), String(size) == lines[1] else { throw .malformed("tree size is not a decimal number") }
        guard let root = Data(base64Encoded: lines[2]), root.count == MerkleHash.byteCount else {
            throw .malformed("root hash is not 32 bytes of base64")
        }
        var time: Int64?
        for line in lines.dropFirst(3) {
            guard !line.isEmpty else { throw .malformed("empty extension line") }
            if line.hasPrefix("time ") {
                guard time == nil, let value = Int64(line.dropFirst(5)) else { throw .malformed("bad time line") }
                time = value
            }
            // Other extension lines are signed but not interpreted.
        }
        let checkpoint = Checkpoint(origin: lines[0], size: size, rootHash: Array(root), time: time)
        return checkpoint
    }
}

public enum NoteError: Error, Equatable, Sendable {
    case malformed(String)
    case invalidKey(String)
    /// No signature line from the expected key.
    case unknownKey
    case badSignature
}

/// Signs checkpoints with the log's Ed25519 key.
public struct NoteSigner: Sendable {
    public let name: String
    private let secretKey: [UInt8]
    private let publicKey: [UInt8]
    private let keyID: [UInt8]

    public init(name: String, seed: [UInt8]) throws(NoteError) {
        try NoteKeys.validate(name: name)
        guard seed.count == Sodium.Sign.seedBytes, let pair = try? Sodium.Sign.keyPair(seed: seed) else {
            throw .invalidKey("an Ed25519 seed is 32 bytes")
        }
        self.name = name
        secretKey = pair.secretKey
        publicKey = pair.publicKey
        keyID = NoteKeys.keyID(name: name, publicKey: pair.publicKey)
    }

    /// `<name>+<hex key id>+<base64(0x01 ‖ public key)>`: what clients pin.
    public var verifierKey: String {
        "\(name)+\(NoteKeys.hex(keyID))+\(Data([NoteKeys.ed25519Type] + publicKey).base64EncodedString())"
    }

    public func sign(_ checkpoint: Checkpoint) -> String {
        sign(text: checkpoint.body)
    }

    /// Any signed note: `text` is non-empty and ends with a newline.
    public func sign(text body: String) -> String {
        let signature = try! Sodium.Sign.detached(Array(body.utf8), secretKey: secretKey)
        return body + "\n" + "\u{2014} \(name) \(Data(keyID + signature).base64EncodedString())\n"
    }
}

/// Verifies signed notes against one pinned verifier key.
public struct NoteVerifier: Sendable {
    public let name: String
    private let publicKey: [UInt8]
    private let keyID: [UInt8]

    public init(verifierKey: String) throws(NoteError) {
        // The base64 key itself may contain '+': split at the first two only.
        let parts = verifierKey.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { throw .invalidKey("a verifier key is name+keyid+key") }
        try NoteKeys.validate(name: parts[0])
        guard let key = Data(base64Encoded: parts[2]).map(Array.init), key.count == 1 + Sodium.Sign.publicKeyBytes,
              key[0] == NoteKeys.ed25519Type else {
            throw .invalidKey("only Ed25519 verifier keys are supported")
        }
        let publicKey = Array(key.dropFirst())
        let keyID = NoteKeys.keyID(name: parts[0], publicKey: publicKey)
        guard NoteKeys.hex(keyID) == parts[1].lowercased() else { throw .invalidKey("key id does not match the key") }
        name = parts[0]
        self.publicKey = publicKey
        self.keyID = keyID
    }

    /// Checks the note carries a valid signature by this key, then parses its body.
    public func verify(note: String) throws(NoteError) -> Checkpoint {
        try Checkpoint.parse(body: open(note: note))
    }

    /// Checks the note carries a valid signature by this key and returns its
    /// text (with its final newline). Signatures by other keys are ignored.
    public func open(note: String) throws(NoteError) -> String {
        guard let separator = note.range(of: "\n\n", options: .backwards) else { throw .malformed("no blank line before the signatures") }
        let body = String(note[..<separator.lowerBound]) + "\n"
        let signatureBlock = note[separator.upperBound...]
        guard signatureBlock.hasSuffix("\n") else { throw .malformed("signature lines end with a newline") }
        var signed = false
        for line in signatureBlock.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("\u{2014} ") else { throw .malformed("a signature line starts with an em dash") }
            let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, let blob = Data(base64Encoded: String(fields[1])).map(Array.init), blob.count >= 5 else {
                throw .malformed("bad signature line")
            }
            guard fields[0] == name, Array(blob.prefix(4)) == keyID else { continue }
            guard blob.count == 4 + Sodium.Sign.signatureBytes,
                  Sodium.Sign.verifyDetached(Array(blob.dropFirst(4)), message: Array(body.utf8), publicKey: publicKey) else {
                throw .badSignature
            }
            signed = true
        }
        guard signed else { throw .unknownKey }
        return body
    }
}

enum NoteKeys {
    static let ed25519Type: UInt8 = 0x01

    static func keyID(name: String, publicKey: [UInt8]) -> [UInt8] {
        Array(Sodium.sha256(Array(name.utf8) + [0x0A, ed25519Type] + publicKey).prefix(4))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Key names are non-empty and hold no spaces, plus signs or newlines.
    static func validate(name: String) throws(NoteError) {
        guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "+" || $0 == "\n" || $0 == "\t" }) else {
            throw .invalidKey("a key name is non-empty, without spaces or '+'")
        }
    }
}
