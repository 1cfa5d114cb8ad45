import CoffreTestSupport
import Foundation
import Testing

/// The `coffre` command against a running stack, as a user runs it.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct CLITests {
    func run(_ stack: Stack, _ args: [String], input: String? = nil, home: String) async throws -> (status: Int32?, output: String) {
        let child = try ChildProcess.coffre("coffre", ["--server", stack.gatewayURL.absoluteString] + args,
                                            environment: ["XDG_CONFIG_HOME": home, "HOME": home], input: input)
        let status = await child.wait(timeout: .seconds(60))
        child.stop()
        return (status, child.output)
    }

    @Test func signupLoginWhoamiSessionsLogout() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let home = NSTemporaryDirectory() + TestEnvironment.unique("clihome")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let email = uniqueEmail()
        let password = "cli password \(UUID())"

        let signup = try await run(stack, ["signup", "--email", email, "--password-stdin", "--light-kdf"], input: password + "\n", home: home)
        #expect(signup.status == 0, "\(signup.output)")
        #expect(signup.output.contains("Recovery key"))

        let login = try await run(stack, ["login", "--email", email, "--password-stdin", "--light-kdf"], input: password + "\n", home: home)
        #expect(login.status == 0, "\(login.output)")
        let sessionFile = home + "/coffre/session.json"
        let attributes = try FileManager.default.attributesOfItem(atPath: sessionFile)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let saved = try String(contentsOfFile: sessionFile, encoding: .utf8)
        #expect(!saved.contains(password))

        let whoami = try await run(stack, ["whoami"], home: home)
        #expect(whoami.status == 0 && whoami.output.contains(email), "\(whoami.output)")
        let sessions = try await run(stack, ["sessions"], home: home)
        #expect(sessions.status == 0, "\(sessions.output)")
        let logout = try await run(stack, ["logout"], home: home)
        #expect(logout.status == 0, "\(logout.output)")
        let after = try await run(stack, ["whoami"], home: home)
        #expect(after.status != 0)
        #expect(after.output.hasPrefix("coffre: ") || after.output.contains("\ncoffre: "), "\(after.output)")

        let wrong = try await run(stack, ["login", "--email", email, "--password-stdin", "--light-kdf"], input: "not it\n", home: home)
        #expect(wrong.status != 0)
        #expect(wrong.output.lowercased().contains("wrong email or password"), "\(wrong.output)")
        #expect(!wrong.output.contains("Fatal error"))
    }

    @Test func unreachableServerIsAClearMessage() async throws {
        let home = NSTemporaryDirectory() + TestEnvironment.unique("clihome")
        let child = try ChildProcess.coffre("coffre", ["--server", "http://127.0.0.1:\(TestEnvironment.freePort())", "login", "--email", "a@example.com", "--password-stdin", "--light-kdf"],
                                            environment: ["XDG_CONFIG_HOME": home, "HOME": home], input: "x\n")
        #expect(await child.wait(timeout: .seconds(20)) == 1)
        #expect(child.output.contains("cannot reach"), "\(child.output)")
    }
}
