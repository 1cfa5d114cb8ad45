// An in-memory ingest API (docs/ingest-api.md) behind the SDK's transport
// seam: tus uploads (creation, checksum, HEAD, termination), the node tree,
// trash, versions and content. Honest by default; hooks make it drop
// connections mid-upload or hand back altered ciphertext and nodes.
import CoffreCrypto
@testable import CoffreSDK
import Foundation
import Sodium

final class FakeIngestServer: CoffreTransport, @unchecked Sendable {
    struct Version {
        var id: String
        var bytes: [UInt8]
    }

    struct Node {
        var id: String
        var parentID: String?
        var kind: String
        var attributes: String
        var wrappedKey: String
        var versions: [Version] = []
        var current: String?
        var trashedAt: Date?
        /// Trashed itself, not with a trashed folder.
        var trashedDirectly = false
    }

    struct Upload {
        var id: String
        var length: Int
        var bytes: [UInt8] = []
        var metadata: [String: [UInt8]]
        var done = false
    }

    struct Logged {
        var method: String
        var path: String
        var headers: [String: String]
        var bodyCount: Int
    }

    private let lock = NSLock()
    private var nodes: [String: Node] = [:]
    private var uploads: [String: Upload] = [:]
    private var log: [Logged] = []
    private var patches = 0

    var serverDescription: String { "http://fake.test" }

    // Hooks (set before use).
    /// PATCH number n (counted from 1 over the server's life) fails as a
    /// dropped connection when this returns true; nothing of it is kept.
    var dropPatch: (@Sendable (Int) -> Bool)?
    /// Changes what a content download returns.
    var tamperContent: (@Sendable (String, [UInt8]) -> [UInt8])?
    /// Changes nodes as they are sent back.
    var tamperNode: (@Sendable (inout [String: Any]) -> Void)?

    var requests: [Logged] { lock.withLock { log } }
    func node(_ id: String) -> Node? { lock.withLock { nodes[id] } }
    func upload(_ id: String) -> Upload? { lock.withLock { uploads[id] } }
    var uploadCount: Int { lock.withLock { uploads.count } }
    /// Every byte the server holds: ciphertext, attributes and wrapped keys.
    func everythingStored() -> [UInt8] {
        lock.withLock {
            var all: [UInt8] = []
            for node in nodes.values {
                all += Array(node.attributes.utf8) + Array(node.wrappedKey.utf8) + node.versions.flatMap(\.bytes)
            }
            for upload in uploads.values { all += upload.bytes + upload.metadata.values.flatMap { $0 } }
            return all
        }
    }
    func setContent(of nodeID: String, _ bytes: [UInt8]) {
        lock.withLock {
            guard let current = nodes[nodeID]?.current, let index = nodes[nodeID]?.versions.firstIndex(where: { $0.id == current }) else { return }
            nodes[nodeID]?.versions[index].bytes = bytes
        }
    }

    func send(_ request: TransportRequest) async throws -> TransportResponse {
        try lock.withLock {
            log.append(Logged(method: request.method, path: request.path, headers: request.headers, bodyCount: request.body?.count ?? 0))
            guard request.header("Authorization")?.hasPrefix("Bearer ") == true else { return problem(401, "Unauthorized") }
            return try handle(request)
        }
    }

    // MARK: - Routes

    private func handle(_ request: TransportRequest) throws -> TransportResponse {
        let parts = request.path.split(separator: "?", maxSplits: 1).map(String.init)
        let path = parts[0]
        let query = parts.count > 1 ? parts[1] : ""
        let segments = path.split(separator: "/").map(String.init)
        switch (request.method, segments.count) {
        case ("POST", 2) where path == "/v1/uploads": return createUpload(request)
        case (_, 3) where path.hasPrefix("/v1/uploads/"): return try tus(request, id: segments[2])
        case ("POST", 2) where path == "/v1/nodes": return createFolder(request)
        case ("GET", 2) where path == "/v1/nodes":
            let parent = query.hasPrefix("parent=") ? String(query.dropFirst(7)) : nil
            let children = nodes.values.filter { $0.parentID == parent && $0.trashedAt == nil }
            return json(200, ["nodes": children.map(render)])
        case ("GET", 2) where path == "/v1/trash":
            return json(200, ["nodes": nodes.values.filter(\.trashedDirectly).map(render)])
        case (_, 3) where path.hasPrefix("/v1/nodes/"): return nodeRoute(request, id: segments[2], purge: query == "purge=true")
        case ("POST", 4) where segments[3] == "restore": return restore(id: segments[2])
        case ("GET", 4) where segments[3] == "versions":
            guard let node = nodes[segments[2]] else { return problem(404, "Not Found") }
            return json(200, ["versions": node.versions.reversed().map {
                ["id": $0.id, "size": $0.bytes.count, "created_at": "2025-01-02T03:04:05Z", "current": $0.id == node.current]
            }])
        case ("GET", 4) where segments[3] == "content":
            guard let node = nodes[segments[2]], node.trashedAt == nil else { return problem(404, "Not Found") }
            let versionID = query.hasPrefix("version=") ? String(query.dropFirst(8)) : node.current
            guard let version = node.versions.first(where: { $0.id == versionID }) else { return problem(404, "Not Found") }
            let bytes = tamperContent?(node.id, version.bytes) ?? version.bytes
            return TransportResponse(status: 200, headers: ["ETag": "\"\(version.id)\""], body: bytes)
        case ("POST", 6) where segments[3] == "versions" && segments[5] == "restore":
            guard nodes[segments[2]]?.versions.contains(where: { $0.id == segments[4] }) == true else { return problem(404, "Not Found") }
            nodes[segments[2]]?.current = segments[4]
            return json(200, render(nodes[segments[2]]!))
        case ("DELETE", 5) where segments[3] == "versions":
            guard let node = nodes[segments[2]], node.versions.contains(where: { $0.id == segments[4] }) else { return problem(404, "Not Found") }
            guard node.current != segments[4] else { return problem(409, "Conflict") }
            nodes[segments[2]]?.versions.removeAll { $0.id == segments[4] }
            return TransportResponse(status: 204)
        default:
            return problem(404, "Not Found")
        }
    }

    private func createUpload(_ request: TransportRequest) -> TransportResponse {
        guard request.header("Tus-Resumable") == "1.0.0" else { return problem(412, "Precondition Failed") }
        guard let length = request.header("Upload-Length").flatMap(Int.init), length >= 0 else { return problem(400, "Bad Request") }
        var metadata: [String: [UInt8]] = [:]
        for pair in (request.header("Upload-Metadata") ?? "").split(separator: ",") {
            let fields = pair.split(separator: " ").map(String.init)
            guard fields.count == 2, ["node", "parent", "attributes", "key"].contains(fields[0]),
                  let value = [UInt8](base64: fields[1]) else { return problem(400, "Bad Request") }
            metadata[fields[0]] = value
        }
        let id = UUID().uuidString.lowercased()
        let nodeID = metadata["node"].map { String(decoding: $0, as: UTF8.self) } ?? UUID().uuidString.lowercased()
        uploads[id] = Upload(id: id, length: length, metadata: metadata)
        return TransportResponse(status: 201, headers: [
            "Location": "/v1/uploads/\(id)", "Upload-Offset": "0", "Coffre-Node-Id": nodeID,
            "Upload-Expires": "Sun, 06 Nov 2095 08:49:37 GMT", "Tus-Resumable": "1.0.0",
        ])
    }

    private func tus(_ request: TransportRequest, id: String) throws -> TransportResponse {
        guard request.header("Tus-Resumable") == "1.0.0" else { return problem(412, "Precondition Failed") }
        guard var upload = uploads[id] else { return problem(404, "Not Found") }
        switch request.method {
        case "HEAD":
            return TransportResponse(status: 200, headers: ["Upload-Offset": String(upload.bytes.count), "Upload-Length": String(upload.length)])
        case "DELETE":
            uploads[id] = nil
            return TransportResponse(status: 204)
        case "PATCH":
            guard request.header("Content-Type") == "application/offset+octet-stream" else { return problem(415, "Unsupported Media Type") }
            guard !upload.done else { return problem(403, "Forbidden") }
            guard request.header("Upload-Offset").flatMap(Int.init) == upload.bytes.count else { return problem(409, "Conflict") }
            let body = request.body ?? []
            patches += 1
            if dropPatch?(patches) == true { throw CoffreClientError.unreachable(server: serverDescription, reason: "connection reset") }
            if let checksum = request.header("Upload-Checksum") {
                let fields = checksum.split(separator: " ")
                guard fields.count == 2, fields[0] == "sha256" else { return problem(400, "Bad Request") }
                guard String(fields[1]) == Sodium.sha256(body).base64 else { return problem(460, "Checksum Mismatch") }
            }
            guard upload.bytes.count + body.count <= upload.length else { return problem(413, "Content Too Large") }
            upload.bytes += body
            var headers = ["Upload-Offset": String(upload.bytes.count)]
            if upload.bytes.count == upload.length {
                upload.done = true
                let (nodeID, versionID) = commit(upload)
                headers["Coffre-Node-Id"] = nodeID
                headers["Coffre-Version-Id"] = versionID
            }
            uploads[id] = upload
            return TransportResponse(status: 204, headers: headers)
        default:
            return problem(405, "Method Not Allowed")
        }
    }

    private func commit(_ upload: Upload) -> (String, String) {
        let text = { (key: String) in upload.metadata[key].map { String(decoding: $0, as: UTF8.self) } }
        let nodeID = text("node") ?? UUID().uuidString.lowercased()
        let version = Version(id: UUID().uuidString.lowercased(), bytes: upload.bytes)
        if var node = nodes[nodeID] {
            node.versions.append(version)
            node.current = version.id
            if let attributes = upload.metadata["attributes"] { node.attributes = attributes.base64 }
            nodes[nodeID] = node
        } else {
            nodes[nodeID] = Node(id: nodeID, parentID: text("parent"), kind: "file",
                                 attributes: upload.metadata["attributes"]?.base64 ?? "", wrappedKey: upload.metadata["key"]?.base64 ?? "",
                                 versions: [version], current: version.id)
        }
        return (nodeID, version.id)
    }

    private func createFolder(_ request: TransportRequest) -> TransportResponse {
        guard let body = request.body.flatMap({ try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }),
              body["kind"] as? String == "folder", let attributes = body["attributes"] as? String,
              let wrapped = body["wrapped_key"] as? String else { return problem(400, "Bad Request") }
        let id = body["id"] as? String ?? UUID().uuidString.lowercased()
        nodes[id] = Node(id: id, parentID: body["parent_id"] as? String, kind: "folder", attributes: attributes, wrappedKey: wrapped)
        return json(201, render(nodes[id]!))
    }

    private func nodeRoute(_ request: TransportRequest, id: String, purge: Bool) -> TransportResponse {
        guard var node = nodes[id] else { return problem(404, "Not Found") }
        switch request.method {
        case "GET":
            return json(200, render(node))
        case "PATCH":
            let body = request.body.flatMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] } ?? [:]
            if body.keys.contains("parent_id") {
                let parent = body["parent_id"] as? String
                var cursor = parent
                while let current = cursor {
                    if current == id { return problem(409, "Conflict") }
                    cursor = nodes[current]?.parentID
                }
                node.parentID = parent
            }
            if let attributes = body["attributes"] as? String { node.attributes = attributes }
            nodes[id] = node
            return json(200, render(node))
        case "DELETE" where purge:
            for descendant in subtree(of: id) { nodes[descendant] = nil }
            return TransportResponse(status: 204)
        case "DELETE":
            let now = Date()
            for descendant in subtree(of: id) { nodes[descendant]?.trashedAt = now }
            nodes[id]?.trashedDirectly = true
            return json(200, render(nodes[id]!))
        default:
            return problem(405, "Method Not Allowed")
        }
    }

    private func restore(id: String) -> TransportResponse {
        guard var node = nodes[id], node.trashedDirectly else { return problem(404, "Not Found") }
        if let parent = node.parentID, nodes[parent] == nil || nodes[parent]?.trashedAt != nil { node.parentID = nil }
        node.trashedDirectly = false
        nodes[id] = node
        for descendant in subtree(of: id) { nodes[descendant]?.trashedAt = nil }
        return json(200, render(nodes[id]!))
    }

    private func subtree(of id: String) -> [String] {
        var all = [id]
        var index = 0
        while index < all.count {
            all += nodes.values.filter { $0.parentID == all[index] }.map(\.id)
            index += 1
        }
        return all
    }

    private func render(_ node: Node) -> [String: Any] {
        var object: [String: Any] = [
            "id": node.id, "parent_id": node.parentID as Any? ?? NSNull(), "kind": node.kind, "attributes": node.attributes,
            "wrapped_key": node.wrappedKey, "size": node.versions.first { $0.id == node.current }?.bytes.count ?? 0,
            "current_version": node.current as Any? ?? NSNull(), "created_at": "2025-01-02T03:04:05Z",
            "updated_at": "2025-01-02T03:04:05Z",
            "trashed_at": node.trashedAt.map { ISO8601DateFormatter().string(from: $0) } as Any? ?? NSNull(),
        ]
        tamperNode?(&object)
        return object
    }

    func problem(_ status: Int, _ title: String) -> TransportResponse {
        TransportResponse(status: status, headers: ["Content-Type": "application/problem+json"],
                          body: Array(try! JSONSerialization.data(withJSONObject: ["type": "about:blank", "title": title, "status": status])))
    }

    private func json(_ status: Int, _ object: [String: Any]) -> TransportResponse {
        TransportResponse(status: status, headers: ["Content-Type": "application/json"],
                          body: Array(try! JSONSerialization.data(withJSONObject: object)))
    }
}
