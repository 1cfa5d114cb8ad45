import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// An RFC 9457 problem: what every non-2xx answer of Coffre carries, as
/// `application/problem+json`. Throw it from a handler; `ProblemMiddleware`
/// writes it.
public struct Problem: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    /// A short URI naming the kind of problem, e.g. `urn:coffre:problem:email-taken`.
    public var type: String
    public var title: String
    public var detail: String?
    /// Extra response headers (`Retry-After`, `RateLimit`, …).
    public var headers: HTTPFields
    /// Extension members of the problem object.
    public var extensions: [String: JSONValue]

    public init(_ status: HTTPResponse.Status, type: String? = nil, title: String? = nil, detail: String? = nil,
                headers: HTTPFields = [:], extensions: [String: JSONValue] = [:]) {
        self.status = status
        self.type = type ?? "about:blank"
        self.title = title ?? status.reasonPhrase
        self.detail = detail
        self.headers = headers
        self.extensions = extensions
    }

    public var description: String { "\(status.code) \(title)\(detail.map { ": \($0)" } ?? "")" }

    public static func badRequest(_ detail: String, type: String = "urn:coffre:problem:bad-request") -> Problem {
        Problem(.badRequest, type: type, title: "Bad request", detail: detail)
    }

    public static func notFound(_ detail: String = "No such resource.") -> Problem {
        Problem(.notFound, type: "urn:coffre:problem:not-found", title: "Not found", detail: detail)
    }

    public static func unauthorized(_ detail: String = "Missing or invalid credentials.") -> Problem {
        Problem(.unauthorized, type: "urn:coffre:problem:unauthorized", title: "Unauthorized", detail: detail)
    }

    public static func conflict(_ detail: String, type: String = "urn:coffre:problem:conflict") -> Problem {
        Problem(.conflict, type: type, title: "Conflict", detail: detail)
    }

    public static func unavailable(_ detail: String, retryAfter seconds: Int) -> Problem {
        var headers = HTTPFields()
        headers[.retryAfter] = String(seconds)
        return Problem(.serviceUnavailable, type: "urn:coffre:problem:unavailable", title: "Service unavailable",
                       detail: detail, headers: headers)
    }

    /// The response body and headers.
    public func response(instance: String?, requestID: String?) -> Response {
        var object: [String: JSONValue] = extensions
        object["type"] = .string(type)
        object["title"] = .string(title)
        object["status"] = .int(Int64(status.code))
        if let detail { object["detail"] = .string(detail) }
        if let instance { object["instance"] = .string(instance) }
        if let requestID { object["request_id"] = .string(requestID) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(JSONValue.object(object))) ?? Data("{}".utf8)
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Request context of every Coffre service: Hummingbird's core storage plus
/// the request id.
public struct CoffreRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String?
    /// Set by `InternalIdentityMiddleware` from the gateway's signed headers.
    public var identity: VerifiedIdentity?
    /// Largest JSON body a handler decodes (uploads stream and are not decoded).
    public var maxUploadSize: Int { 1 << 20 }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

extension HTTPField.Name {
    public static let requestID = HTTPField.Name("X-Request-Id")!
}

/// Gives every request an id (the client's `X-Request-Id` if it is sane,
/// else a new one), echoes it on the response and puts it in the logger.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = CoffreRequestContext
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let incoming = request.headers[.requestID]
        let id = incoming.flatMap(Self.isAcceptable) == true ? incoming! : UUID().uuidString.lowercased()
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        do {
            var response = try await next(request, context)
            response.headers[.requestID] = id
            return response
        } catch {
            throw RequestFailure(error: error, requestID: id)
        }
    }

    static func isAcceptable(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2E
        }
    }
}

/// An error with the id of the request it ended.
struct RequestFailure: Error {
    var error: any Error
    var requestID: String
}

/// Turns every error into an RFC 9457 problem+json response. Unexpected
/// errors become a 500 whose detail says nothing internal; they are logged
/// with the request id.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = CoffreRequestContext
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var error = error
            var requestID = context.requestID
            if let failure = error as? RequestFailure {
                error = failure.error
                requestID = failure.requestID
            }
            let problem = Self.problem(for: error, request: request, logger: context.logger)
            var response = problem.response(instance: request.uri.path, requestID: requestID)
            if let requestID { response.headers[.requestID] = requestID }
            return response
        }
    }

    static func problem(for error: any Error, request: Request, logger: Logger) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let http as HTTPError:
            var problem = Problem(http.status, detail: http.body)
            problem.headers = http.headers
            problem.headers[.contentType] = nil
            problem.headers[.contentLength] = nil
            if http.status == .notFound { problem.detail = problem.detail ?? "No route for \(request.method) \(request.uri.path)." }
            if http.status == .contentTooLarge { problem.type = "urn:coffre:problem:too-large" }
            // Hummingbird reports undecodable bodies as a plain 400.
            if http.status == .badRequest { problem.type = "urn:coffre:problem:malformed-body" }
            return problem
        case let decoding as DecodingError:
            return .badRequest(Self.describe(decoding), type: "urn:coffre:problem:malformed-body")
        case let response as HTTPResponseError:
            return Problem(response.status)
        case let unavailable as DatabaseUnavailable:
            logger.warning("no database connection in time", metadata: ["waited": .string("\(unavailable.waited)"), "path": .string(request.uri.path)])
            var problem = Problem.unavailable("The service cannot reach its database just now; nothing was changed. Try again shortly.", retryAfter: 2)
            problem.type = "urn:coffre:problem:database-unavailable"
            return problem
        default:
            logger.error("unexpected error", metadata: ["error": .string(String(reflecting: error)), "path": .string(request.uri.path)])
            return Problem(.internalServerError, type: "urn:coffre:problem:internal", title: "Internal error",
                           detail: "The server failed to handle this request; it was logged.")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "body" : p
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing field \"\(key.stringValue)\"" + (parent == "body" ? "" : " in \(parent)")
        case .typeMismatch(_, let context): return "wrong type at \(path(context))"
        case .valueNotFound(_, let context): return "missing value at \(path(context))"
        case .dataCorrupted(let context): return context.codingPath.isEmpty ? "malformed JSON" : "invalid value at \(path(context))"
        @unknown default: return "malformed request body"
        }
    }
}
