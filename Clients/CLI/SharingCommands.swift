// The key directory and sharing commands: keys, share, shares, accept,
// unshare, link, links, unlink, fetch. Every key used to share comes from
// the directory and is verified first (KeyTrust): the log key is pinned in
// keytrust.json beside the session on first contact (or given with
// --log-key / $COFFRE_LOG_KEY), and every later answer must be consistent
// with what was verified before.
import ArgumentParser
import CoffreCrypto
import CoffreSDK
import Foundation

/// Options of the commands that look up keys.
struct KeyTrustOptions: ParsableArguments {
    @Option(name: .customLong("log-key"), help: ArgumentHelp(
        "The key directory's log verifier key (default: $COFFRE_LOG_KEY, else the key pinned on first use).",
        valueName: "name+id+key"))
    var logKey: String?

    @Option(name: .customLong("max-checkpoint-age"), help: ArgumentHelp(
        "Refuse checkpoints older than this many seconds (default 600).", valueName: "seconds"))
    var maxCheckpointAge: Int?

    func trust(server: String, store: SessionStore) throws -> KeyTrust {
        let env = ProcessInfo.processInfo.environment["COFFRE_LOG_KEY"]
        return try KeyTrust(server: server, fileURL: store.keyTrustURL, logKey: logKey ?? env,
                            maxCheckpointAge: TimeInterval(maxCheckpointAge ?? Int(KeyTrust.defaultMaxCheckpointAge)))
    }
}

extension VerifiedKeys {
    /// The lines `keys`, `share` and `accept` show for a contact.
    func describe(label: String) -> [[String]] {
        [
            [label, accountID],
            ["key version:", "\(version) (log entry \(logIndex), checkpoint of \(checkpointSize) entries, \(Display.date(checkpointTime)))"],
            ["safety code:", safetyCode],
        ]
    }

    /// Said when the keys were never seen, or changed, since the last check.
    func warnIfNew(_ who: String) {
        if firstContact {
            Terminal.printError("coffre: first time seeing the keys of \(who): compare the safety code with them (in person, by phone)")
        } else if changed {
            Terminal.printError("coffre: warning: the keys of \(who) changed since the last check (new version \(version)); "
                + "compare the safety code with them again")
        }
    }
}

struct Keys: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show your keys' safety code, or verify someone's (EMAIL) in the key directory.",
        discussion: """
            The keys are checked against the key directory's transparency log: signed by the pinned log key, \
            included in a fresh checkpoint, consistent with every checkpoint this machine verified before. \
            Read the 60-digit safety code to the other person: if theirs matches, nobody substituted keys. \
            --audit checks every key ever published in your name: a key you did not publish would show there.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var keyTrust: KeyTrustOptions
    @Argument(help: "The email of the account to verify (default: yours).") var email: String?
    @Flag(help: "Check the whole history of your own keys in the log.") var audit = false

    func validate() throws {
        if audit, email != nil { throw ValidationError("--audit checks your own keys; leave out EMAIL") }
    }

    func execute() async throws {
        let (client, session, store) = try global.savedSession()
        await session.persist(to: store)
        let trust = try keyTrust.trust(server: client.server, store: store)
        if let email {
            let keys = try await client.verifiedKeys(session, email: email, trust: trust)
            print(Display.table([["email:", email.lowercased()]] + keys.describe(label: "account:")))
            keys.warnIfNew(email.lowercased())
            return
        }
        guard let saved = try store.loadKeys() else {
            throw CLIError("this session was saved without the account's keys; run `coffre login` again")
        }
        let mine = saved.keyBundle
        if audit {
            let report = try await client.auditOwnKeys(session, x25519: mine.x25519PublicKey, ed25519: mine.ed25519PublicKey,
                                                       trust: trust)
            var rows = [["VERSION", "ACTION", "LOG ENTRY", "KEYS"]]
            for entry in report.entries {
                let keys = entry.action == "revoke" ? "(revoked: \(entry.reason ?? "-"))"
                    : (entry.isCurrent ? "current keys" : "ed25519 \(entry.ed25519 ?? "-")")
                rows.append([String(entry.version), entry.action, String(entry.logIndex), keys])
            }
            print(Display.table(rows))
            print("All \(report.entries.count) entries verified in the log (checkpoint of \(report.checkpointSize) entries, "
                + "\(Display.date(report.checkpointTime))); the latest are this account's keys.")
            return
        }
        let keys = try await client.verifiedKeys(session, account: session.accountID, trust: trust)
        guard keys.x25519 == mine.x25519PublicKey, keys.ed25519 == mine.ed25519PublicKey else {
            throw KeyDirectoryError.substitutedKey(account: session.accountID,
                                                   reason: "the directory publishes other keys in your name than your own")
        }
        print(Display.table([["email:", session.email ?? "-"]] + keys.describe(label: "account:")))
    }
}

struct Share: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Share a file or folder with another account (its key is sealed to theirs).",
        discussion: """
            The recipient's keys are verified in the key directory first; their safety code is shown. \
            A folder is shared with everything in it now (files added later are not).
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @OptionGroup var keyTrust: KeyTrustOptions
    @Argument(help: "The remote file or folder.") var node: String
    @Argument(help: "The recipient's email.") var email: String
    @Option(help: ArgumentHelp("The recipient's tenant (slug), if not yours: both tenants must allow cross-tenant shares.",
                               valueName: "slug")) var recipientTenant: String?

    func execute() async throws {
        let path = try RemotePath(node)
        let (client, session, store) = try await global.unlockedSession(files)
        let trust = try keyTrust.trust(server: client.server, store: store)
        guard let target = try await client.resolve(session, path: path) else { throw CLIError("cannot share the root folder") }
        let recipient = try await client.verifiedKeys(session, email: email, inTenant: recipientTenant, trust: trust)
        recipient.warnIfNew(email.lowercased())
        let share = try await client.share(session, node: target, with: recipient)
        print("Shared \(path) with \(email.lowercased()) (share \(share.id), \(share.parcels.isEmpty ? "" : "\(share.parcels.count) key(s), ")"
            + "\(share.kind.rawValue)).")
        print(Display.table(recipient.describe(label: "recipient:")))
    }
}

struct Shares: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Shares: list them (default), or read an incoming one (ls, get).",
        subcommands: [List.self, Ls.self, Get.self], defaultSubcommand: List.self)

    struct List: CoffreCommand {
        static let configuration = CommandConfiguration(abstract: "List incoming and outgoing shares.")
        @OptionGroup var global: GlobalOptions

        func execute() async throws {
            let (client, session, store) = try global.savedSession()
            await session.persist(to: store)
            let contacts = (try? KeyTrust(server: client.server, fileURL: store.keyTrustURL))
            let incoming = try await client.incomingShares(session)
            let outgoing = try await client.outgoingShares(session)
            var rows = [["SHARE", "", "KIND", "NODE", "WITH", "STATUS", "CREATED"]]
            for (direction, shares) in [("in", incoming), ("out", outgoing)] {
                for share in shares {
                    let other = direction == "in" ? share.ownerAccountID : share.recipientAccountID
                    let email = await contacts?.contact(other)?.email
                    let status = share.revokedAt != nil ? "revoked" : share.acceptedAt != nil ? "accepted" : "pending"
                    rows.append([share.id, direction == "in" ? "<-" : "->", share.kind.rawValue, share.nodeID,
                                 email ?? other, status, Display.date(share.createdAt)])
                }
            }
            if rows.count == 1 { return print("No shares.") }
            print(Display.table(rows))
        }
    }

    struct Ls: CoffreCommand {
        static let configuration = CommandConfiguration(abstract: "List what an incoming share holds.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var files: FileOptions
        @OptionGroup var keyTrust: KeyTrustOptions
        @Argument(help: "The share id.") var share: String
        @Argument(help: "A folder inside the share.") var path: String = "/"
        @Flag(help: "Show node ids.") var ids = false

        func execute() async throws {
            let (client, session, opened) = try await openIncoming(global, files, keyTrust, share)
            let node = try await client.resolveShared(session, share: opened, path: try RemotePath(path))
            guard node.isFolder else { return print(Display.table([Coffre_Ls.row(node, ids: ids)])) }
            let listing = try await client.listShared(session, share: opened, folderID: node.id)
            warn(listing.rejected)
            if !listing.nodes.isEmpty { print(Display.table(listing.nodes.map { Coffre_Ls.row($0, ids: ids) })) }
        }
    }

    struct Get: CoffreCommand {
        static let configuration = CommandConfiguration(abstract: "Download a file of an incoming share.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var files: FileOptions
        @OptionGroup var keyTrust: KeyTrustOptions
        @Argument(help: "The share id.") var share: String
        @Argument(help: "The file inside the share (default: the shared file itself).") var path: String = "/"
        @Option(name: .shortAndLong, help: "Where to write it (default: its name, here).") var output: String?
        @Flag(name: .shortAndLong, help: "Replace the local file if it exists.") var force = false

        func execute() async throws {
            let (client, session, opened) = try await openIncoming(global, files, keyTrust, share)
            let node = try await client.resolveShared(session, share: opened, path: try RemotePath(path))
            guard !node.isFolder else { throw FilesError.notAFile(node.name) }
            let destination = localDestination(output, name: node.name)
            let bar = ProgressBar(label: node.name)
            let result: DownloadResult
            do {
                result = try await client.download(session, node: node, to: destination, overwrite: force, progress: bar.update)
            } catch {
                bar.abandon()
                throw error
            }
            bar.finish("Downloaded \(node.name) to \(result.path) (\(Units.bytes(result.plaintextSize)))")
        }
    }
}

/// `Ls` of FileCommands, under a name the nested `Shares.Ls` does not shadow.
typealias Coffre_Ls = Ls

/// A share addressed to this account, opened (parcels verified with the owner's directory keys).
private func openIncoming(_ global: GlobalOptions, _ files: FileOptions, _ keyTrust: KeyTrustOptions,
                          _ id: String) async throws -> (CoffreClient, Session, OpenedShare) {
    let (client, session, store) = try await global.unlockedSession(files)
    let trust = try keyTrust.trust(server: client.server, store: store)
    let share = try await client.share(session, id: id)
    let opened = try await client.openShare(session, share: share, trust: trust)
    return (client, session, opened)
}

/// `output` if given (a folder means "in it"), else the name here.
private func localDestination(_ output: String?, name: String) -> String {
    var destination = output ?? name
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory), isDirectory.boolValue {
        destination = URL(fileURLWithPath: destination).appendingPathComponent(name).path
    }
    return destination
}

struct Accept: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accept an incoming share, after checking it opens with the sender's verified keys.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @OptionGroup var keyTrust: KeyTrustOptions
    @Argument(help: "The share id (from `coffre shares`).") var share: String

    func execute() async throws {
        let (client, session, opened) = try await openIncoming(global, files, keyTrust, share)
        try await client.acceptShare(session, id: opened.share.id)
        let from = await (try? KeyTrust(server: client.server, fileURL: try global.store().keyTrustURL))?
            .contact(opened.owner.accountID)?.email ?? opened.owner.accountID
        opened.owner.warnIfNew(from)
        print("Accepted \(opened.share.kind.rawValue) \"\(opened.root.name)\" from \(from) "
            + "(\(opened.nodeCount) key(s) verified). Read it with `coffre shares ls \(opened.share.id)`.")
        print(Display.table(opened.owner.describe(label: "sender:")))
    }
}

struct Unshare: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke a share you made (or decline one made to you).",
        discussion: "New downloads stop; a copy the recipient already downloaded cannot be taken back.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The share id (from `coffre shares`).") var share: String

    func execute() async throws {
        let (client, session, store) = try global.savedSession()
        await session.persist(to: store)
        try await client.revokeShare(session, id: share)
        print("Share \(share.lowercased()) revoked.")
    }
}

struct Link: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a link anyone can download a file with.",
        discussion: """
            The file's key is only in the link, after #, which is never sent to the server. With --password \
            the key in the link is locked with a password (asked for, or the second line of stdin with \
            --password-stdin); share the password another way.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var files: FileOptions
    @Argument(help: "The remote file.") var node: String
    @Option(help: ArgumentHelp("When it stops working: a duration (30m, 12h, 7d) or an RFC 3339 date.", valueName: "when"))
    var expires: String?
    @Option(help: "How many downloads it allows.") var maxDownloads: Int?
    @Flag(help: "Protect the link with a password.") var password = false

    func execute() async throws {
        let path = try RemotePath(node)
        let expiry = try expires.map(Self.parseExpiry)
        let (client, session, _) = try await global.unlockedSession(files)
        let linkPassword = password ? try Terminal.newPassword(prompt: "Link password: ", fromStdin: files.passwordStdin) : nil
        guard let target = try await client.resolve(session, path: path), !target.isFolder else {
            throw FilesError.notAFile(path.description)
        }
        let created = try await client.createLink(session, node: target, expiresAt: expiry, maxDownloads: maxDownloads,
                                                  password: linkPassword)
        print(created.url)
        var details = ["link \(created.link.id)"]
        if let expiry = created.link.expiresAt ?? expiry { details.append("expires \(Display.date(expiry))") }
        if let max = created.link.maxDownloads { details.append("\(max) download(s)") }
        if linkPassword != nil { details.append("password-protected") }
        Terminal.printError(details.joined(separator: ", "))
    }

    static func parseExpiry(_ text: String) throws -> Date {
        let text = text.trimmingCharacters(in: .whitespaces)
        if let unit = text.last, let amount = Int(text.dropLast()), amount > 0 {
            let seconds: Int? = switch unit {
            case "s": amount
            case "m": amount * 60
            case "h": amount * 3600
            case "d": amount * 86400
            default: nil
            }
            if let seconds { return Date().addingTimeInterval(TimeInterval(seconds)) }
        }
        if let date = try? Date(text, strategy: .iso8601), date > Date() { return date }
        throw CLIError("--expires: \"\(text)\" is not a duration (30m, 12h, 7d) or a future RFC 3339 date")
    }
}

struct Links: CoffreCommand {
    static let configuration = CommandConfiguration(abstract: "List your links (their keys are not kept: only the URL had them).")
    @OptionGroup var global: GlobalOptions

    func execute() async throws {
        let (client, session, store) = try global.savedSession()
        await session.persist(to: store)
        let links = try await client.links(session)
        guard !links.isEmpty else { return print("No links.") }
        var rows = [["LINK", "NODE", "DOWNLOADS", "EXPIRES", "STATUS"]]
        for link in links {
            let status = link.revokedAt != nil ? "revoked"
                : (link.expiresAt.map { $0 < Date() } ?? false) ? "expired"
                : (link.maxDownloads.map { link.downloads >= $0 } ?? false) ? "used up" : "active"
            rows.append([link.id, link.nodeID, "\(link.downloads)" + (link.maxDownloads.map { "/\($0)" } ?? ""),
                         Display.date(link.expiresAt), status])
        }
        print(Display.table(rows))
    }
}

struct Unlink: CoffreCommand {
    static let configuration = CommandConfiguration(abstract: "Revoke a link: it stops working at once.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The link id (from `coffre links`, or the id in its URL).") var link: String

    func execute() async throws {
        let (client, session, store) = try global.savedSession()
        await session.persist(to: store)
        let id = (try? ShareLinkURL(parsing: link).id) ?? link
        try await client.revokeLink(session, id: id)
        print("Link \(id.lowercased()) revoked.")
    }
}

struct Fetch: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a file from a link (no account needed).",
        discussion: "Quote the URL: the shell treats # as a comment otherwise. The server is the link's own (--server is ignored).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The link, with its #key part.") var url: String
    @Option(name: .shortAndLong, help: "Where to write it (default: its name, here).") var output: String?
    @Flag(name: .shortAndLong, help: "Replace the local file if it exists.") var force = false
    @Flag(help: "Read the link password from stdin (one line), without prompts.") var passwordStdin = false

    func execute() async throws {
        let link = try ShareLinkURL(parsing: url)
        let client = CoffreClient(server: try GlobalOptions.serverURL(link.server), tenant: nil)
        var password: String?
        if link.fragment.needsPassword {
            password = try Terminal.password(prompt: "Link password: ", fromStdin: passwordStdin)
        }
        let opened = try await client.openLink(link, password: password)
        let name = opened.name ?? "coffre-\(link.id.prefix(8))"
        let destination = localDestination(output, name: name)
        let bar = ProgressBar(label: name)
        let result: DownloadResult
        do {
            result = try await client.download(opened, to: destination, overwrite: force, progress: bar.update)
        } catch {
            bar.abandon()
            throw error
        }
        bar.finish("Downloaded \(name) to \(result.path) (\(Units.bytes(result.plaintextSize)))")
    }
}
