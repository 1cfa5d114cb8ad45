import CoffreCore
import Synchronization

/// Concurrency-based load shedding: a bound on proxied requests in flight,
/// per upstream service and overall. When an upstream slows down, requests
/// pile up in flight; past the bound new ones get an immediate 503 with
/// `Retry-After` instead of queueing, so admitted requests keep a bounded
/// latency and the gateway's memory stays bounded too. A request counts
/// until its response body has been streamed.
///
/// Transfers (an upload's body, a download's bytes) have a pool of their
/// own: they last as long as the client's bandwidth makes them, which says
/// nothing about the health of the service, so a few thousand slow uploads
/// must not take every slot of the API requests to the same service (nor be
/// refused because those are busy). An admitted transfer is never shed
/// later, however long its body runs.
public final class LoadShedder: Sendable {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        let limit: Int
        init(limit: Int) { self.limit = limit }

        func acquire() -> Bool {
            if value.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue > limit {
                value.wrappingSubtract(1, ordering: .acquiringAndReleasing)
                return false
            }
            return true
        }

        func release() { value.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
    }

    private let total: Counter
    private let perService: [String: Counter]
    private let transfers: Counter

    public init(services: [String], maxInflightPerService: Int, maxInflight: Int, maxTransfers: Int) {
        total = Counter(limit: maxInflight)
        perService = Dictionary(uniqueKeysWithValues: services.map { ($0, Counter(limit: maxInflightPerService)) })
        transfers = Counter(limit: maxTransfers)
    }

    /// Requests in flight to `service`, or overall; transfers are not counted.
    public func inflight(_ service: String? = nil) -> Int {
        (service.flatMap { perService[$0] } ?? total).value.load(ordering: .relaxed)
    }

    public var transfersInFlight: Int { transfers.value.load(ordering: .relaxed) }

    /// A permit for one request to `service`, or a 503 problem. A transfer
    /// takes a slot of the transfer pool only.
    public func admit(_ service: String, transfer: Bool = false) throws(Problem) -> InflightPermit {
        guard let counter = perService[service] else { throw Problem.notFound() }
        if transfer {
            guard transfers.acquire() else { throw Self.overloaded("The gateway is at its limit of uploads and downloads in flight.") }
            let transfers = self.transfers
            return InflightPermit { transfers.release() }
        }
        guard total.acquire() else { throw Self.overloaded("The gateway is at its limit of requests in flight.") }
        guard counter.acquire() else {
            total.release()
            throw Self.overloaded("The \(service) service is at its limit of requests in flight.")
        }
        let total = self.total
        return InflightPermit {
            counter.release()
            total.release()
        }
    }

    static func overloaded(_ detail: String) -> Problem {
        var problem = Problem.unavailable(detail, retryAfter: 1)
        problem.type = "urn:coffre:problem:overloaded"
        return problem
    }
}

/// One admitted request. Released exactly once: explicitly when its
/// response has been streamed, or when dropped (an error path, a client
/// that went away), so no path can leak a slot.
public final class InflightPermit: Sendable {
    private let released = Atomic<Bool>(false)
    private let onRelease: @Sendable () -> Void

    init(_ onRelease: @escaping @Sendable () -> Void) {
        self.onRelease = onRelease
    }

    public func release() {
        if !released.exchange(true, ordering: .acquiringAndReleasing) { onRelease() }
    }

    deinit { release() }
}
