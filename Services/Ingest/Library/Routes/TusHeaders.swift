import CoffreCore
import Crypto
import Foundation
import HTTPTypes

extension HTTPField.Name {
    static let tusResumable = HTTPField.Name("Tus-Resumable")!
    static let tusVersion = HTTPField.Name("Tus-Version")!
    static let tusExtension = HTTPField.Name("Tus-Extension")!
    static let tusMaxSize = HTTPField.Name("Tus-Max-Size")!
    static let tusChecksumAlgorithm = HTTPField.Name("Tus-Checksum-Algorithm")!
    static let uploadOffset = HTTPField.Name("Upload-Offset")!
    static let uploadLength = HTTPField.Name("Upload-Length")!
    static let uploadMetadata = HTTPField.Name("Upload-Metadata")!
    static let uploadExpires = HTTPField.Name("Upload-Expires")!
    static let uploadChecksum = HTTPField.Name("Upload-Checksum")!
    static let uploadDeferLength = HTTPField.Name("Upload-Defer-Length")!
    static let coffreNodeID = HTTPField.Name("Coffre-Node-Id")!
    static let coffreVersionID = HTTPField.Name("Coffre-Version-Id")!
}

/// Parsing of the tus 1.0.0 request headers. Every malformed value is a 400.
enum Tus {
    static let version = "1.0.0"
    static let extensions = "creation,creation-with-upload,termination,checksum,expiration"
    static let checksumAlgorithms = "sha1,sha256"
    static let offsetContentType = "application/offset+octet-stream"
    static let checksumMismatch = HTTPResponse.Status(code: 460, reasonPhrase: "Checksum Mismatch")

    /// A non-negative decimal integer (no sign, no spaces), as tus requires.
    static func integer(_ raw: String?, _ header: String) throws -> Int64 {
        guard let raw else { throw Problem.badRequest("\(header) is required") }
        guard !raw.isEmpty, raw.count <= 19, raw.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int64(raw) else {
            throw Problem.badRequest("\(header) must be a non-negative integer")
        }
        return value
    }

    /// `Upload-Metadata`: comma-separated `key base64value` pairs.
    static func metadata(_ raw: String?) throws -> [String: [UInt8]] {
        guard let raw, !raw.trimmingCharacters(in: .whitespaces).isEmpty else { return [:] }
        var result: [String: [UInt8]] = [:]
        for pair in raw.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true)
            guard (1...2).contains(parts.count), let key = parts.first, !key.isEmpty,
                  key.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != 44 }) else {
                throw Problem.badRequest("Upload-Metadata must be comma-separated \"key base64value\" pairs")
            }
            guard result[String(key)] == nil else { throw Problem.badRequest("Upload-Metadata repeats the key \(key)") }
            if parts.count == 2 {
                guard let value = Data(base64Encoded: String(parts[1])) else {
                    throw Problem.badRequest("Upload-Metadata value of \(key) is not base64")
                }
                result[String(key)] = Array(value)
            } else {
                result[String(key)] = []
            }
        }
        return result
    }

    enum ChecksumAlgorithm: String {
        case sha1, sha256
    }

    /// `Upload-Checksum: <algorithm> <base64 digest>`.
    static func checksum(_ raw: String?) throws -> (ChecksumAlgorithm, [UInt8])? {
        guard let raw else { return nil }
        let parts = raw.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2 else { throw Problem.badRequest("Upload-Checksum must be \"<algorithm> <base64 digest>\"") }
        guard let algorithm = ChecksumAlgorithm(rawValue: parts[0].lowercased()) else {
            throw Problem.badRequest("Upload-Checksum algorithm \(parts[0]) is not supported; use sha1 or sha256",
                                     type: "urn:coffre:problem:checksum-algorithm")
        }
        let size = algorithm == .sha1 ? Insecure.SHA1.byteCount : SHA256.byteCount
        guard let digest = Data(base64Encoded: String(parts[1])), digest.count == size else {
            throw Problem.badRequest("Upload-Checksum digest must be the base64 of a \(size)-byte \(algorithm.rawValue) digest")
        }
        return (algorithm, Array(digest))
    }

    /// RFC 9110 IMF-fixdate, as `Upload-Expires` wants.
    static func httpDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

/// Incremental digest of one PATCH body.
struct ChecksumState {
    private var sha1: Insecure.SHA1?
    private var sha256: SHA256?
    let expected: [UInt8]

    init(_ algorithm: Tus.ChecksumAlgorithm, expected: [UInt8]) {
        self.expected = expected
        switch algorithm {
        case .sha1: sha1 = Insecure.SHA1()
        case .sha256: sha256 = SHA256()
        }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        sha1?.update(bufferPointer: bytes)
        sha256?.update(bufferPointer: bytes)
    }

    func matches() -> Bool {
        if let sha1 { return Array(sha1.finalize()) == expected }
        if let sha256 { return Array(sha256.finalize()) == expected }
        return false
    }
}
