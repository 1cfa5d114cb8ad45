import CoffreCore
import Foundation
import HTTPTypes

/// Which tenant an unauthenticated call (signup, prelogin, login, refresh,
/// recovery) is for. Authenticated calls never come here: their tenant is
/// the one in the access token, whatever the headers say.
enum TenantResolver {
    static let defaultSlug = "default"

    /// `X-Coffre-Tenant`, else the first label of a host name that has a
    /// tenant label (`acme.coffre.example`, `acme.localhost`), else `default`.
    /// A bad explicit slug is a 400 rather than a silent fallback, so a
    /// client with a typo does not end up signing up in the wrong tenant.
    static func resolve(headers: HTTPFields, host: String?) throws(Problem) -> String {
        if let explicit = headers[.coffreTenant] {
            let slug = explicit.trimmingCharacters(in: .whitespaces).lowercased()
            guard isSlug(slug) else {
                throw Problem.badRequest("X-Coffre-Tenant must match ^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$", type: "urn:coffre:problem:bad-tenant")
            }
            return slug
        }
        if let host, let label = tenantLabel(ofHost: host) { return label }
        return defaultSlug
    }

    /// Only a name with a label in front of a registered name counts:
    /// `coffre.example` or a single-label name (`gateway` inside docker
    /// compose) is the service itself, not a tenant; IP literals never are.
    static func tenantLabel(ofHost rawHost: String) -> String? {
        var host = rawHost.lowercased()
        if host.hasPrefix("[") { return nil }  // IPv6 literal
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        if host.hasSuffix(".") { host.removeLast() }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard labels.count >= 2, !labels.contains(where: \.isEmpty) else { return nil }
        if labels.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) { return nil }  // IPv4
        let isLocalhost = labels.last == "localhost"
        guard labels.count >= 3 || (isLocalhost && labels.count == 2) else { return nil }
        let first = labels[0]
        guard first != "localhost", first != "www", isSlug(first) else { return nil }
        return first
    }

    /// `^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$`
    static func isSlug(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard (3...32).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard alnum(bytes.first!), alnum(bytes.last!) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == 0x2D }
    }
}
