import ArgumentParser
import AsyncHTTPClient
import CoffreCore
import Foundation
import Ingest
import NIOCore

/// Reservation latency of a running quota service under bursts of
/// concurrent reservations, made the way blob ingest makes them
/// (`HTTPQuotaClient`: signed `POST /internal/v1/reservations`).
///
/// Each round takes fresh accounts of one tenant, gives each an operator
/// storage override (so the limit is known), then fires `concurrency`
/// reservations of random sizes at once, spread over `accounts` accounts.
/// Latency is measured from the round's start, when all of them were due.
/// With `oversubscribe` > 1 the burst asks for more than the limits allow,
/// so part of it is refused (507); after each round every account's
/// `reserved_bytes` must equal the bytes granted to it and stay within its
/// limit, or the command fails.
struct Reservations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reservation latency and throughput of the quota service under concurrent bursts.")

    @Option(help: "The quota service, e.g. http://127.0.0.1:28084.") var quota: String
    @Option(help: "COFFRE_INTERNAL_SECRET of that service.") var secret: String = CommonConfiguration.developmentInternalSecret
    @Option(help: "COFFRE_ADMIN_TOKEN of that service (limits are set and checked through the operator API).") var adminToken: String
    @Option(help: "Reservations in flight at once in each round.") var concurrency: Int = 500
    @Option(help: "Measured rounds (one more, unmeasured, opens the connections first).") var rounds: Int = 10
    @Option(help: "Accounts each round's reservations are spread over (1: all on one account, the hot row).") var accounts: Int = 1
    @Option(help: "Requested bytes per account / its limit: 2 means about half the burst is refused.") var oversubscribe: Double = 2
    @Option(help: "Smallest and largest reservation, in MiB.") var minMiB: Int = 1
    @Option var maxMiB: Int = 64

    func validate() throws {
        guard concurrency > 0, rounds > 0, accounts > 0, accounts <= concurrency, oversubscribe >= 1, minMiB > 0, maxMiB >= minMiB else {
            throw ValidationError("need concurrency ≥ accounts > 0, rounds > 0, oversubscribe ≥ 1, 0 < min-mib ≤ max-mib")
        }
    }

    struct Outcome: Sendable {
        var account: Int
        var bytes: Int64
        var granted: Bool
        var error: String?
    }

    func run() async throws {
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            connectionPool: .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)))
        let client = HTTPQuotaClient(baseURL: quota, secret: secret, client: http, timeout: .seconds(60), limitTTL: 0)
        let tenant = UUID()
        let histogram = HistogramBox()
        let clock = ContinuousClock()
        var granted = 0, refused = 0, errors: [String] = []
        var grantedBytes: Int64 = 0, requestedBytes: Int64 = 0
        var burstTime: Duration = .zero
        var minHeadroom = Int64.max
        let concurrency = self.concurrency, accountCount = self.accounts

        for round in 0...rounds {
            let ids = (0..<accountCount).map { _ in UUID() }
            let sizes = (0..<concurrency).map { _ in Int64.random(in: Int64(minMiB) << 20...Int64(maxMiB) << 20) }
            var asked = [Int64](repeating: 0, count: accountCount)
            for (i, size) in sizes.enumerated() { asked[i % accountCount] += size }
            let limits = asked.map { Int64((Double($0) / oversubscribe).rounded(.down)) }
            for (i, id) in ids.enumerated() {
                try await admin(http, "PUT", tenant: tenant, account: id, body: ["storage_limit_bytes": limits[i]])
            }

            let start = clock.now
            let outcomes = await withTaskGroup(of: Outcome.self, returning: [Outcome].self) { group in
                for (i, size) in sizes.enumerated() {
                    let account = i % accountCount
                    group.addTask {
                        var outcome = Outcome(account: account, bytes: size, granted: false)
                        do {
                            _ = try await client.reserve(tenant: tenant, account: ids[account], upload: UUID(), bytes: size,
                                                         expiresAt: Date().addingTimeInterval(3600))
                            outcome.granted = true
                        } catch is QuotaRefusal {
                        } catch {
                            outcome.error = String(describing: error)
                        }
                        if round > 0 { histogram.record((clock.now - start).seconds) }
                        return outcome
                    }
                }
                var all: [Outcome] = []
                for await outcome in group { all.append(outcome) }
                return all
            }
            let elapsed = clock.now - start

            // The invariant: what Postgres holds reserved is exactly what was
            // granted, and never more than the limit.
            var grantedPerAccount = [Int64](repeating: 0, count: accountCount)
            for o in outcomes where o.granted { grantedPerAccount[o.account] += o.bytes }
            for (i, id) in ids.enumerated() {
                let view = try await admin(http, "GET", tenant: tenant, account: id)
                let reserved = (view["reserved_bytes"] as? NSNumber)?.int64Value ?? -1
                let limit = (view["limit_bytes"] as? NSNumber)?.int64Value ?? -1
                guard reserved == grantedPerAccount[i], limit == limits[i], reserved <= limit else {
                    throw ValidationError("round \(round), account \(id): reserved \(reserved), granted \(grantedPerAccount[i]), limit \(limit) (set \(limits[i]))")
                }
                if round > 0 { minHeadroom = min(minHeadroom, limit - reserved) }
            }
            guard round > 0 else { continue }
            burstTime += elapsed
            for o in outcomes {
                requestedBytes += o.bytes
                if o.granted { granted += 1; grantedBytes += o.bytes } else if let e = o.error { errors.append(e) } else { refused += 1 }
            }
        }
        try await http.shutdown()
        guard errors.isEmpty else {
            throw ValidationError("\(errors.count) reservations failed, e.g. \(errors[0])")
        }
        let total = concurrency * rounds
        let result: [String: Any] = [
            "concurrency": concurrency, "rounds": rounds, "accounts_per_round": accountCount, "oversubscribe": oversubscribe,
            "reservations": total, "granted": granted, "refused": refused,
            "requested_bytes": requestedBytes, "granted_bytes": grantedBytes, "min_headroom_bytes": minHeadroom,
            "per_second": Double(total) / burstTime.seconds,
            "p50_ms": histogram.percentile(50), "p90_ms": histogram.percentile(90), "p99_ms": histogram.percentile(99),
            "max_ms": histogram.percentile(100),
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
    }

    /// An operator call on one account: PUT sets its override, GET reads its view.
    @discardableResult
    func admin(_ http: HTTPClient, _ method: String, tenant: UUID, account: UUID, body: [String: Any]? = nil) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: "\(quota)/v1/admin/quota/tenants/\(tenant.uuidString.lowercased())/accounts/\(account.uuidString.lowercased())")
        request.method = .init(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(adminToken)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 200, let json = try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any] else {
            throw ValidationError("\(method) admin view answered \(response.status.code): \(String(buffer: bytes))")
        }
        return json
    }
}
