import CoffreCore
import CoffreTestSupport
import Foundation
import HTTPTypes
import Hummingbird
@testable import Ingest
import Testing

/// tus 1.0.0 against the real service: real socket, real Postgres, real
/// files. (tuspy, the third-party client, runs through the gateway in
/// ServiceTests.)
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct UploadTests {
    typealias H = IngestHarness

    static func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

    @Test func optionsAdvertisesTheExtensionsAndThePlanLimit() async throws {
        try await H.run { h in
            let reply = try await h.call(.options, "/v1/uploads", as: H.user())
            #expect(reply.status == .noContent)
            #expect(reply.header("Tus-Version") == "1.0.0")
            #expect(reply.header("Tus-Extension") == "creation,creation-with-upload,termination,checksum,expiration")
            #expect(reply.header("Tus-Checksum-Algorithm") == "sha1,sha256")
            #expect(reply.header("Tus-Max-Size") == String(64 << 20))
            #expect(reply.header("Tus-Resumable") == "1.0.0")
        }
    }

    @Test func chunkedUploadCommitsAndDownloadsWithRangesAndETag() async throws {
        try await H.run { h in
            let user = H.user()
            let bytes = Self.random(700_000)
            let file = H.newFile()
            let (path, created) = try await h.create(user, length: bytes.count, metadata: file.metadata)
            #expect(created.status == .created)
            #expect(path.hasPrefix("/v1/uploads/"))
            #expect(created.header("Upload-Offset") == "0")
            #expect(created.header("Upload-Expires")?.hasSuffix(" GMT") == true)
            #expect(created.header("Coffre-Node-Id") == file.node.lower)

            let first = try await h.patch(user, path, offset: 0, Array(bytes[0..<300_000]), checksum: H.sha256(Array(bytes[0..<300_000])))
            #expect(first.status == .noContent)
            #expect(first.header("Upload-Offset") == "300000")
            let head = try await h.head(user, path)
            #expect(head.status == .ok)
            #expect(head.header("Upload-Offset") == "300000")
            #expect(head.header("Upload-Length") == "700000")
            #expect(head.header("Cache-Control") == "no-store")
            // Not visible as a file before the last byte.
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user).status == .notFound)

            let last = try await h.patch(user, path, offset: 300_000, Array(bytes[300_000...]))
            #expect(last.status == .noContent)
            #expect(last.header("Upload-Offset") == "700000")
            let version = try #require(last.header("Coffre-Version-Id"))

            let node = try await h.call(.get, "/v1/nodes/\(file.node.lower)", as: user)
            #expect(node.json["size"] as? Int == 700_000)
            #expect(node.json["current_version"] as? String == version)
            #expect(node.json["kind"] as? String == "file")
            #expect(try await H.outboxCount(type: "coffre.blob.committed", mentioning: version) == 1)

            let whole = try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user)
            #expect(whole.status == .ok)
            #expect(whole.body == bytes)
            let etag = try #require(whole.header("ETag"))
            #expect(etag == "\"\(version)\"")
            #expect(whole.header("Accept-Ranges") == "bytes")

            let partial = try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user, headers: [.range: "bytes=100-199"])
            #expect(partial.status == .partialContent)
            #expect(partial.body == Array(bytes[100...199]))
            #expect(partial.header("Content-Range") == "bytes 100-199/700000")
            let suffix = try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user, headers: [.range: "bytes=-10"])
            #expect(suffix.body == Array(bytes.suffix(10)))
            let open = try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user, headers: [.range: "bytes=699999-"])
            #expect(open.body == [bytes.last!])
            let beyond = try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user, headers: [.range: "bytes=700000-"])
            #expect(beyond.status == .rangeNotSatisfiable)
            #expect(beyond.header("Content-Range") == "bytes */700000")
            let cached = try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user, headers: [.ifNoneMatch: etag])
            #expect(cached.status == .notModified)
            #expect(cached.body.isEmpty)

            // Served bytes are published in batches.
            let published = try await TestEnvironment.eventually(timeout: .seconds(10)) {
                try await H.outboxCount(type: "coffre.transfer.served", mentioning: user.accountID!.lower) >= 1
            }
            #expect(published)
        }
    }

    @Test func zeroByteAndCreationWithUploadComplete() async throws {
        try await H.run { h in
            let user = H.user()
            let empty = try await h.upload(user, [])
            let content = try await h.call(.get, "/v1/nodes/\(empty.node.lower)/content", as: user)
            #expect(content.status == .ok && content.body.isEmpty)
            let one = try await h.upload(user, [42])
            #expect(try await h.call(.get, "/v1/nodes/\(one.node.lower)/content", as: user).body == [42])
        }
    }

    @Test func badInputGetsAProblemAndChangesNothing() async throws {
        try await H.run { h in
            let user = H.user()
            let file = H.newFile()
            let (path, _) = try await h.create(user, length: 100, metadata: file.metadata)

            let wrongOffset = try await h.patch(user, path, offset: 10, Self.random(10))
            #expect(wrongOffset.status == .conflict)
            #expect(wrongOffset.headers[.contentType] == "application/problem+json")
            let wrongType = try await h.patch(user, path, offset: 0, Self.random(10), contentType: "application/json")
            #expect(wrongType.status == .unsupportedMediaType)
            let bad = try await h.patch(user, path, offset: 0, Self.random(10), checksum: H.sha256([1, 2, 3]))
            #expect(bad.status.code == 460)
            let badSha1 = try await h.patch(user, path, offset: 0, Self.random(10), checksum: "sha1 " + Data(repeating: 0, count: 20).base64EncodedString())
            #expect(badSha1.status.code == 460)
            let unknownAlgorithm = try await h.patch(user, path, offset: 0, Self.random(10), checksum: "md5 AAAA")
            #expect(unknownAlgorithm.status == .badRequest)
            let tooMuch = try await h.patch(user, path, offset: 0, Self.random(101))
            #expect(tooMuch.status == .contentTooLarge)
            let noTus = try await h.call(.head, path, as: user)
            #expect(noTus.status == .preconditionFailed)
            #expect(noTus.header("Tus-Version") == "1.0.0")
            // Nothing of the refused requests counted.
            #expect(try await h.head(user, path).header("Upload-Offset") == "0")

            let otherAccount = try await h.head(H.user(tenant: user.tenantID!), path)
            #expect(otherAccount.status == .notFound)
            let otherTenant = try await h.head(H.user(), path)
            #expect(otherTenant.status == .notFound)
            #expect(try await h.head(user, "/v1/uploads/\(UUID().lower)").status == .notFound)
            #expect(try await h.head(user, "/v1/uploads/not-a-uuid").status == .badRequest)
            #expect(try await h.head(user, "/v1/uploads/..%2F..%2Fetc").status == .badRequest)

            let tooBig = try await h.create(user, length: (64 << 20) + 1, metadata: H.newFile().metadata)
            #expect(tooBig.reply.status == .contentTooLarge)
            let noLength = try await h.call(.post, "/v1/uploads", as: user, headers: H.tus())
            #expect(noLength.status == .badRequest)
            let plaintextName = try await h.create(user, length: 5, metadata: "filename " + Data("secret.txt".utf8).base64EncodedString())
            #expect(plaintextName.reply.status == .badRequest)
            let brokenMetadata = try await h.create(user, length: 5, metadata: "node !!!notbase64")
            #expect(brokenMetadata.reply.status == .badRequest)
            let noKey = try await h.create(user, length: 5, metadata: H.metadata(["attributes": [1]]))
            #expect(noKey.reply.status == .badRequest)
            let foreignParent = try await h.create(user, length: 5, metadata: H.newFile(parent: UUID()).metadata)
            #expect(foreignParent.reply.status == .notFound)
            #expect(try await h.call(.post, "/v1/uploads", as: nil, headers: H.tus([HTTPField.Name("Upload-Length")!: "5"])).status == .unauthorized)

            // Finish it, then a PATCH after completion is refused (403).
            let bytes = Self.random(100)
            #expect(try await h.patch(user, path, offset: 0, bytes, checksum: H.sha256(bytes)).status == .noContent)
            let after = try await h.patch(user, path, offset: 100, [1])
            #expect(after.status == .forbidden)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user).body == bytes)
        }
    }

    @Test func terminationRemovesTheBytes() async throws {
        try await H.run { h in
            let user = H.user()
            let (path, _) = try await h.create(user, length: 1000, metadata: H.newFile().metadata)
            #expect(try await h.patch(user, path, offset: 0, Self.random(400)).status == .noContent)
            let id = try #require(UUID(uuidString: String(path.split(separator: "/").last!)))
            let file = "\(h.blobDirectory)/\(FileBlobStore.blobKey(id))"
            #expect(FileManager.default.fileExists(atPath: file))
            #expect(try await h.call(.delete, path, as: H.user(tenant: user.tenantID!), headers: H.tus()).status == .notFound)
            #expect(try await h.call(.delete, path, as: user, headers: H.tus()).status == .noContent)
            #expect(!FileManager.default.fileExists(atPath: file))
            #expect(try await h.head(user, path).status == .notFound)
            #expect(try await h.patch(user, path, offset: 400, [1]).status == .notFound)
        }
    }

    @Test func abandonedUploadsExpireAndAreSweptAway() async throws {
        try await H.run(tweak: { $0.uploads.ttlSeconds = 1 }) { h in
            let user = H.user()
            let (path, _) = try await h.create(user, length: 1000, metadata: H.newFile().metadata)
            #expect(try await h.patch(user, path, offset: 0, Self.random(10)).status == .noContent)
            let id = String(path.split(separator: "/").last!)
            let file = "\(h.blobDirectory)/\(FileBlobStore.blobKey(UUID(uuidString: id)!))"
            let swept = try await TestEnvironment.eventually(timeout: .seconds(15)) {
                !FileManager.default.fileExists(atPath: file)
            }
            #expect(swept)
            #expect(try await h.head(user, path).status == .notFound)
            #expect(try await H.outboxCount(type: "coffre.upload.expired", mentioning: id) == 1)
        }
    }

    /// Sends a PATCH over a raw socket, stops after `sent` of its declared
    /// bytes and hangs up, like a client whose connection dies.
    static func abandonedPatch(port: Int, path: String, headers: HTTPFields, declared: Int, sent: [UInt8]) throws {
        let fd = try RawTCP.connect(port: port)
        defer { close(fd) }
        var head = "PATCH \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(declared)\r\n"
        for field in headers { head += "\(field.name.rawName): \(field.value)\r\n" }
        try RawTCP.sendAll(fd, Array((head + "\r\n").utf8) + sent)
        usleep(300_000)
    }

    @Test func aClientThatHangsUpMidPatchKeepsOnlyWhatArrivedAndResumes() async throws {
        try await H.run { h in
            let user = H.user()
            let bytes = Self.random(1_000_000)
            let file = H.newFile()
            let (path, _) = try await h.create(user, length: bytes.count, metadata: file.metadata)
            var headers = H.tus([HTTPField.Name("Upload-Offset")!: "0", .contentType: "application/offset+octet-stream"])
            InternalAuth.sign(user, method: "PATCH", path: path, key: h.key, into: &headers)
            try Self.abandonedPatch(port: h.client.port, path: path, headers: headers, declared: bytes.count,
                                    sent: Array(bytes[0..<300_000]))
            // Mid-body checkpoints show first; the hang-up then keeps the
            // tail that arrived (all 300,000 bytes reached the server).
            var offset = -1
            _ = try await TestEnvironment.eventually(timeout: .seconds(10)) {
                offset = Int(try await h.head(user, path).header("Upload-Offset") ?? "-1") ?? -1
                return offset == 300_000
            }
            #expect(offset == 300_000, "offset \(offset)")
            // What the offset covers is on disk, intact.
            let id = try #require(UUID(uuidString: String(path.split(separator: "/").last!)))
            let onDisk = try Data(contentsOf: URL(fileURLWithPath: "\(h.blobDirectory)/\(FileBlobStore.blobKey(id))"))
            #expect(onDisk.count >= offset)
            #expect(Array(onDisk.prefix(offset)) == Array(bytes[0..<offset]))
            // Not visible as a file, and resumable from there.
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user).status == .notFound)
            let rest = try await h.patch(user, path, offset: offset, Array(bytes[offset...]))
            #expect(rest.status == .noContent)
            #expect(try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user).body == bytes)
        }
    }

    @Test func aChecksummedPatchThatBreaksOffKeepsNothing() async throws {
        try await H.run { h in
            let user = H.user()
            let bytes = Self.random(500_000)
            let (path, _) = try await h.create(user, length: bytes.count, metadata: H.newFile().metadata)
            var headers = H.tus([HTTPField.Name("Upload-Offset")!: "0", .contentType: "application/offset+octet-stream",
                                 HTTPField.Name("Upload-Checksum")!: H.sha256(bytes)])
            InternalAuth.sign(user, method: "PATCH", path: path, key: h.key, into: &headers)
            try Self.abandonedPatch(port: h.client.port, path: path, headers: headers, declared: bytes.count,
                                    sent: Array(bytes[0..<200_000]))
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await h.head(user, path).header("Upload-Offset") == "0")
        }
    }

    /// The same service on S3 (moto's server): chunked upload, resume point,
    /// commit, ranged download; nothing is left in the spool directory.
    @Test func uploadsAndDownloadsThroughS3() async throws {
        try await MotoServer.withShared { moto in
            let spool = FileManager.default.temporaryDirectory.appendingPathComponent("coffre-spool-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: spool) }
            try await H.run(tweak: {
                $0.s3 = S3Configuration(endpoint: moto.endpoint, bucket: moto.bucket, accessKey: moto.accessKey, secretKey: moto.secretKey,
                                        prefix: "svc-\(UUID().uuidString.prefix(8))", partSize: S3Configuration.minimumPartSize,
                                        spoolDirectory: spool)
            }) { h in
                let user = H.user()
                let bytes = Self.random(6 << 20)
                let file = H.newFile()
                let (path, _) = try await h.create(user, length: bytes.count, metadata: file.metadata)
                let half = 3 << 20
                #expect(try await h.patch(user, path, offset: 0, Array(bytes[0..<half]), checksum: H.sha256(Array(bytes[0..<half]))).status == .noContent)
                #expect(try await h.head(user, path).header("Upload-Offset") == String(half))
                let rest = try await h.patch(user, path, offset: half, Array(bytes[half...]))
                #expect(rest.status == .noContent)
                let whole = try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user)
                #expect(whole.body == bytes)
                let partial = try await h.call(.get, "/v1/nodes/\(file.node.lower)/content", as: user, headers: [.range: "bytes=5242870-5242889"])
                #expect(partial.status == .partialContent && partial.body == Array(bytes[5_242_870...5_242_889]))
                #expect((try? FileManager.default.contentsOfDirectory(atPath: spool))?.isEmpty ?? true)
            }
        }
    }

    /// The quota service is its own issue: until it is wired in, ingest's
    /// stand-in grants every reservation (the plan limit still caps one upload).
    @Test func reservationsAlwaysSucceedUntilQuotaLands() async throws {
        let quota = UnreservedQuota(planLimit: 10)
        let tenant = UUID(), account = UUID()
        for n: Int64 in [0, 10, 1 << 40] {
            let reservation = try await quota.reserve(tenant: tenant, account: account, upload: UUID(), bytes: n, expiresAt: Date())
            #expect(!reservation.isEmpty)
        }
        #expect(try await quota.maxUploadSize(tenant: tenant, account: account) == 10)
    }
}
