import CoffreSDK
import CoffreTestSupport
import Foundation
import Testing

/// The sharing commands as users run them against a running stack: keys,
/// share, shares, accept, shares get, link --password, fetch (wrong password
/// refused, nothing written), unshare.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct CLISharingTests {
    @Test func shareAcceptGetLinkFetchUnshare() async throws {
        let stack = try await Stack()
        defer { stack.stop() }
        let alice = try await CLIUser(stack)
        let bob = try await CLIUser(stack)
        defer { alice.cleanUp(); bob.cleanUp() }

        // The first keys reach the directory through account.created.
        var own: (status: Int32?, output: String) = (nil, "")
        let listed = try await TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(500)) {
            own = try await bob.run(["keys"], passwordStdin: false)
            return own.status == 0
        }
        #expect(listed && own.output.contains("safety code:"), "\(own.output)")

        let content = "quarterly numbers \(UUID())\n"
        let local = try alice.write("report.txt", text: content)
        #expect(try await alice.run(["put", local, "/"]).status == 0)
        let seen = try await alice.run(["keys", bob.email], passwordStdin: false)
        #expect(seen.status == 0 && seen.output.contains("first time seeing the keys"), "\(seen.output)")
        // Another tenant: refused, since Alice's tenant does not allow cross-tenant shares.
        let across = try await alice.run(["share", "/report.txt", bob.email, "--recipient-tenant", "elsewhere"])
        #expect(across.status != 0 && across.output.contains("403") && across.output.contains("other tenants"), "\(across.output)")
        let share = try await alice.run(["share", "/report.txt", bob.email])
        #expect(share.status == 0 && share.output.contains("Shared /report.txt with"), "\(share.output)")

        let shares = try await bob.run(["shares"], passwordStdin: false)
        let line = try #require(shares.output.split(separator: "\n").first { $0.contains("<-") }, "\(shares.output)")
        let id = String(try #require(line.split(separator: " ").first { UUID(uuidString: String($0)) != nil }))
        // At once: the SDK itself waits out the moment before ingest learns
        // of the grant from the key directory's event.
        let accept = try await bob.run(["accept", id])
        #expect(accept.status == 0 && accept.output.contains("Accepted file \"report.txt\""), "\(accept.output)")
        let out = bob.scratch + "/got.txt"
        var get: (status: Int32?, output: String) = (nil, "")
        _ = try await TestEnvironment.eventually(timeout: .seconds(20), interval: .milliseconds(500)) {
            get = try await bob.run(["shares", "get", id, "-o", out])
            return get.status == 0
        }
        #expect(get.status == 0, "\(get.output)")
        #expect((try? String(contentsOfFile: out, encoding: .utf8)) == content)

        let link = try await alice.run(["link", "/report.txt", "--password", "--max-downloads", "2"],
                                       password: "\(alice.password)\nopen sesame")
        let url = String(try #require(link.output.split(separator: "\n").first { $0.contains("/l/") }, "\(link.output)"))
        #expect(url.contains("#p."))
        let fetched = bob.scratch + "/fetched.txt"
        let wrong = try await bob.run(["fetch", url, "-o", fetched], password: "sesame")
        #expect(wrong.status != 0 && wrong.output.contains("wrong link password"), "\(wrong.output)")
        #expect(!FileManager.default.fileExists(atPath: fetched))
        let right = try await bob.run(["fetch", url, "-o", fetched], password: "open sesame")
        #expect(right.status == 0, "\(right.output)")
        #expect((try? String(contentsOfFile: fetched, encoding: .utf8)) == content)

        let unshare = try await alice.run(["unshare", id], passwordStdin: false)
        #expect(unshare.status == 0, "\(unshare.output)")
        #expect(!(try await bob.run(["shares"], passwordStdin: false)).output.contains(id))
    }
}
