@testable import CoffreCrypto
import CoffreSDK
import CoffreTestSupport
import Foundation
import Sodium
import Testing

/// The `coffre` file commands against a running stack (accounts, ingest,
/// gateway as processes), as a user runs them: round trips, an upload killed
/// mid-way and resumed, the tree commands, and what the server ends up
/// holding (Postgres and the blob directory): ciphertext, never a name, a
/// marker from the content or a key.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct CLIFilesTests {
    @Test(arguments: [0, 1, 65_536, 3 * 1024 * 1024 + 123])
    func putThenGetGivesIdenticalBytes(size: Int) async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let user = try await CLIUser(stack)
        defer { user.cleanUp() }
        let local = try user.write("file-\(size).bin", size: size)

        let put = try await user.run(["put", local, "/"])
        #expect(put.status == 0, "\(put.output)")
        #expect(put.output.contains("Uploaded /file-\(size).bin"), "\(put.output)")
        let out = user.scratch + "/out-\(size).bin"
        let get = try await user.run(["get", "/file-\(size).bin", out])
        #expect(get.status == 0, "\(get.output)")
        #expect(try sameContents(local, out))
        let ls = try await user.run(["ls"])
        #expect(ls.output.contains("file-\(size).bin"), "\(ls.output)")
    }

    @Test func aKilledPutResumesOnTheNextRunWithIdenticalBytes() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let user = try await CLIUser(stack)
        defer { user.cleanUp() }
        let local = try user.write("big.bin", size: 160 << 20)

        // Kill the CLI once it has had at least two PATCHes accepted.
        let first = try user.start(["put", local, "/"])
        let started = try await TestEnvironment.eventually(timeout: .seconds(120), interval: .milliseconds(20)) {
            (user.resumeStates().first?["sent_plaintext_bytes"] as? Int ?? 0) > 24 << 20 || !first.isRunning
        }
        #expect(started && first.isRunning, "the upload finished or never started: \(first.output)")
        first.signal(SIGKILL)
        _ = await first.wait(timeout: .seconds(10))
        let state = try #require(user.resumeStates().first, "no resume state after the kill")
        #expect(state["wrapped_key"] != nil)
        let uploadPath = try #require(state["upload_path"] as? String)
        let head = try await stack.raw(.HEAD, uploadPath, headers: ["Tus-Resumable": "1.0.0", "Authorization": "Bearer \(try user.accessToken())"])
        let held = try #require(head.header("Upload-Offset").flatMap(Int.init), "HEAD: \(head.status)")
        #expect(held > 0 && held < (160 << 20))

        let second = try await user.run(["put", local, "/"], timeout: .seconds(300))
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("resumed at"), "\(second.output)")
        #expect(user.resumeStates().isEmpty)
        let out = user.scratch + "/big.out"
        let get = try await user.run(["get", "/big.bin", out], timeout: .seconds(300))
        #expect(get.status == 0, "\(get.output)")
        #expect(try sameContents(local, out))
        // One file, one version: the resumed upload did not start over as another.
        let versions = try await user.run(["versions", "/big.bin"])
        #expect(versions.output.split(separator: "\n").count == 2, "\(versions.output)")
    }

    @Test func treeCommands() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let user = try await CLIUser(stack)
        defer { user.cleanUp() }

        #expect(try await user.run(["mkdir", "/docs"]).status == 0)
        let nested = try await user.run(["mkdir", "-p", "/docs/2024/q1"])
        #expect(nested.status == 0 && nested.output.contains("Created /docs/2024/q1"), "\(nested.output)")
        let again = try await user.run(["mkdir", "/docs"])
        #expect(again.status == 1 && again.output.contains("coffre: /docs already exists"), "\(again.output)")

        let a = try user.write("a.txt", text: "first version")
        #expect(try await user.run(["put", a, "/docs"]).status == 0)
        let root = try await user.run(["ls"])
        #expect(root.output.contains("docs/") && !root.output.contains("a.txt"), "\(root.output)")
        let docs = try await user.run(["ls", "/docs"])
        #expect(docs.output.contains("2024/") && docs.output.contains("a.txt"), "\(docs.output)")

        // Move and rename in one, then into a folder keeping the name.
        let mv = try await user.run(["mv", "/docs/a.txt", "/docs/2024/b.txt"])
        #expect(mv.status == 0 && mv.output.contains("Moved /docs/a.txt to /docs/2024/b.txt"), "\(mv.output)")
        #expect(try await user.run(["mv", "/docs/2024/b.txt", "/"]).status == 0)
        #expect(try await user.run(["mv", "/b.txt", "/docs/2024"]).status == 0)
        let into = try await user.run(["mv", "/docs", "/docs/2024/q1"])
        #expect(into.status == 1, "\(into.output)")

        // Trash and restore.
        let rm = try await user.run(["rm", "/docs/2024/b.txt"])
        #expect(rm.status == 0, "\(rm.output)")
        #expect(try await user.run(["ls", "/docs/2024"]).output.contains("b.txt") == false)
        let trash = try await user.run(["trash"])
        #expect(trash.output.contains("b.txt") && trash.output.contains("(from /docs/2024)"), "\(trash.output)")
        let restore = try await user.run(["restore", "/docs/2024/b.txt"])
        #expect(restore.status == 0 && restore.output.contains("Restored /docs/2024/b.txt"), "\(restore.output)")
        #expect(try await user.run(["ls", "/docs/2024"]).output.contains("b.txt"))
        #expect(try await user.run(["trash"]).output.contains("b.txt") == false)

        // A second put of the same name is a new version; versions can be restored and purged.
        let b = try user.write("b.txt", text: "second version, longer")
        #expect(try await user.run(["put", b, "/docs/2024"]).status == 0)
        let listed = try await user.run(["versions", "/docs/2024/b.txt"])
        let ids = listed.output.split(separator: "\n").dropFirst().map { $0.split(separator: " ").first { $0.count == 36 }.map(String.init) ?? "" }
        #expect(ids.count == 2, "\(listed.output)")
        let older = ids[1]
        let current = ids[0]
        #expect(try await user.run(["versions", "/docs/2024/b.txt", "--restore", String(older.prefix(8))]).status == 0)
        let out = user.scratch + "/b.out"
        #expect(try await user.run(["get", "/docs/2024/b.txt", out]).status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "first version")
        let purge = try await user.run(["versions", "/docs/2024/b.txt", "--purge", current])
        #expect(purge.status == 0, "\(purge.output)")
        #expect(try await user.run(["versions", "/docs/2024/b.txt"]).output.contains(current) == false)

        // Purge from the trash for good.
        #expect(try await user.run(["rm", "/docs/2024/q1"]).status == 0)
        #expect(try await user.run(["trash", "--purge", "q1"]).status == 0)
        #expect(try await user.run(["restore", "q1"]).output.contains("no such file or folder"))

        // Clear errors.
        let missing = try await user.run(["get", "/nope.txt", user.scratch + "/x"])
        #expect(missing.status == 1 && missing.output.contains("coffre: /nope.txt: no such file or folder"), "\(missing.output)")
        let exists = try await user.run(["get", "/docs/2024/b.txt", out])
        #expect(exists.status == 1 && exists.output.contains("already exists"), "\(exists.output)")
        let wrong = try await user.run(["ls"], password: "not the password")
        #expect(wrong.status == 1 && wrong.output.contains("coffre: wrong password"), "\(wrong.output)")
        let folder = try await user.run(["get", "/docs", user.scratch + "/y"])
        #expect(folder.status == 1 && folder.output.contains("is a folder"), "\(folder.output)")
        #expect(!(missing.output + exists.output + wrong.output + folder.output).contains("Fatal error"))
    }

    @Test func theServerHoldsNoNameNoContentNoKey() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let user = try await CLIUser(stack)
        defer { user.cleanUp() }
        let marker = "COFFRE-MARKER-\(UUID().uuidString)"
        let name = "secret-report-\(UUID().uuidString.prefix(8)).txt"
        let folder = "folder-\(UUID().uuidString.prefix(8))"
        let local = try user.write(name, text: String(repeating: "\(marker) some words around it\n", count: 4000))
        #expect(try await user.run(["mkdir", "/\(folder)"]).status == 0)
        let put = try await user.run(["put", local, "/\(folder)"])
        #expect(put.status == 0, "\(put.output)")

        // The file's raw key, as only the client can compute it.
        let session = try await stack.client().login(email: user.email, password: user.password)
        let keys = try #require(await session.keys)
        let token = await session.state.accessToken
        let rootList = try await stack.raw(.GET, "/v1/nodes", headers: ["Authorization": "Bearer \(token)"])
        let folderID = try #require((rootList.json["nodes"] as? [[String: Any]])?.first?["id"] as? String)
        let listing = try await stack.raw(.GET, "/v1/nodes?parent=\(folderID)", headers: ["Authorization": "Bearer \(token)"])
        let node = try #require((listing.json["nodes"] as? [[String: Any]])?.first)
        let nodeID = try #require(node["id"] as? String)
        let wrapped = try #require((node["wrapped_key"] as? String).flatMap { Data(base64Encoded: $0) })
        let fileKey = try keys.masterKey.unwrapNodeKey(Array(wrapped), nodeID: nodeID, owner: session.accountID)

        var secrets: [(String, [UInt8])] = [("marker", Array(marker.utf8)), ("file name", Array(name.utf8)),
                                            ("folder name", Array(folder.utf8)), ("file key", fileKey.rawBytes)]
        secrets.append(("master key", keys.masterKey.key.bytes))
        secrets.append(("node-key wrapping subkey", keys.masterKey.subkey(for: .nodeKeyWrap).rawBytes))
        // Postgres, all of it (as the superuser: row-level security hides nothing).
        let dump = try pgDump()
        #expect(dump.count > 1000)
        for (what, bytes) in secrets {
            for form in textForms(of: bytes) {
                #expect(dump.range(of: Data(form.utf8)) == nil, "\(what) found in pg_dump")
            }
        }
        // The blob directory: raw bytes.
        let blobs = try filesUnder(stack.blobDirectory)
        #expect(!blobs.isEmpty)
        for path in blobs {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            for (what, bytes) in secrets {
                #expect(data.range(of: Data(bytes)) == nil, "\(what) found in \(path)")
                for form in textForms(of: bytes) { #expect(data.range(of: Data(form.utf8)) == nil, "\(what) found in \(path)") }
            }
        }
        // And the client's own files hold no clear key either.
        for path in try filesUnder(user.home) {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            for form in textForms(of: fileKey.rawBytes) + textForms(of: keys.masterKey.key.bytes) {
                #expect(!text.contains(form), "a key in \(path)")
            }
            #expect(!text.contains(user.password))
        }
    }

    /// The 1 GiB round trip: 45-55 s in a debug build on 2 cores
    /// (put 23-24 s, get 11-17 s, the rest writing and comparing 1 GiB
    /// files), so it runs with the suite; COFFRE_TEST_SKIP_1GIB=1 leaves it
    /// out. Needs 3 GiB of free disk for a moment.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["COFFRE_TEST_SKIP_1GIB"] != "1", "COFFRE_TEST_SKIP_1GIB=1"),
          .timeLimit(.minutes(10)))
    func oneGibibyteRoundTrip() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let user = try await CLIUser(stack)
        defer { user.cleanUp() }
        let local = try user.write("gib.bin", size: 1 << 30)
        let started = ContinuousClock.now
        let put = try await user.run(["put", local, "/"], timeout: .seconds(900))
        let uploaded = ContinuousClock.now
        #expect(put.status == 0, "\(put.output)")
        let out = user.scratch + "/gib.out"
        let get = try await user.run(["get", "/gib.bin", out], timeout: .seconds(900))
        let downloaded = ContinuousClock.now
        #expect(get.status == 0, "\(get.output)")
        #expect(try sameContents(local, out))
        print("1 GiB round trip: put \(uploaded - started), get \(downloaded - uploaded)")
    }
}

/// A user of the CLI with a config folder of their own, signed up and logged in.
struct CLIUser {
    let stack: Stack
    let home: String
    let scratch: String
    let email: String
    let password: String

    init(_ stack: Stack) async throws {
        try self.init(stack: stack, email: uniqueEmail(), password: "files password \(UUID())")
        let signup = try await run(["signup", "--email", email])
        guard signup.status == 0 else { throw ChildProcessError(message: "signup failed: \(signup.output)") }
    }

    /// An account that exists already, not logged in on this "machine" yet.
    init(stack: Stack, email: String, password: String) throws {
        self.stack = stack
        self.email = email
        self.password = password
        home = NSTemporaryDirectory() + TestEnvironment.unique("clihome")
        scratch = NSTemporaryDirectory() + TestEnvironment.unique("cliscratch")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    /// Runs a command; the password goes on stdin (`--password-stdin`, for
    /// the commands that take it).
    func run(_ args: [String], password: String? = nil, passwordStdin: Bool = true,
             timeout: Duration = .seconds(120)) async throws -> (status: Int32?, output: String) {
        let child = try start(args, password: password, passwordStdin: passwordStdin)
        let status = await child.wait(timeout: timeout)
        child.stop()
        return (status, child.output)
    }

    func start(_ args: [String], password: String? = nil, passwordStdin: Bool = true) throws -> ChildProcess {
        try ChildProcess.coffre("coffre", ["--server", stack.gatewayURL.absoluteString, "--light-kdf"] + args
                                    + (passwordStdin ? ["--password-stdin"] : []),
                                environment: ["XDG_CONFIG_HOME": home, "HOME": home],
                                input: passwordStdin ? (password ?? self.password) + "\n" : nil)
    }

    /// A local file of `size` bytes, different in every MiB.
    func write(_ name: String, size: Int) throws -> String {
        let path = scratch + "/" + name
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var left = size
        while left > 0 {
            let block = Sodium.randomBytes(min(left, 1 << 20))
            try handle.write(contentsOf: block)
            left -= block.count
        }
        return path
    }

    func write(_ name: String, text: String) throws -> String {
        let path = scratch + "/" + name
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    /// The unfinished uploads' state files, as JSON.
    func resumeStates() -> [[String: Any]] {
        let directory = home + "/coffre/uploads"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.compactMap {
            FileManager.default.contents(atPath: directory + "/" + $0)
                .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        }
    }

    func accessToken() throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: home + "/coffre/session.json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return object?["access_token"] as? String ?? ""
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: scratch)
        try? FileManager.default.removeItem(atPath: home)
    }
}

/// Compares two files 8 MiB at a time.
func sameContents(_ a: String, _ b: String) throws -> Bool {
    let first = try FileHandle(forReadingFrom: URL(fileURLWithPath: a))
    let second = try FileHandle(forReadingFrom: URL(fileURLWithPath: b))
    defer {
        try? first.close()
        try? second.close()
    }
    while true {
        let x = try first.read(upToCount: 8 << 20) ?? Data()
        let y = try second.read(upToCount: 8 << 20) ?? Data()
        guard x == y else { return false }
        if x.isEmpty { return true }
    }
}

/// How bytes can appear in a text dump: as text, hex (bytea), base64, base64url.
func textForms(of bytes: [UInt8]) -> [String] {
    let hex = bytes.map { String(format: "%02x", $0) }.joined()
    var forms = [Data(bytes).base64EncodedString(), Sodium.base64URLEncode(bytes), hex, hex.uppercased()]
    if let text = String(bytes: bytes, encoding: .utf8), text.allSatisfy({ $0.isASCII && !$0.isWhitespace }) { forms.append(text) }
    return forms
}

/// `pg_dump` of the test database, as the superuser over TCP (trust auth on the dev cluster).
func pgDump() throws -> Data {
    let url = try #require(URL(string: TestEnvironment.postgresURL!))
    let output = NSTemporaryDirectory() + TestEnvironment.unique("dump") + ".sql"
    defer { try? FileManager.default.removeItem(atPath: output) }
    let result = try ChildProcess.run("/usr/bin/pg_dump", ["-h", url.host ?? "127.0.0.1", "-p", String(url.port ?? 5432), "-U", "postgres",
                                                          "-d", String(url.path.dropFirst()), "-f", output], timeout: 120)
    guard result.status == 0 else { throw ChildProcessError(message: "pg_dump failed: \(result.output)") }
    return try Data(contentsOf: URL(fileURLWithPath: output))
}

func filesUnder(_ directory: String) throws -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
    var files: [String] = []
    while let relative = enumerator.nextObject() as? String {
        var isDirectory: ObjCBool = false
        let path = directory + "/" + relative
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { files.append(path) }
    }
    return files
}
