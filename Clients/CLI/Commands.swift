// The `coffre` subcommands.
import ArgumentParser
import CoffreCrypto
import CoffreSDK
import Foundation

struct Coffre: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coffre",
        abstract: "Coffre: zero-knowledge encrypted storage. Your password and keys never leave this machine.",
        discussion: """
            The session is saved in $XDG_CONFIG_HOME/coffre/session.json (else ~/.config/coffre/session.json), \
            mode 0600. It holds tokens and ids only, never the password or a key. Beside it, keys.json \
            keeps the account's keys as the server stores them (sealed under the password) with the password's \
            salt, and uploads/ the state of unfinished uploads (keys in it are sealed too).
            File commands (put, get, ls, …) ask for the password each time: it unlocks the keys on this machine.
            keytrust.json, beside the session, pins the key directory's log key (on first use, or as given with \
            --log-key or $COFFRE_LOG_KEY) and remembers the last verified checkpoint and each contact's key \
            version: keys, share and accept refuse a directory whose answers contradict it.
            Passwords are read without echo on a terminal, or one per line from stdin otherwise \
            (or with --password-stdin).
            """,
        subcommands: [Signup.self, Login.self, Whoami.self, Quota.self, Sessions.self, Logout.self, Passwd.self, TwoFactor.self,
                      Recover.self, DeleteAccount.self,
                      Put.self, Get.self, Ls.self, Mkdir.self, Mv.self, Rm.self, Trash.self, Restore.self, Versions.self,
                      Keys.self, Share.self, Shares.self, Accept.self, Unshare.self, Link.self, Links.self, Unlink.self, Fetch.self]
    )
}

struct Signup: CoffreCommand {
    static let configuration = CommandConfiguration(abstract: "Create an account and log in.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Email address (asked if omitted).") var email: String?
    @Flag(help: "Read the password from stdin (one line), without prompts.") var passwordStdin = false
    @Option(help: "A name for this device in `coffre sessions`.") var deviceName: String?

    func execute() async throws {
        let client = try global.client()
        let store = try global.store()
        let email = try self.email ?? Terminal.readLine(prompt: "Email: ", what: "email", interactive: !passwordStdin && Terminal.stdinIsTerminal)
        let password = try Terminal.newPassword(prompt: "Choose a password: ", fromStdin: passwordStdin)
        if Terminal.stdinIsTerminal, !passwordStdin { Terminal.printError("Deriving keys…") }
        let result = try await client.signup(email: email, password: password, deviceName: deviceName ?? Terminal.hostName)

        print("Account created: \(result.accountID)")
        print("")
        print("RECOVERY KEY (shown only this once):")
        print("")
        print("Recovery key: \(result.recoveryKey)")
        print("")
        print("Write it down and keep it somewhere safe. It is the only way back into your files if you")
        print("forget your password: Coffre never sees it and cannot recover your data without it.")
        if let session = result.session {
            try await store.saveLoggedIn(session)
            print("Logged in as \(session.email ?? email).")
        } else if let error = result.loginError {
            Terminal.printError("coffre: the account was created, but logging in failed: "
                + (ErrorMessage.line(for: error) ?? "\(error)") + "; run `coffre login`")
        }
    }
}

struct Login: CoffreCommand {
    static let configuration = CommandConfiguration(abstract: "Log in and save the session.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Email address (asked if omitted).") var email: String?
    @Flag(help: "Read the password from stdin (one line), without prompts.") var passwordStdin = false
    @Option(help: "The current two-factor code, if two-factor authentication is on.") var totp: String?
    @Option(help: "A name for this device in `coffre sessions`.") var deviceName: String?

    func execute() async throws {
        let client = try global.client()
        let store = try global.store()
        let interactive = !passwordStdin && Terminal.stdinIsTerminal
        let email = try self.email ?? Terminal.readLine(prompt: "Email: ", what: "email", interactive: interactive)
        let password = try Terminal.password(fromStdin: passwordStdin)
        let credentials = try await client.deriveCredentials(email: email, password: password)
        let session = try await withTOTPRetry(initial: totp, interactive: interactive) { code in
            try await client.login(credentials: credentials, totpCode: code, deviceName: deviceName ?? Terminal.hostName)
        }
        // Give back the previous session of this machine, if any (best effort).
        if let previous = try? store.load(), previous.server == client.server, previous.sessionID != session.sessionID {
            let old = Session(restoring: previous)
            let oldClient = CoffreClient(server: try GlobalOptions.serverURL(previous.server), tenant: previous.tenant)
            try? await oldClient.logout(old)
        }
        try await store.saveLoggedIn(session)
        print("Logged in as \(session.email ?? email) (account \(session.accountID)).")
    }
}

/// Runs `body`, and on "two-factor code required" asks for a code (on a
/// terminal, up to three times) and runs it again.
func withTOTPRetry<T>(initial: String?, interactive: Bool, _ body: (String?) async throws -> T) async throws -> T {
    do {
        return try await body(initial)
    } catch let error as CoffreAPIError where error.isTOTPRequired {
        guard interactive else {
            throw CLIError(initial == nil ? "a two-factor code is required (--totp CODE)" : "wrong two-factor code")
        }
        if initial != nil { Terminal.printError("Wrong code; try again.") }
        for attempt in 1...3 {
            let code = try Terminal.readLine(prompt: "Two-factor code: ", what: "two-factor code")
            do {
                return try await body(code)
            } catch let retry as CoffreAPIError where retry.isTOTPRequired {
                if attempt < 3 { Terminal.printError("Wrong code; try again.") }
            }
        }
        throw CLIError("wrong two-factor code")
    }
}

/// "wrong email or password" reads oddly when the email is not in question.
func renamingWrongPassword<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as CoffreAPIError where error.isInvalidCredentials {
        throw CLIError(what)
    }
}

struct Whoami: CoffreCommand {
    static let configuration = CommandConfiguration(abstract: "Show the logged-in account.")

    @OptionGroup var global: GlobalOptions

    func execute() async throws {
        let (client, session, store) = try global.savedSession()
        await session.persist(to: store)
        let me = try await client.whoami(session)
        print(Display.table([
            ["email:", me.email],
            ["account:", me.accountID],
            ["tenant:", me.tenantID],
            ["session:", session.sessionID],
            ["server:", client.server],
            ["created:", Display.date(me.createdAt)],
            ["two-factor:", me.totpEnabled ? "on" : "off"],
            ["x25519:", me.publicKeys.x25519],
            ["ed25519:", me.publicKeys.ed25519],
            ["safety code:", me.safetyCode ?? "-"],
        ]))
        if !me.selfSignatureValid {
            Terminal.printError("coffre: warning: the server returned public keys without a valid self-signature")
        }
    }
}

struct Quota: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the account's storage and transfer usage.",
        discussion: """
            Sizes are of the encrypted files, as the server stores them (a little more than the files themselves). \
            Reserved is held for uploads in progress. Downloads count against the transfer allowance over a \
            rolling window; once it is used up they are refused until the window resets.
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print the server's answer as JSON (exact byte counts).") var json = false

    func execute() async throws {
        let (client, session, store) = try global.savedSession()
        await session.persist(to: store)
        let usage = try await client.quota(session)
        if json {
            print(usage.json)
            return
        }
        print(Self.render(usage))
    }

    static func render(_ usage: QuotaUsage, now: Date = Date()) -> String {
        let transfer = usage.transfer
        var rows = [
            ["used:", Self.size(usage.usedBytes)],
            ["reserved:", Self.size(usage.reservedBytes)],
            ["limit:", Self.size(usage.limitBytes) + (usage.storageOverride ? " (set by the operator)" : "")],
            ["available:", Self.size(usage.availableBytes)],
            ["transfer used:", Self.size(transfer.usedBytes) + " of " + Self.size(transfer.allowanceBytes)
                + " per " + Self.window(transfer.windowSeconds)],
            ["window reset:", transfer.windowReset.map { Display.date($0) + " (" + Self.until($0, now: now) + ")" } ?? "-"],
        ]
        if transfer.exhausted { rows.append(["downloads:", "paused until the window resets (transfer allowance used up)"]) }
        if usage.closed { rows.append(["account:", "closed"]) }
        return Display.table(rows)
    }

    /// "12.3 KiB (12600 bytes)"; under 1 KiB, just "512 B".
    static func size(_ bytes: Int64) -> String {
        bytes < 1024 ? Units.bytes(bytes) : "\(Units.bytes(bytes)) (\(bytes) bytes)"
    }

    /// "6 h", "90 min", "45 s".
    static func window(_ seconds: Int64) -> String {
        if seconds % 3600 == 0 { return "\(seconds / 3600) h" }
        if seconds % 60 == 0 { return "\(seconds / 60) min" }
        return "\(seconds) s"
    }

    /// "in 2 h 05 min", "in 40 s", "now".
    static func until(_ date: Date, now: Date) -> String {
        let seconds = Int(date.timeIntervalSince(now).rounded(.up))
        guard seconds > 0 else { return "now" }
        if seconds < 60 { return "in \(seconds) s" }
        let minutes = (seconds + 59) / 60
        if minutes < 60 { return "in \(minutes) min" }
        return String(format: "in %d h %02d min", minutes / 60, minutes % 60)
    }
}

struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the account's active sessions, or revoke one.",
        subcommands: [List.self, Revoke.self], defaultSubcommand: List.self)

    struct List: CoffreCommand {
        static let configuration = CommandConfiguration(abstract: "List active sessions (the default).")
        @OptionGroup var global: GlobalOptions

        func execute() async throws {
            let (client, session, store) = try global.savedSession()
            await session.persist(to: store)
            let sessions = try await client.sessions(session)
            var rows = [["", "SESSION", "DEVICE", "CREATED", "LAST USED"]]
            for item in sessions {
                rows.append([item.current ? "*" : "", item.sessionID, item.deviceName ?? "-",
                             Display.date(item.createdAt), Display.date(item.lastUsedAt)])
            }
            print(Display.table(rows))
        }
    }

    struct Revoke: CoffreCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a session (sign that device out).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The session id, from `coffre sessions`.") var id: String

        func execute() async throws {
            let (client, session, store) = try global.savedSession()
            await session.persist(to: store)
            try await client.revokeSession(session, id: id)
            if await session.isEnded {
                try store.delete()
                print("Revoked this session; you are logged out.")
            } else {
                print("Revoked session \(id.lowercased()).")
            }
        }
    }
}

struct Logout: CoffreCommand {
    static let configuration = CommandConfiguration(abstract: "Log out: revoke the session and forget it.")
    @OptionGroup var global: GlobalOptions

    func execute() async throws {
        let store = try global.store()
        guard try store.load() != nil else {
            print("Not logged in.")
            return
        }
        let (client, session, _) = try global.savedSession()
        await session.persist(to: store)
        do {
            try await client.logout(session)
        } catch {
            // The local session goes anyway; say the server may still hold it.
            try store.delete()
            throw CLIError("logged out locally, but the server could not be told: "
                + (ErrorMessage.line(for: error) ?? "\(error)"))
        }
        try store.delete()
        print("Logged out.")
    }
}

struct Passwd: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change the password. Other sessions are signed out; the recovery key keeps working.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Read the current and the new password from stdin (two lines), without prompts.") var passwordStdin = false
    @Option(help: "The current two-factor code, if two-factor authentication is on.") var totp: String?

    func execute() async throws {
        let (client, saved, store) = try global.savedSession()
        await saved.persist(to: store)
        let email: String
        if let known = saved.email { email = known } else { email = try await client.whoami(saved).email }
        let interactive = !passwordStdin && Terminal.stdinIsTerminal
        let current = try Terminal.password(prompt: "Current password: ", fromStdin: passwordStdin)
        let new = try Terminal.newPassword(prompt: "New password: ", fromStdin: passwordStdin)
        let credentials = try await client.deriveCredentials(email: email, password: current)
        // A fresh login gives this process the key bundle to re-wrap; the old
        // saved session is one of the "other sessions" the server revokes.
        let session = try await renamingWrongPassword("the current password is wrong") {
            try await withTOTPRetry(initial: totp, interactive: interactive) { code in
                try await client.changePassword(credentials: credentials, new: new, totpCode: code,
                                                deviceName: Terminal.hostName)
            }
        }
        try await store.saveLoggedIn(session)
        print("Password changed. Other sessions were signed out.")
    }
}

struct TwoFactor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "2fa", abstract: "Two-factor authentication (TOTP).", subcommands: [Enable.self, Confirm.self])

    struct Enable: CoffreCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn on two-factor authentication: shows a secret for an authenticator app, then asks for a code.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Confirm with this code instead of asking.") var code: String?
        @Flag(help: "Only show the secret; confirm later with `coffre 2fa confirm CODE`.") var noConfirm = false

        func execute() async throws {
            let (client, session, store) = try global.savedSession()
            await session.persist(to: store)
            let enrollment = try await client.enableTOTP(session)
            print("Secret:      \(enrollment.secret)")
            print("otpauth URI: \(enrollment.otpauthURI)")
            print("Add it to an authenticator app (type the secret or make a QR code of the URI).")
            if noConfirm {
                print("Two-factor authentication stays off until confirmed: coffre 2fa confirm CODE")
                return
            }
            let code = try self.code ?? Terminal.readLine(prompt: "Code from the app: ", what: "two-factor code")
            try await confirm(client, session, code)
            print("Two-factor authentication is on. Logins now need a code.")
        }
    }

    struct Confirm: CoffreCommand {
        static let configuration = CommandConfiguration(abstract: "Confirm a pending `2fa enable` with a code.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The 6-digit code from the authenticator app.") var code: String

        func execute() async throws {
            let (client, session, store) = try global.savedSession()
            await session.persist(to: store)
            try await confirm(client, session, code)
            print("Two-factor authentication is on. Logins now need a code.")
        }
    }
}

/// Confirms TOTP enrolment; a refused code is the likely 400.
private func confirm(_ client: CoffreClient, _ session: Session, _ code: String) async throws {
    do {
        try await client.confirmTOTP(session, code: code)
    } catch let error as CoffreAPIError where error.status == 400 {
        throw CLIError("the code was not accepted\(error.detail.map { " (\($0))" } ?? ""); "
            + "two-factor authentication is still off (retry with `coffre 2fa confirm CODE`)")
    }
}

struct Recover: CoffreCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set a new password with the recovery key. Every session is signed out.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Email address (asked if omitted).") var email: String?
    @Flag(help: "Read the recovery key and the new password from stdin (two lines), without prompts.")
    var passwordStdin = false

    func execute() async throws {
        let client = try global.client()
        let interactive = !passwordStdin && Terminal.stdinIsTerminal
        let email = try self.email ?? Terminal.readLine(prompt: "Email: ", what: "email", interactive: interactive)
        var recoveryKey = ""
        for attempt in 1...3 {
            recoveryKey = try Terminal.readSecret(prompt: "Recovery key: ", what: "recovery key", interactive: interactive)
            do {
                try CoffreClient.checkRecoveryKey(recoveryKey)
                break
            } catch {
                let message = ErrorMessage.line(for: error) ?? "invalid recovery key"
                guard interactive, attempt < 3 else { throw CLIError(message) }
                Terminal.printError("\(message); try again.")
            }
        }
        let new = try Terminal.newPassword(prompt: "New password: ", fromStdin: passwordStdin)
        let accountID = try await client.recover(email: email, recoveryKey: recoveryKey, newPassword: new)
        let store = try global.store()
        if let saved = try? store.load(), saved.accountID == accountID { try store.delete() }
        print("Password reset for \(email.lowercased()). Every session was signed out; log in with `coffre login`.")
    }
}

struct DeleteAccount: CoffreCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-account", abstract: "Delete the account and everything in it, for good.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Do not ask for confirmation (needed when stdin is not a terminal).") var yes = false
    @Flag(help: "Read the password from stdin (one line), without prompts.") var passwordStdin = false

    func execute() async throws {
        let (client, session, store) = try global.savedSession()
        await session.persist(to: store)
        let email: String
        if let known = session.email { email = known } else { email = try await client.whoami(session).email }
        if !yes {
            guard Terminal.stdinIsTerminal, !passwordStdin else {
                throw CLIError("refusing to delete the account without confirmation; pass --yes")
            }
            Terminal.printError("This permanently deletes \(email) and every file in it. It cannot be undone.")
            let typed = try Terminal.readLine(prompt: "Type the email address to confirm: ", what: "confirmation")
            guard typed.trimmingCharacters(in: .whitespaces).lowercased() == email.lowercased() else {
                throw CLIError("confirmation did not match; nothing was deleted")
            }
        }
        let password = try Terminal.password(fromStdin: passwordStdin)
        try await renamingWrongPassword("wrong password; nothing was deleted") {
            try await client.deleteAccount(session, password: password)
        }
        try store.delete()
        print("Account \(email) deleted.")
    }
}

/// A leaf command. `execute()` rather than `run()`: called through an
/// existential, `run()` would resolve to ParsableCommand's synchronous
/// default (which prints help) instead of the async one.
protocol CoffreCommand: AsyncParsableCommand {
    func execute() async throws
}

extension CoffreCommand {
    mutating func run() async throws {
        try await execute()
    }
}
