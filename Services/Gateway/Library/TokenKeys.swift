import CoffreCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The public keys accounts signs access tokens with, so the gateway
/// verifies tokens without calling accounts per request.
///
/// Fetched at start and every 60 s (key rotation shows up within a minute),
/// and again when a token names a key the gateway does not know (a rotation
/// it has not seen yet), but at most every 5 s so a stream of tokens with
/// made-up key ids cannot turn the gateway into a load generator against
/// accounts. Concurrent refetches are coalesced into one call.
public final class TokenKeys: Service, Sendable {
    struct Listing: Decodable {
        struct Key: Decodable {
            var kid: String
            var public_key: String
        }
        var keys: [Key]
    }

    struct State {
        var keys: [String: [UInt8]] = [:]
        var loaded = false
        var lastFetch: ContinuousClock.Instant?
        var refreshing: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let client: InternalClient
    private let logger: Logger
    static let refreshInterval: Duration = .seconds(60)
    static let minimumRefetchInterval: Duration = .seconds(5)

    init(client: InternalClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The keys known now, by key id.
    public var current: [String: [UInt8]] { state.withLock { $0.keys } }
    /// True once one fetch succeeded.
    public var isLoaded: Bool { state.withLock { $0.loaded } }

    /// Refetches unless the last fetch is under 5 s old; returns when done.
    func refetchForUnknownKey() async {
        let task: Task<Void, Never>? = state.withLock { state in
            if let running = state.refreshing { return running }
            if let last = state.lastFetch, ContinuousClock.now - last < Self.minimumRefetchInterval { return nil }
            return startFetch(&state)
        }
        await task?.value
    }

    private func startFetch(_ state: inout State) -> Task<Void, Never> {
        state.lastFetch = .now
        let task = Task { await self.fetch() }
        state.refreshing = task
        return task
    }

    private func fetch() async {
        do {
            let listing = try await client.get("/internal/v1/token-keys", as: Listing.self)
            var keys: [String: [UInt8]] = [:]
            for key in listing.keys {
                guard let bytes = Base64URL.decode(key.public_key), bytes.count == 32 else { continue }
                keys[key.kid] = bytes
            }
            state.withLock { state in
                state.keys = keys
                state.loaded = true
                state.refreshing = nil
            }
        } catch {
            state.withLock { $0.refreshing = nil }
            logger.warning("cannot fetch token keys from accounts", metadata: ["error": .string(String(describing: error))])
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let task = self.state.withLock { $0.refreshing ?? self.startFetch(&$0) }
                await task.value
                // Until the first fetch works, retry every second: no
                // authenticated request can be served without keys.
                let wait = self.isLoaded ? Self.refreshInterval : .seconds(1)
                try? await Task.sleep(for: wait)
            }
        }
    }
}

/// base64url without padding (what accounts uses for binary values).
enum Base64URL {
    static func decode(_ text: String) -> [UInt8]? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map { Array($0) }
    }
}
