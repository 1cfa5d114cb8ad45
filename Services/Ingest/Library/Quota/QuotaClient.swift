import Foundation

/// What ingest needs from quota accounting. The quota service (its own
/// issue) will implement it over HTTP; until then `UnreservedQuota` grants
/// everything, and a test pins that behaviour so its replacement is noticed.
public protocol QuotaClient: Sendable {
    /// The largest single upload the account's plan allows (`Tus-Max-Size`).
    func maxUploadSize(tenant: UUID, account: UUID) async throws -> Int64
    /// Reserves `bytes` for `upload` until `expiresAt`; returns a reservation
    /// id. Throws `QuotaRefusal` when the account has no room.
    func reserve(tenant: UUID, account: UUID, upload: UUID, bytes: Int64, expiresAt: Date) async throws -> String
    /// Gives a reservation back (termination, expiry). Idempotent.
    func release(tenant: UUID, account: UUID, reservation: String) async throws
}

/// The account has no room for the upload: 507 Insufficient Storage.
public struct QuotaRefusal: Error, Sendable {
    public var remaining: Int64?
    public init(remaining: Int64?) { self.remaining = remaining }
}

/// Grants every reservation (no quota service yet); uploads are limited only
/// by `maxUploadSize`, the plan's default storage limit.
public struct UnreservedQuota: QuotaClient {
    public let planLimit: Int64

    public init(planLimit: Int64) {
        self.planLimit = planLimit
    }

    public func maxUploadSize(tenant: UUID, account: UUID) async throws -> Int64 { planLimit }

    public func reserve(tenant: UUID, account: UUID, upload: UUID, bytes: Int64, expiresAt: Date) async throws -> String {
        "unreserved:\(upload.uuidString.lowercased())"
    }

    public func release(tenant: UUID, account: UUID, reservation: String) async throws {}
}
