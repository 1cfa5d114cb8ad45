import CoffreCore
import CoffreTestSupport
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
@testable import Ingest
import Logging
import NIOCore
import PostgresNIO

/// Runs the ingest service in-process on a real socket (`LiveService`),
/// against the test Postgres and broker, with a fresh blob directory, and
/// signs requests the way the gateway does.
struct IngestHarness {
    static let secret = "ingest-test-secret"
    let client: LiveClient
    let blobDirectory: String
    let key = InternalAuth.key(from: IngestHarness.secret)

    static func config(blobDirectory: String, tweak: (inout IngestConfiguration) -> Void = { _ in }) -> IngestConfiguration {
        var config = IngestConfiguration(
            common: CommonConfiguration(postgresURL: TestEnvironment.postgresURL!, postgresPoolSize: 8,
                                        kafkaBrokers: TestEnvironment.kafkaBrokers!, internalSecret: secret),
            listen: .init(host: "127.0.0.1", port: 0))
        config.blobDirectory = blobDirectory
        config.maxUploadBytes = 64 << 20
        config.uploads.checkpointBytes = 256 << 10
        config.janitorInterval = .milliseconds(200)
        config.transferFlush = .milliseconds(200)
        // A group of its own: each test reads the topics without waiting on
        // members of earlier runs (or killed processes) to time out.
        config.consumerGroup = TestEnvironment.unique("ingest")
        tweak(&config)
        return config
    }

    static func run(tweak: (inout IngestConfiguration) -> Void = { _ in }, _ body: @Sendable (IngestHarness) async throws -> Void) async throws {
        var logger = Logger(label: "ingest-test")
        logger.logLevel = .warning
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coffre-ingest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = TestEnvironment.freePort()
        let app = try IngestApp.build(config: config(blobDirectory: dir, tweak: { $0.listen.port = port; tweak(&$0) }), logger: logger)
        try await LiveService.run(app, name: "ingest", port: port, logger: logger) { client in
            let harness = IngestHarness(client: client, blobDirectory: dir)
            let ready = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                try await client.execute(uri: "/readyz", method: .get).status == .ok
            }
            guard ready else { throw ChildProcessError(message: "ingest never became ready") }
            try await body(harness)
        }
    }

    struct Reply {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: [UInt8]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
    }

    /// A signed-in user of some tenant, as the gateway would vouch for it.
    static func user(tenant: UUID = UUID()) -> VerifiedIdentity {
        VerifiedIdentity(tenantID: tenant, accountID: UUID(), sessionID: UUID())
    }

    func call(_ method: HTTPRequest.Method, _ path: String, as identity: VerifiedIdentity?, json: Any? = nil,
              body: [UInt8]? = nil, headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers = extra
        if let identity {
            let pathOnly = String(path.split(separator: "?", maxSplits: 1).first ?? "")
            InternalAuth.sign(identity, method: method.rawValue, path: pathOnly, key: key, into: &headers)
        }
        var buffer: ByteBuffer?
        if let json {
            buffer = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
            headers[.contentType] = "application/json"
        }
        if let body { buffer = ByteBuffer(bytes: body) }
        return try await client.execute(uri: path, method: method, headers: headers, body: buffer) { response in
            Reply(status: response.status, headers: response.headers, body: Array(buffer: response.body))
        }
    }

    static func tus(_ extra: HTTPFields = [:]) -> HTTPFields {
        var headers: HTTPFields = [HTTPField.Name("Tus-Resumable")!: "1.0.0"]
        headers.append(contentsOf: extra)
        return headers
    }

    static func metadata(_ pairs: [String: [UInt8]]) -> String {
        pairs.sorted { $0.key < $1.key }.map { "\($0.key) \(Data($0.value).base64EncodedString())" }.joined(separator: ",")
    }

    /// Metadata of a new file: its node id, fake ciphertext attributes and key.
    static func newFile(node: UUID = UUID(), parent: UUID? = nil) -> (node: UUID, metadata: String) {
        var pairs: [String: [UInt8]] = ["node": Array(node.lower.utf8), "attributes": Array(repeating: 7, count: 40),
                                        "key": Array(repeating: 9, count: 72)]
        if let parent { pairs["parent"] = Array(parent.lower.utf8) }
        return (node, metadata(pairs))
    }

    /// POST /v1/uploads; returns the upload path.
    func create(_ identity: VerifiedIdentity, length: Int, metadata: String, body: [UInt8]? = nil) async throws -> (path: String, reply: Reply) {
        var headers = Self.tus([HTTPField.Name("Upload-Length")!: String(length), HTTPField.Name("Upload-Metadata")!: metadata])
        if body != nil { headers[.contentType] = "application/offset+octet-stream" }
        let reply = try await call(.post, "/v1/uploads", as: identity, body: body, headers: headers)
        return (reply.headers[.location] ?? "", reply)
    }

    func patch(_ identity: VerifiedIdentity, _ path: String, offset: Int, _ bytes: [UInt8], checksum: String? = nil,
               contentType: String = "application/offset+octet-stream") async throws -> Reply {
        var headers = Self.tus([HTTPField.Name("Upload-Offset")!: String(offset), .contentType: contentType])
        if let checksum { headers[HTTPField.Name("Upload-Checksum")!] = checksum }
        return try await call(.patch, path, as: identity, body: bytes, headers: headers)
    }

    func head(_ identity: VerifiedIdentity, _ path: String) async throws -> Reply {
        try await call(.head, path, as: identity, headers: Self.tus())
    }

    /// Uploads `bytes` as a new file in one creation-with-upload request.
    func upload(_ identity: VerifiedIdentity, _ bytes: [UInt8], node: UUID = UUID(), parent: UUID? = nil) async throws -> (node: UUID, version: String) {
        let file = Self.newFile(node: node, parent: parent)
        let (_, reply) = try await create(identity, length: bytes.count, metadata: file.metadata, body: bytes)
        guard reply.status == .created, let version = reply.header("Coffre-Version-Id") else {
            throw ChildProcessError(message: "upload: \(reply.status) \(reply.text)")
        }
        return (file.node, version)
    }

    func folder(_ identity: VerifiedIdentity, parent: UUID? = nil) async throws -> UUID {
        var body: [String: Any] = ["kind": "folder", "attributes": Data([1, 2, 3]).base64EncodedString(),
                                   "wrapped_key": Data([4, 5, 6]).base64EncodedString()]
        if let parent { body["parent_id"] = parent.lower }
        let reply = try await call(.post, "/v1/nodes", as: identity, json: body)
        guard reply.status == .created, let id = (reply.json["id"] as? String).flatMap(UUID.init(uuidString:)) else {
            throw ChildProcessError(message: "mkdir: \(reply.status) \(reply.text)")
        }
        return id
    }

    static func sha256(_ bytes: [UInt8]) -> String { "sha256 " + Data(SHA256.hash(data: bytes)).base64EncodedString() }

    /// Outbox rows of the ingest schema of `type` that mention `needle`.
    static func outboxCount(type: String, mentioning needle: String) async throws -> Int {
        try await TestEnvironment.withPostgres(poolSize: 1) { pg in
            let rows = try await pg.query("""
                SELECT count(*) FROM ingest.outbox WHERE convert_from(payload, 'UTF8') LIKE \("%\"type\":\"\(type)\"%")
                  AND convert_from(payload, 'UTF8') LIKE \("%\(needle)%")
                """, logger: TestEnvironment.logger)
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return 0
        }
    }
}
