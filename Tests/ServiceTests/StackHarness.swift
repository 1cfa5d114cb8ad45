import AsyncHTTPClient
import NIOHTTP1
import CoffreCore
import CoffreSDK
import CoffreTestSupport
import Foundation
import NIOCore

/// accounts, keydir, quota, ingest and gateway as real processes on free
/// ports, as an operator runs them; clients talk to the gateway over real
/// sockets. Ingest reserves upload space with quota (`INGEST_QUOTA_URL`) and
/// asks keydir about share links (`INGEST_KEYDIR_URL`); keydir asks ingest
/// whose node is shared (`KEYDIR_INGEST_URL`); quota follows the accounts
/// and blobs topics in a consumer group of its own.
final class Stack: @unchecked Sendable {
    static let secret = "e2e-internal-secret"
    static let adminToken = "e2e-admin-token"
    let gatewayPort = TestEnvironment.freePort()
    let accountsPort = TestEnvironment.freePort()
    private var children: [ChildProcess] = []

    var gatewayURL: URL { URL(string: "http://127.0.0.1:\(gatewayPort)")! }

    let ingestPort = TestEnvironment.freePort()
    /// The ingest service's blob directory (removed by `stop`).
    let blobDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("coffre-stack-\(UUID().uuidString)").path
    private var ingest: ChildProcess?
    private let ingestEnv: [String: String]

    let keydirPort = TestEnvironment.freePort()
    var keydirURL: URL { URL(string: "http://127.0.0.1:\(keydirPort)")! }

    let quotaPort = TestEnvironment.freePort()
    var quotaURL: URL { URL(string: "http://127.0.0.1:\(quotaPort)")! }
    /// The Kafka group of the stacks' quota processes: one name for all, so a
    /// stack does not replay the topics from the start (a stopped stack's
    /// quota leaves the group). The dedupe key does not depend on it.
    static let quotaConsumerGroup = "quota-stack"

    init(gatewayEnv: [String: String] = [:], ingestEnv extraIngest: [String: String] = [:],
         quotaEnv extraQuota: [String: String] = [:], keydirEnv extraKeydir: [String: String] = [:]) async throws {
        let common = [
            "COFFRE_POSTGRES_URL": TestEnvironment.postgresURL!, "COFFRE_KAFKA_BROKERS": TestEnvironment.kafkaBrokers!,
            "COFFRE_INTERNAL_SECRET": Self.secret, "COFFRE_ADMIN_TOKEN": Self.adminToken, "COFFRE_LOG_LEVEL": "warning",
        ]
        ingestEnv = common.merging(["INGEST_HTTP_PORT": String(ingestPort), "INGEST_BLOB_DIR": blobDirectory,
                                    "INGEST_JANITOR_INTERVAL_MS": "500", "INGEST_TRANSFER_FLUSH_MS": "500",
                                    "INGEST_QUOTA_URL": "http://127.0.0.1:\(quotaPort)",
                                    "INGEST_KEYDIR_URL": "http://127.0.0.1:\(keydirPort)",
                                    // A group per stack: a new member of a shared group can wait
                                    // a long time on Tansu for members of earlier (killed) stacks.
                                    "INGEST_CONSUMER_GROUP": TestEnvironment.unique("ingest-stack")]) { _, n in n }
            .merging(extraIngest) { _, n in n }
        children.append(try ChildProcess.coffre("accounts", [], environment: common.merging(["ACCOUNTS_HTTP_PORT": String(accountsPort)]) { _, n in n }))
        let quotaEnv = common.merging(["QUOTA_HTTP_PORT": String(quotaPort), "QUOTA_INGEST_URL": "http://127.0.0.1:\(ingestPort)",
                                       "QUOTA_CONSUMER_GROUP": Self.quotaConsumerGroup, "QUOTA_SWEEP_INTERVAL_MS": "500"]) { _, n in n }
            .merging(extraQuota) { _, n in n }
        children.append(try ChildProcess.coffre("quota", [], environment: quotaEnv))
        // A group per stack, like ingest's: the dedupe key (the consumer's
        // name) does not depend on it, so replaying coffre.accounts is harmless.
        // The test database holds one log, which KeyDirectoryTests' in-process
        // keydirs sign too: the same log key and origin here (KeyDirectoryHarness's
        // seed of 32 × 0x07), so every checkpoint in it verifies with one key.
        let keydirEnv = common.merging(["KEYDIR_HTTP_PORT": String(keydirPort), "KEYDIR_INGEST_URL": "http://127.0.0.1:\(ingestPort)",
                                        "KEYDIR_LOG_KEY": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc", "KEYDIR_LOG_ORIGIN": "test.coffre.local/keys",
                                        "KEYDIR_CONSUMER_GROUP": TestEnvironment.unique("keydir-stack")]) { _, n in n }
            .merging(extraKeydir) { _, n in n }
        children.append(try ChildProcess.coffre("keydir", [], environment: keydirEnv))
        try startIngest()
        var env = common.merging(["GATEWAY_HTTP_PORT": String(gatewayPort), "GATEWAY_ACCOUNTS_URLS": "http://127.0.0.1:\(accountsPort)",
                                  "GATEWAY_INGEST_URLS": "http://127.0.0.1:\(ingestPort)",
                                  "GATEWAY_KEYDIR_URLS": "http://127.0.0.1:\(keydirPort)",
                                  "GATEWAY_QUOTA_URLS": "http://127.0.0.1:\(quotaPort)"]) { _, n in n }
        env.merge(gatewayEnv) { _, n in n }
        children.append(try ChildProcess.coffre("gateway", [], environment: env))
        // Ready = accounts migrated and the gateway holds its token keys.
        let accountsReady = try await TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            (try? await self.status(URL(string: "http://127.0.0.1:\(self.accountsPort)/readyz")!)) == 200
        }
        let gatewayServing = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
            (try? await self.status(self.gatewayURL.appendingPathComponent("healthz"))) == 200
        }
        let ingestReady = try await waitForIngest()
        let quotaReady = try await TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            (try? await self.status(self.quotaURL.appendingPathComponent("readyz"))) == 200
        }
        let keydirReady = try await TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            (try? await self.status(self.keydirURL.appendingPathComponent("readyz"))) == 200
        }
        guard accountsReady, gatewayServing, ingestReady, quotaReady, keydirReady else {
            stop()
            throw ChildProcessError(message: "stack did not start: \(children.map { $0.output.suffix(800) })")
        }
        // The gateway answers 503 until it holds accounts' token keys; a
        // well-formed token under an unknown key gets 401 once it does.
        let rogue = try TokenSigningKey(seed: Array(repeating: 9, count: 32))
        let now = Int64(Date().timeIntervalSince1970)
        let probe = try AccessToken.sign(AccessClaims(tid: UUID(), sub: UUID(), sid: UUID(), iat: now, exp: now + 600, kid: "probe"), with: rogue)
        let keysLoaded = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
            (try? await self.raw(.GET, "/v1/accounts/me", headers: ["Authorization": "Bearer \(probe)"]))?.status == 401
        }
        guard keysLoaded else {
            stop()
            throw ChildProcessError(message: "gateway never loaded token keys: \(logs.suffix(1500))")
        }
    }

    func stop() {
        children.forEach { $0.stop() }
        ingest?.stop()
        try? FileManager.default.removeItem(atPath: blobDirectory)
    }

    var logs: String { (children + (ingest.map { [$0] } ?? [])).map(\.output).joined(separator: "\n") }

    /// Starts (or restarts) the ingest process on the same port and blob directory.
    func startIngest() throws {
        ingest = try ChildProcess.coffre("ingest", [], environment: ingestEnv)
    }

    func waitForIngest() async throws -> Bool {
        try await TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            (try? await self.status(URL(string: "http://127.0.0.1:\(self.ingestPort)/readyz")!)) == 200
        }
    }

    /// `kill -9` of the ingest process: no graceful anything.
    func killIngest() async {
        ingest?.signal(SIGKILL)
        _ = await ingest?.wait(timeout: .seconds(10))
    }

    func status(_ url: URL) async throws -> Int {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        return Int(try await HTTPClient.shared.execute(request, timeout: .seconds(5)).status.code)
    }

    struct Reply {
        var status: Int
        var headers: [(String, String)]
        var body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    func raw(_ method: HTTPMethod, _ path: String, body: String? = nil, headers: [String: String] = [:]) async throws -> Reply {
        var request = HTTPClientRequest(url: gatewayURL.absoluteString + path)
        request.method = method
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
        let bytes = try await response.body.collect(upTo: 4 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: String(buffer: bytes))
    }

    func client(tenant: String? = nil) -> CoffreClient {
        CoffreClient(server: gatewayURL, tenant: tenant, profile: .testing)
    }

    func createTenant(_ slug: String, crossTenantShares: Bool = false) async throws {
        let body = #"{"slug":"\#(slug)","display_name":"\#(slug)","cross_tenant_shares":\#(crossTenantShares)}"#
        let reply = try await raw(.POST, "/v1/admin/tenants", body: body, headers: ["Authorization": "Bearer \(Self.adminToken)"])
        guard reply.status == 201 else { throw ChildProcessError(message: "tenant: \(reply.status) \(reply.body)") }
    }
}

func uniqueEmail() -> String { TestEnvironment.unique("e2e") + "@example.com" }
func uniqueSlug() -> String { TestEnvironment.unique("t").replacingOccurrences(of: "_", with: "-") }
