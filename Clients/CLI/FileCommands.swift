// The file commands: put, get, ls, mkdir, mv, rm, trash, restore, versions.
// Paths are remote paths ("/docs/a.txt"); every name is decrypted here, so
// each command first unlocks the account keys with the password.
import ArgumentParser
import CoffreCrypto
import CoffreSDK
import Foundation

struct Put: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload a file, encrypted on this machine, into a folder.",
        discussion: """
            A file of the same name in the folder gets a new version. If an upload is interrupted, \
            running the same command again resumes it where the server stopped.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @Argument(help: "The local file.") var file: String
    @Argument(help: "The remote folder.") var folder: String = "/"
    @Option(help: "The name to give it (default: the local file's name).") var name: String?

    func execute() async throws {
        _ = try SourceFingerprint.of(path: file)  // before asking for the password
        let destination = try RemotePath(folder)
        let (client, session, store) = try await global.unlockedSession(files)
        let folderID = try await client.resolveFolder(session, path: destination)
        let label = name ?? URL(fileURLWithPath: file).lastPathComponent
        let bar = ProgressBar(label: label)
        let result: UploadResult
        do {
            result = try await client.upload(session, file: file, toFolder: folderID, name: name,
                                             options: UploadOptions(resumeStore: UploadResumeStore(sessionStore: store)),
                                             progress: bar.update)
        } catch {
            bar.abandon()
            throw error
        }
        let sent = result.encryptedSize - result.resumedFrom
        let seconds = bar.elapsed.seconds
        var summary = "Uploaded \(destination.appending(result.name)) (\(Units.bytes(result.plaintextSize))"
            + (result.isNewVersion ? ", new version" : "") + ")"
        summary += ": \(Units.bytes(sent)) sent in \(Units.duration(bar.elapsed))"
        if seconds > 0 { summary += " (\(Units.bytes(Int64(Double(sent) / seconds)))/s)" }
        if result.resumedFrom > 0 { summary += ", resumed at \(Units.bytes(result.resumedFrom))" }
        bar.finish(summary)
    }
}

struct Get: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download and decrypt a file.",
        discussion: "The file is written only once all of it has been checked; damaged or altered content is never kept.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @Argument(help: "The remote file.") var remote: String
    @Argument(help: "Where to write it: a file, or a folder to put it in (default: its name, here).") var local: String?
    @Option(help: "Download this version (an id, or a unique prefix of one, from `coffre versions`).") var version: String?
    @Flag(name: .shortAndLong, help: "Replace the local file if it exists.") var force = false

    func execute() async throws {
        let path = try RemotePath(remote)
        let (client, session, _) = try await global.unlockedSession(files)
        guard let node = try await client.resolve(session, path: path) else { throw FilesError.notAFile("/") }
        guard !node.isFolder else { throw FilesError.notAFile(path.description) }
        var destination = local ?? node.name
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory), isDirectory.boolValue {
            destination = URL(fileURLWithPath: destination).appendingPathComponent(node.name).path
        }
        var versionID: String?
        if let version { versionID = try await Versions.find(version, of: node, client: client, session: session).id }
        let bar = ProgressBar(label: node.name)
        let result: DownloadResult
        do {
            result = try await client.download(session, node: node, to: destination, versionID: versionID,
                                               overwrite: force, progress: bar.update)
        } catch {
            bar.abandon()
            throw error
        }
        let seconds = bar.elapsed.seconds
        var summary = "Downloaded \(path) to \(result.path) (\(Units.bytes(result.plaintextSize))) in \(Units.duration(bar.elapsed))"
        if seconds > 0 { summary += " (\(Units.bytes(Int64(Double(result.encryptedSize) / seconds)))/s)" }
        bar.finish(summary)
    }
}

struct Ls: CoffreCommand {
    static let configuration = CommandConfiguration(abstract: "List a folder (names are decrypted here).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @Argument(help: "The remote folder.") var folder: String = "/"
    @Flag(help: "Show node ids.") var ids = false

    func execute() async throws {
        let path = try RemotePath(folder)
        let (client, session, _) = try await global.unlockedSession(files)
        let target = try await client.resolve(session, path: path)
        if let target, !target.isFolder {
            print(Display.table([Self.row(target, ids: ids)]))
            return
        }
        let listing = try await client.listFolder(session, folderID: target?.id)
        warn(listing.rejected)
        if !listing.nodes.isEmpty { print(Display.table(listing.nodes.map { Self.row($0, ids: ids) })) }
    }

    /// Kind, size, date (modified, unless given), name; the id first with --ids.
    static func row(_ node: RemoteNode, ids: Bool, date: Date?? = .none) -> [String] {
        let row = [node.isFolder ? "d" : "-", node.isFolder ? "-" : node.size.map(Units.bytes) ?? "?",
                   Display.date(date ?? node.modified), node.isFolder ? node.name + "/" : node.name]
        return ids ? [node.id] + row : row
    }
}

/// Nodes the server sent that did not open: said once each, never shown by name.
func warn(_ rejected: [FilesError]) {
    for error in rejected { Terminal.printError("coffre: warning: \(error.description)") }
}

struct Mkdir: CoffreCommand {
    static let configuration = CommandConfiguration(abstract: "Create a folder.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @Argument(help: "The folder to create, e.g. /docs/2024.") var path: String
    @Flag(name: .shortAndLong, help: "Create missing parent folders too; no error if it exists.") var parents = false

    func execute() async throws {
        let target = try RemotePath(path)
        guard !target.isRoot else { throw FilesError.alreadyExists("/") }
        let (client, session, _) = try await global.unlockedSession(files)
        var folderID: String?
        var walked = RemotePath.root
        for (index, name) in target.components.enumerated() {
            walked = walked.appending(name)
            let last = index == target.components.count - 1
            let listing = try await client.listFolder(session, folderID: folderID)
            if let existing = try CoffreClient.child(named: name, in: listing, path: walked) {
                guard existing.isFolder else { throw FilesError.notAFolder(walked.description) }
                if last, !parents { throw FilesError.alreadyExists(walked.description) }
                folderID = existing.id
                continue
            }
            guard last || parents else { throw FilesError.notFound(walked.description) }
            folderID = try await client.createFolder(session, name: name, parentID: folderID).id
            print("Created \(walked)")
        }
    }
}

struct Mv: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move or rename a file or folder.",
        discussion: "Into DESTINATION if it is a folder; otherwise DESTINATION is the new path (its folder must exist).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @Argument(help: "What to move.") var source: String
    @Argument(help: "A folder to move it into, or its new path.") var destination: String

    func execute() async throws {
        let from = try RemotePath(source)
        let to = try RemotePath(destination)
        guard !from.isRoot else { throw CLIError("cannot move the root folder") }
        let (client, session, _) = try await global.unlockedSession(files)
        guard let node = try await client.resolve(session, path: from) else { throw CLIError("cannot move the root folder") }

        // Into an existing folder, or to a new path whose folder exists.
        var folderID: String?
        var newName = node.name
        var finalPath: RemotePath
        do {
            let target = try await client.resolve(session, path: to)
            guard target?.isFolder ?? true else { throw FilesError.alreadyExists(to.description) }
            folderID = target?.id
            finalPath = to.appending(node.name)
        } catch FilesError.notFound(let missing) where missing == to.description {
            folderID = try await client.resolveFolder(session, path: to.parent)
            newName = to.name!
            finalPath = to
        }
        if folderID == node.id { throw CLIError("cannot move \(from) into itself") }
        let listing = try await client.listFolder(session, folderID: folderID)
        if let clash = try CoffreClient.child(named: newName, in: listing, path: finalPath), clash.id != node.id {
            throw FilesError.alreadyExists(finalPath.description)
        }
        if folderID == node.parentID {
            guard newName != node.name else { return print("\(from) is already \(finalPath)") }
            _ = try await client.rename(session, node: node, to: newName)
        } else {
            _ = try await client.move(session, node: node, intoFolder: folderID, newName: newName == node.name ? nil : newName)
        }
        print("Moved \(from) to \(finalPath)")
    }
}

struct Rm: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move files or folders to the trash (see `coffre trash` and `coffre restore`).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @Argument(help: "What to move to the trash.") var paths: [String]

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("give at least one path") }
    }

    func execute() async throws {
        let targets = try paths.map { try RemotePath($0) }
        let (client, session, _) = try await global.unlockedSession(files)
        for path in targets {
            guard let node = try await client.resolve(session, path: path) else { throw CLIError("cannot remove the root folder") }
            try await client.trash(session, id: node.id)
            print("Moved \(path) to the trash")
        }
    }
}

struct Trash: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the trash, or delete something in it for good (--purge).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @Option(help: ArgumentHelp("Delete this trashed node and everything in it for good: its original path, name or id.",
                               valueName: "path-or-id"))
    var purge: String?
    @Flag(help: "Show node ids.") var ids = false

    func execute() async throws {
        let (client, session, _) = try await global.unlockedSession(files)
        let trash = try await client.listTrash(session)
        warn(trash.rejected)
        if let purge {
            let node = try await Restore.find(purge, in: trash, client: client, session: session)
            try await client.purge(session, id: node.id)
            print("Deleted \(node.name) for good")
            return
        }
        var rows: [[String]] = []
        for node in trash.nodes {
            let from = (try? await client.path(ofFolder: node.parentID, in: session))?.description ?? "?"
            rows.append(Ls.row(node, ids: ids, date: .some(node.trashedAt)) + ["(from \(from))"])
        }
        if !rows.isEmpty { print(Display.table(rows)) }
    }
}

struct Restore: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a trashed file or folder back where it was (or in the root if that folder is gone).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @Argument(help: ArgumentHelp("The node's path before it was trashed, its name, or its id (`coffre trash --ids`).",
                                 valueName: "path-or-id"))
    var target: String

    func execute() async throws {
        let (client, session, _) = try await global.unlockedSession(files)
        let trash = try await client.listTrash(session)
        warn(trash.rejected)
        let node = try await Self.find(target, in: trash, client: client, session: session)
        let restored = try await client.restore(session, id: node.id)
        let folder = (try? await client.path(ofFolder: restored.parentID, in: session)) ?? .root
        print("Restored \(folder.appending(restored.name))")
    }

    /// A trashed node by id, by its path before it was trashed, or by name.
    static func find(_ target: String, in trash: NodeListing, client: CoffreClient, session: Session) async throws -> RemoteNode {
        if let uuid = UUID(uuidString: target) {
            let id = uuid.uuidString.lowercased()
            guard let node = trash.nodes.first(where: { $0.id == id }) else { throw FilesError.notFound("\(id) in the trash") }
            return node
        }
        let path = try RemotePath(target)
        guard let name = path.name else { throw FilesError.notFound("/ in the trash") }
        var matches = trash.nodes.filter { $0.name.precomposedStringWithCanonicalMapping == name }
        if target.contains("/") {
            // A path: the node must have been trashed from that folder.
            var kept: [RemoteNode] = []
            for node in matches where (try? await client.path(ofFolder: node.parentID, in: session)) == path.parent {
                kept.append(node)
            }
            matches = kept
        }
        guard !matches.isEmpty else { throw FilesError.notFound("\(target) in the trash") }
        guard matches.count == 1 else { throw FilesError.ambiguous(path: target, ids: matches.map(\.id)) }
        return matches[0]
    }
}

struct Versions: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a file's versions, make an older one current (--restore), or delete one (--purge).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @Argument(help: "The remote file.") var path: String
    @Option(help: ArgumentHelp("Make this version current (the current one is kept).", valueName: "id")) var restore: String?
    @Option(help: ArgumentHelp("Delete this version for good (not the current one).", valueName: "id")) var purge: String?

    func validate() throws {
        if restore != nil, purge != nil { throw ValidationError("--restore and --purge do not go together") }
    }

    func execute() async throws {
        let remote = try RemotePath(path)
        let (client, session, _) = try await global.unlockedSession(files)
        guard let node = try await client.resolve(session, path: remote), !node.isFolder else {
            throw FilesError.notAFile(remote.description)
        }
        if let restore {
            let version = try await Self.find(restore, of: node, client: client, session: session)
            try await client.restoreVersion(session, nodeID: node.id, versionID: version.id)
            print("Version \(version.id) of \(remote) is now current")
            return
        }
        if let purge {
            let version = try await Self.find(purge, of: node, client: client, session: session)
            try await client.purgeVersion(session, nodeID: node.id, versionID: version.id)
            print("Deleted version \(version.id) of \(remote)")
            return
        }
        let versions = try await client.versions(session, nodeID: node.id)
        var rows = [["", "VERSION", "SIZE", "CREATED"]]
        for version in versions {
            rows.append([version.isCurrent ? "*" : "", version.id, version.size.map(Units.bytes) ?? "?",
                         Display.date(version.createdAt)])
        }
        print(Display.table(rows))
    }

    /// A version by id or by a unique prefix of its id (at least 4 characters).
    static func find(_ text: String, of node: RemoteNode, client: CoffreClient, session: Session) async throws -> FileVersion {
        let wanted = text.lowercased().trimmingCharacters(in: .whitespaces)
        let versions = try await client.versions(session, nodeID: node.id)
        let matches = versions.filter { $0.id == wanted || (wanted.count >= 4 && $0.id.hasPrefix(wanted)) }
        guard !matches.isEmpty else { throw FilesError.notFound("version \(text) of \(node.name)") }
        guard matches.count == 1 else { throw FilesError.ambiguous(path: "version \(text)", ids: matches.map(\.id)) }
        return matches[0]
    }
}
