import CoffreCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// The bounds on a service's shutdown (`ServiceBootstrap.shutdownGroup`): a
/// task that ignores both the graceful shutdown and the cancellation after
/// it no longer keeps the process alive for good, and a service that stops
/// in time is never cut short.
@Suite struct ShutdownDeadlineTests {
    /// Waits without end, deaf to shutdown and to cancellation, until released.
    final class StuckService: Service, Sendable {
        private let waiting = Mutex<CheckedContinuation<Void, Never>?>(nil)
        private let released = Mutex(false)
        func run() async {
            await withCheckedContinuation { continuation in
                let resumeNow = released.withLock { released in
                    if !released { waiting.withLock { $0 = continuation } }
                    return released
                }
                if resumeNow { continuation.resume() }
            }
        }
        func release() {
            released.withLock { released in
                released = true
                waiting.withLock { $0?.resume(); $0 = nil }
            }
        }
    }

    /// Stops as soon as it is asked to.
    struct PoliteService: Service {
        func run() async throws {
            try? await gracefulShutdown()
        }
    }

    /// When the deadline fired, if it did.
    final class Expiry: Sendable {
        private let firedAt = Mutex<ContinuousClock.Instant?>(nil)
        func fire() { firedAt.withLock { $0 = $0 ?? .now } }
        var instant: ContinuousClock.Instant? { firedAt.withLock { $0 } }
        func wait(upTo limit: Duration) async -> ContinuousClock.Instant? {
            let end = ContinuousClock.now + limit
            while ContinuousClock.now < end {
                if let instant { return instant }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return instant
        }
    }

    static let logger = Logger(label: "shutdown-test")

    @Test func aServiceDeafToShutdownIsEndedByTheDeadline() async throws {
        let stuck = StuckService()
        let expiry = Expiry()
        let deadline = ShutdownDeadline(after: .milliseconds(400)) { expiry.fire() }
        let group = ServiceBootstrap.shutdownGroup(stuck, grace: .milliseconds(100), deadline: deadline, logger: Self.logger)
        let running = Task { try? await group.run() }
        try await Task.sleep(for: .milliseconds(200))
        #expect(expiry.instant == nil, "the deadline ran before any shutdown")
        let shutdownBegan = ContinuousClock.now
        await group.triggerGracefulShutdown()
        let fired = await expiry.wait(upTo: .seconds(10))
        #expect(fired != nil, "a service that ignores shutdown and cancellation kept the process alive")
        if let fired { #expect(fired - shutdownBegan >= .milliseconds(400), "the deadline fired early") }
        stuck.release()
        await running.value
    }

    @Test func aServiceThatStopsInTimeIsNotCutShort() async throws {
        let expiry = Expiry()
        let deadline = ShutdownDeadline(after: .milliseconds(300)) { expiry.fire() }
        let group = ServiceBootstrap.shutdownGroup(PoliteService(), grace: .seconds(5), deadline: deadline, logger: Self.logger)
        let running = Task { try await group.run() }
        try await Task.sleep(for: .milliseconds(100))
        await group.triggerGracefulShutdown()
        try await running.value
        deadline.disarm()
        try await Task.sleep(for: .milliseconds(600))
        #expect(expiry.instant == nil, "the deadline fired after the group had finished")
    }

    @Test func theGraceIsASettingWithBounds() throws {
        #expect(try ServiceBootstrap.shutdownGraceSeconds(EnvironmentReader([:])) == 20)
        #expect(try ServiceBootstrap.shutdownGraceSeconds(EnvironmentReader(["COFFRE_SHUTDOWN_GRACE_SECONDS": "3"])) == 3)
        #expect(try ServiceBootstrap.shutdownGraceSeconds(EnvironmentReader(["COFFRE_SHUTDOWN_GRACE_SECONDS": "3600"])) == 3600)
        for bad in ["0", "-1", "3601", "soon", "2.5"] {
            do {
                _ = try ServiceBootstrap.shutdownGraceSeconds(EnvironmentReader(["COFFRE_SHUTDOWN_GRACE_SECONDS": bad]))
                Issue.record("COFFRE_SHUTDOWN_GRACE_SECONDS=\(bad) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.key == "COFFRE_SHUTDOWN_GRACE_SECONDS")
            }
        }
    }
}
