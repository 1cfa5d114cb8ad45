import CoffreCore
import Hummingbird

/// CORS for browser clients. `GATEWAY_CORS_ORIGINS` is `*` or a
/// comma-separated list of exact origins; a request from any other origin
/// gets no CORS headers, so the browser refuses the answer to its script.
///
/// Only a real preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`) is answered here. An `OPTIONS` without
/// `Access-Control-Request-Method` is an actual request, such as tus
/// discovery on `/v1/uploads`, and goes to its route like any other
/// (Hummingbird's CORSMiddleware answers every `OPTIONS` that has an
/// `Origin`, which would hide tus discovery from browsers). Actual requests
/// get `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers`
/// on every answer, errors included (this sits outside ProblemMiddleware).
struct GatewayCORS: RouterMiddleware {
    typealias Context = CoffreRequestContext

    /// Response headers a script may read: limits, request ids, tus and
    /// Coffre upload headers, download validators and ranges.
    static let exposed = ["Retry-After", "RateLimit", "RateLimit-Policy", "X-Request-Id", "WWW-Authenticate", "Location",
                          "ETag", "Content-Range", "Accept-Ranges", "Upload-Offset", "Upload-Length", "Upload-Expires",
                          "Upload-Metadata", "Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size",
                          "Tus-Checksum-Algorithm", "Coffre-Node-Id", "Coffre-Version-Id"]
    /// Request headers a script may send (beyond the CORS-safelisted ones).
    static let allowedHeaders = ["Accept", "Authorization", "Content-Type", "Origin", "X-Request-Id", "X-Coffre-Tenant",
                                 "Idempotency-Key", "Upload-Offset", "Upload-Length", "Upload-Metadata", "Upload-Checksum",
                                 "Upload-Concat", "Upload-Defer-Length", "Tus-Resumable", "Range", "If-Match", "If-None-Match"]
    static let allowedMethods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    static let maxAgeSeconds = 600

    let anyOrigin: Bool
    let origins: Set<String>

    init(origins: [String]) {
        anyOrigin = origins.contains("*")
        self.origins = Set(origins)
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, or nil when that
    /// origin is not allowed (`null` never is).
    func allowedOrigin(_ origin: String) -> String? {
        if origin == "null" { return nil }
        if anyOrigin { return "*" }
        return origins.contains(origin) ? origin : nil
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], let allow = allowedOrigin(origin) else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers: HTTPFields = [
                .accessControlAllowOrigin: allow,
                .accessControlAllowMethods: Self.allowedMethods.joined(separator: ", "),
                .accessControlAllowHeaders: Self.allowedHeaders.joined(separator: ", "),
                .accessControlMaxAge: String(Self.maxAgeSeconds),
            ]
            if !anyOrigin { headers[.vary] = "Origin" }
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = allow
        response.headers[.accessControlExposeHeaders] = Self.exposed.joined(separator: ", ")
        if !anyOrigin { response.headers[values: .vary].append("Origin") }
        return response
    }
}
