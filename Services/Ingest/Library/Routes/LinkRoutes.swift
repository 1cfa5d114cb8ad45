import CoffreCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Anonymous share-link reads (docs/keydir-api.md, "Share links"): the
/// gateway routes them here with no user. The key directory says whose file
/// a link points at and counts downloads; ingest serves the ciphertext,
/// charges the owner's transfer allowance and carries the client's IP.
struct LinkRoutes: Sendable {
    let store: IngestStore
    let blobs: any BlobStore
    let meter: TransferMeter
    let directory: KeyDirectoryLinks

    /// Metadata of a link: enough for a browser to show the file's name
    /// (its attributes open with the key in the URL fragment) and size.
    struct LinkInfo: ResponseCodable, Sendable {
        var id: String
        var node_id: String
        /// The owner: the node's attributes are sealed bound to it.
        var owner_account_id: String
        var size: Int64
        var attributes: String
        var expires_at: String?
        var downloads_left: Int64?
    }

    func add(to router: Router<CoffreRequestContext>) {
        router.get("/v1/links/{id}") { _, context -> EditedResponse<LinkInfo> in
            let id = try linkID(context)
            let link = try await directory.link(id)
            guard let (node, _) = try await store.linkedFile(link.node!, tenant: link.tenant!, owner: link.owner!) else {
                throw Self.fileGone()
            }
            let info = LinkInfo(id: id.lower, node_id: node.id, owner_account_id: link.owner!.lower, size: node.size, attributes: node.attributes,
                                expires_at: link.expires_at, downloads_left: link.downloads_left)
            return EditedResponse(headers: [.cacheControl: "no-store"], response: info)
        }
        router.get("/v1/links/{id}/content") { request, context in try await download(request, context) }
    }

    static func fileGone() -> Problem {
        Problem(.gone, type: "urn:coffre:problem:link-gone", title: "Link gone", detail: "The linked file is no longer there.")
    }

    private func linkID(_ context: CoffreRequestContext) throws -> UUID {
        try Validate.uuid(context.parameters.get("id") ?? "", "link id")
    }

    /// The client as the gateway saw it: the first `X-Forwarded-For` entry.
    static func clientIP(_ request: Request) -> String? {
        guard let chain = request.headers[HTTPField.Name("X-Forwarded-For")!],
              let first = chain.split(separator: ",").first?.trimmingCharacters(in: .whitespaces), !first.isEmpty,
              first.utf8.count <= 64 else { return nil }
        return first
    }

    /// Checks the link and the owner's allowance before taking a download
    /// (a refused request does not use one up), then claims one and streams
    /// the whole file. Each request is one download: no ranges, no 304.
    func download(_ request: Request, _ context: CoffreRequestContext) async throws -> Response {
        let id = try linkID(context)
        let link = try await directory.link(id)
        let tenant = link.tenant!, owner = link.owner!
        let ip = Self.clientIP(request)
        if let seconds = try await store.transferBlocked(tenant: tenant, .account(owner)) {
            var problem = Problem(.tooManyRequests, type: "urn:coffre:problem:transfer-quota", title: "Transfer quota used up",
                                  detail: "The owner's transfer allowance for the rolling window is used up.")
            problem.headers[.retryAfter] = String(seconds)
            throw problem
        }
        if let ip, let seconds = try await store.transferBlocked(tenant: tenant, .address(ip)) {
            var problem = Problem(.tooManyRequests, type: "urn:coffre:problem:address-transfer-quota", title: "Transfer quota used up",
                                  detail: "This address has used up its allowance for anonymous link downloads in the rolling window.")
            problem.headers[.retryAfter] = String(seconds)
            throw problem
        }
        guard let (_, blob) = try await store.linkedFile(link.node!, tenant: tenant, owner: owner) else { throw Self.fileGone() }
        _ = try await directory.claim(id)
        let headers: HTTPFields = [.contentType: "application/octet-stream", .cacheControl: "no-store",
                                   .contentLength: String(blob.size), .eTag: "\"\(blob.versionID.lower)\""]
        let blobs = self.blobs, meter = self.meter, key = blob.blobKey, size = blob.size
        return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: Int(size)) { writer in
            var sent: Int64 = 0
            defer { meter.record(tenant: tenant, account: owner, bytes: sent, ip: ip) }
            try await blobs.read(key: key, range: 0..<size) { chunk in
                try await writer.write(chunk)
                sent += Int64(chunk.readableBytes)
            }
            try await writer.finish(nil)
        })
    }
}
