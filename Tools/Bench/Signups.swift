import ArgumentParser
import AsyncHTTPClient
import CoffreCore
import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import Sodium

/// Signups per second through the gateway. The client side (Argon2id, key
/// generation, wrapping) happens before the clock starts: each prepared body
/// carries fresh random secrets, real Ed25519 keys with a valid
/// self-signature and a key bundle of realistic size, so the server does all
/// of its real work.
struct Signups: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Signups/s through the gateway: closed-loop maximum, then p99 at 80% of it (open loop).")

    @Option var gateway: String
    @Option var count: Int = 6000
    @Option var concurrency: Int = 32
    @Option(help: "Seconds of the open-loop phase at 80% of the measured maximum.") var seconds: Int = 10
    @Option(help: "Offered rate of the open loop, signups/s, instead of 80% of the closed loop's maximum: to see where latency turns up (with --count 0, no closed loop).")
    var openRate: Double?
    @Option(help: "Writes each open-loop signup's intended start (s) and latency (ms) to this file, one per line.") var timeline: String?
    @Option(help: "The load's HTTP client: nio (LoadConnections, the default) or asynchttpclient, to compare what each costs the machine.")
    var client: String = "nio"

    static func body(index: Int) throws -> ByteBuffer {
        let signing = Sodium.Sign.keyPair()
        let box = Sodium.Box.keyPair()
        let x = Base64URL.encode(box.publicKey), ed = Base64URL.encode(signing.publicKey)
        let sig = try Sodium.Sign.detached(Array("coffre-keys-v1\n\(x)\n\(ed)".utf8), secretKey: signing.secretKey)
        let wrapped = { (n: Int) in Base64URL.encode(Sodium.randomBytes(n)) }
        let object: [String: Any] = [
            "account_id": UUID().uuidString.lowercased(),
            "email": "bench-\(index)-\(UUID().uuidString.prefix(8))@example.com",
            "salt": wrapped(16),
            "kdf": ["algorithm": "argon2id13", "opslimit": 2, "memlimit": 67_108_864],
            "login_secret": wrapped(32), "recovery_secret": wrapped(32),
            "public_keys": ["x25519": x, "ed25519": ed, "self_signature": Base64URL.encode(sig)],
            // Shaped like the SDK's bundle: four AEAD envelopes and the public keys.
            "key_bundle": ["version": 1, "master_by_password": wrapped(73), "master_by_recovery": wrapped(73),
                           "x25519_secret": wrapped(73), "ed25519_secret": wrapped(105), "x25519_public": x, "ed25519_public": ed],
        ]
        return ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
    }

    /// This process's CPU time (user + system): what the load itself costs
    /// the machine it shares with the system under test.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    func run() async throws {
        guard ["nio", "asynchttpclient"].contains(client) else { throw ValidationError("--client is nio or asynchttpclient") }
        guard count >= 0, count > 0 || openRate != nil else { throw ValidationError("--count must be positive (or 0 with --open-rate)") }
        if let openRate, !(openRate > 0) { throw ValidationError("--open-rate must be a positive number of signups per second") }
        let useNIO = client == "nio", url = gateway + "/v1/accounts"
        let connections = useNIO ? try LoadConnections(url: gateway, path: "/v1/accounts") : nil
        var configuration = HTTPClient.Configuration(
            connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency * 2))
        configuration.tracing.tracer = nil  // no tracer here: skip the per-request no-op span (the load tool shares the CPU)
        let httpClient = useNIO ? nil : HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var bodies: [ByteBuffer] = []
        bodies.reserveCapacity(count)
        for i in 0..<count { bodies.append(try Self.body(index: i)) }

        @Sendable func signup(_ body: ByteBuffer) async -> Int {
            guard let httpClient else { return await connections!.post(body) }
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
            do {
                let response = try await httpClient.execute(request, timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 1 << 16)
                return Int(response.status.code)
            } catch {
                return -1
            }
        }

        // Phase 1: closed loop, `concurrency` clients back to back.
        let clock = ContinuousClock()
        let next = Counter()
        let statuses = StatusCounter()
        let prepared = bodies
        let started = clock.now
        let closedCPU = Self.cpuSeconds()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let i = next.next()
                        if i >= prepared.count { return }
                        statuses.add(await signup(prepared[i]))
                    }
                }
            }
        }
        let elapsed = clock.now - started
        let closedLoadCPU = Self.cpuSeconds() - closedCPU
        let maxRate = count > 0 ? Double(count) / elapsed.seconds : 0
        let closed = statuses.snapshot()

        // Phase 2: open loop at 80% of that rate (or at --open-rate); latency from the intended start.
        let rate = openRate ?? maxRate * 0.8
        let n = Int(rate * Double(seconds))
        var openBodies: [ByteBuffer] = []
        openBodies.reserveCapacity(n)
        for i in 0..<n { openBodies.append(try Self.body(index: count + i)) }
        let histogram = HistogramBox()
        let openStatuses = StatusCounter()
        let interval = 1.0 / rate
        let openPrepared = openBodies
        let openStart = clock.now
        let openCPU = Self.cpuSeconds()
        let timeline = Timeline()
        @Sendable func record(_ i: Int, _ status: Int, _ latency: Double) {
            openStatuses.add(status)
            histogram.record(latency)
            timeline.add(start: Double(i) * interval, latency: latency)
        }
        if let connections {
            await connections.openLoop(bodies: openPrepared, interval: .nanoseconds(Int64(interval * 1e9)), warm: concurrency) { i, status, latency in
                record(i, status, Double(latency.nanoseconds) / 1e9)
            }
        } else {
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<n {
                    let intended = openStart + .seconds(Double(i) * interval)
                    let now = clock.now
                    if intended > now { try? await Task.sleep(until: intended, clock: clock) }
                    let body = openPrepared[i]
                    group.addTask {
                        let status = await signup(body)
                        record(i, status, (clock.now - intended).seconds)
                    }
                }
            }
        }
        if let path = self.timeline { try timeline.write(to: path) }
        let achieved = Double(n) / (clock.now - openStart).seconds
        let openLoadCPU = Self.cpuSeconds() - openCPU
        let result: [String: Any] = [
            "closed_loop": ["signups": count, "seconds": elapsed.seconds, "per_second": maxRate, "concurrency": concurrency, "statuses": closed,
                            "load_cpu_ms_per_signup": count > 0 ? closedLoadCPU * 1000 / Double(count) : 0],
            "open_loop": [
                "offered_per_second": rate, "achieved_per_second": achieved, "signups": n, "statuses": openStatuses.snapshot(),
                "p50_ms": histogram.percentile(50), "p90_ms": histogram.percentile(90), "p99_ms": histogram.percentile(99),
                "max_ms": histogram.percentile(100), "load_cpu_ms_per_signup": openLoadCPU * 1000 / Double(n),
                "connections_opened": connections?.connectionsOpened ?? -1,
            ],
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        await connections?.close()
        try await httpClient?.shutdown()
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value - 1 }
}

final class StatusCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    func add(_ status: Int) { lock.lock(); counts[String(status), default: 0] += 1; lock.unlock() }
    func snapshot() -> [String: Int] { lock.lock(); defer { lock.unlock() }; return counts }
}

/// Latencies in microseconds, reported in milliseconds.
final class HistogramBox: @unchecked Sendable {
    private let lock = NSLock()
    private var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    func record(_ seconds: Double) {
        lock.lock()
        _ = histogram.record(UInt64(max(0, seconds) * 1_000_000))
        lock.unlock()
    }
    func percentile(_ p: Double) -> Double {
        lock.lock(); defer { lock.unlock() }
        return Double(histogram.valueAtPercentile(p)) / 1000
    }
}

/// Each open-loop request's intended start and latency, to see when a tail formed.
final class Timeline: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [(start: Double, latency: Double)] = []
    func add(start: Double, latency: Double) { lock.lock(); rows.append((start, latency)); lock.unlock() }
    func write(to path: String) throws {
        lock.lock(); defer { lock.unlock() }
        let text = rows.sorted { $0.start < $1.start }.map { String(format: "%.4f %.2f", $0.start, $0.latency * 1000) }.joined(separator: "\n")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
