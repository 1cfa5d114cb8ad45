// `CoffreClient.quota` against canned answers, and how uploads treat quota's
// 507 (final: the account must free space) next to a passing 503 (retried).
@testable import CoffreSDK
import Foundation
import Sodium
import Synchronization
import Testing

/// Answers `GET /v1/quota` with a fixed body, and `POST /v1/uploads` with a
/// fixed status (counting them); everything else goes to the ingest fake.
final class QuotaTransport: CoffreTransport {
    let inner = FakeIngestServer()
    let quotaBody: String
    let uploadStatus: Int
    let creations = Atomic<Int>(0)
    var serverDescription: String { inner.serverDescription }

    init(quotaBody: String = "{}", uploadStatus: Int = 507) {
        self.quotaBody = quotaBody
        self.uploadStatus = uploadStatus
    }

    func send(_ request: TransportRequest) async throws -> TransportResponse {
        if request.method == "GET", request.path == "/v1/quota" {
            return TransportResponse(status: 200, headers: ["Content-Type": "application/json"], body: Array(quotaBody.utf8))
        }
        if request.method == "POST", request.path == "/v1/uploads" {
            creations.add(1, ordering: .relaxed)
            let problem = #"{"type":"urn:coffre:problem:quota-exceeded","title":"Storage quota exceeded","status":\#(uploadStatus),"#
                + #""detail":"The account has no room for 5000 more bytes.","remaining_bytes":100}"#
            return TransportResponse(status: uploadStatus, headers: ["Content-Type": "application/problem+json", "Tus-Resumable": "1.0.0"],
                                     body: Array(problem.utf8))
        }
        return try await inner.send(request)
    }
}

@Suite struct QuotaUsageTests {
    static let documented = """
        {"tenant_id": "3F0C6C8E-58A4-4F5B-9F43-6F7A5A1C2B10", "account_id": "9b1d2f1e-3c4b-4a59-8e6f-0a1b2c3d4e5f",
         "used_bytes": 1200, "reserved_bytes": 300, "limit_bytes": 200000, "available_bytes": 198500, "closed": false,
         "storage_override": true,
         "transfer": {"used_bytes": 4096, "allowance_bytes": 10000000000, "window_seconds": 21600,
                      "window_reset": "2026-11-29T12:00:00Z", "exhausted": false}}
        """

    /// The files fixture's session and folder, with a client on `transport`.
    func client(_ transport: QuotaTransport) throws -> (CoffreClient, Session, FilesFixture) {
        let fixture = try FilesFixture()
        return (CoffreClient(transport: transport, tenant: nil, profile: .testing), fixture.session, fixture)
    }

    @Test func decodesTheDocumentedAnswerAndKeepsItRaw() async throws {
        let (client, session, _) = try client(QuotaTransport(quotaBody: Self.documented))
        let usage = try await client.quota(session)
        #expect(usage.tenantID == "3f0c6c8e-58a4-4f5b-9f43-6f7a5a1c2b10")
        #expect(usage.usedBytes == 1200 && usage.reservedBytes == 300 && usage.limitBytes == 200_000 && usage.availableBytes == 198_500)
        #expect(usage.storageOverride && !usage.closed)
        #expect(usage.transfer.usedBytes == 4096 && usage.transfer.allowanceBytes == 10_000_000_000 && usage.transfer.windowSeconds == 21600)
        #expect(usage.transfer.windowReset == Date(timeIntervalSince1970: 1_795_953_600))
        #expect(usage.json == Self.documented)

        let idle = Self.documented.replacingOccurrences(of: #""2026-11-29T12:00:00Z""#, with: "null")
        let (idleClient, idleSession, _) = try self.client(QuotaTransport(quotaBody: idle))
        #expect(try await idleClient.quota(idleSession).transfer.windowReset == nil)
    }

    @Test func aMalformedAnswerIsAnInvalidResponse() async throws {
        let (client, session, _) = try client(QuotaTransport(quotaBody: #"{"used_bytes": "lots"}"#))
        await #expect(throws: CoffreClientError.self) { _ = try await client.quota(session) }
    }

    @Test func anUploadOverQuotaFailsAtOnceWithTheProblem() async throws {
        let transport = QuotaTransport(uploadStatus: 507)
        let (client, session, fixture) = try client(transport)
        let path = fixture.file("big.bin", Sodium.randomBytes(5000))
        do {
            _ = try await client.upload(session, file: path, toFolder: nil, options: UploadOptions(maxAttempts: 5))
            Issue.record("the upload succeeded")
        } catch let error as CoffreAPIError {
            #expect(error.status == 507 && error.type == "urn:coffre:problem:quota-exceeded")
            #expect(error.description.contains("507"))
        }
        #expect(transport.creations.load(ordering: .relaxed) == 1, "a 507 was retried")
        #expect(transport.inner.uploadCount == 0)
    }

    @Test func aPassing503IsRetried() async throws {
        let transport = QuotaTransport(uploadStatus: 503)
        let (client, session, fixture) = try client(transport)
        let path = fixture.file("small.bin", Sodium.randomBytes(10))
        await #expect(throws: CoffreAPIError.self) {
            _ = try await client.upload(session, file: path, toFolder: nil, options: UploadOptions(maxAttempts: 2))
        }
        #expect(transport.creations.load(ordering: .relaxed) == 2)
        #expect(UploadRun.isTransient(503) && UploadRun.isTransient(429) && UploadRun.isTransient(500))
        #expect(!UploadRun.isTransient(507) && !UploadRun.isTransient(501) && !UploadRun.isTransient(400))
    }
}
