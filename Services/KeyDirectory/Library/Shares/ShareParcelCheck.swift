import CoffreCore
import Foundation

/// What the directory checks of one share parcel before storing it. The
/// parcel is the client's `ShareParcel` (Clients/Crypto/ShareParcel.swift)
/// in its JSON form; the server cannot open it (the sealed key is for the
/// recipient only) but it can tell that it is addressed to the right account
/// and key, for a node of the share, and signed by the owner's current key.
struct ShareParcelCheck: Sendable {
    static let version: UInt8 = 1
    /// crypto_box_seal of version ‖ Ed25519 public key ‖ node key:
    /// 48 bytes of overhead (ephemeral key, MAC) + 1 + 32 + 32.
    static let sealedLength = 48 + 1 + 32 + 32

    let senderAccount: String
    let recipientAccount: String
    let nodeID: UUID
    let recipientX25519: [UInt8]
    let sealedKey: [UInt8]
    let signature: [UInt8]
    /// The exact text of `nodeID` as signed.
    let nodeIDText: String

    /// Parses one parcel; every malformation is a 400 naming the parcel.
    init(_ value: JSONValue, index: Int) throws {
        func fail(_ detail: String) -> Problem {
            .badRequest("parcels[\(index)]: \(detail)", type: "urn:coffre:problem:malformed-parcel")
        }
        guard case .object(let fields) = value else { throw fail("not an object") }
        let known: Set<String> = ["version", "senderAccount", "recipientAccount", "nodeID", "recipientX25519", "sealedKey", "signature"]
        if let unknown = fields.keys.first(where: { !known.contains($0) }) { throw fail("unknown field \(unknown)") }
        func string(_ key: String) throws -> String {
            guard case .string(let s)? = fields[key], !s.isEmpty, s.utf8.count <= 256 else { throw fail("\(key) must be a non-empty string") }
            return s
        }
        func bytes(_ key: String, count: Int) throws -> [UInt8] {
            guard let decoded = Base64URL.decode(try string(key)), decoded.count == count else {
                throw fail("\(key) must be \(count) bytes in base64url without padding")
            }
            return decoded
        }
        guard case .int(let version)? = fields["version"], version == Int64(Self.version) else {
            throw fail("version must be \(Self.version)")
        }
        senderAccount = try string("senderAccount")
        recipientAccount = try string("recipientAccount")
        nodeIDText = try string("nodeID")
        guard nodeIDText.count == 36, let node = UUID(uuidString: nodeIDText) else { throw fail("nodeID must be a UUID") }
        nodeID = node
        recipientX25519 = try bytes("recipientX25519", count: 32)
        sealedKey = try bytes("sealedKey", count: Self.sealedLength)
        signature = try bytes("signature", count: 64)
    }

    /// The bytes the owner signed: `ShareParcel.signedMessage` of
    /// Clients/Crypto/ShareParcel.swift, built with the same canonical
    /// encoding (`CanonicalEncoder` in Clients/Crypto/CoffreCrypto.swift:
    /// a length-prefixed domain label, then each field, byte strings with a
    /// big-endian UInt32 length). CoffreCrypto is a client module the server
    /// does not link, so these few lines are repeated here;
    /// `SharesTests` seals parcels with the client's code to keep them equal.
    var signedMessage: [UInt8] {
        var m: [UInt8] = []
        func field(_ bytes: [UInt8]) {
            m.append(contentsOf: withUnsafeBytes(of: UInt32(bytes.count).bigEndian, Array.init))
            m.append(contentsOf: bytes)
        }
        field(Array("coffre.share-parcel".utf8))
        m.append(Self.version)
        field(Array(senderAccount.utf8))
        field(Array(recipientAccount.utf8))
        field(Array(nodeIDText.utf8))
        field(recipientX25519)
        field(sealedKey)
        return m
    }

    func signatureVerifies(ownerEd25519: [UInt8]) -> Bool {
        KeyedHash.verifyEd25519(signature: signature, message: signedMessage, publicKey: ownerEd25519)
    }
}
