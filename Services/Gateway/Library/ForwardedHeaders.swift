import CoffreCore
import Foundation
import HTTPTypes
import NIOHTTP1

/// Which headers cross the gateway, in each direction.
enum ForwardedHeaders {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not
    /// the message; a proxy must not pass them on.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-connection", "proxy-authorization", "proxy-authenticate",
    ]

    /// Set by the gateway itself (or by the HTTP client from the body and
    /// URL), so whatever the client sent is dropped.
    static let regenerated: Set<String> = [
        "host", "content-length", "expect", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded",
        "x-request-id", "x-coffre-tenant",
    ]

    static let identityNames: Set<String> = Set(InternalAuth.identityHeaders.map { $0.canonicalName.lowercased() })

    /// Names listed in `Connection` are hop-by-hop for this message too.
    static func connectionListed(_ headers: HTTPFields) -> Set<String> {
        Set(headers[values: .connection].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
    }

    /// The client's headers as the service will see them, before the signed
    /// identity is added: no hop-by-hop headers, no identity headers (a
    /// client cannot assert who it is), no `Authorization` unless the
    /// service checks it itself (operator routes).
    static func upstreamRequest(from incoming: HTTPFields, keepAuthorization: Bool, forwardedFor: String, originalHost: String?,
                                requestID: String?) -> HTTPFields {
        let listed = connectionListed(incoming)
        var out = HTTPFields()
        for field in incoming {
            let name = field.name.canonicalName.lowercased()
            if hopByHop.contains(name) || regenerated.contains(name) || identityNames.contains(name) || listed.contains(name) { continue }
            if name == "authorization" && !keepAuthorization { continue }
            out.append(field)
        }
        out[.xForwardedFor] = forwardedFor
        out[.xForwardedProto] = "http"
        if let originalHost { out[.xForwardedHost] = originalHost }
        if let requestID { out[.requestID] = requestID }
        return out
    }

    /// The service's response headers as the client will see them. `Date`
    /// and `Server` are the gateway's own (Hummingbird adds them).
    static func downstreamResponse(from upstream: HTTPHeaders) -> HTTPFields {
        let listed = Set(upstream[canonicalForm: "connection"].map { $0.lowercased() })
        var out = HTTPFields()
        for (name, value) in upstream {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || listed.contains(lower) || lower == "date" || lower == "server" { continue }
            guard let fieldName = HTTPField.Name(name) else { continue }
            out.append(HTTPField(name: fieldName, value: value))
        }
        return out
    }

    static func nioHeaders(_ fields: HTTPFields) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count)
        for field in fields { headers.add(name: field.name.canonicalName, value: field.value) }
        return headers
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let xForwardedProto = HTTPField.Name("X-Forwarded-Proto")!
    static let xForwardedHost = HTTPField.Name("X-Forwarded-Host")!
}
