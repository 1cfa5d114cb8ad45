import CoffreCore
import Foundation
import Hummingbird
import Logging

/// What the gateway does for each public route, in order: reject bad paths
/// and oversized bodies, rate-limit, authenticate, admit (load shedding),
/// forward. Cheap refusals come before the expensive checks.
struct GatewayRoutes: Sendable {
    let proxy: Proxy
    let authenticator: Authenticator
    let rateLimits: RequestRateLimits
    let shedder: LoadShedder
    let config: GatewayConfiguration

    /// Mounts every route of `PublicRoutes` that goes to a service, the
    /// scaffolding prefixes of services that have not declared their routes,
    /// and a 405 for every other method on a declared path.
    func add(to router: Router<CoffreRequestContext>) {
        var declared: [String: [HTTPRequest.Method]] = [:]
        for route in PublicRoutes.all {
            declared[route.path, default: []].append(route.method)
            guard route.target != .gateway else { continue }
            router.on(RouterPath(route.path), method: route.method) { request, context in
                try await handle(request, context: context, route: route)
            }
        }
        for (path, methods) in declared {
            let allow = methods.map(\.rawValue).joined(separator: ", ")
            for method in PublicRoutes.knownMethods where !methods.contains(method) {
                router.on(RouterPath(path), method: method) { _, _ -> Response in
                    var problem = Problem(.methodNotAllowed, type: "urn:coffre:problem:method-not-allowed", title: "Method not allowed",
                                          detail: "\(path) accepts \(allow).")
                    problem.headers[.allow] = allow
                    throw problem
                }
            }
        }
        for (prefix, target, streamsBody) in PublicRoutes.undeclaredPrefixes {
            for path in [prefix, prefix + "/**"] {
                for method in PublicRoutes.knownMethods {
                    let route = PublicRoute(method, path, target, .token, streamsBody: streamsBody)
                    router.on(RouterPath(path), method: method) { request, context in
                        try await handle(request, context: context, route: route)
                    }
                }
            }
        }
    }

    func handle(_ request: Request, context: CoffreRequestContext, route: PublicRoute) async throws -> Response {
        guard Self.isCleanPath(request.uri.path) else {
            throw Problem.notFound("No route for \(request.method) \(request.uri.path).")
        }
        let target = route.target, access = route.access
        var body = try await outgoingBody(request, streamsBody: route.streamsBody)
        let clientIP = clientAddress(request.headers)
        let host = request.head.authority

        var identity = VerifiedIdentity()
        var extraResponseHeaders = HTTPFields()
        switch access {
        case .token:
            identity = try await authenticator.authenticate(request.headers)
        case .optionalToken:
            if request.headers[.authorization] != nil {
                identity = try await authenticator.authenticate(request.headers)
            }
        case .tenant:
            let slug = try TenantResolver.resolve(headers: request.headers, host: host)
            if let kind = route.rateLimit {
                extraResponseHeaders = try await rateLimits.check(clientIP: clientIP, tenant: slug, kind: kind)
            }
            identity = VerifiedIdentity(tenantSlug: slug)
        case .operatorToken, .open:
            break
        }

        // An upload body or a download runs at the client's pace: it is
        // admitted under the transfer limit (see LoadShedder). A POST
        // /v1/uploads without a body is an ordinary request.
        let isTransfer: Bool
        switch body {
        case .stream where route.streamsBody: isTransfer = true
        default: isTransfer = route.streamsResponse
        }
        let permit = try shedder.admit(target.rawValue, transfer: isTransfer)
        body = try await Self.wholeIfSmall(body, streamsBody: route.streamsBody)
        var forwardedFor = clientIP
        if config.trustForwardedFor, let chain = request.headers[.xForwardedFor], let peer = ClientAddress.peerIP {
            forwardedFor = chain + ", " + peer
        }
        let headers = ForwardedHeaders.upstreamRequest(from: request.headers, keepAuthorization: access == .operatorToken,
                                                       forwardedFor: forwardedFor, originalHost: host, requestID: context.requestID)
        let outgoing = Proxy.Outgoing(method: request.method, path: request.uri.path, query: request.uri.query,
                                      headers: headers, identity: identity, body: body)
        var response = try await proxy.forward(outgoing, to: target.rawValue, permit: permit, logger: context.logger)
        for field in extraResponseHeaders where response.headers[field.name] == nil { response.headers.append(field) }
        return response
    }

    /// The body as it will go upstream. JSON routes are bounded by
    /// `GATEWAY_MAX_JSON_BODY_BYTES`: by `Content-Length` when there is one
    /// (refused before a byte is read), else by reading at most that much of
    /// a chunked body. Upload routes stream without limit.
    func outgoingBody(_ request: Request, streamsBody: Bool) async throws -> Proxy.Body {
        let declaredLength = request.headers[.contentLength].flatMap { Int($0) }
        let chunked = request.headers[.transferEncoding] != nil
        if streamsBody {
            if declaredLength == nil && !chunked { return .none }
            if declaredLength == 0 { return .buffered(ByteBuffer()) }
            return .stream(request.body, length: declaredLength)
        }
        if let declaredLength {
            guard declaredLength <= config.maxJSONBodyBytes else { throw tooLarge() }
            return declaredLength == 0 ? (Self.methodsWithBody.contains(request.method) ? .buffered(ByteBuffer()) : .none)
                : .stream(request.body, length: declaredLength)
        }
        guard chunked else { return .none }
        do {
            return .buffered(try await request.body.collect(upTo: config.maxJSONBodyBytes))
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge()
        }
    }

    static let methodsWithBody: Set<HTTPRequest.Method> = [.post, .put, .patch]

    /// JSON bodies up to this size are read whole before they go upstream.
    static let wholeBodyLimit = 64 * 1024

    /// A small JSON body (a signup, a login: a few hundred bytes, most often
    /// already read with the request head) goes upstream in one write with
    /// its head. Streamed, it would pass chunk by chunk between the client's
    /// connection, this task and the upstream connection, each pass a
    /// hand-off between threads, which on a loaded machine costs more than
    /// the request's own work. Read after admission, so a shed or
    /// rate-limited request never waits for its body; uploads, and anything
    /// over `wholeBodyLimit`, still stream.
    static func wholeIfSmall(_ body: Proxy.Body, streamsBody: Bool) async throws -> Proxy.Body {
        guard !streamsBody, case .stream(let stream, let length?) = body, length <= wholeBodyLimit else { return body }
        // A read error (the client went away) or a short body: the same to the client.
        guard let bytes = try? await stream.collect(upTo: length), bytes.readableBytes == length else { throw Proxy.incompleteBody }
        return .buffered(bytes)
    }

    func tooLarge() -> Problem {
        Problem(.contentTooLarge, type: "urn:coffre:problem:too-large", title: "Content too large",
                detail: "Request bodies on this route are limited to \(config.maxJSONBodyBytes) bytes.")
    }

    /// The socket's peer, or with `GATEWAY_TRUST_FORWARDED_FOR` the first
    /// `X-Forwarded-For` entry (the address the trusted load balancer saw).
    func clientAddress(_ headers: HTTPFields) -> String {
        if config.trustForwardedFor, let chain = headers[.xForwardedFor],
           let first = chain.split(separator: ",").first?.trimmingCharacters(in: .whitespaces), !first.isEmpty {
            return first
        }
        return ClientAddress.peerIP ?? "unknown"
    }

    /// No dot segments, encoded slashes or backslashes: the path the
    /// service sees (and that the identity MAC covers) is exactly the one
    /// routed here, never something a URL normaliser turns into another
    /// route, such as `/v1/uploads/../../internal/...`.
    static func isCleanPath(_ path: String) -> Bool {
        guard path.hasPrefix("/") else { return false }
        let lower = path.lowercased()
        if lower.contains("%2f") || lower.contains("%5c") || lower.contains("\\") || lower.contains("%2e") { return false }
        for segment in path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            if segment == "." || segment == ".." { return false }
        }
        return true
    }
}
