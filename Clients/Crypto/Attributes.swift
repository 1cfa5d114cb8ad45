// Encrypted names and attributes of a node: a JSON document sealed in an
// envelope under the node key's attributes subkey, bound to the owner of the
// node (the account whose tree it is in) and the node id. The JSON is padded
// to a multiple of 64 bytes first, so the ciphertext does not give away the
// exact length of a file name.
import Foundation
import Sodium

public enum Attributes {
    static let paddingBlock = 64

    /// `json` is opaque here; callers encode it (see the `Encodable` overload).
    public static func seal(json: [UInt8], fileKey: FileKey, nodeID: String, owner: String) throws -> [UInt8] {
        let padded = try Sodium.pad(json, blockSize: paddingBlock)
        return try Envelope.seal(plaintext: padded, key: fileKey.subkey(for: .attributes),
                                 context: context(nodeID: nodeID, owner: owner))
    }

    /// The JSON bytes; `EnvelopeError` if the ciphertext was altered or
    /// belongs to another node, owner or key.
    public static func open(_ sealed: [UInt8], fileKey: FileKey, nodeID: String, owner: String) throws -> [UInt8] {
        let padded = try Envelope.open(sealed, key: fileKey.subkey(for: .attributes),
                                       context: context(nodeID: nodeID, owner: owner))
        do {
            return try Sodium.unpad(padded, blockSize: paddingBlock)
        } catch {
            // Authentic but badly padded: written by a broken client, not an attacker.
            throw EnvelopeError.malformed
        }
    }

    public static func seal<T: Encodable>(_ value: T, fileKey: FileKey, nodeID: String, owner: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try seal(json: Array(encoder.encode(value)), fileKey: fileKey, nodeID: nodeID, owner: owner)
    }

    public static func open<T: Decodable>(_ type: T.Type, from sealed: [UInt8], fileKey: FileKey, nodeID: String,
                                          owner: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(open(sealed, fileKey: fileKey, nodeID: nodeID, owner: owner)))
    }

    private static func context(nodeID: String, owner: String) -> EnvelopeContext {
        EnvelopeContext(owner: owner, purpose: .attributes, objectID: nodeID)
    }
}
