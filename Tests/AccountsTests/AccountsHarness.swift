@testable import Accounts
import CoffreCore
import CoffreTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Sodium

/// Runs the accounts service in-process (router test mode, real Postgres and
/// broker, its background services running) and signs requests the way the
/// gateway does.
struct AccountsHarness {
    static let adminToken = "test-admin-token"
    static let secret = "accounts-test-secret"
    let client: any TestClientProtocol
    let key = InternalAuth.key(from: AccountsHarness.secret)

    static func config() -> AccountsConfiguration {
        AccountsConfiguration(
            common: CommonConfiguration(postgresURL: TestEnvironment.postgresURL!, postgresPoolSize: 8,
                                        kafkaBrokers: TestEnvironment.kafkaBrokers!, internalSecret: secret),
            listen: .init(host: "127.0.0.1", port: 0), adminToken: adminToken)
    }

    static func run(configure: (inout AccountsConfiguration) -> Void = { _ in },
                    _ body: @Sendable (AccountsHarness) async throws -> Void) async throws {
        var logger = Logger(label: "accounts-test")
        logger.logLevel = .warning
        var config = config()
        configure(&config)
        let app = try AccountsApp.build(config: config, logger: logger)
        try await app.test(.router) { client in
            let harness = AccountsHarness(client: client)
            let ready = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                try await client.execute(uri: "/readyz", method: .get).status == .ok
            }
            guard ready else { throw ChildProcessError(message: "accounts never became ready") }
            try await body(harness)
        }
    }

    struct Reply {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: [UInt8]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func call(_ method: HTTPRequest.Method, _ path: String, json: Any? = nil, raw: String? = nil,
              identity: VerifiedIdentity? = nil, headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers = extra
        headers[.contentType] = "application/json"
        if let identity {
            let pathOnly = String(path.split(separator: "?", maxSplits: 1).first ?? "")
            InternalAuth.sign(identity, method: method.rawValue, path: pathOnly, key: key, into: &headers)
        }
        var body: ByteBuffer?
        if let raw { body = ByteBuffer(string: raw) }
        if let json { body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)) }
        return try await client.execute(uri: path, method: method, headers: headers, body: body) { response in
            Reply(status: response.status, headers: response.headers, body: Array(buffer: response.body))
        }
    }

    /// What a client would send at signup, with throwaway (not Argon2-derived) secrets.
    struct FakeClient {
        var accountID = UUID()
        var email: String
        var loginSecret = Sodium.randomBytes(32)
        var recoverySecret = Sodium.randomBytes(32)
        var salt = Sodium.randomBytes(16)
        let signing = Sodium.Sign.keyPair()
        let box = Sodium.Box.keyPair()

        init(email: String = TestEnvironment.unique("user") + "@example.com") {
            self.email = email
        }

        var publicKeys: [String: String] {
            let x = Base64URL.encode(box.publicKey), ed = Base64URL.encode(signing.publicKey)
            let sig = try! Sodium.Sign.detached(Array("coffre-keys-v1\n\(x)\n\(ed)".utf8), secretKey: signing.secretKey)
            return ["x25519": x, "ed25519": ed, "self_signature": Base64URL.encode(sig)]
        }

        var signupBody: [String: Any] {
            [
                "account_id": accountID.uuidString.lowercased(), "email": email, "salt": Base64URL.encode(salt),
                "kdf": ["algorithm": "argon2id13", "opslimit": 2, "memlimit": 67_108_864],
                "login_secret": Base64URL.encode(loginSecret), "recovery_secret": Base64URL.encode(recoverySecret),
                "public_keys": publicKeys, "key_bundle": ["version": 1, "opaque": Base64URL.encode(Sodium.randomBytes(64))],
            ]
        }

        func loginBody(secret: [UInt8]? = nil, totp: String? = nil) -> [String: Any] {
            var body: [String: Any] = ["email": email, "login_secret": Base64URL.encode(secret ?? loginSecret), "device_name": "test"]
            if let totp { body["totp_code"] = totp }
            return body
        }
    }

    func tenant(_ slug: String) -> VerifiedIdentity { VerifiedIdentity(tenantSlug: slug) }

    /// Signs up and logs in; returns the login reply's fields.
    func signupAndLogin(_ fake: FakeClient, tenant slug: String = "default") async throws -> (identity: VerifiedIdentity, refresh: String, access: String) {
        let signup = try await call(.post, "/v1/accounts", json: fake.signupBody, identity: tenant(slug))
        guard signup.status == .created else { throw ChildProcessError(message: "signup: \(signup.status) \(signup.text)") }
        let login = try await call(.post, "/v1/auth/login", json: fake.loginBody(), identity: tenant(slug))
        guard login.status == .ok else { throw ChildProcessError(message: "login: \(login.status) \(login.text)") }
        let j = login.json
        let identity = VerifiedIdentity(tenantID: UUID(uuidString: j["tenant_id"] as! String), accountID: UUID(uuidString: j["account_id"] as! String),
                                        sessionID: UUID(uuidString: j["session_id"] as! String))
        return (identity, j["refresh_token"] as! String, j["access_token"] as! String)
    }

    func createTenant(_ slug: String) async throws -> UUID {
        let reply = try await call(.post, "/v1/admin/tenants", json: ["slug": slug, "display_name": "Tenant \(slug)"],
                                   headers: [.authorization: "Bearer \(Self.adminToken)"])
        guard reply.status == .created, let id = (reply.json["id"] as? String).flatMap(UUID.init(uuidString:)) else {
            throw ChildProcessError(message: "create tenant: \(reply.status) \(reply.text)")
        }
        return id
    }
}
