import Foundation
import Synchronization

/// The instances of one upstream service, picked round-robin. An instance
/// that just refused a connection is skipped for a few seconds so requests
/// do not keep paying a failed connect for it; when every instance is marked
/// down they are all tried anyway (a restart may have finished).
public final class UpstreamPool: Sendable {
    public struct Instance: Sendable, Hashable {
        /// `scheme://host:port`, no trailing slash.
        public let origin: String
        /// Path prefix of the base URL ("" for a bare host), part of what the
        /// service sees and so of what the identity MAC covers.
        public let basePath: String
    }

    public let service: String
    public let instances: [Instance]
    private let next = Atomic<Int>(0)
    /// Instance index → when it may be tried again.
    private let downUntil: Mutex<[Int: ContinuousClock.Instant]>
    private let downFor: Duration

    public init(service: String, baseURLs: [String], downFor: Duration = .seconds(3)) {
        self.service = service
        self.instances = baseURLs.map { url in
            var trimmed = url
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            guard let parsed = URL(string: trimmed), let scheme = parsed.scheme, let host = parsed.host else {
                return Instance(origin: trimmed, basePath: "")
            }
            let hostPart = host.contains(":") ? "[\(host)]" : host
            let origin = "\(scheme)://\(hostPart)" + (parsed.port.map { ":\($0)" } ?? "")
            return Instance(origin: origin, basePath: parsed.path == "/" ? "" : parsed.path)
        }
        self.downUntil = Mutex([:])
        self.downFor = downFor
    }

    /// Every instance once, starting at the next one in turn, those believed
    /// up first.
    public func attemptOrder() -> [Int] {
        guard !instances.isEmpty else { return [] }
        let start = next.wrappingAdd(1, ordering: .relaxed).oldValue
        let order = (0..<instances.count).map { (start &+ $0) % instances.count }.map { $0 < 0 ? $0 + instances.count : $0 }
        let now = ContinuousClock.now
        let down = downUntil.withLock { map in map.filter { $0.value > now } }
        if down.isEmpty { return order }
        return order.filter { down[$0] == nil } + order.filter { down[$0] != nil }
    }

    public func markDown(_ index: Int) {
        let until = ContinuousClock.now + downFor
        downUntil.withLock { $0[index] = until }
    }

    public func markUp(_ index: Int) {
        downUntil.withLock { _ = $0.removeValue(forKey: index) }
    }
}

/// One pool per service name.
public struct Upstreams: Sendable {
    public let pools: [String: UpstreamPool]

    public init(_ config: [String: [String]]) {
        var pools: [String: UpstreamPool] = [:]
        for (service, urls) in config { pools[service] = UpstreamPool(service: service, baseURLs: urls) }
        self.pools = pools
    }

    public subscript(_ service: String) -> UpstreamPool? { pools[service] }
}
