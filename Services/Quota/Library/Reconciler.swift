import AsyncHTTPClient
import CoffreCore
import Foundation
import HTTPTypes
import Logging
import Hummingbird

/// Recomputes each account's usage from blob ingest's own records (the sum
/// of its stored versions, `GET /internal/v1/tenants/{id}/usage`, signed
/// with the internal secret for that tenant) and compares it with the
/// ledgers, tenant by tenant over the tenants quota knows.
///
/// A ledger may legitimately lag ingest by the events still in flight
/// (committed in ingest's outbox, not yet consumed here): run it when the
/// consumer has caught up, and repair only then, or a repaired ledger will
/// count the in-flight event a second time when it arrives.
public struct Reconciler: Sendable {
    let store: QuotaStore
    let ingestURL: String
    let key: [UInt8]
    let logger: Logger

    public func run(repair: Bool, only tenant: UUID? = nil) async throws -> ReconciliationReport {
        var report = ReconciliationReport(tenants_checked: 0, accounts_checked: 0, drift: [], repaired: repair, failed_tenants: [])
        let tenants = if let tenant { [tenant] } else { try await store.tenantIDs() }
        for tenant in tenants {
            let actual: [UUID: Int64]
            do {
                actual = try await usage(tenant: tenant)
            } catch {
                logger.warning("cannot read ingest's usage of a tenant", metadata: ["tenant": .string(tenant.lower), "error": "\(error)"])
                report.failed_tenants.append(tenant.lower)
                continue
            }
            let ledgers = try await store.usedByAccount(tenant: tenant)
            report.tenants_checked += 1
            for account in Set(actual.keys).union(ledgers.keys).sorted(by: { $0.lower < $1.lower }) {
                report.accounts_checked += 1
                let have = ledgers[account] ?? 0, want = actual[account] ?? 0
                guard have != want else { continue }
                report.drift.append(Drift(tenant_id: tenant.lower, account_id: account.lower, ledger_used_bytes: have,
                                          ingest_bytes: want, difference: have - want))
                if repair { try await store.setUsed(tenant: tenant, account: account, bytes: want) }
            }
        }
        if !report.drift.isEmpty {
            logger.warning("ledger drift found", metadata: ["accounts": "\(report.drift.count)", "repaired": "\(repair)"])
        }
        return report
    }

    func usage(tenant: UUID) async throws -> [UUID: Int64] {
        let path = "/internal/v1/tenants/\(tenant.lower)/usage"
        var headers = HTTPFields()
        InternalAuth.sign(VerifiedIdentity(tenantID: tenant), method: "GET", path: path, key: key, into: &headers)
        var request = HTTPClientRequest(url: ingestURL.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path)
        request.method = .GET
        for field in headers { request.headers.add(name: field.name.rawName, value: field.value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else {
            throw Problem(.badGateway, detail: "ingest answered \(response.status.code) for \(tenant.lower)'s usage")
        }
        let usage = try JSONDecoder().decode(IngestUsage.self, from: Data(body.readableBytesView))
        var byAccount: [UUID: Int64] = [:]
        for entry in usage.accounts {
            guard let id = UUID(uuidString: entry.account_id) else { continue }
            byAccount[id, default: 0] += entry.bytes
        }
        return byAccount
    }
}
