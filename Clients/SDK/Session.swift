// A logged-in session: tokens and ids, plus, after a login in this process,
// the unlocked account keys. Keys live only in memory; `state` (what
// `SessionStore` persists) never contains them.
import CoffreCrypto
import Foundation

/// What a session looks like on disk: server, tenant, ids and tokens. Never a
/// password, a login secret or any key.
public struct SessionState: Codable, Sendable, Equatable {
    public var server: String
    public var tenant: String?
    public var email: String?
    public var accountID: String
    public var tenantID: String
    public var sessionID: String
    public var accessToken: String
    public var refreshToken: String
    public var accessTokenExpiresAt: Date

    public init(server: String, tenant: String?, email: String?, accountID: String, tenantID: String,
                sessionID: String, accessToken: String, refreshToken: String, accessTokenExpiresAt: Date) {
        self.server = server
        self.tenant = tenant
        self.email = email
        self.accountID = accountID
        self.tenantID = tenantID
        self.sessionID = sessionID
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.accessTokenExpiresAt = accessTokenExpiresAt
    }

    enum CodingKeys: String, CodingKey {
        case server, tenant, email
        case accountID = "account_id", tenantID = "tenant_id", sessionID = "session_id"
        case accessToken = "access_token", refreshToken = "refresh_token"
        case accessTokenExpiresAt = "access_token_expires_at"
    }
}

public actor Session {
    public nonisolated let server: String
    public nonisolated let tenant: String?
    public nonisolated let email: String?
    public nonisolated let accountID: String
    public nonisolated let tenantID: String
    public nonisolated let sessionID: String

    private var accessToken: String
    private var refreshToken: String
    private var expiresAt: Date
    /// The unlocked keys, only after a login (or signup) in this process.
    public private(set) var keys: AccountKeys?
    /// The wrapped bundle the keys came from (needed to re-wrap them).
    public private(set) var keyBundle: KeyBundle?
    /// The bundle with the password's salt and Argon2id parameters, for a
    /// client to keep and `unlock` a restored session with (no key in it).
    public private(set) var savedKeys: SavedKeys?
    private var refreshing: Task<Void, any Error>?
    private var observer: (@Sendable (SessionState) -> Void)?
    private var ended = false

    init(state: SessionState, keys: AccountKeys?, keyBundle: KeyBundle?, savedKeys: SavedKeys? = nil) {
        server = state.server
        tenant = state.tenant
        email = state.email
        accountID = state.accountID
        tenantID = state.tenantID
        sessionID = state.sessionID
        accessToken = state.accessToken
        refreshToken = state.refreshToken
        expiresAt = state.accessTokenExpiresAt
        self.keys = keys
        self.keyBundle = keyBundle
        self.savedKeys = savedKeys
    }

    /// A session restored from disk: tokens only, no keys.
    public init(restoring state: SessionState) {
        self.init(state: state, keys: nil, keyBundle: nil)
    }

    /// The persistable part.
    public var state: SessionState {
        SessionState(server: server, tenant: tenant, email: email, accountID: accountID, tenantID: tenantID,
                     sessionID: sessionID, accessToken: accessToken, refreshToken: refreshToken,
                     accessTokenExpiresAt: expiresAt)
    }

    public var accessTokenExpiresAt: Date { expiresAt }
    public var hasKeys: Bool { keys != nil }
    /// True after logout, revocation detected, or account deletion.
    public var isEnded: Bool { ended }

    /// Called with the new state each time the tokens rotate (refresh), so a
    /// caller can save the new refresh token at once: the old one is dead, and
    /// presenting it again would make the server revoke the session.
    public func onStateChange(_ handler: (@Sendable (SessionState) -> Void)?) {
        observer = handler
    }

    // MARK: - Internal

    func currentAccessToken() -> (token: String, expiresAt: Date) {
        (accessToken, expiresAt)
    }

    /// Refreshes once, however many callers ask at the same time; a caller
    /// whose token was already replaced by someone else's refresh returns at once.
    func rotate(replacing staleAccessToken: String?,
                with perform: @escaping @Sendable (String) async throws -> TokenResponse) async throws {
        if ended { throw CoffreClientError.sessionEnded }
        if let refreshing {
            try await refreshing.value
            return
        }
        if let staleAccessToken, staleAccessToken != accessToken { return }
        let refresh = refreshToken
        let task = Task {
            let response = try await perform(refresh)
            self.apply(response)
        }
        refreshing = task
        defer { refreshing = nil }
        do {
            try await task.value
        } catch let error as CoffreAPIError where error.status == 401 {
            ended = true
            throw CoffreClientError.sessionEnded
        }
    }

    private func apply(_ response: TokenResponse) {
        accessToken = response.accessToken
        refreshToken = response.refreshToken
        expiresAt = Self.expiry(in: response.expiresIn)
        observer?(state)
    }

    /// Whole seconds, rounded down: the saved form keeps no fractions, and
    /// early is the safe side.
    nonisolated static func expiry(in seconds: Int, from now: Date = Date()) -> Date {
        Date(timeIntervalSince1970: (now.timeIntervalSince1970 + TimeInterval(max(0, seconds))).rounded(.down))
    }

    func update(keys: AccountKeys, bundle: KeyBundle, savedKeys: SavedKeys?) {
        self.keys = keys
        keyBundle = bundle
        self.savedKeys = savedKeys
    }

    func markEnded() {
        ended = true
        keys = nil
        keyBundle = nil
        savedKeys = nil
    }
}
