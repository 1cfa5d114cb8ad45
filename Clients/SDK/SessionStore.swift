// Where the CLI keeps its session between runs:
// `$XDG_CONFIG_HOME/coffre/session.json`, else `~/.config/coffre/session.json`.
// The folder is 0700 and the file 0600, written atomically (temporary file in
// the same folder, then rename). It holds `SessionState` only: server,
// tenant, ids and tokens; no password and no key, ever.
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public enum SessionStoreError: Error, Sendable, CustomStringConvertible, LocalizedError {
    case noHome
    case io(path: String, reason: String)
    case corrupt(path: String)

    public var description: String {
        switch self {
        case .noHome: "cannot find the configuration folder (set XDG_CONFIG_HOME or HOME)"
        case let .io(path, reason): "\(path): \(reason)"
        case let .corrupt(path): "\(path) is not a valid session file; remove it and log in again"
        }
    }

    public var errorDescription: String? { description }
}

public struct SessionStore: Sendable {
    public let fileURL: URL

    public init(fileURL: URL) {
        self.fileURL = fileURL
    }

    /// The default location for this environment.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        fileURL = try Self.defaultURL(environment: environment)
    }

    public static func defaultURL(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            return URL(fileURLWithPath: xdg).appendingPathComponent("coffre").appendingPathComponent("session.json")
        }
        guard let home = environment["HOME"], !home.isEmpty else { throw SessionStoreError.noHome }
        return URL(fileURLWithPath: home).appendingPathComponent(".config").appendingPathComponent("coffre")
            .appendingPathComponent("session.json")
    }

    /// The saved session, or nil when there is none.
    public func load() throws -> SessionState? {
        let data: Data
        do {
            data = try Data(contentsOf: fileURL)
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            return nil
        } catch {
            if !FileManager.default.fileExists(atPath: fileURL.path) { return nil }
            throw SessionStoreError.io(path: fileURL.path, reason: "cannot read")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let state = try? decoder.decode(SessionState.self, from: data) else {
            throw SessionStoreError.corrupt(path: fileURL.path)
        }
        return state
    }

    public func save(_ state: SessionState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(state)
        let directory = fileURL.deletingLastPathComponent()
        try Self.makeDirectory(directory)

        let temporary = directory.appendingPathComponent(".session.\(UUID().uuidString).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SessionStoreError.io(path: temporary.path, reason: Self.lastError()) }
        var ok = fchmod(fd, 0o600) == 0  // whatever the umask
        if ok {
            ok = data.withUnsafeBytes { raw -> Bool in
                var offset = 0
                while offset < raw.count {
                    let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return false
                    }
                    offset += written
                }
                return true
            }
        }
        if ok { ok = fsync(fd) == 0 }
        let reason = Self.lastError()
        close(fd)
        guard ok, rename(temporary.path, fileURL.path) == 0 else {
            let renameReason = Self.lastError()
            unlink(temporary.path)
            throw SessionStoreError.io(path: fileURL.path, reason: ok ? renameReason : reason)
        }
    }

    /// Forgets the session (logout). No error when there is none.
    public func delete() throws {
        if unlink(fileURL.path) != 0, errno != ENOENT {
            throw SessionStoreError.io(path: fileURL.path, reason: Self.lastError())
        }
    }

    static func makeDirectory(_ directory: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw SessionStoreError.io(path: directory.path, reason: "exists and is not a folder")
            }
        } else {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw SessionStoreError.io(path: directory.path, reason: "cannot create folder")
            }
        }
        // Our own folder: keep it private even if it was created more open.
        if chmod(directory.path, 0o700) != 0 {
            throw SessionStoreError.io(path: directory.path, reason: lastError())
        }
    }

    private static func lastError() -> String {
        String(cString: strerror(errno)).lowercased()
    }
}
