// Where the CLI keeps its session between runs:
// `$XDG_CONFIG_HOME/coffre/session.json`, else `~/.config/coffre/session.json`.
// The folder is 0700 and its files 0600, written atomically (temporary file
// in the same folder, then rename). `session.json` holds `SessionState` only:
// server, tenant, ids and tokens; no password and no key, ever. Beside it,
// `keys.json` keeps `SavedKeys`: the account's key bundle exactly as the
// server stores it (envelopes that open only with the password or the
// recovery key) with the password's salt and Argon2id parameters, so file
// commands unlock the keys with the password alone, offline; and `uploads/`
// the resume state of unfinished uploads (`UploadResumeStore`).
import CoffreCrypto
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
        try Self.writePrivately(try encoder.encode(state), to: fileURL)
    }

    /// The saved keys file, next to the session.
    public var keysURL: URL { fileURL.deletingLastPathComponent().appendingPathComponent("keys.json") }

    /// Keeps what a login returned to unlock the keys later (`CoffreClient.unlock`).
    public func saveKeys(_ saved: SavedKeys) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Self.writePrivately(try encoder.encode(saved), to: keysURL)
    }

    /// The saved keys, or nil when there are none.
    public func loadKeys() throws -> SavedKeys? {
        guard let data = FileManager.default.contents(atPath: keysURL.path) else {
            if FileManager.default.fileExists(atPath: keysURL.path) {
                throw SessionStoreError.io(path: keysURL.path, reason: "cannot read")
            }
            return nil
        }
        guard let saved = try? JSONDecoder().decode(SavedKeys.self, from: data) else {
            throw SessionStoreError.corrupt(path: keysURL.path)
        }
        return saved
    }

    /// The folder of unfinished uploads' resume state.
    public var uploadsDirectory: URL { fileURL.deletingLastPathComponent().appendingPathComponent("uploads") }

    /// Writes `data` to `url` atomically, readable by the owner only, in a
    /// 0700 folder created if needed.
    static func writePrivately(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        try Self.makeDirectory(directory)
        let fileURL = url

        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SessionStoreError.io(path: temporary.path, reason: Self.lastError()) }
        var ok = fchmod(fd, 0o600) == 0  // whatever the umask
        if ok {
            ok = data.withUnsafeBytes { POSIX.writeAll(fd, $0) } == nil
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

    /// Forgets the session and its saved keys (logout). No error when there
    /// is none. Unfinished uploads keep their resume state: it opens only
    /// with the account's keys, and the next login of the account resumes them.
    public func delete() throws {
        for url in [fileURL, keysURL] where unlink(url.path) != 0 && errno != ENOENT {
            throw SessionStoreError.io(path: url.path, reason: Self.lastError())
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

    static func lastError() -> String {
        String(cString: strerror(errno)).lowercased()
    }
}
