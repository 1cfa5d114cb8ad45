import CoffreCore
import Foundation
import Logging
import PostgresNIO

/// Applies accounts' and blob ingest's events to plans and ledgers.
///
/// `IdempotentConsumer` runs this once per event id, inside the transaction
/// that records the id. Each effect is an addition or a state change that
/// does not depend on what came before it for the same account (a missing
/// ledger is provisioned on the spot, a reservation already settled is
/// skipped), so the two topics may interleave in any order and the ledgers
/// end the same.
struct LedgerEvents: Sendable {
    let store: QuotaStore

    func apply(_ events: [CloudEvent], on connection: PostgresConnection, logger: Logger) async throws {
        for event in events {
            guard let tenant = UUID(uuidString: event.tenant) else {
                logger.warning("event without a tenant skipped", metadata: ["event_id": .string(event.id.lower), "type": .string(event.type)])
                continue
            }
            try await connection.setTenant(tenant, logger: logger)
            try await apply(event, tenant: tenant, on: connection, logger: logger)
        }
    }

    private func apply(_ event: CloudEvent, tenant: UUID, on connection: PostgresConnection, logger: Logger) async throws {
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
            guard let storage = int("storage_limit_bytes"), let transfer = int("transfer_allowance_bytes") else { return skip(event, logger) }
            try await store.applyPlan(tenant: uuid("tenant_id") ?? tenant, storage: storage, transfer: transfer, on: connection)
        case "coffre.account.created":
            guard let account else { return skip(event, logger) }
            try await store.provision(tenant: tenant, account: account, on: connection)
        case "coffre.account.deleted":
            guard let account else { return skip(event, logger) }
            try await store.close(tenant: tenant, account: account, at: event.time, on: connection)
        case "coffre.blob.committed":
            guard let account, let bytes = int("bytes") else { return skip(event, logger) }
            try await store.commit(tenant: tenant, account: account, reservation: uuid("reservation_id"), bytes: bytes, on: connection)
        case "coffre.upload.expired":
            guard let account else { return skip(event, logger) }
            if let reservation = uuid("reservation_id") {
                try await store.provision(tenant: tenant, account: account, on: connection)
                try await store.settle(reservation: reservation, account: account, as: "released", on: connection)
            }
        case "coffre.blob.deleted":
            guard let account, let bytes = int("bytes") else { return skip(event, logger) }
            try await store.free(tenant: tenant, account: account, bytes: bytes, on: connection)
        case "coffre.transfer.served":
            guard let account, let bytes = int("bytes") else { return skip(event, logger) }
            var servedAt = event.time
            if case .string(let to)? = event.data["to"], let parsed = Timestamp.parse(to) { servedAt = parsed }
            try await store.recordTransfer(tenant: tenant, account: account, bytes: bytes, servedAt: servedAt, now: Date(), on: connection)
        default:
            break  // other events on these topics are not quota's business
        }
    }

    private func skip(_ event: CloudEvent, _ logger: Logger) {
        logger.warning("malformed event skipped", metadata: ["event_id": .string(event.id.lower), "type": .string(event.type)])
    }
}
