import CoffreCore
import Foundation
import Hummingbird

// Wire types of the key and log routes (docs/keydir-api.md, "The log").
// snake_case on the wire; byte fields are base64url without padding.

extension UUID {
    /// Lowercase text form, as ids travel in Coffre's JSON and log entries.
    var lower: String { uuidString.lowercased() }
}

/// `POST /v1/keys`: publish, rotate or revoke the caller's own keys.
struct KeyChangeRequest: Decodable, Sendable {
    var action: String
    var version: Int64
    var x25519: String?
    var ed25519: String?
    var self_signature: String?
    var prev_signature: String?
}

/// An account's latest entry with its inclusion proof against `checkpoint`.
struct KeyLookup: ResponseCodable, Sendable {
    var account_id: String
    var version: UInt64
    var index: UInt64
    var entry: String
    var checkpoint: String
    var inclusion_proof: [String]
}

/// `POST /v1/keys` answered before the entry was sequenced.
struct QueuedKeyChange: ResponseCodable, Sendable {
    var queued_id: Int64
    var status: String
}

struct IndexedEntry: Codable, Sendable {
    var index: UInt64
    var entry: String
}

extension IndexedEntry: ResponseEncodable {}

struct KeyHistory: ResponseCodable, Sendable {
    var entries: [IndexedEntry]
    var checkpoint: String
}

struct LogKeyView: ResponseCodable, Sendable {
    var origin: String
    var verifier_key: String
}

struct InclusionProofView: ResponseCodable, Sendable {
    var index: UInt64
    var size: UInt64
    var proof: [String]
}

struct ConsistencyProofView: ResponseCodable, Sendable {
    var from: UInt64
    var to: UInt64
    var proof: [String]
}

enum KeyProblems {
    static func malformedKey(_ detail: String) -> Problem {
        .badRequest(detail, type: "urn:coffre:problem:malformed-key")
    }

    static func badSignature(_ detail: String) -> Problem {
        .badRequest(detail, type: "urn:coffre:problem:bad-signature")
    }

    static func versionConflict(_ detail: String) -> Problem {
        .conflict(detail, type: "urn:coffre:problem:version-conflict")
    }

    static let noCheckpoint = Problem.unavailable("the log has no checkpoint yet", retryAfter: 1)
}
