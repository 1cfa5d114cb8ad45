import CoffreCore
import Foundation
import Hummingbird
import NIOCore

/// The file tree and downloads (docs/ingest-api.md). Every handler takes the
/// gateway-verified user first; ids are checked before any query.
struct NodeRoutes: Sendable {
    let store: IngestStore
    let blobs: any BlobStore
    let meter: TransferMeter

    func add(to router: Router<CoffreRequestContext>) {
        router.post("/v1/nodes") { request, context -> EditedResponse<NodeView> in
            let user = try AuthenticatedUser(context)
            let body = try await request.decode(as: CreateFolderRequest.self, context: context)
            return .init(status: .created, response: try await store.createFolder(body, user: user))
        }
        router.get("/v1/nodes") { request, context -> NodeList in
            let user = try AuthenticatedUser(context)
            let parent = try request.uri.queryParameters.get("parent").flatMap { $0 == "root" ? nil : try Validate.uuid($0, "parent") }
            // A folder shared with the caller lists too (its owner's children).
            return NodeList(nodes: try await store.readableChildren(of: parent, user: user))
        }
        router.get("/v1/trash") { _, context -> NodeList in
            NodeList(nodes: try await store.trash(user: try AuthenticatedUser(context)))
        }
        router.get("/v1/nodes/{id}") { _, context -> NodeView in
            try await store.readableNode(try nodeID(context), user: try AuthenticatedUser(context))
        }
        router.patch("/v1/nodes/{id}") { request, context -> NodeView in
            let user = try AuthenticatedUser(context)
            let id = try nodeID(context)
            let body = try await request.decode(as: UpdateNodeRequest.self, context: context)
            return try await store.update(id, body, user: user)
        }
        router.delete("/v1/nodes/{id}") { request, context -> Response in
            let user = try AuthenticatedUser(context)
            let id = try nodeID(context)
            switch request.uri.queryParameters.get("purge") {
            case nil, "false":
                let node = try await store.moveToTrash(id, user: user)
                return try context.responseEncoder.encode(node, from: request, context: context)
            case "true":
                try await store.purge(id, user: user)
                return Response(status: .noContent)
            default:
                throw Problem.badRequest("purge must be true or false")
            }
        }
        router.post("/v1/nodes/{id}/restore") { _, context -> NodeView in
            try await store.restore(try nodeID(context), user: try AuthenticatedUser(context))
        }
        router.get("/v1/nodes/{id}/versions") { _, context -> VersionList in
            VersionList(versions: try await store.versions(of: try nodeID(context), user: try AuthenticatedUser(context)))
        }
        router.post("/v1/nodes/{id}/versions/{version}/restore") { _, context -> NodeView in
            try await store.restoreVersion(try versionID(context), of: try nodeID(context), user: try AuthenticatedUser(context))
        }
        router.delete("/v1/nodes/{id}/versions/{version}") { _, context -> Response in
            try await store.purgeVersion(try versionID(context), of: try nodeID(context), user: try AuthenticatedUser(context))
            return Response(status: .noContent)
        }
        router.get("/v1/nodes/{id}/content") { request, context in try await download(request, context) }

        // Service-to-service (quota's reconciliation): callers signed with the
        // internal secret. The gateway never routes /internal.
        router.get("/internal/v1/tenants/{tenant}/usage") { _, context -> UsageReport in
            guard context.identity != nil else { throw Problem.notFound() }
            let tenant = try Validate.uuid(context.parameters.get("tenant") ?? "", "tenant id")
            return UsageReport(accounts: try await store.usage(tenant: tenant))
        }
        // The key directory's check of a share or link: the node must be the
        // signed account's own; a folder comes with its subtree.
        router.get("/internal/v1/nodes/{id}") { _, context -> OwnedSubtree in
            guard let identity = context.identity, let tenant = identity.tenantID, let owner = identity.accountID else {
                throw Problem.notFound()
            }
            guard let subtree = try await store.ownedSubtree(try nodeID(context), tenant: tenant, owner: owner) else {
                throw Problem.notFound("No such node.")
            }
            return subtree
        }
    }

    private func nodeID(_ context: CoffreRequestContext) throws -> UUID {
        try Validate.uuid(context.parameters.get("id") ?? "", "node id")
    }

    private func versionID(_ context: CoffreRequestContext) throws -> UUID {
        try Validate.uuid(context.parameters.get("version") ?? "", "version id")
    }

    // MARK: downloads

    func download(_ request: Request, _ context: CoffreRequestContext) async throws -> Response {
        let user = try AuthenticatedUser(context)
        let id = try nodeID(context)
        let version = try request.uri.queryParameters.get("version").map { try Validate.uuid(String($0), "version") }
        if let seconds = try await store.transferBlocked(user) {
            var problem = Problem(.tooManyRequests, type: "urn:coffre:problem:transfer-quota", title: "Transfer quota used up",
                                  detail: "This account's transfer allowance for the rolling window is used up.")
            problem.headers[.retryAfter] = String(seconds)
            throw problem
        }
        let blob = try await store.blobForDownload(id, version: version, user: user)
        let etag = "\"\(blob.versionID.lower)\""
        var headers: HTTPFields = [.eTag: etag, .acceptRanges: "bytes", .contentType: "application/octet-stream",
                                   .cacheControl: "private, no-cache"]
        if let match = request.headers[.ifNoneMatch], Self.matches(match, etag: etag) {
            return Response(status: .notModified, headers: headers)
        }
        var status = HTTPResponse.Status.ok
        var range: Range<Int64> = 0..<blob.size
        if let header = request.headers[.range] {
            switch ByteRange.parse(header, size: blob.size) {
            case .ignored:
                break
            case .unsatisfiable:
                headers[.contentRange] = "bytes */\(blob.size)"
                var problem = Problem(.rangeNotSatisfiable, type: "urn:coffre:problem:range", title: "Range not satisfiable",
                                      detail: "the file holds \(blob.size) bytes")
                problem.headers = headers
                throw problem
            case .satisfiable(let r):
                range = r
                status = .partialContent
                headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(blob.size)"
            }
        }
        headers[.contentLength] = String(range.count)
        let blobs = self.blobs
        let meter = self.meter
        let account = user.accountID
        let tenant = user.tenantID
        let key = blob.blobKey
        let served = range
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: range.count) { writer in
            var sent: Int64 = 0
            defer { meter.record(tenant: tenant, account: account, bytes: sent) }
            try await blobs.read(key: key, range: served) { chunk in
                try await writer.write(chunk)
                sent += Int64(chunk.readableBytes)
            }
            try await writer.finish(nil)
        })
    }

    static func matches(_ header: String, etag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag || tag == "W/\(etag)"
        }
    }
}

/// A single `Range: bytes=…` request (RFC 9110 §14). Several ranges are
/// answered with the whole file, which the RFC allows.
enum ByteRange: Equatable {
    case ignored
    case unsatisfiable
    case satisfiable(Range<Int64>)

    static func parse(_ header: String, size: Int64) -> ByteRange {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else { return .ignored }
        let spec = trimmed.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(",") else { return .ignored }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .ignored }
        let first = parts[0].trimmingCharacters(in: .whitespaces), last = parts[1].trimmingCharacters(in: .whitespaces)
        func number(_ s: String) -> Int64? { s.isEmpty || !s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) ? nil : Int64(s) }
        if first.isEmpty {
            // Suffix: the last N bytes.
            guard let n = number(last) else { return .ignored }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .satisfiable(max(0, size - n)..<size)
        }
        guard let start = number(first) else { return .ignored }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .satisfiable(start..<size) }
        guard let end = number(last), end >= start else { return .ignored }
        return .satisfiable(start..<(min(end, size - 1) + 1))
    }
}
