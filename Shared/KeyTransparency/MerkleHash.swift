// The hashing of RFC 6962 / RFC 9162 §2.1.1: leaves and interior nodes are
// domain-separated by a one-byte prefix, so a leaf can never be passed off as
// an interior node (second-preimage resistance of the tree).
import Sodium

public enum MerkleHash {
    public static let byteCount = 32

    /// SHA-256(0x00 ‖ entry).
    public static func leaf(_ entry: [UInt8]) -> [UInt8] {
        Sodium.sha256([0x00] + entry)
    }

    /// SHA-256(0x01 ‖ left ‖ right).
    public static func node(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var input = [UInt8]()
        input.reserveCapacity(1 + left.count + right.count)
        input.append(0x01)
        input.append(contentsOf: left)
        input.append(contentsOf: right)
        return Sodium.sha256(input)
    }

    /// The root of the empty tree: SHA-256 of the empty string.
    public static let empty: [UInt8] = Sodium.sha256([])

    /// The hash of a range that is one subtree of the RFC 6962 tree, given
    /// the hashes of the perfect subtrees it decomposes into, largest first:
    /// the tree splits at the largest power of two, so the range hash is the
    /// right fold node(h0, node(h1, … hn)).
    static func fold(_ hashes: [[UInt8]]) -> [UInt8] {
        guard var result = hashes.last else { return empty }
        for hash in hashes.dropLast().reversed() {
            result = node(hash, result)
        }
        return result
    }
}

/// A perfect subtree: the 2^level leaves starting at `index << level`.
/// Level 0 nodes are the leaf hashes themselves.
public struct MerkleNodeID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let level: Int
    public let index: UInt64

    public init(level: Int, index: UInt64) {
        self.level = level
        self.index = index
    }

    public static func < (a: MerkleNodeID, b: MerkleNodeID) -> Bool {
        (a.level, a.index) < (b.level, b.index)
    }

    public var description: String { "(\(level), \(index))" }
}

public enum MerkleError: Error, Equatable, Sendable {
    case invalidSize
    case indexOutOfRange
    case wrongProofLength
    case rootMismatch
    case missingNode(MerkleNodeID)
    case malformedHash
}
