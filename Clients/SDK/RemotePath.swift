// Paths in the account's tree ("/docs/a.txt"). The server cannot see names,
// so a path is resolved here: list the root, decrypt the names, pick the
// child, list it, and so on. Names compare in Unicode NFC, as they are sealed.
import Foundation

public struct RemotePath: Sendable, Hashable, CustomStringConvertible {
    /// Names from the root down; empty for the root itself.
    public let components: [String]

    /// Parses "/a/b", "a/b/", "/a/./b" alike; ".." goes up (not above the root).
    public init(_ text: String) throws(FilesError) {
        var components: [String] = []
        for part in text.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": _ = components.popLast()
            default:
                do {
                    components.append(try CoffreClient.validate(name: String(part)))
                } catch {
                    throw .invalidPath("\"\(text)\": \(error.description)")
                }
            }
        }
        self.components = components
    }

    public init(components: [String]) {
        self.components = components
    }

    public static let root = RemotePath(components: [])

    public var isRoot: Bool { components.isEmpty }
    /// The last name (nil for the root).
    public var name: String? { components.last }
    /// The folder holding this path (the root for the root).
    public var parent: RemotePath { RemotePath(components: Array(components.dropLast())) }

    public func appending(_ name: String) -> RemotePath {
        RemotePath(components: components + [name])
    }

    public var description: String { "/" + components.joined(separator: "/") }
}

extension CoffreClient {
    /// The node at `path`, or nil for the root. Throws `notFound`,
    /// `notAFolder` (a file on the way) or `ambiguous` (two nodes with one name).
    public func resolve(_ session: Session, path: RemotePath) async throws -> RemoteNode? {
        var current: RemoteNode?
        var walked = RemotePath.root
        for name in path.components {
            if let folder = current, !folder.isFolder { throw FilesError.notAFolder(walked.description) }
            walked = walked.appending(name)
            let listing = try await listFolder(session, folderID: current?.id)
            guard let child = try Self.child(named: name, in: listing, path: walked) else {
                throw FilesError.notFound(walked.description)
            }
            current = child
        }
        return current
    }

    /// The id of the folder at `path` (nil for the root); `notAFolder` for a file.
    public func resolveFolder(_ session: Session, path: RemotePath) async throws -> String? {
        guard let node = try await resolve(session, path: path) else { return nil }
        guard node.isFolder else { throw FilesError.notAFolder(path.description) }
        return node.id
    }

    /// The child of a listing with this name, if any.
    public static func child(named name: String, in listing: NodeListing, path: RemotePath) throws(FilesError) -> RemoteNode? {
        let wanted = name.precomposedStringWithCanonicalMapping
        let matches = listing.nodes.filter { $0.name.precomposedStringWithCanonicalMapping == wanted }
        guard matches.count <= 1 else { throw .ambiguous(path: path.description, ids: matches.map(\.id)) }
        return matches.first
    }
}

extension CoffreClient {
    /// The path of a folder (root for nil), walking up its parents. A folder
    /// on the way that is itself in the trash still counts, by name.
    public func path(ofFolder folderID: String?, in session: Session) async throws -> RemotePath {
        var components: [String] = []
        var next = folderID
        var seen: Set<String> = []
        while let id = next {
            guard seen.insert(id).inserted, seen.count <= 256 else {
                throw CoffreClientError.invalidResponse("the folder tree loops or is deeper than 256 levels")
            }
            let folder = try await node(session, id: id)
            components.insert(folder.name, at: 0)
            next = folder.parentID
        }
        return RemotePath(components: components)
    }
}
