// Proofs built from stored perfect-subtree hashes (what the key directory
// serves) against a straightforward recursive computation over the leaves,
// RFC 9162 §2.1 written as directly as possible, for every tree size 1..2000.
import KeyTransparency
import XCTest

/// RFC 9162 §2.1.1–2.1.4 over an array of leaves, memoised by range.
final class ReferenceTree {
    let leaves: [[UInt8]]
    private var memo: [Range<Int>: [UInt8]] = [:]

    init(leaves: [[UInt8]]) { self.leaves = leaves }

    private static func k(_ n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    func mth(_ range: Range<Int>) -> [UInt8] {
        if let hash = memo[range] { return hash }
        let hash: [UInt8]
        switch range.count {
        case 0: hash = MerkleHash.empty
        case 1: hash = MerkleHash.leaf(leaves[range.lowerBound])
        default:
            let split = range.lowerBound + Self.k(range.count)
            hash = MerkleHash.node(mth(range.lowerBound..<split), mth(split..<range.upperBound))
        }
        memo[range] = hash
        return hash
    }

    func path(_ m: Int, _ range: Range<Int>) -> [[UInt8]] {
        guard range.count > 1 else { return [] }
        let split = range.lowerBound + Self.k(range.count)
        if m < split - range.lowerBound {
            return path(m, range.lowerBound..<split) + [mth(split..<range.upperBound)]
        }
        return path(m - (split - range.lowerBound), split..<range.upperBound) + [mth(range.lowerBound..<split)]
    }

    func proof(_ m: Int, _ n: Int) -> [[UInt8]] {
        guard m > 0, m < n else { return [] }
        return subproof(m, 0..<n, true)
    }

    private func subproof(_ m: Int, _ range: Range<Int>, _ complete: Bool) -> [[UInt8]] {
        if m == range.count { return complete ? [] : [mth(range)] }
        let split = range.lowerBound + Self.k(range.count)
        let k = split - range.lowerBound
        if m <= k { return subproof(m, range.lowerBound..<split, complete) + [mth(split..<range.upperBound)] }
        return subproof(m - k, split..<range.upperBound, false) + [mth(range.lowerBound..<split)]
    }
}

final class ReferenceComparisonTests: XCTestCase {
    func testEveryTreeSizeUpTo2000AgainstTheReference() throws {
        var generator = SplitMix64(seed: 0xC0FF_2E)
        let count = 2000
        let leaves = (0..<count).map { i in Array("leaf \(i) \(generator.next())".utf8) }
        let reference = ReferenceTree(leaves: leaves)
        var frontier = MerkleFrontier()
        var stored: [MerkleNodeID: [UInt8]] = [:]
        var roots: [[UInt8]] = [MerkleHash.empty]
        for size in 1...count {
            for (id, hash) in frontier.append(leafHash: MerkleHash.leaf(leaves[size - 1])) {
                XCTAssertNil(stored[id], "node \(id) created twice")
                stored[id] = hash
            }
            let root = reference.mth(0..<size)
            roots.append(root)
            XCTAssertEqual(frontier.root, root, "root of \(size)")
            XCTAssertEqual(try MerkleProof.root(of: MerkleProof.rootPlan(size: UInt64(size)), hashes: stored), root)
            // The frontier can be rebuilt from stored nodes (what a sequencer does at start).
            let rebuilt = try MerkleFrontier(size: UInt64(size), hashes: MerkleProof.rootPlan(size: UInt64(size)).map { stored[$0]! })
            XCTAssertEqual(rebuilt, frontier)

            // Inclusion: the first, the last, and two random leaves.
            for index in Set([0, size - 1, Int(generator.next() % UInt64(size)), Int(generator.next() % UInt64(size))]) {
                let proof = try MerkleProof.assemble(MerkleProof.inclusionPlan(index: UInt64(index), size: UInt64(size)), hashes: stored)
                XCTAssertEqual(proof, reference.path(index, 0..<size), "inclusion \(index) in \(size)")
                XCTAssertNoThrow(try MerkleProof.verifyInclusion(leafHash: MerkleHash.leaf(leaves[index]), index: UInt64(index),
                                                                 size: UInt64(size), proof: proof, root: root))
                // The same proof does not prove a neighbouring leaf.
                if size > 1 {
                    let other = (index + 1) % size
                    XCTAssertThrowsError(try MerkleProof.verifyInclusion(leafHash: MerkleHash.leaf(leaves[other]), index: UInt64(index),
                                                                         size: UInt64(size), proof: proof, root: root))
                }
            }
            // Consistency from a random earlier size and from size - 1.
            for from in Set([size - 1, Int(generator.next() % UInt64(size)) + 1]) where from >= 1 {
                let proof = try MerkleProof.assemble(MerkleProof.consistencyPlan(from: UInt64(from), to: UInt64(size)), hashes: stored)
                XCTAssertEqual(proof, reference.proof(from, size), "consistency \(from) → \(size)")
                XCTAssertNoThrow(try MerkleProof.verifyConsistency(from: UInt64(from), to: UInt64(size), fromRoot: roots[from],
                                                                   toRoot: root, proof: proof))
                if from < size {
                    // A fork: another old root with the same proof is refused.
                    XCTAssertThrowsError(try MerkleProof.verifyConsistency(from: UInt64(from), to: UInt64(size),
                                                                           fromRoot: MerkleHash.leaf([1]), toRoot: root, proof: proof))
                }
            }
        }
        XCTAssertEqual(stored.count, 2 * count - (0..<64).filter { count >> $0 & 1 == 1 }.count,
                       "a tree of n leaves has 2n − popcount(n) perfect subtrees")
    }

    func testPlansAreBoundedByLogSize() throws {
        let size: UInt64 = 1_000_000
        for index: UInt64 in [0, 1, 499_999, 999_999] {
            let plan = try MerkleProof.inclusionPlan(index: index, size: size)
            XCTAssertLessThanOrEqual(plan.count, 20)
            XCTAssertLessThanOrEqual(plan.flatMap { $0 }.count, 40)
        }
        XCTAssertThrowsError(try MerkleProof.inclusionPlan(index: size, size: size))
        XCTAssertThrowsError(try MerkleProof.consistencyPlan(from: 5, to: 4))
        XCTAssertEqual(try MerkleProof.consistencyPlan(from: 7, to: 7), [])
    }
}

/// A small deterministic generator so a failure can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
