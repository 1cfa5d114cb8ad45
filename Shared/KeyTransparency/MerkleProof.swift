// Proofs of RFC 9162 §2.1.3 (inclusion) and §2.1.4 (consistency).
//
// A log server keeps the hash of every perfect subtree (`MerkleNodeID`), so a
// proof is a *plan*: for each proof element, the perfect subtrees whose
// hashes fold into it. The server fetches those hashes in one query and
// `assemble`s the proof; a client only ever calls the `verify` functions.
public enum MerkleProof {
    /// The perfect subtrees covering leaves [0, size), largest (leftmost) first.
    public static func rootPlan(size: UInt64) -> [MerkleNodeID] {
        decompose(start: 0, end: size)
    }

    /// Proof elements for leaf `index` in a tree of `size` leaves, from the
    /// leaf's sibling up to the root's child (PATH in RFC 9162 §2.1.3.1).
    public static func inclusionPlan(index: UInt64, size: UInt64) throws(MerkleError) -> [[MerkleNodeID]] {
        guard index < size else { throw .indexOutOfRange }
        var plan: [[MerkleNodeID]] = []
        path(index, start: 0, end: size, into: &plan)
        return plan
    }

    /// Proof elements showing the tree of `from` leaves is a prefix of the
    /// tree of `to` leaves (PROOF / SUBPROOF in RFC 9162 §2.1.4.1). Empty
    /// when `from` is 0 or equal to `to`.
    public static func consistencyPlan(from: UInt64, to: UInt64) throws(MerkleError) -> [[MerkleNodeID]] {
        guard from <= to else { throw .invalidSize }
        guard from > 0, from < to else { return [] }
        var plan: [[MerkleNodeID]] = []
        subproof(from, start: 0, end: to, complete: true, into: &plan)
        return plan
    }

    /// Turns a plan into proof hashes.
    public static func assemble(_ plan: [[MerkleNodeID]], hashes: [MerkleNodeID: [UInt8]]) throws(MerkleError) -> [[UInt8]] {
        var proof: [[UInt8]] = []
        proof.reserveCapacity(plan.count)
        for element in plan {
            proof.append(try root(of: element, hashes: hashes))
        }
        return proof
    }

    /// The hash of the range a decomposition covers (the tree root for `rootPlan`).
    public static func root(of plan: [MerkleNodeID], hashes: [MerkleNodeID: [UInt8]]) throws(MerkleError) -> [UInt8] {
        var parts: [[UInt8]] = []
        parts.reserveCapacity(plan.count)
        for id in plan {
            guard let hash = hashes[id] else { throw .missingNode(id) }
            parts.append(hash)
        }
        return MerkleHash.fold(parts)
    }

    /// RFC 9162 §2.1.3.2. Throws unless `proof` proves `leafHash` is leaf
    /// `index` of the tree of `size` leaves whose root is `root`.
    public static func verifyInclusion(leafHash: [UInt8], index: UInt64, size: UInt64, proof: [[UInt8]], root: [UInt8]) throws(MerkleError) {
        guard index < size else { throw .indexOutOfRange }
        try requireHashes([leafHash, root] + proof)
        var r = leafHash
        try walk(proof, fn: index, sn: size - 1) { p, isLeft in
            r = isLeft ? MerkleHash.node(p, r) : MerkleHash.node(r, p)
        }
        guard r == root else { throw .rootMismatch }
    }

    /// RFC 9162 §2.1.4.2. Throws unless `proof` proves the tree of `from`
    /// leaves with root `fromRoot` is a prefix of the tree of `to` leaves with
    /// root `toRoot`. A proof from the empty tree is meaningless and refused.
    public static func verifyConsistency(from: UInt64, to: UInt64, fromRoot: [UInt8], toRoot: [UInt8], proof: [[UInt8]]) throws(MerkleError) {
        guard from <= to, from > 0 else { throw .invalidSize }
        if from == to {
            // Nothing to hash: the same tree has the same root.
            guard proof.isEmpty else { throw .wrongProofLength }
            guard fromRoot == toRoot else { throw .rootMismatch }
            return
        }
        try requireHashes([fromRoot, toRoot] + proof)
        guard !proof.isEmpty else { throw .wrongProofLength }
        // When `from` is a power of two, the old root is itself a node of
        // the new tree and the proof starts above it.
        let path = from & (from - 1) == 0 ? [fromRoot] + proof : proof
        var fn = from - 1
        var sn = to - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        try walk(path.dropFirst(), fn: fn, sn: sn) { c, isLeft in
            if isLeft {
                fr = MerkleHash.node(c, fr)
                sr = MerkleHash.node(c, sr)
            } else {
                sr = MerkleHash.node(sr, c)
            }
        }
        guard fr == fromRoot, sr == toRoot else { throw .rootMismatch }
    }

    /// The walk up the tree both verifications share (RFC 9162 §2.1.3.2 and
    /// §2.1.4.2): `fn` is the node's index, `sn` the last index at its level;
    /// each proof hash is visited as a left sibling or a right one. Throws
    /// unless the proof ends exactly at the root.
    private static func walk<Proof: Sequence<[UInt8]>>(_ proof: Proof, fn start: UInt64, sn last: UInt64,
                                                       _ visit: ([UInt8], _ isLeft: Bool) -> Void) throws(MerkleError) {
        var fn = start
        var sn = last
        for hash in proof {
            guard sn != 0 else { throw .wrongProofLength }
            if fn & 1 == 1 || fn == sn {
                visit(hash, true)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                visit(hash, false)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofLength }
    }

    // MARK: - Plans

    private static func requireHashes(_ hashes: [[UInt8]]) throws(MerkleError) {
        for hash in hashes where hash.count != MerkleHash.byteCount { throw .malformedHash }
    }

    /// Largest power of two strictly below n (n ≥ 2).
    private static func split(_ n: UInt64) -> UInt64 {
        UInt64(1) << (63 - (n - 1).leadingZeroBitCount)
    }

    /// Perfect subtrees covering [start, end), largest first. `start` is
    /// aligned to the subtree the range belongs to, as every range of the
    /// RFC 6962 tree is.
    static func decompose(start: UInt64, end: UInt64) -> [MerkleNodeID] {
        var nodes: [MerkleNodeID] = []
        var position = start
        while position < end {
            let remaining = end - position
            var level = 63 - remaining.leadingZeroBitCount
            // Stay aligned: a perfect subtree of 2^level leaves starts at a multiple of 2^level.
            while level > 0 && position & ((UInt64(1) << level) - 1) != 0 { level -= 1 }
            nodes.append(MerkleNodeID(level: level, index: position >> level))
            position += UInt64(1) << level
        }
        return nodes
    }

    private static func path(_ m: UInt64, start: UInt64, end: UInt64, into plan: inout [[MerkleNodeID]]) {
        let n = end - start
        guard n > 1 else { return }
        let k = split(n)
        if m < k {
            path(m, start: start, end: start + k, into: &plan)
            plan.append(decompose(start: start + k, end: end))
        } else {
            path(m - k, start: start + k, end: end, into: &plan)
            plan.append(decompose(start: start, end: start + k))
        }
    }

    private static func subproof(_ m: UInt64, start: UInt64, end: UInt64, complete: Bool, into plan: inout [[MerkleNodeID]]) {
        let n = end - start
        if m == n {
            if !complete { plan.append(decompose(start: start, end: end)) }
            return
        }
        let k = split(n)
        if m <= k {
            subproof(m, start: start, end: start + k, complete: complete, into: &plan)
            plan.append(decompose(start: start + k, end: end))
        } else {
            subproof(m - k, start: start + k, end: end, complete: false, into: &plan)
            plan.append(decompose(start: start, end: start + k))
        }
    }
}
