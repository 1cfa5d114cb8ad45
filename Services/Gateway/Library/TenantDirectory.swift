import Foundation
import Logging
import Synchronization

/// What the gateway applies itself from a tenant's row (its `rate_limits`),
/// read from accounts' `GET /internal/v1/tenants/{slug}` and kept for `ttl`
/// (`GATEWAY_TENANT_CACHE_SECONDS`): an operator's change reaches every
/// replica within that time, and accounts is asked at most once per tenant
/// per `ttl`, never once per request.
///
/// One lookup per slug at a time: requests that arrive meanwhile wait for
/// it. A slug accounts does not know is remembered too, with no limits of
/// its own (accounts answers those requests 404 anyway). A failed lookup
/// never refuses a request: the last known limits, or none, stay in use for
/// another `ttl`. Slugs come from clients, so the table is bounded: when
/// full, expired entries go first, then all of them.
final class TenantDirectory: Sendable {
    /// A tenant row's `rate_limits`; nil means the gateway's default applies.
    struct RateLimits: Codable, Sendable, Equatable {
        var signup_per_minute: Int?
        var login_per_minute: Int?
    }

    /// The part of accounts' tenant object the gateway reads.
    struct Row: Decodable, Sendable {
        var rate_limits: RateLimits?
    }

    /// Reads one tenant's limits; nil when there is no such tenant.
    typealias Lookup = @Sendable (_ slug: String) async throws -> RateLimits?

    private struct Entry {
        var limits: RateLimits
        var expires: ContinuousClock.Instant
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var pending: [String: Task<RateLimits, Never>] = [:]
    }

    let ttl: Duration
    private let lookup: Lookup
    private let maxEntries: Int
    private let logger: Logger
    private let state = Mutex(State())

    init(ttl: Duration, maxEntries: Int = 10_000, logger: Logger, lookup: @escaping Lookup) {
        self.ttl = ttl
        self.maxEntries = max(16, maxEntries)
        self.logger = logger
        self.lookup = lookup
    }

    /// Through accounts' internal API.
    convenience init(ttl: Duration, accounts: InternalClient, logger: Logger) {
        self.init(ttl: ttl, logger: logger) { slug in
            guard let row = try await accounts.find("/internal/v1/tenants/\(slug)", as: Row.self) else { return nil }
            return row.rate_limits ?? RateLimits()
        }
    }

    var count: Int { state.withLock { $0.entries.count } }

    func rateLimits(of slug: String) async -> RateLimits {
        enum Next { case cached(RateLimits), wait(Task<RateLimits, Never>) }
        let now = ContinuousClock.now
        let next: Next = state.withLock { state in
            if let entry = state.entries[slug], entry.expires > now { return .cached(entry.limits) }
            if let task = state.pending[slug] { return .wait(task) }
            let previous = state.entries[slug]?.limits
            // Unstructured on purpose: the lookup serves every request
            // waiting for this slug, so one caller's cancellation must not
            // cancel it.
            let task = Task { await self.refresh(slug, previous: previous) }
            state.pending[slug] = task
            return .wait(task)
        }
        switch next {
        case .cached(let limits): return limits
        case .wait(let task): return await task.value
        }
    }

    private func refresh(_ slug: String, previous: RateLimits?) async -> RateLimits {
        let limits: RateLimits
        do {
            limits = try await lookup(slug) ?? RateLimits()
        } catch {
            logger.warning("tenant lookup failed; keeping the last known rate limits",
                           metadata: ["tenant": "\(slug)", "error": "\(error)"])
            limits = previous ?? RateLimits()
        }
        let expires = ContinuousClock.now + ttl
        state.withLock { state in
            state.pending[slug] = nil
            if state.entries[slug] == nil && state.entries.count >= maxEntries {
                let now = ContinuousClock.now
                state.entries = state.entries.filter { $0.value.expires > now }
                if state.entries.count >= maxEntries { state.entries = [:] }
            }
            state.entries[slug] = Entry(limits: limits, expires: expires)
        }
        return limits
    }
}
