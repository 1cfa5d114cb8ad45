import AsyncHTTPClient
import CoffreCore
@testable import CoffreSDK
import CoffreTestSupport
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Uploads through the gateway by third-party and raw tus clients, and
/// resumption across a `kill -9` of ingest.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct TusClientTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Tools/tus/tuspy_upload.py").standardized.path

    static func signup(_ stack: Stack) async throws -> (token: String, account: String) {
        let result = try await stack.client().signup(email: uniqueEmail(), password: "correct horse battery staple")
        let session = try #require(result.session)
        return (await session.currentAccessToken().token, result.accountID)
    }

    static func download(_ stack: Stack, node: String, token: String) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: stack.gatewayURL.absoluteString + "/v1/nodes/\(node)/content")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        return (Int(response.status.code), Array(buffer: try await response.body.collect(upTo: 1 << 30)))
    }

    @Test(arguments: ["sha1", "sha256"])
    func tuspyUploadsWithChecksumsAndResumes(algorithm: String) async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let (token, _) = try await Self.signup(stack)
        let bytes = (0..<(1_300_000)).map { _ in UInt8.random(in: 0...255) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tuspy-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let node = UUID().uuidString.lowercased()

        let python = TestEnvironment.venv + "/bin/python"
        let run = try ChildProcess.run(python, [Self.script, stack.gatewayURL.absoluteString, token, path, node, algorithm, "524288"],
                                       timeout: 120)
        #expect(run.status == 0, "tuspy failed: \(run.output.suffix(2000))\n\(stack.logs.suffix(2000))")
        let line = try #require(run.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let report = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        #expect(report["stopped_at"] as? Int == 524_288)
        #expect(report["resumed_from"] as? Int == 524_288, "the second uploader resumes from the server's offset")
        #expect(report["final"] as? Int == bytes.count)

        let fetched = try await Self.download(stack, node: node, token: token)
        #expect(fetched.status == 200)
        #expect(fetched.body == bytes)
    }

    // MARK: kill -9 during concurrent uploads

    /// A minimal tus client over AsyncHTTPClient that survives the server
    /// vanishing: on any failure it asks the server (HEAD) where to go on.
    struct RawUpload {
        let gateway: String
        let token: String
        let bytes: [UInt8]
        let node = UUID().uuidString.lowercased()
        var url = ""

        func request(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> HTTPClientResponse {
            var request = HTTPClientRequest(url: gateway + path)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Tus-Resumable", value: "1.0.0")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
            return try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        }

        mutating func create() async throws {
            let metadata = ["node \(Data(node.utf8).base64EncodedString())", "attributes AQID", "key BAUG"].joined(separator: ",")
            let response = try await request(.POST, "/v1/uploads", headers: [("Upload-Length", String(bytes.count)), ("Upload-Metadata", metadata)])
            guard response.status == .created, let location = response.headers.first(name: "Location") else {
                throw ChildProcessError(message: "create: \(response.status)")
            }
            url = location
        }

        /// Sends 256 KiB PATCHes until done; returns how many times it had to resume.
        func send(pause: Duration) async throws -> Int {
            var offset = 0
            var resumes = 0
            var last = ""
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline {
                if offset == bytes.count { return resumes }
                let end = min(bytes.count, offset + 256 * 1024)
                do {
                    let response = try await request(.PATCH, url, headers: [("Content-Type", "application/offset+octet-stream"),
                                                                            ("Upload-Offset", String(offset))], body: Array(bytes[offset..<end]))
                    if response.status == .noContent, let next = response.headers.first(name: "Upload-Offset").flatMap(Int.init) {
                        offset = next
                        try await Task.sleep(for: pause)
                        continue
                    }
                    last = "PATCH \(response.status) \(String(buffer: try await response.body.collect(upTo: 1 << 16)))"
                } catch {
                    last = "PATCH \(error)"
                }
                // The server went away or refused: ask where it stands.
                resumes += 1
                try await Task.sleep(for: .milliseconds(300))
                if let head = try? await request(.HEAD, url), head.status == .ok,
                   let known = head.headers.first(name: "Upload-Offset").flatMap(Int.init) {
                    offset = known
                }
            }
            throw ChildProcessError(message: "upload \(url) did not finish at \(offset): \(last)")
        }
    }

    @Test func killNineOfIngestDuringTwentyUploadsLosesNothing() async throws {
        let stack = try await Stack(ingestEnv: ["INGEST_UPLOAD_LEASE_SECONDS": "2", "INGEST_CHECKPOINT_BYTES": "131072"])
        defer { stack.stop() }
        let (token, _) = try await Self.signup(stack)
        var uploads: [RawUpload] = []
        for _ in 0..<20 {
            var upload = RawUpload(gateway: stack.gatewayURL.absoluteString, token: token,
                                   bytes: (0..<(3 << 20)).map { _ in UInt8.random(in: 0...255) })
            try await upload.create()
            uploads.append(upload)
        }
        let all = uploads
        async let resumed: [Int] = withThrowingTaskGroup(of: Int.self) { group in
            for upload in all { group.addTask { try await upload.send(pause: .milliseconds(100)) } }
            var counts: [Int] = []
            for try await count in group { counts.append(count) }
            return counts
        }
        try await Task.sleep(for: .milliseconds(1500))
        await stack.killIngest()
        try await Task.sleep(for: .milliseconds(500))
        try stack.startIngest()
        #expect(try await stack.waitForIngest())
        let counts: [Int]
        do {
            counts = try await resumed
        } catch {
            Issue.record("\(error)\n\(stack.logs.suffix(4000))")
            return
        }
        #expect(counts.reduce(0, +) >= 1, "the kill interrupted no upload; the test proves nothing")

        for upload in uploads {
            let fetched = try await Self.download(stack, node: upload.node, token: token)
            #expect(fetched.status == 200)
            #expect(SHA256.hash(data: fetched.body) == SHA256.hash(data: upload.bytes), "upload \(upload.url) differs after the crash")
        }
    }
}
