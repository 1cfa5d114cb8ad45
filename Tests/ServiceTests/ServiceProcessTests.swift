import AsyncHTTPClient
import CoffreTestSupport
import Foundation
import NIOCore
import Testing

/// Each service executable as an operator runs it: a real process, real
/// sockets, real Postgres and broker.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"))
struct ServiceProcessTests {
    static let services: [(exe: String, prefix: String)] = [
        ("accounts", "ACCOUNTS"), ("keydir", "KEYDIR"), ("ingest", "INGEST"), ("quota", "QUOTA"),
    ]

    func get(_ url: String) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    func start(_ exe: String, prefix: String, port: Int, extra: [String: String] = [:]) throws -> ChildProcess {
        var env = [
            "COFFRE_POSTGRES_URL": TestEnvironment.postgresURL!,
            "COFFRE_KAFKA_BROKERS": TestEnvironment.kafkaBrokers!,
            "\(prefix)_HTTP_PORT": String(port),
            "INGEST_BLOB_DIR": NSTemporaryDirectory() + TestEnvironment.unique("blobs"),
            // Groups of their own: these processes stop moments after they
            // subscribe, and a member that leaves in the middle of its first
            // join can keep a group rebalancing on the test broker (Tansu),
            // which would stall the next stack that uses the default group.
            "KEYDIR_CONSUMER_GROUP": TestEnvironment.unique("keydir-process"),
            "INGEST_CONSUMER_GROUP": TestEnvironment.unique("ingest-process"),
            "QUOTA_CONSUMER_GROUP": TestEnvironment.unique("quota-process"),
        ]
        env.merge(extra) { _, new in new }
        return try ChildProcess.coffre(exe, [], environment: env)
    }

    func waitForStatus(_ url: String, _ status: Int, timeout: Duration = .seconds(60)) async throws -> Bool {
        try await TestEnvironment.eventually(timeout: timeout, interval: .milliseconds(200)) {
            (try? await get(url))?.status == status
        }
    }

    @Test(arguments: services)
    func becomesReadyAndDrainsOnSigterm(service: (exe: String, prefix: String)) async throws {
        let port = TestEnvironment.freePort()
        let child = try start(service.exe, prefix: service.prefix, port: port)
        defer { child.stop() }
        #expect(try await waitForStatus("http://127.0.0.1:\(port)/readyz", 200), "\(service.exe) never ready: \(child.output.suffix(1500))")
        #expect(try await get("http://127.0.0.1:\(port)/healthz").status == 200)
        let metrics = try await get("http://127.0.0.1:\(port)/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("hb_requests"), "no request metrics in /metrics")
        child.signal(SIGTERM)
        #expect(await child.wait(timeout: .seconds(20)) == 0, "\(service.exe) did not exit cleanly: \(child.output.suffix(1500))")
        // Every log line is one JSON object.
        for line in child.output.split(separator: "\n") {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["msg"] != nil, "not a JSON log line: \(line.prefix(200))")
        }
        #expect(child.output.contains("\"msg\":\"stopped\""))
    }

    @Test func malformedPostgresURLFailsReadinessWithoutCrashing() async throws {
        let port = TestEnvironment.freePort()
        let child = try start("accounts", prefix: "ACCOUNTS", port: port, extra: ["COFFRE_POSTGRES_URL": "postgres//nohost"])
        defer { child.stop() }
        #expect(try await waitForStatus("http://127.0.0.1:\(port)/readyz", 503))
        let ready = try await get("http://127.0.0.1:\(port)/readyz")
        #expect(ready.body.contains("COFFRE_POSTGRES_URL"))
        #expect(try await get("http://127.0.0.1:\(port)/healthz").status == 200)
        #expect(child.isRunning)
        let errorLines = child.output.split(separator: "\n").filter { $0.contains("bad configuration") }
        #expect(errorLines.count == 1, "expected one clear log line: \(child.output.suffix(1000))")
        #expect(!child.output.contains("Fatal error"))
    }

    @Test func unreachablePostgresAndBrokerFailReadiness() async throws {
        let port = TestEnvironment.freePort()
        let deadPort = TestEnvironment.freePort()
        let child = try start("quota", prefix: "QUOTA", port: port, extra: [
            "COFFRE_POSTGRES_URL": "postgres://coffre:coffre@127.0.0.1:\(deadPort)/coffre",
            "COFFRE_KAFKA_BROKERS": "127.0.0.1:\(deadPort)",
        ])
        defer { child.stop() }
        #expect(try await waitForStatus("http://127.0.0.1:\(port)/readyz", 503))
        // Give it time to try a few times: still alive, still not ready, reasons named.
        try await Task.sleep(for: .seconds(5))
        #expect(child.isRunning)
        let ready = try await get("http://127.0.0.1:\(port)/readyz")
        #expect(ready.status == 503)
        #expect(ready.body.contains("postgres"))
        #expect(ready.body.contains("kafka"))
        #expect(child.output.contains("cannot apply migrations"))
        #expect(!child.output.contains("Fatal error"))
    }

    @Test func gatewayIsReadyWhenItsUpstreamsAre() async throws {
        let ports = (0..<5).map { _ in TestEnvironment.freePort() }
        var upstreams: [String: String] = [:]
        var children: [ChildProcess] = []
        defer { children.forEach { $0.stop() } }
        for (i, service) in Self.services.enumerated() {
            children.append(try start(service.exe, prefix: service.prefix, port: ports[i + 1]))
            upstreams["GATEWAY_\(service.prefix)_URLS"] = "http://127.0.0.1:\(ports[i + 1])"
        }
        let gateway = try start("gateway", prefix: "GATEWAY", port: ports[0], extra: upstreams)
        children.append(gateway)
        #expect(try await waitForStatus("http://127.0.0.1:\(ports[0])/readyz", 200, timeout: .seconds(90)), "gateway not ready: \(gateway.output.suffix(1500))")
        // Stop one upstream: the gateway reports which one is missing.
        children[1].signal(SIGTERM)
        _ = await children[1].wait(timeout: .seconds(15))
        #expect(try await waitForStatus("http://127.0.0.1:\(ports[0])/readyz", 503, timeout: .seconds(20)))
        #expect(try await get("http://127.0.0.1:\(ports[0])/readyz").body.contains("keydir"))
    }
}
