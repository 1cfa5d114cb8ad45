import CoffreCore
import Hummingbird
import Foundation

// Wire types of the quota API (docs/quota-api.md). snake_case on the wire.

extension UUID {
    var lower: String { uuidString.lowercased() }
}

/// `POST /internal/v1/reservations`, from blob ingest.
struct ReserveRequest: Decodable, Sendable {
    var upload_id: String
    var bytes: Int64
    var expires_at: String
}

struct ReservationResponse: Codable, Sendable {
    var reservation_id: String
    var upload_id: String
    var bytes: Int64
    var expires_at: String
    var remaining_bytes: Int64
}

/// `GET /internal/v1/limits`: what ingest advertises as `Tus-Max-Size`.
struct LimitsResponse: Codable, Sendable {
    var max_upload_bytes: Int64
    var storage_limit_bytes: Int64
}

/// `GET /v1/quota` and the operator's view of one account.
struct QuotaView: Codable, Sendable {
    struct Transfer: Codable, Sendable {
        var used_bytes: Int64
        var allowance_bytes: Int64
        var window_seconds: Int64
        /// When the window's usage next drops (or, when exhausted, when
        /// downloads are allowed again); nil when nothing was served.
        var window_reset: String?
        var exhausted: Bool
    }
    var tenant_id: String
    var account_id: String
    var used_bytes: Int64
    var reserved_bytes: Int64
    var limit_bytes: Int64
    var available_bytes: Int64
    var closed: Bool
    var storage_override: Bool
    var transfer: Transfer
}

/// `PUT /v1/admin/quota/tenants/{tenant}/accounts/{account}`: both
/// overrides at once; a missing or null field clears that override.
struct OverrideRequest: Decodable, Sendable {
    var storage_limit_bytes: Int64?
    var transfer_allowance_bytes: Int64?
}

struct TenantTotals: Codable, Sendable {
    var tenant_id: String
    var plan_storage_limit_bytes: Int64
    var plan_transfer_allowance_bytes: Int64
    var plan_source: String
    var accounts: Int64
    var used_bytes: Int64
    var reserved_bytes: Int64
    var transfer_used_bytes: Int64
}

struct TenantTotalsResponse: Codable, Sendable {
    var tenants: [TenantTotals]
}

/// One account whose ledger disagrees with blob ingest's records.
public struct Drift: Codable, Sendable, Equatable {
    public var tenant_id: String
    public var account_id: String
    public var ledger_used_bytes: Int64
    public var ingest_bytes: Int64
    public var difference: Int64
}

public struct ReconciliationReport: Codable, Sendable {
    public var tenants_checked: Int
    public var accounts_checked: Int
    public var drift: [Drift]
    public var repaired: Bool
    /// Tenants whose usage could not be read (ingest unreachable, …).
    public var failed_tenants: [String]
}

/// What ingest's `GET /internal/v1/tenants/{id}/usage` answers.
struct IngestUsage: Decodable, Sendable {
    struct Account: Decodable, Sendable {
        var account_id: String
        var bytes: Int64
        var versions: Int64
    }
    var accounts: [Account]
}

enum Validate {
    static func uuid(_ raw: String?, _ what: String) throws -> UUID {
        guard let raw, let id = UUID(uuidString: raw) else {
            throw Problem.badRequest("\(what) is not a UUID", type: "urn:coffre:problem:invalid-id")
        }
        return id
    }
}

/// RFC 3339 times from the wire (with or without fractional seconds).
/// `RFC3339.parse` parses by hand: the two ISO8601DateFormatters this made
/// per call were ~9% of the ledger consumer's CPU (one per
/// `transfer.served`) and sat on every reservation (bench/quota.sh).
enum Timestamp {
    static func parse(_ raw: String) -> Date? {
        RFC3339.parse(raw)
    }
}

extension ReservationResponse: ResponseEncodable {}
extension LimitsResponse: ResponseEncodable {}
extension QuotaView: ResponseEncodable {}
extension TenantTotals: ResponseEncodable {}
extension TenantTotalsResponse: ResponseEncodable {}
extension ReconciliationReport: ResponseEncodable {}
