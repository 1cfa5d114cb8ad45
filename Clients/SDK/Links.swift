// Share links: a link id on the server points at a file node; the key that
// decrypts it lives only in the URL fragment (`LinkFragment`), which is never
// sent to the server. With a password, the fragment holds the key wrapped
// under the password (Argon2id here, on the client): a wrong password fails
// before a download is claimed and before any local file exists.
//
// Anyone holding the URL reads the file anonymously: `GET /v1/links/{id}`
// (what it is) then `GET /v1/links/{id}/content` (the ciphertext, one of the
// link's downloads), decrypted here like any download.
import CoffreCrypto
import Foundation
import Sodium

/// A link as its owner sees it.
public struct LinkInfo: Sendable, Equatable {
    public let id: String
    public let nodeID: String
    public let expiresAt: Date?
    public let maxDownloads: Int?
    public let downloads: Int
    public let revokedAt: Date?
    public let createdAt: Date?
}

/// A new link and the URL to hand out (the only place its key is).
public struct CreatedLink: Sendable, CustomStringConvertible {
    public let link: LinkInfo
    public let url: String

    public var description: String { "CreatedLink(\(link.id), url redacted)" }
}

/// A link URL taken apart: `<server>/l/<id>#<fragment>`.
public struct ShareLinkURL: Sendable, CustomStringConvertible {
    /// The server part, to build a client for.
    public let server: String
    public let id: String
    public let fragment: LinkFragment

    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let hash = trimmed.firstIndex(of: "#") else {
            throw CoffreClientError.invalidInput("the link has no key (the part after #); copy the whole link")
        }
        let address = String(trimmed[..<hash])
        let fragment = try LinkFragment(parsing: String(trimmed[trimmed.index(after: hash)...]))
        guard let marker = address.range(of: "/l/", options: .backwards) else {
            throw CoffreClientError.invalidInput("not a Coffre link (expected …/l/<id>#<key>)")
        }
        let server = String(address[..<marker.lowerBound])
        let id = String(address[marker.upperBound...])
        guard let uuid = UUID(uuidString: id) else { throw CoffreClientError.invalidInput("the link id \"\(id)\" is not valid") }
        guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              url.host?.isEmpty == false else {
            throw CoffreClientError.invalidInput("the link does not start with an http(s) server address")
        }
        self.server = server
        self.id = uuid.uuidString.lowercased()
        self.fragment = fragment
    }

    public var description: String { "\(server)/l/\(id)#…" }
}

/// A link whose key opened: ready to download.
public struct OpenedLink: Sendable {
    public let id: String
    public let nodeID: String
    /// The file's name, when the server says whose file it is (its
    /// attributes are bound to the owner's account id).
    public let name: String?
    /// Ciphertext bytes.
    public let encryptedSize: Int64?
    public let expiresAt: Date?
    public let downloadsLeft: Int?
    let key: FileKey
    let attributes: NodeAttributes?

    /// Plaintext bytes.
    public var size: Int64? {
        encryptedSize.flatMap { FileEncryptor.plaintextSize(encryptedSize: Int($0)).map(Int64.init) } ?? attributes?.size
    }
}

public enum LinkError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// The key in the link does not open the file's attributes.
    case keyRejected
    case notAFile

    public var description: String {
        switch self {
        case .keyRejected: "the key in the link does not open this file (a damaged link, or the server is not honest); nothing was downloaded"
        case .notAFile: "links can only be made to files"
        }
    }

    public var errorDescription: String? { description }
}

// MARK: - Wire

struct LinkWire: Decodable {
    var id: String
    var nodeID: String
    var expiresAt: FlexibleDate?
    var maxDownloads: Int?
    var downloads: Int?
    var revokedAt: FlexibleDate?
    var createdAt: FlexibleDate?

    enum CodingKeys: String, CodingKey {
        case id, nodeID = "node_id", expiresAt = "expires_at", maxDownloads = "max_downloads", downloads
        case revokedAt = "revoked_at", createdAt = "created_at"
    }

    func info() throws(CoffreClientError) -> LinkInfo {
        guard let id = UUID(uuidString: id), let node = UUID(uuidString: nodeID) else {
            throw .invalidResponse("a link with malformed ids")
        }
        return LinkInfo(id: id.uuidString.lowercased(), nodeID: node.uuidString.lowercased(), expiresAt: expiresAt?.date,
                        maxDownloads: maxDownloads, downloads: downloads ?? 0, revokedAt: revokedAt?.date, createdAt: createdAt?.date)
    }
}

struct LinksWire: Decodable {
    var links: [LinkWire]
}

struct CreateLinkBody: Encodable {
    var nodeID: String
    var expiresAt: String?
    var maxDownloads: Int?

    enum CodingKeys: String, CodingKey { case nodeID = "node_id", expiresAt = "expires_at", maxDownloads = "max_downloads" }
}

struct PublicLinkWire: Decodable {
    var id: String
    var nodeID: String
    var ownerAccountID: String?
    var size: Int64?
    var attributes: String?
    var expiresAt: FlexibleDate?
    var downloadsLeft: Int?

    enum CodingKeys: String, CodingKey {
        case id, nodeID = "node_id", ownerAccountID = "owner_account_id", size, attributes
        case expiresAt = "expires_at", downloadsLeft = "downloads_left"
    }
}

extension CoffreClient {
    // MARK: - Owner side

    /// Creates a link to a file of this account. With a password, the key in
    /// the URL is wrapped under it (Argon2id, `LinkFragment.passwordProfile`).
    /// `server` is the public address links are served at (default: this client's).
    public func createLink(_ session: Session, node: RemoteNode, expiresAt: Date? = nil, maxDownloads: Int? = nil,
                           password: String? = nil, server: String? = nil) async throws -> CreatedLink {
        guard !node.isFolder else { throw LinkError.notAFile }
        if let maxDownloads, maxDownloads < 1 { throw CoffreClientError.invalidInput("the download limit must be at least 1") }
        if let password, password.isEmpty { throw CoffreClientError.invalidInput("the link password is empty") }
        let body = CreateLinkBody(nodeID: node.id, expiresAt: expiresAt.map { $0.formatted(.iso8601) }, maxDownloads: maxDownloads)
        let response = try await authorized(session, "POST", "/v1/links", body: Self.encode(body))
        let link = try Self.decode(LinkWire.self, from: response).info()
        guard link.nodeID == node.id else { throw CoffreClientError.invalidResponse("the link created points at another node") }
        let fragment: LinkFragment
        if let password {
            let key = node.key
            fragment = try await Argon2.run { try LinkFragment.protect(key, password: password, linkID: link.id, nodeID: node.id) }
        } else {
            fragment = .plain(node.key)
        }
        var base = server ?? self.server
        while base.hasSuffix("/") { base.removeLast() }
        return CreatedLink(link: link, url: "\(base)/l/\(link.id)#\(fragment.text)")
    }

    public func links(_ session: Session) async throws -> [LinkInfo] {
        try Self.decode(LinksWire.self, from: try await authorized(session, "GET", "/v1/links", body: nil)).links.map { try $0.info() }
    }

    public func revokeLink(_ session: Session, id: String) async throws {
        let id = try Self.normalizedID(id)
        _ = try await authorized(session, "DELETE", "/v1/links/\(id)", body: nil)
    }

    // MARK: - Anyone with the URL (no session; use a client for `url.server`)

    /// Reads what the link points at and opens the key from the fragment
    /// (checking the password, and the key against the file's attributes
    /// when the server names the owner). Claims no download.
    public func openLink(_ url: ShareLinkURL, password: String?) async throws -> OpenedLink {
        let response = try await send("GET", "/v1/links/\(url.id)", body: nil)
        try Self.requireSuccess(response)
        let wire = try Self.decode(PublicLinkWire.self, from: response)
        guard wire.id.lowercased() == url.id, let node = UUID(uuidString: wire.nodeID)?.uuidString.lowercased() else {
            throw CoffreClientError.invalidResponse("the server described another link")
        }
        let fragment = url.fragment
        let key: FileKey
        if fragment.needsPassword {
            guard let password else { throw LinkFragmentError.passwordRequired }
            key = try await Argon2.run { try fragment.open(password: password, linkID: url.id, nodeID: node) }
        } else {
            key = try fragment.open(password: nil, linkID: url.id, nodeID: node)
        }
        var attributes: NodeAttributes?
        if let owner = wire.ownerAccountID.flatMap({ UUID(uuidString: $0)?.uuidString.lowercased() }),
           let sealed = wire.attributes.flatMap({ [UInt8](base64: $0) }) {
            do {
                attributes = try Attributes.open(NodeAttributes.self, from: sealed, fileKey: key, nodeID: node, owner: owner)
            } catch {
                throw LinkError.keyRejected
            }
            if attributes?.kind == .folder { throw LinkError.notAFile }
        }
        var name = attributes?.name
        if let candidate = name, (try? Self.validate(name: candidate)) == nil { name = nil }
        return OpenedLink(id: url.id, nodeID: node, name: name, encryptedSize: wire.size, expiresAt: wire.expiresAt?.date,
                          downloadsLeft: wire.downloadsLeft, key: key, attributes: attributes)
    }

    /// Downloads an opened link's file to `path` (one of the link's
    /// downloads). Written only once all of it authenticated.
    public func download(_ link: OpenedLink, to path: String, overwrite: Bool = false,
                         progress: (@Sendable (TransferProgress) -> Void)? = nil) async throws -> DownloadResult {
        let destination = URL(fileURLWithPath: path).standardizedFileURL.path
        let request = TransportRequest(method: "GET", path: "/v1/links/\(link.id)/content",
                                       headers: ["Accept": "application/octet-stream"])
        return try await receive(request, key: link.key, nodeID: link.nodeID, label: link.name ?? link.id, to: destination,
                                 overwrite: overwrite, total: link.encryptedSize ?? 0, mtime: link.attributes?.mtime,
                                 mtimeIfSize: link.attributes?.size, progress: progress) { request, consume in
            try await self.transport.send(request, streamingTo: consume)
        }
    }
}
