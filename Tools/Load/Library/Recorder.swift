// What happened to every scheduled operation: its outcome, and for the ones
// that succeeded the latency from the *scheduled* start (so time spent
// waiting for a slot or for a slow server counts; coordinated omission is
// not possible). One HdrHistogram per operation kind for the whole run,
// plus per-second buckets for the progress line and the chart.
import Foundation
import Histogram
import Synchronization

/// How an operation ended.
public enum Outcome: String, Codable, Sendable, CaseIterable {
    case ok
    /// 429 or 503: the server shed it.
    case shed
    /// Any other 4xx.
    case client4xx = "4xx"
    case server5xx = "5xx"
    case timeout
    /// No HTTP exchange (refused, reset).
    case network
    /// A client-side check failed (a download that did not match, a
    /// response that broke the contract).
    case failed
    /// Not started: every slot was busy past the drop tolerance.
    case dropped
    /// Nothing to work on yet (a download before any upload was acknowledged).
    case unavailable
}

public final class Recorder: Sendable {
    struct KindStats {
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        var offered = 0
        var outcomes: [Outcome: Int] = [:]
        /// The first few error messages of each outcome, for the report.
        var samples: [Outcome: [String]] = [:]
    }

    struct Second {
        var offered: [OperationKind: Int] = [:]
        var ok: [OperationKind: Int] = [:]
        var errors: [OperationKind: Int] = [:]
        var dropped: [OperationKind: Int] = [:]
        var shed = 0
        /// Plaintext bytes of the uploads acknowledged in this second.
        var uploadedBytes: Int64 = 0
        /// Latencies (µs) of the operations that completed in this second.
        var latencies: [OperationKind: [UInt32]] = [:]
    }

    struct State {
        var kinds: [OperationKind: KindStats] = [:]
        var seconds: [Second] = []
        var uploadedPlainBytes: Int64 = 0
        var uploadedCipherBytes: Int64 = 0
        var downloadedPlainBytes: Int64 = 0

        mutating func second(_ index: Int) -> Int {
            let index = max(0, index)
            while seconds.count <= index { seconds.append(Second()) }
            return index
        }
    }

    private let state = Mutex(State())
    let active = Atomic<Int>(0)
    let peakActive = Atomic<Int>(0)

    public init() {}

    func offered(_ kind: OperationKind, at: Double) {
        state.withLock { s in
            s.kinds[kind, default: KindStats()].offered += 1
            let i = s.second(Int(at))
            s.seconds[i].offered[kind, default: 0] += 1
        }
    }

    /// `finished` is seconds since the run's start (completion time).
    func record(_ kind: OperationKind, outcome: Outcome, latencyMicros: UInt64, finished: Double, detail: String? = nil) {
        state.withLock { s in
            var stats = s.kinds[kind, default: KindStats()]
            stats.outcomes[outcome, default: 0] += 1
            if outcome == .ok {
                _ = stats.histogram.record(max(1, latencyMicros))
            } else if let detail, stats.samples[outcome, default: []].count < 3 {
                stats.samples[outcome, default: []].append(detail)
            }
            s.kinds[kind] = stats
            let i = s.second(Int(finished))
            switch outcome {
            case .ok:
                s.seconds[i].ok[kind, default: 0] += 1
                s.seconds[i].latencies[kind, default: []].append(UInt32(min(latencyMicros, UInt64(UInt32.max))))
            case .dropped: s.seconds[i].dropped[kind, default: 0] += 1
            case .unavailable: break
            case .shed:
                s.seconds[i].shed += 1
                s.seconds[i].errors[kind, default: 0] += 1
            default: s.seconds[i].errors[kind, default: 0] += 1
            }
        }
    }

    func addBytes(uploadedPlain: Int64 = 0, uploadedCipher: Int64 = 0, downloadedPlain: Int64 = 0, at: Double? = nil) {
        state.withLock { s in
            if let at, uploadedPlain > 0 {
                let i = s.second(Int(at))
                s.seconds[i].uploadedBytes += uploadedPlain
            }
            s.uploadedPlainBytes += uploadedPlain
            s.uploadedCipherBytes += uploadedCipher
            s.downloadedPlainBytes += downloadedPlain
        }
    }

    /// Forgets the bytes counted so far (the unmeasured preparation's).
    func resetBytes() {
        state.withLock { s in
            s.uploadedPlainBytes = 0
            s.uploadedCipherBytes = 0
            s.downloadedPlainBytes = 0
        }
    }

    func started() {
        let now = active.add(1, ordering: .relaxed).newValue
        var peak = peakActive.load(ordering: .relaxed)
        while now > peak {
            let (exchanged, original) = peakActive.compareExchange(expected: peak, desired: now, ordering: .relaxed)
            if exchanged { break }
            peak = original
        }
    }

    func ended() {
        active.subtract(1, ordering: .relaxed)
    }

    var snapshot: State { state.withLock { $0 } }

    /// One line for stderr: the last complete second and the totals.
    func progressLine(elapsed: Double, duration: Double) -> String {
        let s = snapshot
        let last = Int(elapsed) - 1
        var offered = 0, ok = 0, errors = 0, dropped = 0
        var latencies: [UInt32] = []
        if last >= 0, last < s.seconds.count {
            let second = s.seconds[last]
            offered = second.offered.values.reduce(0, +)
            ok = second.ok.values.reduce(0, +)
            errors = second.errors.values.reduce(0, +)
            dropped = second.dropped.values.reduce(0, +)
            latencies = second.latencies.values.flatMap { $0 }
        }
        let totals = s.kinds.values.reduce(into: [Outcome: Int]()) { sum, stats in
            for (outcome, n) in stats.outcomes { sum[outcome, default: 0] += n }
        }
        let p99 = Self.percentile(latencies, 99).map { String(format: "%.0f ms", Double($0) / 1000) } ?? "-"
        let failedTotal = totals.filter { ![.ok, .dropped, .unavailable].contains($0.key) }.values.reduce(0, +)
        return "[\(Int(elapsed))/\(Int(duration)) s] offered \(offered)/s, ok \(ok)/s, errors \(errors)/s, dropped \(dropped)/s, "
            + "p99 \(p99), in flight \(active.load(ordering: .relaxed)) | total ok \(totals[.ok] ?? 0), errors \(failedTotal), "
            + "dropped \(totals[.dropped] ?? 0)"
    }

    static func percentile(_ values: [UInt32], _ p: Double) -> UInt32? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}
