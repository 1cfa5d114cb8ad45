import CoffreCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Sessions revoked at accounts (logout, session deletion, password change,
/// recovery, account deletion, refresh-token reuse), so their access tokens
/// stop working at the gateway before they expire.
///
/// How fast a revoked session stops working: access tokens are verified
/// locally and live 300 s, so on its own a revocation would take up to five
/// minutes to bite. The gateway therefore polls accounts'
/// `GET /internal/v1/revocations?after=N` every second and refuses (401) any
/// token whose session id is in the list: a revoked session stops working
/// within about a second (plus the poll's round trip). An entry is kept until
/// its `expires_at`, after which every token of that session has expired
/// anyway, so the set stays small. Until the first poll has succeeded the
/// gateway reports itself not ready (`/readyz`), so a load balancer does not
/// send it traffic it could wrongly accept.
public final class RevocationList: Service, Sendable {
    struct Page: Decodable {
        struct Entry: Decodable {
            var seq: Int64
            var session_id: UUID
            var expires_at: Int64?

            enum CodingKeys: String, CodingKey { case seq, session_id, expires_at }

            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                seq = try c.decode(Int64.self, forKey: .seq)
                session_id = try c.decode(UUID.self, forKey: .session_id)
                // Seconds since 1970, or an RFC 3339 timestamp.
                if let seconds = try? c.decode(Int64.self, forKey: .expires_at) {
                    expires_at = seconds
                } else if let seconds = try? c.decode(Double.self, forKey: .expires_at) {
                    expires_at = Int64(seconds.rounded(.up))
                } else if let text = try? c.decode(String.self, forKey: .expires_at) {
                    expires_at = Self.parseDate(text).map { Int64($0.timeIntervalSince1970.rounded(.up)) }
                } else {
                    expires_at = nil
                }
            }

            static func parseDate(_ text: String) -> Date? {
                let f = ISO8601DateFormatter()
                f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                if let d = f.date(from: text) { return d }
                f.formatOptions = [.withInternetDateTime]
                return f.date(from: text)
            }
        }
        var revocations: [Entry]
        var last: Int64
    }

    struct State {
        /// Session id → seconds since 1970 after which it can be forgotten.
        var revoked: [UUID: Int64] = [:]
        var after: Int64 = 0
        var lastSync: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let client: InternalClient
    private let interval: Duration
    private let logger: Logger
    /// Longest an access token lives; the fallback lifetime of an entry
    /// that comes without `expires_at`.
    static let accessTokenLifetime: Int64 = 300

    init(client: InternalClient, interval: Duration, logger: Logger) {
        self.client = client
        self.interval = interval
        self.logger = logger
    }

    public func isRevoked(_ session: UUID) -> Bool {
        state.withLock { $0.revoked[session] != nil }
    }

    public var count: Int { state.withLock { $0.revoked.count } }

    /// Time since the last successful poll, nil before the first.
    public var staleness: Duration? {
        state.withLock { $0.lastSync.map { ContinuousClock.now - $0 } }
    }

    /// One poll, following pages while accounts has more.
    func poll() async throws {
        var pages = 0
        while pages < 50 {
            pages += 1
            let after = state.withLock { $0.after }
            let page = try await client.get("/internal/v1/revocations", query: "after=\(after)", as: Page.self)
            let now = Int64(Date().timeIntervalSince1970)
            state.withLock { state in
                for entry in page.revocations {
                    state.revoked[entry.session_id] = max(entry.expires_at ?? now + Self.accessTokenLifetime, now + 5)
                    state.after = max(state.after, entry.seq)
                }
                state.after = max(state.after, page.last)
                state.revoked = state.revoked.filter { $0.value >= now }
                state.lastSync = .now
            }
            if page.revocations.isEmpty || page.last <= after { break }
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    try await self.poll()
                    if failures > 0 { self.logger.info("revocation polling recovered", metadata: ["failed_polls": "\(failures)"]) }
                    failures = 0
                } catch {
                    failures += 1
                    if failures == 1 || failures % 30 == 0 {
                        self.logger.warning("cannot poll revocations from accounts", metadata: [
                            "error": .string(String(describing: error)), "failed_polls": "\(failures)",
                        ])
                    }
                }
                await pauseUnlessShuttingDown(for: self.interval)
            }
        }
    }
}
