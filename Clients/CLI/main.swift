// The `coffre` command. Every failure ends as one line on stderr,
// "coffre: <what went wrong>", and a non-zero exit status; never a stack trace.
import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

do {
    let arguments = GlobalOptions.hoisted(Array(CommandLine.arguments.dropFirst()), root: Coffre.self)
    var command = try await Coffre.asyncParseAsRoot(arguments)
    if let leaf = command as? any CoffreCommand {
        try await leaf.execute()
    } else {
        try command.run()
    }
} catch {
    if let line = ErrorMessage.line(for: error) {
        Terminal.printError("coffre: \(line)")
        ErrorMessage.cleanUp(after: error)
        exit(1)
    }
    Coffre.exit(withError: error)
}
