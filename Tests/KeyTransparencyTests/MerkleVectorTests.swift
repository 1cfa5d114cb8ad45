// The published vectors of transparency-dev/merkle (see Vectors/README.md):
// every proof they say is valid verifies, and every mangled one is refused.
import Foundation
import KeyTransparency
import XCTest

final class MerkleVectorTests: XCTestCase {
    struct InclusionVector: Decodable {
        let leafIdx: UInt64
        let treeSize: UInt64
        let root: String
        let leafHash: String
        let proof: [String]?
        let desc: String
        let wantErr: Bool
        let file: String
    }

    struct ConsistencyVector: Decodable {
        let size1: UInt64
        let size2: UInt64
        let root1: String
        let root2: String
        let proof: [String]?
        let desc: String
        let wantErr: Bool
        let file: String
    }

    static func load<T: Decodable>(_ name: String) throws -> [T] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Vectors/\(name).json")
        return try JSONDecoder().decode([T].self, from: Data(contentsOf: url))
    }

    static func bytes(_ base64: String) -> [UInt8] {
        Data(base64Encoded: base64).map(Array.init) ?? Array(base64.utf8)
    }

    func testInclusionVectors() throws {
        let vectors: [InclusionVector] = try Self.load("inclusion")
        XCTAssertEqual(vectors.count, 98)
        var valid = 0
        for v in vectors {
            let result = Result { () throws(MerkleError) in
                try MerkleProof.verifyInclusion(leafHash: Self.bytes(v.leafHash), index: v.leafIdx, size: v.treeSize,
                                                proof: (v.proof ?? []).map(Self.bytes), root: Self.bytes(v.root))
            }
            switch result {
            case .success: XCTAssertFalse(v.wantErr, "\(v.file): \(v.desc) verified but must fail")
            case .failure: XCTAssertTrue(v.wantErr, "\(v.file): \(v.desc) failed but must verify")
            }
            if !v.wantErr { valid += 1 }
        }
        XCTAssertGreaterThan(valid, 4, "the vectors include valid proofs")
    }

    func testConsistencyVectors() throws {
        let vectors: [ConsistencyVector] = try Self.load("consistency")
        XCTAssertEqual(vectors.count, 98)
        for v in vectors {
            let result = Result { () throws(MerkleError) in
                try MerkleProof.verifyConsistency(from: v.size1, to: v.size2, fromRoot: Self.bytes(v.root1), toRoot: Self.bytes(v.root2),
                                                  proof: (v.proof ?? []).map(Self.bytes))
            }
            switch result {
            case .success: XCTAssertFalse(v.wantErr, "\(v.file): \(v.desc) verified but must fail")
            case .failure: XCTAssertTrue(v.wantErr, "\(v.file): \(v.desc) failed but must verify")
            }
        }
    }

    /// The happy-path vectors come from an 8-leaf tree whose leaves are the
    /// RFC 6962 test leaves; the proofs this module generates for that tree
    /// must be exactly the published ones.
    func testGeneratedProofsMatchPublishedOnes() throws {
        let leaves: [[UInt8]] = [[], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
                                 [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
                                 [0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f]]
        var frontier = MerkleFrontier()
        var nodes: [MerkleNodeID: [UInt8]] = [:]
        for leaf in leaves {
            for (id, hash) in frontier.append(leafHash: MerkleHash.leaf(leaf)) { nodes[id] = hash }
        }
        let inclusion: [InclusionVector] = try Self.load("inclusion")
        var compared = 0
        for v in inclusion where !v.wantErr && v.treeSize <= 8 && v.desc == "happy path" {
            let proof = try MerkleProof.assemble(MerkleProof.inclusionPlan(index: v.leafIdx, size: v.treeSize), hashes: nodes)
            XCTAssertEqual(proof, (v.proof ?? []).map(Self.bytes), v.file)
            XCTAssertEqual(MerkleHash.leaf(leaves[Int(v.leafIdx)]), Self.bytes(v.leafHash), v.file)
            compared += 1
        }
        let consistency: [ConsistencyVector] = try Self.load("consistency")
        for v in consistency where !v.wantErr && v.size2 <= 8 && v.desc == "happy path" {
            let proof = try MerkleProof.assemble(MerkleProof.consistencyPlan(from: v.size1, to: v.size2), hashes: nodes)
            XCTAssertEqual(proof, (v.proof ?? []).map(Self.bytes), v.file)
            compared += 1
        }
        XCTAssertGreaterThanOrEqual(compared, 8)
        XCTAssertEqual(frontier.root, Self.bytes("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="), "the RFC 6962 8-leaf root")
    }
}
