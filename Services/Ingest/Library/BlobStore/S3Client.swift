import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOFileSystem
import NIOHTTP1

/// The few S3 REST calls the blob store makes, signed with `S3Signer`,
/// path-style (`<endpoint>/<bucket>/<key>`). Failures come out as
/// `BlobStoreError`s that name the operation and S3's error code, never a
/// header or a signature.
struct S3Client: Sendable {
    let http: HTTPClient
    let endpoint: S3Endpoint
    let bucket: String
    let signer: S3Signer
    let logger: Logger

    /// Attempts of one call when S3 answers 500/502/503/504 or the connection
    /// fails (S3 asks clients to retry those).
    static let attempts = 3
    /// Largest body of a control call kept in memory (a ListParts page of
    /// 1,000 parts is about 200 KB).
    static let maxReplyBytes = 4 * 1024 * 1024

    enum Body {
        case none
        case bytes(ByteBuffer)
        /// `length` bytes from the start of a spool file, read in chunks
        /// while they are sent; `sha256` is their hex digest.
        case file(ReadWriteFileHandle, length: Int64, sha256: String)
    }

    struct Reply {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer
        var text: String { String(buffer: body) }
    }

    /// What S3 said when it refused.
    struct Refusal {
        var status: UInt
        var code: String
        var message: String
    }

    func path(key: String?) -> String {
        "/" + S3Signer.uriEncode(bucket, keepSlash: false) + (key.map { "/" + S3Signer.uriEncode($0, keepSlash: true) } ?? "")
    }

    /// One signed attempt; the caller reads (or drops) the response body.
    func execute(_ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
                 body: Body = .none, timeout: TimeAmount = .seconds(60)) async throws -> HTTPClientResponse {
        let path = path(key: key)
        let encodedQuery = query.map { value in
            value.1.isEmpty ? S3Signer.uriEncode(value.0, keepSlash: false)
                : S3Signer.uriEncode(value.0, keepSlash: false) + "=" + S3Signer.uriEncode(value.1, keepSlash: false)
        }.joined(separator: "&")
        var request = HTTPClientRequest(url: endpoint.base + path + (encodedQuery.isEmpty ? "" : "?" + encodedQuery))
        request.method = method
        let payloadHash: String
        switch body {
        case .none:
            payloadHash = S3Signer.emptyPayloadHash
        case .bytes(let bytes):
            payloadHash = S3Signer.hex(SHA256Digest.of(bytes))
            request.body = .bytes(bytes)
        case .file(let handle, let length, let sha256):
            payloadHash = sha256
            request.body = .stream(handle.readChunks(in: 0..<length, chunkLength: .kibibytes(64)), length: .known(length))
        }
        let signed = [("host", endpoint.hostHeader)] + headers
        for (name, value) in signed + signer.authorizationHeaders(method: method.rawValue, path: path, query: query, headers: signed,
                                                                  payloadHash: payloadHash, date: Date()) {
            request.headers.add(name: name, value: value)
        }
        return try await http.execute(request, timeout: timeout, logger: logger)
    }

    /// A control call: retried when S3 or the network say so, the reply body
    /// collected. Statuses in `accept` are answers; any other is thrown as a
    /// `BlobStoreError` naming `operation` and `resource`.
    func send(_ operation: String, resource: String, _ method: HTTPMethod, key: String?, query: [(String, String)] = [],
              headers: [(String, String)] = [], body: Body = .none, timeout: TimeAmount = .seconds(60),
              accept: Set<UInt> = [200, 204]) async throws -> Reply {
        try await retrying(operation, resource: resource) { isLast in
            let response = try await execute(method, key: key, query: query, headers: headers, body: body, timeout: timeout)
            let reply = Reply(status: response.status, headers: response.headers,
                              body: try await response.body.collect(upTo: Self.maxReplyBytes))
            if accept.contains(reply.status.code) { return reply }
            try refuse(reply, operation: operation, resource: resource, isLast: isLast)
            return nil
        }
    }

    /// Runs `attempt` until it returns a value, at most `attempts` times. It
    /// returns nil to be tried again (S3 answered 5xx); an error other than a
    /// `BlobStoreError` (the network) is tried again too, unless it is an
    /// `Unretried`, whose error is rethrown as is.
    func retrying<T>(_ operation: String, resource: String, _ attempt: (_ isLast: Bool) async throws -> T?) async throws -> T {
        var number = 1
        while true {
            do {
                if let value = try await attempt(number == Self.attempts) { return value }
            } catch let error as BlobStoreError {
                throw error
            } catch let wrapped as Unretried {
                throw wrapped.error
            } catch let error where number < Self.attempts && !(error is CancellationError) {
                logger.debug("S3 \(operation) failed (\(error)), retrying")
            } catch {
                throw BlobStoreError.io("S3 \(operation) \(resource): \(error)")
            }
            // 200 ms, then 800 ms.
            try await Task.sleep(for: .milliseconds(200 << (2 * (number - 1))))
            number += 1
        }
    }

    /// An error `retrying` passes through untouched.
    struct Unretried: Error { var error: any Error }

    /// An unwanted answer: returns (to retry) on a 5xx while attempts remain,
    /// else throws it as a `BlobStoreError`.
    func refuse(_ reply: Reply, operation: String, resource: String, isLast: Bool) throws {
        let refusal = Self.refusal(reply)
        guard [500, 502, 503, 504].contains(refusal.status), !isLast else {
            throw Self.error(refusal, operation: operation, resource: resource)
        }
        logger.debug("S3 \(operation) answered \(refusal.status) \(refusal.code), retrying")
    }

    /// Size of an object, nil if there is none.
    func size(of key: String, operation: String = "HeadObject") async throws -> Int64? {
        let reply = try await send(operation, resource: key, .HEAD, key: key, accept: [200, 404])
        guard reply.status == .ok else { return nil }
        guard let length = reply.headers.first(name: "content-length").flatMap(Int64.init) else {
            throw BlobStoreError.io("S3 \(operation) \(key): no Content-Length")
        }
        return length
    }

    /// Every key under `prefix` (ListObjectsV2, page by page).
    func keys(under prefix: String) async throws -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let xml = try await send("ListObjectsV2", resource: prefix, .GET, key: nil, query: query).text
            for contents in S3XML.elements("Contents", in: xml) {
                if let key = S3XML.element("Key", in: contents) { keys.append(key) }
            }
            token = S3XML.element("IsTruncated", in: xml) == "true" ? S3XML.element("NextContinuationToken", in: xml) : nil
        } while token != nil
        return keys
    }

    /// Deletes an object; a missing one is not an error.
    func deleteObject(_ key: String) async throws {
        _ = try await send("DeleteObject", resource: key, .DELETE, key: key, accept: [200, 204, 404])
    }

    /// Streams bytes `range` of `key` to `sink`. A connection that breaks
    /// mid-body is resumed where it stopped; what `sink` throws is rethrown
    /// as is.
    func get(_ key: String, range: Range<Int64>, operation: String = "GetObject",
             into sink: (ByteBuffer) async throws -> Void) async throws {
        var next = range.lowerBound
        guard next < range.upperBound else { return }
        try await retrying(operation, resource: key) { isLast -> Void? in
            let response = try await execute(.GET, key: key, headers: [("range", "bytes=\(next)-\(range.upperBound - 1)")])
            switch response.status.code {
            case 200, 206:
                // 200 is the whole object, from a server that ignores Range.
                var skip = response.status.code == 200 ? next : 0
                for try await var chunk in response.body {
                    if skip > 0 {
                        let dropped = Int(min(skip, Int64(chunk.readableBytes)))
                        chunk.moveReaderIndex(forwardBy: dropped)
                        skip -= Int64(dropped)
                    }
                    let wanted = Int(min(Int64(chunk.readableBytes), range.upperBound - next))
                    guard wanted > 0 else { continue }
                    let slice = chunk.getSlice(at: chunk.readerIndex, length: wanted)!
                    next += Int64(wanted)
                    do { try await sink(slice) } catch { throw Unretried(error: error) }
                }
                guard next == range.upperBound else {
                    throw BlobStoreError.corrupt("\(key) ended at byte \(next), before \(range.upperBound)")
                }
                return ()
            case 416:
                throw BlobStoreError.corrupt("\(key) is shorter than \(range.upperBound) bytes")
            default:
                let reply = Reply(status: response.status, headers: response.headers,
                                  body: (try? await response.body.collect(upTo: 64 * 1024)) ?? ByteBuffer())
                try refuse(reply, operation: operation, resource: key, isLast: isLast)
                return nil
            }
        }
    }

    static func refusal(_ reply: Reply) -> Refusal {
        let xml = reply.text
        return Refusal(status: reply.status.code,
                       code: S3XML.element("Code", in: xml) ?? reply.status.reasonPhrase,
                       message: S3XML.element("Message", in: xml) ?? "")
    }

    /// Missing keys and uploads are `notFound`; everything else is `io` with
    /// S3's code, and a hint when it is a configuration mistake.
    static func error(_ refusal: Refusal, operation: String, resource: String) -> BlobStoreError {
        switch refusal.code {
        case "NoSuchKey", "NoSuchUpload":
            return .notFound("\(resource) (S3 \(refusal.code))")
        default:
            let hint = switch refusal.code {
            case "SignatureDoesNotMatch": " (check INGEST_S3_SECRET_KEY and INGEST_S3_REGION)"
            case "InvalidAccessKeyId": " (check INGEST_S3_ACCESS_KEY)"
            case "NoSuchBucket": " (check INGEST_S3_BUCKET)"
            case "AuthorizationHeaderMalformed": " (check INGEST_S3_REGION)"
            default: ""
            }
            let message = refusal.message.isEmpty ? "" : ": \(refusal.message)"
            return .io("S3 \(operation) \(resource): HTTP \(refusal.status) \(refusal.code)\(message)\(hint)")
        }
    }
}

extension SHA256Digest {
    static func of(_ bytes: ByteBuffer) -> SHA256Digest {
        bytes.withUnsafeReadableBytes { SHA256.hash(data: $0) }
    }
}

/// Just enough XML for S3's replies (flat elements, entity-escaped text) and
/// for the CompleteMultipartUpload request. S3's schemas never nest an
/// element inside one of the same name, which is what makes this enough.
enum S3XML {
    /// Text of the first `<name>…</name>` (unescaped).
    static func element(_ name: String, in xml: String) -> String? {
        elements(name, in: xml).first.map(unescape)
    }

    /// Raw inner text of every `<name>…</name>`, in order.
    static func elements(_ name: String, in xml: String) -> [String] {
        var found: [String] = []
        var rest = xml[...]
        let close = "</\(name)>"
        while let open = rest.range(of: "<\(name)") {
            // `<name>` or `<name attr…>`, not `<nameLonger>`.
            guard let end = rest[open.upperBound...].firstIndex(of: ">") else { break }
            let between = rest[open.upperBound..<end]
            guard between.isEmpty || between == "/" || between.first == " " else {
                rest = rest[open.upperBound...]
                continue
            }
            if between.hasSuffix("/") {  // <name/>
                found.append("")
                rest = rest[rest.index(after: end)...]
                continue
            }
            let contentStart = rest.index(after: end)
            guard let closing = rest[contentStart...].range(of: close) else { break }
            found.append(String(rest[contentStart..<closing.lowerBound]))
            rest = rest[closing.upperBound...]
        }
        return found
    }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = text[...]
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let number = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16)
                    : entity.hasPrefix("#") ? UInt32(entity.dropFirst(), radix: 10) : nil
                if let number, let scalar = Unicode.Scalar(number) {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += rest[amp...semi]
                }
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
