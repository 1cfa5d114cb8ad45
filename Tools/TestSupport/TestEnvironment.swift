import CoffreCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// What the test script (`./coffre test`) provides to integration tests:
/// a private Postgres, a Tansu broker, the Tansu binary, the build's bin dir.
public enum TestEnvironment {
    static let env = ProcessInfo.processInfo.environment

    public static var postgresURL: String? { env["COFFRE_TEST_POSTGRES_URL"] }
    public static var kafkaBrokers: String? { env["COFFRE_TEST_KAFKA_BROKERS"] }
    public static var tansuBinary: String? { env["TANSU_BIN"] }
    public static var binDir: String? { env["COFFRE_BIN_DIR"] }
    /// The Python venv of scripts/setup.sh (tuspy, moto's S3 server).
    public static var venv: String {
        env["COFFRE_VENV"] ?? (env["HOME"] ?? "/root") + "/.cache/coffre/venv"
    }

    /// True when the stack the integration tests need was started for them.
    public static var hasStack: Bool { postgresURL != nil && kafkaBrokers != nil && binDir != nil && tansuBinary != nil }

    public static let logger: Logger = {
        var l = Logger(label: "tests")
        l.logLevel = .warning
        return l
    }()

    /// With `COFFRE_TEST_TRACE` set, prints a timestamped step to stderr, so a
    /// test that hangs shows the last step it reached.
    public static func trace(_ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
        guard env["COFFRE_TEST_TRACE"] != nil else { return }
        FileHandle.standardError.write(Data("[trace \(Date().timeIntervalSince1970)] \(file):\(line) \(message())\n".utf8))
    }

    /// A fresh lowercase name, for schemas, topics and groups of one test.
    public static func unique(_ prefix: String) -> String {
        prefix + "_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
    }

    /// Runs `body` with a running pool on the test database.
    public static func withPostgres<T: Sendable>(poolSize: Int = 8, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let config = try PostgresSetup.configuration(url: postgresURL!, poolSize: poolSize)
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            // Lease only once run() is going: in one CI run a lease made before
            // it (PostgresNIO warns "run() hasn't been called yet") was followed
            // by a connection whose COMMIT reply was never read, and the test hung.
            try await Task.sleep(for: .milliseconds(50))
            return try await body(client)
        }
    }

    /// Creates a topic on `brokers` with Tansu's CLI.
    public static func createTopic(_ name: String, partitions: Int = 6, brokers: String? = nil) throws {
        let result = try ChildProcess.run(tansuBinary!, ["topic", "create", "--broker", "tcp://\(brokers ?? kafkaBrokers!)",
                                                         "--partitions", String(partitions), name], timeout: 30)
        guard result.status == 0 else {
            throw ChildProcessError(message: "tansu topic create \(name) failed: \(result.output)")
        }
    }

    /// A TCP port nobody listens on right now, handed out once per test
    /// process. Taken below the kernel's ephemeral range (32768–60999 here)
    /// and not by binding port 0: a port the kernel picked for a bind is
    /// soon the source port of some outgoing connection of a test running
    /// in parallel, and the server meant for it then cannot bind.
    public static func freePort() -> Int {
        while true {
            let candidate = nextPort.withLock { next -> Int in
                defer { next = next >= 31_999 ? 20_000 : next + 1 }
                return next
            }
            if canBind(candidate) { return candidate }
        }
    }

    private static let nextPort = Mutex(20_000 + Int(getpid() % 120) * 100)

    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let len = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } } == 0
    }

    /// Polls `condition` until it holds or `timeout` passes.
    public static func eventually(timeout: Duration, interval: Duration = .milliseconds(100),
                                  _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: interval)
        }
        return try await condition()
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// A child OS process with its output captured to a file, which tests can
/// SIGTERM or SIGKILL.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    public let outputPath: String

    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws {
        outputPath = NSTemporaryDirectory() + "coffre-child-" + UUID().uuidString + ".log"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = handle
        process.standardError = handle
        if let input {
            let pipe = Pipe()
            process.standardInput = pipe
            try process.run()
            pipe.fileHandleForWriting.write(Data(input.utf8))
            try pipe.fileHandleForWriting.close()
        } else {
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }
    }

    /// A Coffre executable from the build's bin dir.
    public static func coffre(_ name: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> ChildProcess {
        try ChildProcess(TestEnvironment.binDir! + "/" + name, arguments, environment: environment, input: input)
    }

    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }

    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for exit; returns the status, or nil on timeout.
    public func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    /// Kills it if still running (cleanup).
    public func stop() {
        if process.isRunning {
            signal(SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Runs to completion (blocking), returning status and combined output.
    public static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval) throws -> (status: Int32, output: String) {
        let child = try ChildProcess(executable, arguments)
        let deadline = Date().addingTimeInterval(timeout)
        while child.process.isRunning && Date() < deadline { usleep(20_000) }
        if child.process.isRunning {
            child.stop()
            throw ChildProcessError(message: "\(executable) \(arguments.joined(separator: " ")) timed out")
        }
        return (child.process.terminationStatus, child.output)
    }
}

/// A Tansu broker of a test's own, on a port of its own, so the test can
/// stop and restart it without disturbing other tests.
public final class PrivateBroker: @unchecked Sendable {
    public let port: Int
    private var child: ChildProcess?

    public init(port: Int = TestEnvironment.freePort()) {
        self.port = port
    }

    public var address: String { "127.0.0.1:\(port)" }

    public func start() async throws {
        let url = "tcp://127.0.0.1:\(port)"
        child = try ChildProcess(TestEnvironment.tansuBinary!, [
            "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/",
        ])
        let up = try await TestEnvironment.eventually(timeout: .seconds(20)) { Self.isListening(port: self.port) }
        guard up else { throw ChildProcessError(message: "tansu did not start: \(child?.output ?? "")") }
    }

    public func stop() async {
        guard let child else { return }
        child.signal(SIGTERM)
        if await child.wait(timeout: .seconds(5)) == nil { child.stop() }
        self.child = nil
    }

    static func isListening(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        return rc == 0
    }
}
