// The account's storage and transfer usage (docs/quota-api.md, `GET
// /v1/quota`). Byte counts are of ciphertext, as the server stores it.
import Foundation

/// What quota holds for the logged-in account.
public struct QuotaUsage: Sendable, Equatable {
    public struct Transfer: Sendable, Equatable {
        /// Bytes served in the rolling window.
        public let usedBytes: Int64
        public let allowanceBytes: Int64
        public let windowSeconds: Int64
        /// When exhausted, when downloads are allowed again; otherwise when
        /// the window's usage next drops; nil when nothing was served.
        public let windowReset: Date?
        /// Downloads are refused (429) until `windowReset`.
        public let exhausted: Bool
    }

    public let tenantID: String
    public let accountID: String
    /// Committed (stored) bytes.
    public let usedBytes: Int64
    /// Held for uploads in progress.
    public let reservedBytes: Int64
    /// The effective storage limit (the tenant's plan, or an override).
    public let limitBytes: Int64
    public let availableBytes: Int64
    /// The account was deleted: no new uploads.
    public let closed: Bool
    /// `limitBytes` is an operator override rather than the plan.
    public let storageOverride: Bool
    public let transfer: Transfer
    /// The server's answer exactly as received (for `coffre quota --json`).
    public let json: String
}

struct QuotaResponse: Decodable {
    struct Transfer: Decodable {
        var usedBytes: Int64
        var allowanceBytes: Int64
        var windowSeconds: Int64
        var windowReset: FlexibleDate?
        var exhausted: Bool

        enum CodingKeys: String, CodingKey {
            case usedBytes = "used_bytes", allowanceBytes = "allowance_bytes", windowSeconds = "window_seconds"
            case windowReset = "window_reset", exhausted
        }
    }

    var tenantID: String
    var accountID: String
    var usedBytes: Int64
    var reservedBytes: Int64
    var limitBytes: Int64
    var availableBytes: Int64
    var closed: Bool
    var storageOverride: Bool
    var transfer: Transfer

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id", accountID = "account_id", usedBytes = "used_bytes", reservedBytes = "reserved_bytes"
        case limitBytes = "limit_bytes", availableBytes = "available_bytes", closed, storageOverride = "storage_override"
        case transfer
    }
}

extension CoffreClient {
    /// The account's usage, reservations and limits.
    public func quota(_ session: Session) async throws -> QuotaUsage {
        let response = try await authorized(session, "GET", "/v1/quota", body: nil)
        let wire = try Self.decode(QuotaResponse.self, from: response)
        return QuotaUsage(
            tenantID: wire.tenantID.lowercased(), accountID: wire.accountID.lowercased(), usedBytes: wire.usedBytes,
            reservedBytes: wire.reservedBytes, limitBytes: wire.limitBytes, availableBytes: wire.availableBytes,
            closed: wire.closed, storageOverride: wire.storageOverride,
            transfer: .init(usedBytes: wire.transfer.usedBytes, allowanceBytes: wire.transfer.allowanceBytes,
                            windowSeconds: wire.transfer.windowSeconds, windowReset: wire.transfer.windowReset?.date,
                            exhausted: wire.transfer.exhausted),
            json: String(decoding: response.body, as: UTF8.self))
    }
}
