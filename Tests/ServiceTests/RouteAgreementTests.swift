import Accounts
import Foundation
import Gateway
import Testing

/// The gateway's public route list (which the OpenAPI document is checked
/// against in GatewayTests) must name exactly the routes the accounts
/// service serves under /v1.
@Suite struct RouteAgreementTests {
    static func normalise(_ route: String) -> String {
        // "{id}" and ":id" spell the same parameter.
        route.replacingOccurrences(of: #"\{[^}]+\}"#, with: "{}", options: .regularExpression)
            .replacingOccurrences(of: #":[A-Za-z_]+"#, with: "{}", options: .regularExpression)
    }

    @Test func gatewayRoutesMatchAccountsRoutes() {
        let served = Set(AccountsApp.routeList().filter { $0.contains(" /v1/") }.map(Self.normalise))
        let declared = Set(PublicRoutes.all.filter { $0.target == .accounts }.map { Self.normalise("\($0.method.rawValue) \($0.path)") })
        #expect(served.subtracting(declared).isEmpty, "served by accounts, missing from the gateway: \(served.subtracting(declared).sorted())")
        #expect(declared.subtracting(served).isEmpty, "declared by the gateway, not served by accounts: \(declared.subtracting(served).sorted())")
        #expect(served.count >= 15)
    }
}
