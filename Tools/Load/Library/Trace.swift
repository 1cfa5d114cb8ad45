// A trace: what `coffre-load` replays. Phases follow each other; in each,
// every kind of operation arrives at a rate that ramps linearly from `from`
// to `to` (operations per second). From the trace and its seed the whole
// schedule is fixed before the run starts: when each operation is due, the
// size of each upload, which account or file each one picks. Two runs of a
// trace offer the same load; only the server's answers differ.
import Foundation

/// The operations a trace can schedule. A `share` seals an acknowledged
/// upload's key to another account of the run, after verifying that
/// account's keys in the key directory's transparency log.
public enum OperationKind: String, Codable, Sendable, CaseIterable, Comparable {
    case signup, login, upload, download, share

    public static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public struct Trace: Codable, Sendable {
    /// Operations per second, ramping linearly over a phase. A plain number
    /// in the JSON is a constant rate.
    public struct Rate: Codable, Sendable, Equatable {
        public var from: Double
        public var to: Double

        public init(from: Double, to: Double) {
            self.from = from
            self.to = to
        }

        public init(from decoder: any Decoder) throws {
            if let constant = try? decoder.singleValueContainer().decode(Double.self) {
                self.init(from: constant, to: constant)
                return
            }
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.init(from: try container.decode(Double.self, forKey: .from), to: try container.decode(Double.self, forKey: .to))
        }

        enum CodingKeys: String, CodingKey { case from, to }
    }

    public struct Phase: Codable, Sendable {
        public var name: String
        public var durationSeconds: Double
        /// By operation kind; a kind that is absent does not arrive.
        public var rates: [String: Rate]

        enum CodingKeys: String, CodingKey {
            case name, durationSeconds = "duration_seconds", rates
        }
    }

    /// Upload sizes: a bucket is picked by weight, then a size log-uniformly
    /// between its bounds (plaintext bytes). Many small buckets and a light
    /// large one give many small files and a heavy tail.
    public struct SizeBucket: Codable, Sendable {
        public var weight: Double
        public var minBytes: Int
        public var maxBytes: Int

        enum CodingKeys: String, CodingKey {
            case weight, minBytes = "min_bytes", maxBytes = "max_bytes"
        }
    }

    /// The tenant the run creates for its accounts (the operator API).
    public struct TenantPlan: Codable, Sendable {
        public var storageLimitBytes: Int64?
        public var transferAllowanceBytes: Int64?
        /// The tenant's own limits on signup and login (requests per minute);
        /// nil leaves the gateway's per-tenant default.
        public var signupPerMinute: Int?
        public var loginPerMinute: Int?

        enum CodingKeys: String, CodingKey {
            case storageLimitBytes = "storage_limit_bytes", transferAllowanceBytes = "transfer_allowance_bytes"
            case signupPerMinute = "signup_per_minute", loginPerMinute = "login_per_minute"
        }
    }

    /// Done before the clock starts, unmeasured: accounts (and files) for the
    /// first logins, uploads and downloads to pick from.
    public struct Prepare: Codable, Sendable {
        public var accounts: Int
        public var uploads: Int
    }

    public enum Arrivals: String, Codable, Sendable {
        /// Exponential gaps (a Poisson process with the ramping rate).
        case poisson
        /// Evenly spaced at the ramping rate.
        case uniform
    }

    public var name: String
    public var description: String?
    public var seed: UInt64
    public var arrivals: Arrivals
    /// Operations in flight at most; more are not started.
    public var concurrency: Int
    /// An operation that cannot start within this long of its scheduled time
    /// (every slot busy) is dropped and counted as such.
    public var dropToleranceMs: Int
    /// Per HTTP request.
    public var requestTimeoutSeconds: Int
    /// Tries of one tus request on 429/5xx (the SDK's retry); 1 = none, so a
    /// shed request shows as shed instead of as latency.
    public var uploadAttempts: Int
    public var tenant: TenantPlan
    public var prepare: Prepare
    public var sizes: [SizeBucket]
    public var phases: [Phase]
    /// How long the quota ledger may take to agree with ingest after the load.
    public var ledgerTimeoutSeconds: Int
    /// Operations of the verification phase in flight at once.
    public var verifyConcurrency: Int

    enum CodingKeys: String, CodingKey {
        case name, description, seed, arrivals, concurrency, tenant, prepare, sizes, phases
        case dropToleranceMs = "drop_tolerance_ms", requestTimeoutSeconds = "request_timeout_seconds"
        case uploadAttempts = "upload_attempts", ledgerTimeoutSeconds = "ledger_timeout_seconds"
        case verifyConcurrency = "verify_concurrency"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
        arrivals = try c.decodeIfPresent(Arrivals.self, forKey: .arrivals) ?? .poisson
        concurrency = try c.decodeIfPresent(Int.self, forKey: .concurrency) ?? 64
        dropToleranceMs = try c.decodeIfPresent(Int.self, forKey: .dropToleranceMs) ?? 1000
        requestTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .requestTimeoutSeconds) ?? 30
        uploadAttempts = try c.decodeIfPresent(Int.self, forKey: .uploadAttempts) ?? 1
        tenant = try c.decodeIfPresent(TenantPlan.self, forKey: .tenant) ?? TenantPlan()
        prepare = try c.decodeIfPresent(Prepare.self, forKey: .prepare) ?? Prepare(accounts: 0, uploads: 0)
        sizes = try c.decodeIfPresent([SizeBucket].self, forKey: .sizes) ?? [SizeBucket(weight: 1, minBytes: 1024, maxBytes: 65536)]
        phases = try c.decode([Phase].self, forKey: .phases)
        ledgerTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .ledgerTimeoutSeconds) ?? 60
        verifyConcurrency = try c.decodeIfPresent(Int.self, forKey: .verifyConcurrency) ?? 8
        try validate()
    }

    public static func load(path: String) throws -> Trace {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw LoadError.trace("cannot read \(path): \(error.localizedDescription)")
        }
        do {
            return try JSONDecoder().decode(Trace.self, from: data)
        } catch let error as LoadError {
            throw error
        } catch {
            throw LoadError.trace("\(path) is not a valid trace: \(error)")
        }
    }

    func validate() throws(LoadError) {
        guard concurrency >= 1 else { throw .trace("concurrency must be at least 1") }
        guard dropToleranceMs >= 0, requestTimeoutSeconds >= 1, uploadAttempts >= 1, ledgerTimeoutSeconds >= 1,
              verifyConcurrency >= 1 else { throw .trace("tolerances, timeouts and attempts must be positive") }
        guard prepare.accounts >= 0, prepare.uploads >= 0 else { throw .trace("prepare counts must not be negative") }
        guard !phases.isEmpty else { throw .trace("a trace needs at least one phase") }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0.weight > 0 && $0.minBytes >= 0 && $0.maxBytes >= $0.minBytes }) else {
            throw .trace("every size bucket needs a positive weight and 0 <= min_bytes <= max_bytes")
        }
        for phase in phases {
            guard phase.durationSeconds > 0 else { throw .trace("phase \(phase.name): duration_seconds must be positive") }
            for (kind, rate) in phase.rates {
                guard OperationKind(rawValue: kind) != nil else {
                    throw .trace("phase \(phase.name): unknown operation \"\(kind)\" (\(OperationKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                guard rate.from >= 0, rate.to >= 0, rate.from.isFinite, rate.to.isFinite else {
                    throw .trace("phase \(phase.name): \(kind) rates must be finite and non-negative")
                }
            }
        }
    }

    /// The same curve with every rate multiplied by `rate` and every phase's
    /// duration by `time` (a short rehearsal of a long trace).
    public func scaled(rate: Double, time: Double) -> Trace {
        var copy = self
        copy.phases = phases.map { phase in
            var phase = phase
            phase.durationSeconds *= time
            phase.rates = phase.rates.mapValues { Rate(from: $0.from * rate, to: $0.to * rate) }
            return phase
        }
        return copy
    }

    public var durationSeconds: Double { phases.reduce(0) { $0 + $1.durationSeconds } }

    /// Where each phase starts (seconds from the start of the run).
    public var phaseStarts: [(name: String, start: Double)] {
        var start = 0.0
        return phases.map { phase in
            defer { start += phase.durationSeconds }
            return (phase.name, start)
        }
    }
}

/// One operation of the schedule.
public struct ScheduledOperation: Sendable {
    /// Seconds after the start of the timed phase.
    public var at: Double
    public var kind: OperationKind
    /// Plaintext bytes (uploads).
    public var size: Int
    /// Picks the account or file the operation works on.
    public var pick: UInt64
}

extension Trace {
    /// Every operation of the run, in time order.
    public func schedule() -> [ScheduledOperation] {
        var rng = SplitMix64(seed: seed)
        var all: [ScheduledOperation] = []
        for kind in OperationKind.allCases {
            for at in arrivalTimes(kind, rng: &rng) {
                let size = kind == .upload ? sampleSize(&rng) : 0
                all.append(ScheduledOperation(at: at, kind: kind, size: size, pick: rng.next()))
            }
        }
        return all.sorted { ($0.at, $0.kind) < ($1.at, $1.kind) }
    }

    /// Expected number of operations of `kind` over the whole trace.
    public func expectedCount(_ kind: OperationKind) -> Double {
        phases.reduce(0) { sum, phase in
            let rate = phase.rates[kind.rawValue] ?? Rate(from: 0, to: 0)
            return sum + (rate.from + rate.to) / 2 * phase.durationSeconds
        }
    }

    /// A (non-homogeneous) arrival process by time rescaling: the cumulative
    /// expected count Λ(t) of a linear rate is quadratic in t, so each arrival
    /// is where Λ reaches the next target, the targets being spaced by
    /// exponential gaps (Poisson) or by exactly 1 (uniform).
    func arrivalTimes(_ kind: OperationKind, rng: inout SplitMix64) -> [Double] {
        func gap(_ rng: inout SplitMix64) -> Double { arrivals == .uniform ? 1 : -log(rng.unit()) }
        var times: [Double] = []
        var target = gap(&rng)
        var base = 0.0
        var start = 0.0
        for phase in phases {
            let rate = phase.rates[kind.rawValue] ?? Rate(from: 0, to: 0)
            let (a, b, d) = (rate.from, rate.to, phase.durationSeconds)
            let total = (a + b) / 2 * d
            while target <= base + total {
                let y = target - base
                let slope = (b - a) / (2 * d)
                let x: Double
                if abs(slope) < 1e-12 {
                    x = y / a
                } else {
                    x = (-a + (max(0, a * a + 4 * slope * y)).squareRoot()) / (2 * slope)
                }
                times.append(start + min(max(x, 0), d))
                target += gap(&rng)
            }
            base += total
            start += d
        }
        return times
    }

    func sampleSize(_ rng: inout SplitMix64) -> Int {
        let total = sizes.reduce(0) { $0 + $1.weight }
        var r = rng.unit() * total
        var bucket = sizes[sizes.count - 1]
        for candidate in sizes {
            if r <= candidate.weight {
                bucket = candidate
                break
            }
            r -= candidate.weight
        }
        guard bucket.maxBytes > bucket.minBytes else { return bucket.minBytes }
        let low = log(Double(max(bucket.minBytes, 1))), high = log(Double(bucket.maxBytes))
        return min(bucket.maxBytes, max(bucket.minBytes, Int(exp(low + rng.unit() * (high - low)))))
    }
}

/// A small seeded generator (SplitMix64): the schedule must be the same on
/// every machine, which `SystemRandomNumberGenerator` is not.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    mutating func unit() -> Double {
        (Double(next() >> 11) + 1) / Double(1 << 53)
    }
}

public enum LoadError: Error, CustomStringConvertible {
    case trace(String)
    case setup(String)

    public var description: String {
        switch self {
        case let .trace(reason): "trace: \(reason)"
        case let .setup(reason): "setup: \(reason)"
        }
    }
}
