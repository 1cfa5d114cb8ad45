import AsyncHTTPClient
import CoffreCore
import CoffreTestSupport
import Foundation
import NIOCore
import Testing
@testable import Ingest

/// The S3 blob store against moto's S3 server (one shared by the tests that
/// run at the same time, each test under a key prefix of its own), with 5 MiB
/// parts so multipart paths run on a few MiB.
@Suite struct S3BlobStoreTests {
    static let partSize = S3Configuration.minimumPartSize

    /// Runs `body` with a store (and a second one over the same bucket and
    /// prefix, playing the process that takes over after a kill -9).
    func withStores(_ body: (S3BlobStore, S3BlobStore) async throws -> Void) async throws {
        try await MotoServer.withShared { moto in
            let spool = NSTemporaryDirectory() + TestEnvironment.unique("coffre-s3-spool")
            let configuration = S3Configuration(
                endpoint: moto.endpoint, bucket: moto.bucket, region: moto.region,
                accessKey: moto.accessKey, secretKey: moto.secretKey,
                prefix: TestEnvironment.unique("t"), partSize: Self.partSize, spoolDirectory: spool
            )
            let store = try S3BlobStore(configuration: configuration)
            let restarted = try S3BlobStore(configuration: configuration)
            do {
                try await body(store, restarted)
                // Spool files are unlinked while open: nothing is ever left.
                #expect(try FileManager.default.contentsOfDirectory(atPath: spool) == [])
                // Completed and aborted uploads leave no staging objects.
                #expect(try await store.client.keys(under: store.prefix + "uploads/") == [])
            } catch {
                try? await store.shutdown()
                try? await restarted.shutdown()
                try? FileManager.default.removeItem(atPath: spool)
                throw error
            }
            try await store.shutdown()
            try await restarted.shutdown()
            try? FileManager.default.removeItem(atPath: spool)
        }
    }

    @Test func roundTripsOfEverySize() async throws {
        try await withStores { store, _ in
            try await BlobStoreConformance.roundTrips(store, sizes: BlobStoreConformance.sizes(partSize: Self.partSize))
        }
    }

    @Test func continuesInANewProcessAfterACheckpoint() async throws {
        try await withStores { store, restarted in
            try await BlobStoreConformance.continuesAfterRestart(store, restarted: restarted, partSize: Self.partSize)
        }
    }

    @Test func rollbackDiscardsBytesSinceTheCheckpoint() async throws {
        try await withStores { store, _ in
            try await BlobStoreConformance.rollbackDiscards(store, partSize: Self.partSize)
        }
    }

    @Test func reopenDiscardsBytesNeverCheckpointed() async throws {
        try await withStores { store, restarted in
            try await BlobStoreConformance.reopenDiscardsUncheckpointed(store, restarted: restarted, partSize: Self.partSize)
        }
    }

    @Test func reopensAtACheckpointPostgresRecordedBeforeTheLastOne() async throws {
        try await withStores { store, restarted in
            try await BlobStoreConformance.reopensAtEarlierCheckpoint(store, restarted: restarted, partSize: Self.partSize)
        }
    }

    @Test func rangedReads() async throws {
        try await withStores { store, _ in
            try await BlobStoreConformance.rangedReads(store, size: 2 * Self.partSize + 1_001)
        }
    }

    @Test func completesAgainAfterACrashBeforeTheCommit() async throws {
        try await withStores { store, restarted in
            try await BlobStoreConformance.completesAgainAfterCrash(store, restarted: restarted, size: Self.partSize + 3)
            try await BlobStoreConformance.completesAgainAfterCrash(store, restarted: restarted, size: 0)
        }
    }

    @Test func abortRemovesEverything() async throws {
        try await withStores { store, _ in
            let id = UUID()
            let state = try await store.beginUpload(id: id)
            let writer = try await store.openUpload(id: id, state: state, durableOffset: 0)
            try await BlobStoreConformance.write(writer, BlobStoreConformance.bytes(Self.partSize + 10, seed: 1)[...])
            let durable = try await writer.checkpoint()
            await writer.close()
            #expect(try await store.client.keys(under: store.stagingPrefix(id)).count == 1)  // the tail of part 2

            try await store.abortUpload(id: id, state: state)
            try await store.abortUpload(id: id, state: state)
            #expect(try await store.client.keys(under: store.prefix) == [])
            let (_, uploadID) = try store.parseState(state, id: id)
            await #expect(throws: BlobStoreError.self) { _ = try await store.parts(key: store.blobKey(id), uploadID: uploadID) }
            await #expect(throws: BlobStoreError.self) { _ = try await store.openUpload(id: id, state: state, durableOffset: durable) }
        }
    }

    @Test func deleteIsIdempotent() async throws {
        try await withStores { store, _ in
            try await BlobStoreConformance.deleteIsIdempotent(store)
            try await store.delete(key: store.blobKey(UUID()))
        }
    }

    @Test func keysOutsideBlobsAreRefused() async throws {
        try await withStores { store, _ in
            let id = UUID()
            let state = try await store.beginUpload(id: id)
            let writer = try await store.openUpload(id: id, state: state, durableOffset: 0)
            try await writer.write(ByteBuffer(string: "tail"))
            _ = try await writer.checkpoint()
            await writer.close()
            let tail = store.tailKey(id, part: 1)
            await #expect(throws: BlobStoreError.self) { try await store.read(key: tail, range: 0..<4) { _ in } }
            await #expect(throws: BlobStoreError.self) { try await store.delete(key: tail) }
            try await store.abortUpload(id: id, state: state)
        }
    }

    @Test func aWrongSecretKeyIsAClearError() async throws {
        try await MotoServer.withShared { moto in
            let store = try S3BlobStore(configuration: S3Configuration(
                endpoint: moto.endpoint, bucket: moto.bucket, accessKey: moto.accessKey, secretKey: "not-the-secret",
                prefix: TestEnvironment.unique("t")
            ))
            let error = await #expect(throws: BlobStoreError.self) { _ = try await store.beginUpload(id: UUID()) }
            try await store.shutdown()
            let text = String(describing: try #require(error))
            #expect(text.contains("SignatureDoesNotMatch"), "\(text)")
            #expect(text.contains("INGEST_S3_SECRET_KEY"), "\(text)")
            #expect(!text.contains("not-the-secret"))
        }
    }

    // MARK: Without a server

    /// The "GET Object" example of "Signature Calculations for the
    /// Authorization Header: Transferring Payload in a Single Chunk (AWS
    /// Signature Version 4)", Amazon S3 API Reference,
    /// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
    /// (example keys and values as published there).
    @Test func signerMatchesTheAWSGetObjectExample() throws {
        let signer = S3Signer(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
        let headers = [
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", S3Signer.emptyPayloadHash),
            ("x-amz-date", "20130524T000000Z"),
        ]
        let canonical = S3Signer.canonicalRequest(method: "GET", path: "/test.txt", query: [], headers: headers,
                                                  payloadHash: S3Signer.emptyPayloadHash)
        #expect(canonical.request == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        let stringToSign = signer.stringToSign(canonicalRequest: canonical.request, dateTime: "20130524T000000Z")
        #expect(stringToSign == """
            AWS4-HMAC-SHA256
            20130524T000000Z
            20130524/us-east-1/s3/aws4_request
            7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
            """)
        #expect(signer.signature(stringToSign: stringToSign, day: "20130524")
            == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")

        // The same through the header builder, with the date as a Date.
        let date = try #require(ISO8601DateFormatter().date(from: "2013-05-24T00:00:00Z"))
        let added = signer.authorizationHeaders(method: "GET", path: "/test.txt", query: [],
                                                headers: [("host", "examplebucket.s3.amazonaws.com"), ("range", "bytes=0-9")],
                                                payloadHash: S3Signer.emptyPayloadHash, date: date)
        #expect(added.first { $0.0 == "authorization" }?.1 == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func canonicalQueryIsSortedAndEncoded() {
        let canonical = S3Signer.canonicalRequest(
            method: "GET", path: "/b/k", query: [("uploadId", "a+b/c=="), ("part-number-marker", "2"), ("uploads", "")],
            headers: [("host", "h")], payloadHash: S3Signer.unsignedPayload
        )
        #expect(canonical.request.split(separator: "\n", omittingEmptySubsequences: false)[2]
            == "part-number-marker=2&uploadId=a%2Bb%2Fc%3D%3D&uploads=")
        #expect(S3Signer.uriEncode("a b/ü~", keepSlash: true) == "a%20b/%C3%BC~")
    }

    @Test func configurationFromTheEnvironment() throws {
        let env = EnvironmentReader([
            "INGEST_S3_ENDPOINT": "http://127.0.0.1:9000", "INGEST_S3_BUCKET": "vault", "INGEST_S3_ACCESS_KEY": "AK",
            "INGEST_S3_SECRET_KEY": "very-secret", "INGEST_S3_PREFIX": "/coffre", "INGEST_S3_PART_BYTES": "6291456",
            "INGEST_S3_SPOOL_DIR": "/var/tmp/spool",
        ])
        let configuration = try S3Configuration(env: env)
        #expect(configuration.region == "us-east-1")
        #expect(configuration.prefix == "coffre/")
        #expect(configuration.partSize == 6 * 1024 * 1024)
        #expect(configuration.spoolDirectory == "/var/tmp/spool")
        #expect(!configuration.description.contains("very-secret"))
        #expect(try S3Endpoint(parsing: configuration.endpoint).hostHeader == "127.0.0.1:9000")

        let aws = try S3Configuration(env: EnvironmentReader([
            "INGEST_S3_BUCKET": "b", "INGEST_S3_ACCESS_KEY": "a", "INGEST_S3_SECRET_KEY": "s", "INGEST_S3_REGION": "eu-west-3",
        ]))
        #expect(aws.endpoint == "https://s3.eu-west-3.amazonaws.com")
        #expect(aws.partSize == 8 * 1024 * 1024)
        #expect(try S3Endpoint(parsing: aws.endpoint).hostHeader == "s3.eu-west-3.amazonaws.com")

        #expect(throws: ConfigurationError.self) { try S3Configuration(env: EnvironmentReader(["INGEST_S3_BUCKET": "b"])) }
        #expect(throws: ConfigurationError.self) {
            try S3Configuration(env: EnvironmentReader(env.values.merging(["INGEST_S3_PART_BYTES": "1048576"]) { $1 }))
        }
        #expect(throws: ConfigurationError.self) {
            try S3Configuration(env: EnvironmentReader(env.values.merging(["INGEST_S3_ENDPOINT": "ftp://x/y"]) { $1 }))
        }
    }

    @Test func xmlElements() {
        let xml = """
            <?xml version="1.0"?><ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated>\
            <Part><PartNumber>1</PartNumber><ETag>&quot;a&amp;b&quot;</ETag><Size>5</Size></Part>\
            <PartNumberMarker/><Part><PartNumber>2</PartNumber><ETag>"c"</ETag><Size>6</Size></Part></ListPartsResult>
            """
        let parts = S3XML.elements("Part", in: xml)
        #expect(parts.count == 2)
        #expect(S3XML.element("ETag", in: parts[0]) == "\"a&b\"")
        #expect(S3XML.element("PartNumberMarker", in: xml) == "")
        #expect(S3XML.element("IsTruncated", in: xml) == "false")
        #expect(S3XML.unescape("&#65;&#x42;&lt;") == "AB<")
    }
}
