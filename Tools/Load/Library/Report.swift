// The run's result as a table (stdout), JSON (--json) and an SVG chart
// (--svg): offered against achieved rate, latency percentiles from the
// intended start, errors by class, throughput, and the verification.
import Foundation
import Histogram

public struct OperationReport: Codable, Sendable {
    public var offered: Int
    public var offeredPerSecond: Double
    public var achievedPerSecond: Double
    public var outcomes: [String: Int]
    public var p50Ms, p90Ms, p99Ms, p999Ms, maxMs: Double?
    public var errorSamples: [String: [String]]

    enum CodingKeys: String, CodingKey {
        case offered, offeredPerSecond = "offered_per_second", achievedPerSecond = "achieved_per_second", outcomes
        case p50Ms = "p50_ms", p90Ms = "p90_ms", p99Ms = "p99_ms", p999Ms = "p99_9_ms", maxMs = "max_ms"
        case errorSamples = "error_samples"
    }

    public func count(_ outcome: Outcome) -> Int { outcomes[outcome.rawValue] ?? 0 }
}

public struct SecondReport: Codable, Sendable {
    public var t: Int
    public var offered: [String: Int]
    public var ok: [String: Int]
    /// Every failure but drops, shed included.
    public var errors: Int
    public var shed: Int
    public var dropped: Int
    public var uploadedBytes: Int64
    public var p99Ms: [String: Double]

    enum CodingKeys: String, CodingKey { case t, offered, ok, errors, shed, dropped, uploadedBytes = "uploaded_bytes", p99Ms = "p99_ms" }
}

public struct LoadReport: Codable, Sendable {
    public var trace: String
    public var tenant: String
    public var startedAt: String
    public var durationSeconds: Double
    public var concurrencyCap: Int
    public var peakConcurrency: Int
    public var operations: [String: OperationReport]
    public var uploadedPlainBytes: Int64
    public var uploadedCipherBytes: Int64
    public var downloadedPlainBytes: Int64
    /// Plaintext bytes uploaded during the load and read back intact by the
    /// verification, per second of the load.
    public var verifiedUploadBytesPerSecond: Double
    public var timeline: [SecondReport]
    public var phases: [String: Double]
    public var verification: VerificationReport

    enum CodingKeys: String, CodingKey {
        case trace, tenant, startedAt = "started_at", durationSeconds = "duration_seconds", concurrencyCap = "concurrency_cap"
        case peakConcurrency = "peak_concurrency", operations, uploadedPlainBytes = "uploaded_plain_bytes"
        case uploadedCipherBytes = "uploaded_cipher_bytes", downloadedPlainBytes = "downloaded_plain_bytes"
        case verifiedUploadBytesPerSecond = "verified_upload_bytes_per_second", timeline, phases, verification
    }

    public var passed: Bool { verification.passed }
}

extension LoadRun {
    public func report(duration: Double, startedAt: Date, verification: VerificationReport) -> LoadReport {
        let state = recorder.snapshot
        var operations: [String: OperationReport] = [:]
        for kind in OperationKind.allCases {
            let stats = state.kinds[kind] ?? Recorder.KindStats()
            let h = stats.histogram
            func ms(_ p: Double) -> Double? { h.totalCount == 0 ? nil : Double(h.valueAtPercentile(p)) / 1000 }
            let ok = stats.outcomes[.ok] ?? 0
            operations[kind.rawValue] = OperationReport(
                offered: stats.offered, offeredPerSecond: Double(stats.offered) / max(trace.durationSeconds, 0.001),
                achievedPerSecond: Double(ok) / max(duration, 0.001),
                outcomes: Dictionary(uniqueKeysWithValues: stats.outcomes.map { ($0.key.rawValue, $0.value) }),
                p50Ms: ms(50), p90Ms: ms(90), p99Ms: ms(99), p999Ms: ms(99.9),
                maxMs: h.totalCount == 0 ? nil : Double(h.max) / 1000,
                errorSamples: Dictionary(uniqueKeysWithValues: stats.samples.map { ($0.key.rawValue, $0.value) }))
        }
        let timeline = state.seconds.enumerated().map { index, second in
            SecondReport(t: index, offered: Dictionary(uniqueKeysWithValues: second.offered.map { ($0.key.rawValue, $0.value) }),
                         ok: Dictionary(uniqueKeysWithValues: second.ok.map { ($0.key.rawValue, $0.value) }),
                         errors: second.errors.values.reduce(0, +), shed: second.shed, dropped: second.dropped.values.reduce(0, +),
                         uploadedBytes: second.uploadedBytes,
                         p99Ms: Dictionary(uniqueKeysWithValues: second.latencies.compactMap { kind, values in
                             Recorder.percentile(values, 99).map { (kind.rawValue, Double($0) / 1000) }
                         }))
        }
        // Bytes read back intact, minus what the unmeasured preparation uploaded.
        let verifiedDuringLoad = max(0, verification.verifiedBytes - preparedBytes.withLock { $0 })
        let formatter = ISO8601DateFormatter()
        return LoadReport(
            trace: trace.name, tenant: ledger.tenant, startedAt: formatter.string(from: startedAt), durationSeconds: duration,
            concurrencyCap: trace.concurrency, peakConcurrency: recorder.peakActive.load(ordering: .relaxed),
            operations: operations, uploadedPlainBytes: state.uploadedPlainBytes, uploadedCipherBytes: state.uploadedCipherBytes,
            downloadedPlainBytes: state.downloadedPlainBytes,
            verifiedUploadBytesPerSecond: Double(verifiedDuringLoad) / max(duration, 0.001), timeline: timeline,
            phases: Dictionary(uniqueKeysWithValues: trace.phaseStarts.map { ($0.name, $0.start) }),
            verification: verification)
    }
}

extension LoadReport {
    public var table: String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.1f", $0) } ?? "-" }
        var lines: [String] = []
        lines.append("coffre-load: trace \(trace), tenant \(tenant), \(String(format: "%.1f", durationSeconds)) s, "
            + "concurrency cap \(concurrencyCap) (peak \(peakConcurrency))")
        lines.append("")
        let header = ["op", "offered", "offered/s", "achieved/s", "ok", "shed", "4xx", "5xx", "timeout", "other", "dropped", "n/a",
                      "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"]
        var rows = [header]
        for kind in OperationKind.allCases {
            guard let op = operations[kind.rawValue] else { continue }
            let other = op.count(.network) + op.count(.failed)
            rows.append([kind.rawValue, "\(op.offered)", f(op.offeredPerSecond), f(op.achievedPerSecond), "\(op.count(.ok))",
                         "\(op.count(.shed))", "\(op.count(.client4xx))", "\(op.count(.server5xx))", "\(op.count(.timeout))",
                         "\(other)", "\(op.count(.dropped))", "\(op.count(.unavailable))",
                         f(op.p50Ms), f(op.p90Ms), f(op.p99Ms), f(op.p999Ms), f(op.maxMs)])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for (n, row) in rows.enumerated() {
            lines.append(row.enumerated().map { column, cell in
                column == 0 ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: "  "))
            if n == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        lines.append("")
        let mib = 1024.0 * 1024
        lines.append(String(format: "uploaded %.1f MiB plaintext (%.1f MiB ciphertext), downloaded %.1f MiB; verified upload throughput %.2f MiB/s",
                            Double(uploadedPlainBytes) / mib, Double(uploadedCipherBytes) / mib, Double(downloadedPlainBytes) / mib,
                            verifiedUploadBytesPerSecond / mib))
        let v = verification
        lines.append("verification: \(v.passed ? "PASSED" : "FAILED") in \(String(format: "%.1f", v.seconds)) s: "
            + "\(v.loginsOK)/\(v.accounts) accounts log in, \(v.uploadsIntact)/\(v.uploads) uploads read back intact, "
            + "\(v.sharesIntact)/\(v.shares) shares read back intact by their recipients, "
            + "quota ledger agreed with ingest \(v.ledgerCatchUpSeconds.map { String(format: "within %.1f s", $0) } ?? "NEVER"), "
            + "\(v.accountsOverQuota) accounts over quota, \(v.committedNotAcknowledged) committed uploads never acknowledged")
        for failure in v.failures { lines.append("  FAIL \(failure)") }
        if v.failureCount > v.failures.count { lines.append("  … and \(v.failureCount - v.failures.count) more failures") }
        for kind in OperationKind.allCases {
            for (outcome, samples) in (operations[kind.rawValue]?.errorSamples ?? [:]).sorted(by: { $0.key < $1.key }) {
                for sample in samples.prefix(1) { lines.append("  \(kind.rawValue) \(outcome), e.g.: \(sample.prefix(200))") }
            }
        }
        return lines.joined(separator: "\n")
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Two panels sharing the time axis: operations per second (offered
    /// dashed, achieved solid, by kind) and p99 latency per second (log scale).
    public var svg: String {
        let width = 960.0, panel = 260.0, left = 70.0, right = 150.0, top = 40.0, gap = 50.0
        let plotWidth = width - left - right
        let height = top + panel * 2 + gap + 50
        let seconds = max(1, timeline.count)
        let colors: [String: String] = ["signup": "#1f77b4", "login": "#2ca02c", "upload": "#d62728", "download": "#9467bd",
                                       "share": "#ff7f0e"]
        func x(_ t: Double) -> Double { left + t / Double(seconds) * plotWidth }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="20" font-size="14">coffre-load \(Self.escape(trace)): rate and p99 latency per second \
        (verification \(verification.passed ? "passed" : "FAILED"))</text>

        """
        func axes(_ y0: Double, _ label: String, _ ticks: [(Double, String)]) {
            out += "<rect x=\"\(left)\" y=\"\(y0)\" width=\"\(plotWidth)\" height=\"\(panel)\" fill=\"none\" stroke=\"#888\"/>\n"
            out += "<text x=\"14\" y=\"\(y0 + panel / 2)\" transform=\"rotate(-90 14 \(y0 + panel / 2))\" text-anchor=\"middle\">\(label)</text>\n"
            for (y, text) in ticks {
                out += "<line x1=\"\(left - 4)\" x2=\"\(left + plotWidth)\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"#eee\"/>"
                out += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(text)</text>\n"
            }
            let step = max(1, seconds / 10)
            for t in stride(from: 0, through: seconds, by: step) {
                out += "<text x=\"\(x(Double(t)))\" y=\"\(y0 + panel + 14)\" text-anchor=\"middle\">\(t)s</text>"
            }
            out += "\n"
        }
        func polyline(_ points: [(Double, Double)], color: String, dashed: Bool = false) {
            guard !points.isEmpty else { return }
            let text = points.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"\(dashed ? " stroke-dasharray=\"4 3\"" : "") points=\"\(text)\"/>\n"
        }
        // Rates.
        let kinds = OperationKind.allCases.map(\.rawValue).filter { (operations[$0]?.offered ?? 0) > 0 }
        let maxRate = max(1, timeline.flatMap { Array($0.offered.values) + Array($0.ok.values) }.max() ?? 1)
        let rateTop = Self.niceCeiling(Double(maxRate))
        let y1 = top
        axes(y1, "operations / s", (0...4).map { i in (y1 + panel - Double(i) / 4 * panel, Self.short(rateTop * Double(i) / 4)) })
        for kind in kinds {
            let color = colors[kind] ?? "#333"
            polyline(timeline.map { (x(Double($0.t) + 0.5), y1 + panel - Double($0.offered[kind] ?? 0) / rateTop * panel) }, color: color, dashed: true)
            polyline(timeline.map { (x(Double($0.t) + 0.5), y1 + panel - Double($0.ok[kind] ?? 0) / rateTop * panel) }, color: color)
        }
        let shedLine = timeline.map { (x(Double($0.t) + 0.5), y1 + panel - Double($0.errors + $0.dropped) / rateTop * panel) }
        polyline(shedLine, color: "#ff7f0e")
        // p99, log scale from 1 ms.
        let y2 = top + panel + gap
        let maxP99 = max(10, timeline.flatMap { Array($0.p99Ms.values) }.max() ?? 10)
        let decades = max(1, ceil(log10(maxP99)))
        func ly(_ ms: Double) -> Double { y2 + panel - min(1, max(0, log10(max(ms, 1)) / decades)) * panel }
        axes(y2, "p99 latency (ms, log)", (0...Int(decades)).map { d in (ly(pow(10, Double(d))), Self.short(pow(10, Double(d)))) })
        for kind in kinds {
            let points = timeline.compactMap { s in s.p99Ms[kind].map { (x(Double(s.t) + 0.5), ly($0)) } }
            polyline(points, color: colors[kind] ?? "#333")
        }
        // Legend.
        var ly0 = top + 10
        for kind in kinds {
            out += "<line x1=\"\(width - right + 12)\" x2=\"\(width - right + 36)\" y1=\"\(ly0)\" y2=\"\(ly0)\" stroke=\"\(colors[kind] ?? "#333")\" stroke-width=\"2\"/>"
            out += "<text x=\"\(width - right + 40)\" y=\"\(ly0 + 4)\">\(kind)</text>\n"
            ly0 += 16
        }
        out += "<line x1=\"\(width - right + 12)\" x2=\"\(width - right + 36)\" y1=\"\(ly0)\" y2=\"\(ly0)\" stroke=\"#ff7f0e\" stroke-width=\"2\"/>"
        out += "<text x=\"\(width - right + 40)\" y=\"\(ly0 + 4)\">errors + dropped</text>\n"
        ly0 += 16
        out += "<text x=\"\(width - right + 12)\" y=\"\(ly0 + 4)\">dashed: offered</text>\n"
        out += "<text x=\"\(width - right + 12)\" y=\"\(ly0 + 20)\">solid: achieved</text>\n"
        for (name, start) in phases.sorted(by: { $0.value < $1.value }) {
            let px = x(start)
            out += "<line x1=\"\(px)\" x2=\"\(px)\" y1=\"\(top)\" y2=\"\(y2 + panel)\" stroke=\"#bbb\" stroke-dasharray=\"2 4\"/>"
            out += "<text x=\"\(px + 3)\" y=\"\(top + 12)\" fill=\"#666\">\(Self.escape(name))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    static func niceCeiling(_ value: Double) -> Double {
        let magnitude = pow(10, floor(log10(max(value, 1))))
        for step in [1.0, 2, 2.5, 5, 10] where step * magnitude >= value { return step * magnitude }
        return 10 * magnitude
    }

    static func short(_ value: Double) -> String {
        value >= 1000 ? String(format: "%.0fk", value / 1000) : (value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
