// Reading from the user: lines, and secrets without echo (termios). When
// stdin is not a terminal (a pipe, a script, a test) everything is read as
// plain lines from stdin, without prompts.
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The terminal settings to put back if the user hits Ctrl-C while echo is off.
nonisolated(unsafe) private var savedTerminal = termios()
nonisolated(unsafe) private var echoDisabled = false

enum Terminal {
    static var stdinIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }

    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func prompt(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// One line; `prompt` is shown only on a terminal. Fails at end of input.
    static func readLine(prompt text: String, what: String, interactive: Bool = stdinIsTerminal) throws -> String {
        if interactive { prompt(text) }
        guard let line = Swift.readLine(strippingNewline: true) else {
            throw CLIError("no \(what) given (end of input)")
        }
        return line.hasSuffix("\r") ? String(line.dropLast()) : line
    }

    /// A secret: echo off on a terminal, a plain line otherwise.
    static func readSecret(prompt text: String, what: String, interactive: Bool = stdinIsTerminal) throws -> String {
        guard interactive, stdinIsTerminal else { return try readLine(prompt: text, what: what, interactive: false) }
        prompt(text)
        var current = termios()
        guard tcgetattr(STDIN_FILENO, &current) == 0 else {
            return try readLine(prompt: "", what: what, interactive: false)
        }
        savedTerminal = current
        var silent = current
        silent.c_lflag &= ~tcflag_t(ECHO)
        silent.c_lflag |= tcflag_t(ECHONL)
        echoDisabled = true
        signal(SIGINT) { _ in
            if echoDisabled { tcsetattr(STDIN_FILENO, TCSAFLUSH, &savedTerminal) }
            _exit(130)
        }
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &savedTerminal)
            echoDisabled = false
            signal(SIGINT, SIG_DFL)
        }
        guard let line = Swift.readLine(strippingNewline: true) else {
            throw CLIError("no \(what) given (end of input)")
        }
        return line
    }

    /// The password: asked once.
    static func password(prompt text: String = "Password: ", fromStdin: Bool) throws -> String {
        let value = try readSecret(prompt: text, what: "password", interactive: !fromStdin)
        guard !value.isEmpty else { throw CLIError("the password is empty") }
        return value
    }

    /// A new password: asked twice on a terminal; one line from stdin otherwise.
    static func newPassword(prompt text: String = "New password: ", fromStdin: Bool) throws -> String {
        let interactive = !fromStdin && stdinIsTerminal
        for attempt in 1...3 {
            let first = try readSecret(prompt: text, what: "password", interactive: interactive)
            guard !first.isEmpty else {
                if interactive, attempt < 3 { printError("The password is empty; try again."); continue }
                throw CLIError("the password is empty")
            }
            guard interactive else { return first }
            if first.count < 8 { printError("Warning: this password is short; a long passphrase is much safer.") }
            let second = try readSecret(prompt: "Repeat the password: ", what: "password", interactive: true)
            if first == second { return first }
            if attempt < 3 { printError("The passwords do not match; try again.") }
        }
        throw CLIError("the passwords do not match")
    }

    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "coffre-cli" }
        let name = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return name.isEmpty ? "coffre-cli" : name
    }
}

/// A failure of the CLI itself, printed as "coffre: <message>".
struct CLIError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
