// `coffre-load`: replays a trace against a gateway, verifies, reports.
// The engine is the CoffreLoad library (the smoke test runs it in-process);
// this only reads the command line and writes the outputs. Exit status: 0
// when verification passed, 1 when it failed, 2 on a setup error.
import ArgumentParser
import CoffreLoad
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

@main
struct CoffreLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coffre-load",
        abstract: "Replay a signup/upload trace against a Coffre gateway, then verify that nothing acknowledged was lost.",
        discussion: """
        TRACE is a trace file, or the name of a shipped one (smoke, launch, upload-storm in Tools/Load/Traces).
        The run creates a tenant of its own through the operator API (COFFRE_ADMIN_TOKEN), unless --tenant is given.
        Start the gateway with GATEWAY_TRUST_FORWARDED_FOR=true so that each synthetic account counts as its own
        client address (scripts/load.sh does); otherwise the per-IP limit sheds most signups and logins.
        """)

    @Argument(help: "Trace file or shipped trace name.") var trace: String
    @Option(help: "The gateway's base URL.") var gateway: String = ProcessInfo.processInfo.environment["COFFRE_GATEWAY"] ?? "http://127.0.0.1:8080"
    @Option(help: "Operator token (default: $COFFRE_ADMIN_TOKEN).") var adminToken: String?
    @Option(help: "Use this existing tenant (slug) instead of creating one.") var tenant: String?
    @Option(help: "Write the report as JSON to this file.") var json: String?
    @Option(help: "Write the rate / p99 chart as SVG to this file.") var svg: String?
    @Option(help: "Scratch directory for upload sources and downloads.") var scratch: String = NSTemporaryDirectory()
    @Option(help: "Multiply every rate of the trace by this.") var rateScale: Double = 1
    @Option(help: "Multiply every phase's duration by this (0.2: a 5-minute trace in 1 minute).") var timeScale: Double = 1
    @Flag(help: "Do not send X-Forwarded-For.") var noForwardedFor = false
    @Flag(help: "No progress line on stderr.") var quiet = false
    @Flag(help: "Print the schedule's totals and exit.") var dryRun = false

    func run() async throws {
        let path = try Self.resolve(trace)
        guard rateScale > 0, timeScale > 0 else { throw ValidationError("--rate-scale and --time-scale must be positive") }
        let loaded = try Trace.load(path: path).scaled(rate: rateScale, time: timeScale)
        if dryRun {
            let schedule = loaded.schedule()
            print("trace \(loaded.name): \(schedule.count) operations over \(loaded.durationSeconds) s, concurrency \(loaded.concurrency)")
            for kind in OperationKind.allCases {
                let ops = schedule.filter { $0.kind == kind }
                let bytes = ops.reduce(0) { $0 + $1.size }
                print("  \(kind.rawValue): \(ops.count)\(kind == .upload ? ", \(bytes) bytes" : "")")
            }
            return
        }
        guard let url = URL(string: gateway), url.scheme != nil else { throw ValidationError("--gateway must be a URL") }
        var logger = Logger(label: "coffre.load")
        logger.logLevel = .warning
        let options = LoadOptions(gateway: url, adminToken: adminToken ?? ProcessInfo.processInfo.environment["COFFRE_ADMIN_TOKEN"],
                                  tenant: tenant, forwardedFor: !noForwardedFor, scratchDirectory: scratch, progress: !quiet)
        let report: LoadReport
        do {
            report = try await LoadTool.run(trace: loaded, options: options, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("coffre-load: \(error)\n".utf8))
            Foundation.exit(2)
        }
        print(report.table)
        if let json { try report.json().write(to: URL(fileURLWithPath: json)) }
        if let svg { try Data(report.svg.utf8).write(to: URL(fileURLWithPath: svg)) }
        if !report.passed {
            FileHandle.standardError.write(Data("coffre-load: verification FAILED (\(report.verification.failureCount) failures)\n".utf8))
            Foundation.exit(1)
        }
    }

    /// A path, or a shipped trace's name looked up under Tools/Load/Traces
    /// (from the current directory, $COFFRE_ROOT, or beside the source).
    static func resolve(_ name: String) throws -> String {
        if FileManager.default.fileExists(atPath: name) { return name }
        var roots = [FileManager.default.currentDirectoryPath]
        if let root = ProcessInfo.processInfo.environment["COFFRE_ROOT"] { roots.append(root) }
        roots.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../..").standardized.path)
        for root in roots {
            let candidate = "\(root)/Tools/Load/Traces/\(name).json"
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        throw ValidationError("no trace file \(name), and no shipped trace of that name (smoke, launch, upload-storm)")
    }
}

