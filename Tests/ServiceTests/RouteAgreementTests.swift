import Accounts
import Foundation
import Gateway
import Ingest
import KeyDirectory
import Quota
import Testing

/// The gateway's public route list (which the OpenAPI document is checked
/// against in GatewayTests) must name exactly the routes each service
/// serves under /v1.
@Suite struct RouteAgreementTests {
    static func normalise(_ route: String) -> String {
        // "{id}" and ":id" spell the same parameter.
        route.replacingOccurrences(of: #"\{[^}]+\}"#, with: "{}", options: .regularExpression)
            .replacingOccurrences(of: #":[A-Za-z_]+"#, with: "{}", options: .regularExpression)
    }

    static func expectAgreement(served routeList: [String], target: PublicRoute.Target, atLeast minimum: Int,
                                sourceLocation: SourceLocation = #_sourceLocation) {
        let served = Set(routeList.filter { $0.contains(" /v1/") }.map(normalise))
        let declared = Set(PublicRoutes.all.filter { $0.target == target }.map { normalise("\($0.method.rawValue) \($0.path)") })
        #expect(served.subtracting(declared).isEmpty, "served by \(target), missing from the gateway: \(served.subtracting(declared).sorted())",
                sourceLocation: sourceLocation)
        #expect(declared.subtracting(served).isEmpty, "declared by the gateway, not served by \(target): \(declared.subtracting(served).sorted())",
                sourceLocation: sourceLocation)
        #expect(served.count >= minimum, sourceLocation: sourceLocation)
    }

    @Test func gatewayRoutesMatchAccountsRoutes() {
        Self.expectAgreement(served: AccountsApp.routeList(), target: .accounts, atLeast: 15)
    }

    @Test func gatewayRoutesMatchIngestRoutes() {
        Self.expectAgreement(served: IngestApp.routeList(), target: .ingest, atLeast: 18)
    }

    /// The log, keys, shares and the owner's links; the two anonymous link
    /// reads are ingest's (checked above), keydir's `/internal/v1/links`
    /// routes stay unrouted.
    @Test func gatewayRoutesMatchKeyDirectoryRoutes() {
        Self.expectAgreement(served: KeyDirectoryApp.routeList(), target: .keydir, atLeast: 17)
        #expect(KeyDirectoryApp.routeList().contains { $0.contains(" /internal/v1/links/") })
        #expect(!PublicRoutes.undeclaredPrefixes.contains { $0.target == .keydir })
    }

    /// `/v1/quota` and the operator routes; quota's `/internal/v1` routes
    /// (ingest's reservations and limits) stay unrouted.
    @Test func gatewayRoutesMatchQuotaRoutes() {
        Self.expectAgreement(served: QuotaApp.routeList(), target: .quota, atLeast: 6)
        #expect(QuotaApp.routeList().contains { $0.contains(" /internal/") })
        #expect(!PublicRoutes.all.contains { $0.path.hasPrefix("/internal") })
        #expect(!PublicRoutes.undeclaredPrefixes.contains { $0.target == .quota })
    }
}
