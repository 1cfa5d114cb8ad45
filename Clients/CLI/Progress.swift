// Transfer progress on stderr: a bar with bytes/s and ETA, redrawn at most
// ten times a second, when stderr is a terminal; otherwise nothing until the
// one-line summary at the end (logs and pipes get no carriage returns).
import CoffreSDK
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let interactive: Bool
    private let lock = NSLock()
    private let started = ContinuousClock.now
    private var lastDraw: ContinuousClock.Instant?
    private var latest: TransferProgress?
    private var drawn = false

    init(label: String, interactive: Bool = isatty(STDERR_FILENO) == 1) {
        self.label = label
        self.interactive = interactive
    }

    func update(_ progress: TransferProgress) {
        lock.withLock {
            latest = progress
            guard interactive else { return }
            let now = ContinuousClock.now
            if let lastDraw, now - lastDraw < .milliseconds(100), progress.done < progress.total { return }
            lastDraw = now
            drawn = true
            FileHandle.standardError.write(Data(("\r" + Self.line(label: label, progress: progress, elapsed: now - started)
                + "\u{1B}[K").utf8))
        }
    }

    /// Replaces the bar (if any) with the summary line.
    func finish(_ summary: String) {
        lock.withLock {
            let prefix = drawn ? "\r\u{1B}[K" : ""
            FileHandle.standardError.write(Data((prefix + summary + "\n").utf8))
        }
    }

    /// Clears the bar before an error message.
    func abandon() {
        lock.withLock {
            if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        }
    }

    var elapsed: Duration { ContinuousClock.now - started }

    /// "name  [#####.....]  45%  12.0 MiB/27.0 MiB  8.1 MiB/s  ETA 0:02"
    static func line(label: String, progress: TransferProgress, elapsed: Duration) -> String {
        let total = max(progress.total, 1)
        let fraction = min(1, Double(progress.done) / Double(total))
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let seconds = elapsed.seconds
        let rate = seconds > 0 ? Double(progress.done - progress.startedAt) / seconds : 0
        var eta = "--:--"
        if rate > 0 { eta = clock(Double(progress.total - progress.done) / rate) }
        let name = label.count > 24 ? String(label.prefix(23)) + "…" : label
        return "\(name)  [\(bar)] \(String(format: "%3d", Int(fraction * 100)))%  "
            + "\(Units.bytes(progress.done))/\(Units.bytes(progress.total))  \(Units.bytes(Int64(rate)))/s  ETA \(eta)"
    }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--:--" }
        let s = Int(seconds.rounded(.up))
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

enum Units {
    /// 1023 B, 1.5 KiB, 12.0 MiB, 1.00 GiB.
    static func bytes(_ count: Int64) -> String {
        let value = Double(count)
        switch count {
        case ..<1024: return "\(count) B"
        case ..<(1 << 20): return String(format: "%.1f KiB", value / 1024)
        case ..<(1 << 30): return String(format: "%.1f MiB", value / 1_048_576)
        default: return String(format: "%.2f GiB", value / 1_073_741_824)
        }
    }

    /// "0.4 s", "12 s", "2:05".
    static func duration(_ duration: Duration) -> String {
        let seconds = duration.seconds
        if seconds < 10 { return String(format: "%.1f s", seconds) }
        if seconds < 60 { return String(format: "%.0f s", seconds) }
        return ProgressBar.clock(seconds)
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
