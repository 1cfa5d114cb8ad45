import Crypto
import Foundation

/// AWS Signature Version 4 for S3, header-based, payload in a single chunk
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
/// Written by hand so the ingest service needs no AWS SDK. It holds the
/// secret key: neither the key nor a signature may ever be logged.
struct S3Signer: Sendable {
    static let algorithm = "AWS4-HMAC-SHA256"
    static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// SHA-256 of no bytes: the payload hash of GET, HEAD and DELETE.
    static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    let accessKey: String
    private let secretKey: String
    let region: String
    let service: String

    init(accessKey: String, secretKey: String, region: String, service: String = "s3") {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
        self.service = service
    }

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256`
    /// and `authorization`. `headers` are the other headers to sign (at least
    /// `host`); `path` is already URI-encoded (S3 does not encode it twice);
    /// `query` holds raw names and values, encoded here.
    func authorizationHeaders(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                              payloadHash: String, date: Date) -> [(String, String)] {
        let stamp = Self.timestamp(date)
        let all = headers + [("x-amz-content-sha256", payloadHash), ("x-amz-date", stamp.dateTime)]
        let canonical = Self.canonicalRequest(method: method, path: path, query: query, headers: all, payloadHash: payloadHash)
        let scope = "\(stamp.day)/\(region)/\(service)/aws4_request"
        let signature = signature(stringToSign: stringToSign(canonicalRequest: canonical.request, dateTime: stamp.dateTime), day: stamp.day)
        return [
            ("x-amz-content-sha256", payloadHash),
            ("x-amz-date", stamp.dateTime),
            ("authorization", "\(Self.algorithm) Credential=\(accessKey)/\(scope),SignedHeaders=\(canonical.signedHeaders),Signature=\(signature)"),
        ]
    }

    /// The canonical request and the `SignedHeaders` list.
    static func canonicalRequest(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                                 payloadHash: String) -> (request: String, signedHeaders: String) {
        let encoded: [(name: String, value: String)] = query.map { (uriEncode($0.0, keepSlash: false), uriEncode($0.1, keepSlash: false)) }
        let sorted = encoded.sorted { (a, b) -> Bool in a.name == b.name ? a.value < b.value : a.name < b.name }
        let canonicalQuery = sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        // Same-named headers join with commas; values are trimmed and inner
        // runs of spaces collapse to one.
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            merged[name.lowercased(), default: []].append(value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " "))
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let request = [method, path, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        return (request, signedHeaders)
    }

    func stringToSign(canonicalRequest: String, dateTime: String) -> String {
        let day = dateTime.prefix(8)
        return [Self.algorithm, dateTime, "\(day)/\(region)/\(service)/aws4_request",
                Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))].joined(separator: "\n")
    }

    func signature(stringToSign: String, day: String) -> String {
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key))
        }
        let dateKey = hmac(SymmetricKey(data: Data("AWS4\(secretKey)".utf8)), day)
        let signingKey = hmac(hmac(hmac(dateKey, region), service), "aws4_request")
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: signingKey))
    }

    /// `20130524T000000Z` and `20130524`, in UTC.
    static func timestamp(_ date: Date) -> (dateTime: String, day: String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let day = String(format: "%04d%02d%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
        return (day + String(format: "T%02d%02d%02dZ", Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec)), day)
    }

    /// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters
    /// stay, everything else becomes `%XX` (upper case); `/` stays in paths.
    static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out.append("%")
                out.unicodeScalars.append(hexDigits[Int(byte >> 4)])
                out.unicodeScalars.append(hexDigits[Int(byte & 0xF)])
            }
        }
        return out
    }

    private static let hexDigits = Array("0123456789ABCDEF".unicodeScalars)
    private static let lowerHexDigits = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(lowerHexDigits[Int(byte >> 4)])
            out.append(lowerHexDigits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
