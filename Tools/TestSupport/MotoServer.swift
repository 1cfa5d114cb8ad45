import Foundation

/// moto's S3 server (from the venv of scripts/setup.sh) as a child process,
/// for tests of the S3 blob store. It runs with moto's IAM checks on: the
/// tests sign with the keys of an IAM user created at start, and a request
/// signed with any other secret is refused the way S3 refuses it.
public final class MotoServer: @unchecked Sendable {
    // Written by `start` before the server is handed to anyone, read-only after.
    public let port: Int
    public let bucket: String
    public let region = "us-east-1"
    public private(set) var accessKey = ""
    public private(set) var secretKey = ""
    private var child: ChildProcess?

    public init(port: Int = TestEnvironment.freePort(), bucket: String = "coffre-test") {
        self.port = port
        self.bucket = bucket
    }

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Starts moto, waits until it answers, creates an IAM user allowed `s3:*`
    /// and the bucket, then turns authentication on for every later request.
    public func start() async throws {
        let binary = TestEnvironment.venv + "/bin/moto_server"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ChildProcessError(message: "\(binary) is missing: scripts/setup.sh installs moto in the venv (COFFRE_VENV)")
        }
        let server = try ChildProcess(binary, ["-H", "127.0.0.1", "-p", String(port)])
        child = server
        let listening = try await TestEnvironment.eventually(timeout: .seconds(30)) {
            !server.isRunning || PrivateBroker.isListening(port: self.port)
        }
        guard listening, server.isRunning else {
            let output = server.output
            await stop()
            throw ChildProcessError(message: "moto_server did not start on port \(port): \(output)")
        }
        let setup = try ChildProcess(TestEnvironment.venv + "/bin/python", ["-c", Self.setupScript, endpoint, bucket])
        let status = await setup.wait(timeout: .seconds(60))
        let lastLine = setup.output.split(separator: "\n").last.map(String.init) ?? ""
        guard status == 0, let json = try? JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: String],
              let access = json["accessKey"], let secret = json["secretKey"] else {
            setup.stop()
            let output = setup.output
            await stop()
            throw ChildProcessError(message: "moto set-up failed (status \(status.map(String.init) ?? "timeout")): \(output)")
        }
        accessKey = access
        secretKey = secret
    }

    public func stop() async {
        guard let child else { return }
        child.signal(SIGTERM)
        if await child.wait(timeout: .seconds(5)) == nil { child.stop() }
        self.child = nil
    }

    /// Runs `body` with a server shared by every test of this process that
    /// runs at the same time; the last one to finish stops it. Tests keep
    /// apart by using a key prefix of their own.
    public static func withShared<T>(_ body: (MotoServer) async throws -> T) async throws -> T {
        let server = try await shared.acquire()
        do {
            let result = try await body(server)
            await shared.release()
            return result
        } catch {
            await shared.release()
            throw error
        }
    }

    private static let shared = SharedMoto()

    /// Waits for the HTTP API, sets up IAM and the bucket through boto3 (in
    /// the same venv), switches moto's authentication on (`reset-auth` 0:
    /// every later request must be signed by a known key), prints the keys.
    static let setupScript = #"""
    import json, sys, time, urllib.request
    import boto3
    endpoint, bucket = sys.argv[1], sys.argv[2]
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).read()
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
    iam = boto3.client("iam", **kw)
    iam.create_user(UserName="coffre")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="coffre", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="coffre")["AccessKey"]
    boto3.client("s3", **kw).create_bucket(Bucket=bucket)
    urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                                  headers={"Content-Type": "text/plain"})).read()
    print(json.dumps({"accessKey": key["AccessKeyId"], "secretKey": key["SecretAccessKey"]}))
    """#
}

/// Reference-counted start and stop of the shared server.
private actor SharedMoto {
    private var users = 0
    private var starting: Task<MotoServer, any Error>?

    func acquire() async throws -> MotoServer {
        users += 1
        let task: Task<MotoServer, any Error>
        if let starting {
            task = starting
        } else {
            task = Task {
                let server = MotoServer()
                try await server.start()
                return server
            }
            starting = task
        }
        do {
            return try await task.value
        } catch {
            users -= 1
            if users == 0 { starting = nil }
            throw error
        }
    }

    func release() async {
        users -= 1
        guard users == 0, let task = starting else { return }
        starting = nil
        if let server = try? await task.value { await server.stop() }
    }
}
