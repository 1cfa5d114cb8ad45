import CoffreCore
import Hummingbird

/// CORS for browser clients: Hummingbird's CORSMiddleware answers
/// preflights and sets the allowed origin; `ExposeHeaders` adds the list of
/// readable response headers to actual responses, where browsers look for it
/// (CORSMiddleware only puts it on preflight answers). `GATEWAY_CORS_ORIGINS`
/// is `*` or a comma-separated list of exact origins.
enum GatewayCORS {
    static let exposed = ["Retry-After", "RateLimit", "RateLimit-Policy", "X-Request-Id", "Location", "ETag", "Content-Range",
                          "Accept-Ranges", "Upload-Offset", "Upload-Length", "Upload-Expires", "Upload-Metadata",
                          "Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size", "WWW-Authenticate"]

    static func middleware(_ config: GatewayConfiguration) -> CORSMiddleware<CoffreRequestContext> {
        CORSMiddleware(
            allowOrigin: config.corsOrigins.contains("*") ? .all : .originBased,
            allowHeaders: [.accept, .authorization, .contentType, .origin, .requestID, .coffreTenant, .init("Idempotency-Key")!,
                           .init("Upload-Offset")!, .init("Upload-Length")!, .init("Upload-Metadata")!, .init("Upload-Concat")!,
                           .init("Tus-Resumable")!, .init("Range")!, .init("If-Match")!, .init("If-None-Match")!],
            allowMethods: [.get, .head, .post, .put, .patch, .delete, .options],
            exposedHeaders: exposed,
            maxAge: .seconds(600)
        )
    }

    /// With a list of origins, CORSMiddleware reflects the request's
    /// `Origin`; this drops an `Origin` that is not on the list first, so a
    /// foreign page gets no CORS headers and the browser refuses it.
    struct OriginFilter: RouterMiddleware {
        typealias Context = CoffreRequestContext
        let allowed: Set<String>

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            guard let origin = request.headers[.origin], !allowed.contains(origin) else { return try await next(request, context) }
            var head = request.head
            head.headerFields[.origin] = nil
            return try await next(Request(head: head, body: request.body), context)
        }
    }

    struct ExposeHeaders: RouterMiddleware {
        typealias Context = CoffreRequestContext
        static let value = exposed.joined(separator: ", ")

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var response = try await next(request, context)
            if request.headers[.origin] != nil, request.method != .options {
                response.headers[.accessControlExposeHeaders] = Self.value
            }
            return response
        }
    }
}
