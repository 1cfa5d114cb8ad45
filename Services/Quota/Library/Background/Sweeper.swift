import CoffreCore
import Foundation
import Logging
import ServiceLifecycle

/// Periodically releases held reservations past their expiry (an upload
/// that ingest never finished nor reported) and ends transfer exhaustion
/// whose window has moved on. Safe on every replica at once: each change is
/// conditional on the row's state.
struct Sweeper: Service {
    let store: QuotaStore
    let interval: Duration
    let ready: ReadinessFlag
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await pauseUnlessShuttingDown(for: interval)
            guard ready.isSet else { continue }
            do {
                let released = try await store.sweepExpired()
                if released > 0 { logger.info("expired reservations released", metadata: ["count": "\(released)"]) }
                _ = try await store.restoreDue()
            } catch {
                logger.warning("quota sweep failed; retrying", metadata: ["error": .string(String(describing: error))])
            }
        }
    }
}
