// The right edge of a growing tree: the hashes of `MerkleProof.rootPlan(size)`,
// which is all a sequencer needs to append leaves and compute the new root.
public struct MerkleFrontier: Sendable, Equatable {
    public private(set) var size: UInt64
    /// Hashes of the perfect subtrees of `rootPlan(size)`, left to right.
    public private(set) var hashes: [[UInt8]]

    public init() {
        size = 0
        hashes = []
    }

    /// Rebuilds the frontier from stored node hashes (the `rootPlan(size)` nodes, in order).
    public init(size: UInt64, hashes: [[UInt8]]) throws(MerkleError) {
        guard hashes.count == MerkleProof.rootPlan(size: size).count else { throw .invalidSize }
        for hash in hashes where hash.count != MerkleHash.byteCount { throw .malformedHash }
        self.size = size
        self.hashes = hashes
    }

    public var root: [UInt8] { MerkleHash.fold(hashes) }

    /// Appends one leaf. Returns every perfect subtree this leaf completes,
    /// the leaf itself (level 0) first: a server stores them all, and can
    /// then answer any proof from stored nodes only.
    @discardableResult
    public mutating func append(leafHash: [UInt8]) -> [(MerkleNodeID, [UInt8])] {
        var created = [(MerkleNodeID(level: 0, index: size), leafHash)]
        var hash = leafHash
        var level = 0
        var index = size
        // Every trailing 1 bit of the old size is a perfect subtree of that
        // level the new leaf's subtree merges with.
        while (size >> level) & 1 == 1 {
            hash = MerkleHash.node(hashes.removeLast(), hash)
            level += 1
            index >>= 1
            created.append((MerkleNodeID(level: level, index: index), hash))
        }
        hashes.append(hash)
        size += 1
        return created
    }
}
