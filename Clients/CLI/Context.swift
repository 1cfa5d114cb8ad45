// Options every command takes, and how a command gets its client and its
// saved session.
import ArgumentParser
import CoffreCrypto
import CoffreSDK
import Foundation

struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Coffre server URL (default: $COFFRE_SERVER, else http://127.0.0.1:8080).", valueName: "url"))
    var server: String?

    @Option(name: .long, help: ArgumentHelp(
        "Tenant slug, for signup and login (default: $COFFRE_TENANT, else chosen by the server).", valueName: "slug"))
    var tenant: String?

    /// INSECURE, for tests and load tools only: Argon2id with 1 pass and 8 MiB
    /// (`PasswordProfile.testing`) for signup, password changes and recovery,
    /// and accepted from the server at login. A password hashed this way can be
    /// brute-forced cheaply.
    @Flag(name: .customLong("light-kdf"), help: ArgumentHelp(
        "INSECURE, tests only: use and accept a very cheap Argon2id profile (1 pass, 8 MiB).",
        visibility: .hidden))
    var lightKDF = false

    static let defaultServer = "http://127.0.0.1:8080"

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The server asked for on the command line or in the environment, if any.
    var requestedServer: String? {
        if let server, !server.isEmpty { return server }
        if let env = environment["COFFRE_SERVER"], !env.isEmpty { return env }
        return nil
    }

    var requestedTenant: String? {
        if let tenant, !tenant.isEmpty { return tenant }
        if let env = environment["COFFRE_TENANT"], !env.isEmpty { return env }
        return nil
    }

    var profile: PasswordProfile { lightKDF ? .testing : .interactive }

    func store() throws -> SessionStore {
        try SessionStore(environment: environment)
    }

    static func serverURL(_ text: String) throws -> URL {
        var text = text.trimmingCharacters(in: .whitespaces)
        while text.hasSuffix("/") { text.removeLast() }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else {
            throw CLIError("\(text) is not an http(s) URL (--server or COFFRE_SERVER)")
        }
        return url
    }

    /// A client for commands that do not need a session (signup, login, recover).
    func client() throws -> CoffreClient {
        CoffreClient(server: try Self.serverURL(requestedServer ?? Self.defaultServer), tenant: requestedTenant,
                     profile: profile)
    }

    /// The saved session and a client for its server and tenant. Rotated
    /// tokens are saved as soon as they arrive.
    func savedSession() throws -> (client: CoffreClient, session: Session, store: SessionStore) {
        let store = try store()
        guard let state = try store.load() else { throw CLIError("not logged in; run `coffre login` first") }
        if let requested = requestedServer, try Self.serverURL(requested).absoluteString != state.server {
            throw CLIError("the saved session is for \(state.server), not \(requested); run `coffre login` for that server")
        }
        let client = CoffreClient(server: try Self.serverURL(state.server), tenant: state.tenant, profile: profile)
        let session = Session(restoring: state)
        return (client, session, store)
    }
}

/// What every file command takes besides the global options.
struct FileOptions: ParsableArguments {
    @Flag(help: "Read the password from stdin (one line), without prompts.") var passwordStdin = false
}

extension GlobalOptions {
    /// The saved session with the account keys unlocked: file commands need
    /// them (names are decrypted here), and only the password opens them.
    /// The saved keys are opened locally; nothing goes to the server for it.
    func unlockedSession(_ options: FileOptions) async throws -> (client: CoffreClient, session: Session, store: SessionStore) {
        let (client, session, store) = try savedSession()
        guard let saved = try store.loadKeys() else {
            throw CLIError("this session was saved without the account's keys; run `coffre login` again to use files")
        }
        await session.persist(to: store)
        let password = try Terminal.password(fromStdin: options.passwordStdin)
        try await client.unlock(session, password: password, saved: saved)
        return (client, session, store)
    }
}

extension SessionStore {
    /// Saves a freshly logged-in session and what unlocks its keys later.
    func saveLoggedIn(_ session: Session) async throws {
        try save(await session.state)
        if let saved = await session.savedKeys { try saveKeys(saved) }
    }
}

extension Session {
    /// Saves every token rotation at once (the old refresh token is dead, and
    /// presenting it again would make the server revoke the session).
    func persist(to store: SessionStore) async {
        await onStateChange { state in
            do {
                try store.save(state)
            } catch {
                Terminal.printError("coffre: warning: could not save the refreshed session: \(error)")
            }
        }
    }
}

enum Display {
    static func date(_ date: Date?) -> String {
        guard let date else { return "-" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.string(from: date)
    }

    static func table(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = (0..<first.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// One line for any error, without stack traces or key material.
enum ErrorMessage {
    /// A session the server ended is of no more use: forget it.
    static func cleanUp(after error: any Error) {
        guard case CoffreClientError.sessionEnded? = error as? CoffreClientError,
              let store = try? SessionStore() else { return }
        try? store.delete()
    }

    static func line(for error: any Error) -> String? {
        switch error {
        case let error as CLIError: return error.message
        case let error as CoffreAPIError: return error.description
        case let error as CoffreClientError:
            if case .sessionEnded = error { return "the session has expired or was revoked; run `coffre login`" }
            if case .keysUnavailable = error { return "this needs the account keys; run `coffre login` again" }
            if case .wrongPassword = error { return "wrong password" }
            return error.description
        case let error as SessionStoreError: return error.description
        case let error as FilesError: return error.description
        case let error as KeyDirectoryError: return error.description
        case let error as ShareError: return error.description
        case let error as LinkError: return error.description
        case let error as LinkFragmentError: return error.description
        case is CancellationError: return "cancelled"
        default: return nil
        }
    }
}

extension GlobalOptions {
    /// Lets the global options come before the subcommand too
    /// (`coffre --server URL login`): moves them right after the subcommand
    /// path, where the leaf command parses them.
    static func hoisted(_ arguments: [String], root: any ParsableCommand.Type) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let token = arguments[index]
            if token == "--server" || token == "--tenant", index + 1 < arguments.count {
                leading += [token, arguments[index + 1]]
                index += 2
            } else if token.hasPrefix("--server=") || token.hasPrefix("--tenant=") || token == "--light-kdf" {
                leading.append(token)
                index += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty else { return arguments }
        var rest = Array(arguments[index...])
        var command = root
        var position = 0
        while position < rest.count,
              let sub = command.configuration.subcommands.first(where: { $0._commandName == rest[position] }) {
            command = sub
            position += 1
        }
        rest.insert(contentsOf: leading, at: position)
        return rest
    }
}
