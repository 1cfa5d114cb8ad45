// Node keys of the account's own tree, wrapped under the master key's
// node-key subkey so the server can store them next to each node. Bound to
// the owner and the node id: a wrapped key moved to another node fails.
import Sodium

extension MasterKey {
    public func wrap(nodeKey: FileKey, nodeID: String, owner: String) throws -> [UInt8] {
        try Envelope.seal(plaintext: nodeKey.rawBytes, key: subkey(for: .nodeKeyWrap),
                          context: EnvelopeContext(owner: owner, purpose: .nodeKeyWrap, objectID: nodeID))
    }

    /// Throws `EnvelopeError` if the envelope was altered or belongs to another node or owner.
    public func unwrapNodeKey(_ wrapped: [UInt8], nodeID: String, owner: String) throws -> FileKey {
        let bytes = try Envelope.open(wrapped, key: subkey(for: .nodeKeyWrap),
                                      context: EnvelopeContext(owner: owner, purpose: .nodeKeyWrap, objectID: nodeID))
        guard bytes.count == SymmetricKey.byteCount else { throw EnvelopeError.malformed }
        return FileKey(key: SymmetricKey(unchecked: bytes))
    }
}
