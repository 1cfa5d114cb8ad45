import Synchronization

/// A counter that tasks can wait on: `fire()` bumps it and wakes every task
/// waiting for a value past the one it saw. The sequencer waits on its kick
/// signal between passes; `POST /v1/keys` waits on the batch signal for its
/// entry's batch. A waiter reads `generation` before it looks at the
/// database, so a fire in between is never missed.
final class BatchSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: (after: UInt64, continuation: CheckedContinuation<Void, Never>)] = [:]
        /// Waiters whose timeout fired before they registered.
        var expired: Set<UInt64> = []
    }

    private let state = Mutex(State())

    init() {}

    var generation: UInt64 { state.withLock { $0.generation } }

    func fire() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation += 1
            let ready = state.waiters.filter { $0.value.after < state.generation }
            for id in ready.keys { state.waiters[id] = nil }
            return ready.map(\.value.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns once `generation` passed `seen`, or after `timeout`.
    func wait(after seen: UInt64, timeout: Duration) async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.expire(id)
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.generation > seen || state.expired.remove(id) != nil { return true }
                    state.waiters[id] = (seen, continuation)
                    return false
                }
                if now { continuation.resume() }
            }
            group.cancelAll()
        }
        // The timer may have marked this waiter after it was woken.
        state.withLock { _ = $0.expired.remove(id) }
    }

    private func expire(_ id: UInt64) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter.continuation }
            state.expired.insert(id)
            return nil
        }
        continuation?.resume()
    }
}
