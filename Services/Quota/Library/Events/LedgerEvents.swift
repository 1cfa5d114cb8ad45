import CoffreCore
import Foundation
import Logging
import PostgresNIO

/// Applies accounts' and blob ingest's events to plans and ledgers.
///
/// `IdempotentConsumer` runs this once per event id, inside the transaction
/// that records the ids. Each effect is an addition or a state change that
/// does not depend on what came before it for the same account (a missing
/// ledger is provisioned on the spot, a reservation already settled is
/// skipped), so the two topics may interleave in any order and the ledgers
/// end the same.
///
/// That is also what lets a batch be applied set-wise: the frequent events
/// (`account.created`, `blob.committed`, `blob.deleted`, `transfer.served`)
/// commute, so a run of them is applied with a handful of statements for the
/// whole run (one per kind, over arrays), not several round trips per event.
/// The rare events that end a state (`tenant.created`, `account.deleted`,
/// `upload.expired`) are barriers: the run before them is flushed, then they
/// are applied alone, in stream order.
struct LedgerEvents: Sendable {
    let store: QuotaStore

    func apply(_ events: [CloudEvent], on connection: PostgresConnection, logger: Logger) async throws {
        // Tenant by tenant (each tenant's events in stream order): tenants
        // share no ledger, so their events commute with each other's, and a
        // batch interleaving many tenants still makes long runs.
        var byTenant: [(tenant: UUID, events: [CloudEvent])] = []
        var slot: [UUID: Int] = [:]
        for event in events {
            guard let tenant = UUID(uuidString: event.tenant) else {
                logger.warning("event without a tenant skipped", metadata: ["event_id": .string(event.id.lower), "type": .string(event.type)])
                continue
            }
            if let index = slot[tenant] {
                byTenant[index].events.append(event)
            } else {
                slot[tenant] = byTenant.count
                byTenant.append((tenant, [event]))
            }
        }
        for (tenant, events) in byTenant {
            try await connection.setTenant(tenant, logger: logger)
            var run = LedgerRun()
            for event in events {
                guard let op = LedgerOp(event, tenant: tenant) else {
                    logger.warning("malformed event skipped", metadata: ["event_id": .string(event.id.lower), "type": .string(event.type)])
                    continue
                }
                if !run.add(op) {
                    try await flush(&run, tenant: tenant, on: connection, logger: logger)
                    try await applyAlone(op, tenant: tenant, on: connection)
                }
            }
            try await flush(&run, tenant: tenant, on: connection, logger: logger)
        }
    }

    /// A barrier event, exactly as it would be applied on its own.
    private func applyAlone(_ op: LedgerOp, tenant: UUID, on connection: PostgresConnection) async throws {
        switch op {
        case .plan(let planTenant, let storage, let transfer):
            try await store.applyPlan(tenant: planTenant, storage: storage, transfer: transfer, on: connection)
        case .close(let account, let time):
            try await store.close(tenant: tenant, account: account, at: time, on: connection)
        case .expire(let account, let reservation):
            try await store.provision(tenant: tenant, account: account, on: connection)
            try await store.settle(reservation: reservation, account: account, as: "released", on: connection)
        case .ignore, .provision, .usage, .transfer:
            break
        }
    }

    private func flush(_ run: inout LedgerRun, tenant: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        defer { run = LedgerRun() }
        guard !run.accounts.isEmpty else { return }
        try await store.provision(tenant: tenant, accounts: Array(run.accounts), on: connection)
        if !run.usage.isEmpty {
            try await store.applyUsage(tenant: tenant, run.usage, on: connection)
        }
        if !run.transfers.isEmpty {
            try await store.recordTransfers(tenant: tenant, run.transfers, now: Date(), on: connection)
        }
    }
}

/// One event, as what it does to quota.
enum LedgerOp: Sendable {
    case plan(tenant: UUID, storage: Int64, transfer: Int64)
    case provision(UUID)
    case close(UUID, at: Date)
    /// `blob.committed` (positive bytes, with the reservation it settles) or `blob.deleted` (negative).
    case usage(QuotaStore.UsageChange)
    case expire(UUID, reservation: UUID)
    case transfer(QuotaStore.TransferServed)
    /// Not quota's business (other events on these topics).
    case ignore

    /// nil for a malformed event of a kind quota applies.
    init?(_ event: CloudEvent, tenant: UUID) {
        func int(_ key: String) -> Int64? {
            switch event.data[key] {
            case .int(let v)?: return v
            case .double(let v)?: return Int64(exactly: v)
            default: return nil
            }
        }
        func uuid(_ key: String) -> UUID? {
            if case .string(let s)? = event.data[key] { return UUID(uuidString: s) }
            return nil
        }
        let account = uuid("account_id") ?? event.subject.flatMap { UUID(uuidString: $0) }
        switch event.type {
        case "coffre.tenant.created":
            guard let storage = int("storage_limit_bytes"), let transfer = int("transfer_allowance_bytes") else { return nil }
            self = .plan(tenant: uuid("tenant_id") ?? tenant, storage: storage, transfer: transfer)
        case "coffre.account.created":
            guard let account else { return nil }
            self = .provision(account)
        case "coffre.account.deleted":
            guard let account else { return nil }
            self = .close(account, at: event.time)
        case "coffre.blob.committed":
            guard let account, let bytes = int("bytes") else { return nil }
            self = .usage(.init(account: account, reservation: uuid("reservation_id"), bytes: bytes))
        case "coffre.upload.expired":
            guard let account else { return nil }
            guard let reservation = uuid("reservation_id") else { self = .ignore; return }
            self = .expire(account, reservation: reservation)
        case "coffre.blob.deleted":
            guard let account, let bytes = int("bytes") else { return nil }
            self = .usage(.init(account: account, reservation: nil, bytes: -bytes))
        case "coffre.transfer.served":
            guard let account, let bytes = int("bytes") else { return nil }
            var servedAt = event.time
            if case .string(let to)? = event.data["to"], let parsed = Timestamp.parse(to) { servedAt = parsed }
            var ip: String?
            if case .string(let address)? = event.data["ip"], !address.isEmpty, address.count <= 64 { ip = address }
            self = .transfer(.init(account: account, bytes: bytes, servedAt: servedAt, ip: ip))
        default:
            self = .ignore
        }
    }
}

/// The commuting events of one tenant gathered for one set-wise apply.
struct LedgerRun {
    var accounts: Set<UUID> = []
    var usage: [QuotaStore.UsageChange] = []
    var transfers: [QuotaStore.TransferServed] = []

    /// False for a barrier event, which the run cannot absorb.
    mutating func add(_ op: LedgerOp) -> Bool {
        switch op {
        case .provision(let account):
            accounts.insert(account)
        case .usage(let change):
            accounts.insert(change.account)
            usage.append(change)
        case .transfer(let served):
            accounts.insert(served.account)
            transfers.append(served)
        case .ignore:
            break
        case .plan, .close, .expire:
            return false
        }
        return true
    }
}
