import Foundation
import Synchronization

/// A one-way switch: set once something (migrations) has completed.
public final class ReadinessFlag: Sendable {
    private let value = Atomic<Bool>(false)
    public init(_ initial: Bool = false) {
        value.store(initial, ordering: .relaxed)
    }
    public var isSet: Bool { value.load(ordering: .acquiring) }
    public func set() { value.store(true, ordering: .releasing) }

    /// Waits until the flag is set, for at most `limit`; true if it was set.
    public func wait(upTo limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while !isSet {
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }
}

/// What `/readyz` checks. Each check returns nil when healthy, or a short
/// reason (never a secret: no URLs with passwords, no tokens).
public struct ReadinessChecks: Sendable {
    public typealias Check = @Sendable () async -> String?
    private var checks: [(String, Check)] = []

    public init() {}

    public mutating func add(_ name: String, _ check: @escaping Check) {
        checks.append((name, check))
    }

    /// Runs every check concurrently; returns the failing ones by name.
    public func failures() async -> [String: String] {
        await withTaskGroup(of: (String, String?).self) { group in
            for (name, check) in checks {
                group.addTask { (name, await check()) }
            }
            var failures: [String: String] = [:]
            for await (name, reason) in group {
                if let reason { failures[name] = reason }
            }
            return failures
        }
    }
}
