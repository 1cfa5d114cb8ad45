import ArgumentParser
import AsyncHTTPClient
import CoffreCore
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOPosix

/// Concurrent large uploads of one file, streamed from disk as the request
/// body, against any of the three targets bench/uploads.sh compares: nginx
/// (WebDAV `PUT`), the gateway and the ingest service directly (tus
/// creation-with-upload). The same client code sends every body, so only the
/// receiving side differs.
struct Uploads: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "N uploads of one file at once (tus through the gateway or to ingest, or WebDAV PUT); prints JSON figures.")

    enum Mode: String, ExpressibleByArgument { case tus, put }

    @Option(help: "tus: the server's origin (POST <url>/v1/uploads); put: the directory URL (PUT <url>/<name>).") var url: String
    @Option var mode: Mode
    @Option(help: "Uploads in flight at once.") var concurrency: Int = 16
    @Option(help: "Uploads in all (default: --concurrency, all at once).") var count: Int?
    @Option(help: "Bytes sent per upload, read from the start of --file.") var sizeMib: Int = 256
    @Option(help: "The file whose first --size-mib MiB each upload sends.") var file: String
    @Option(help: "Size of each read from the file (KiB), i.e. of each body chunk handed to the HTTP client.") var chunkKib: Int = 512
    @Option(help: "tus through the gateway: the access token (Authorization: Bearer).") var token: String?
    @Option(help: "tus direct to ingest: TENANT:ACCOUNT:SESSION ids to sign as the gateway does (key from COFFRE_INTERNAL_SECRET).")
    var signIdentity: String?

    func validate() throws {
        guard concurrency > 0, sizeMib > 0, chunkKib > 0, (count ?? 1) > 0 else { throw ValidationError("counts and sizes must be positive") }
        if mode == .put, token != nil || signIdentity != nil { throw ValidationError("put mode takes no credentials") }
        if mode == .tus, (token == nil) == (signIdentity == nil) { throw ValidationError("tus mode needs exactly one of --token and --sign-identity") }
    }

    func run() async throws {
        let size = Int64(sizeMib) << 20
        let fd = open(file, O_RDONLY)
        guard fd >= 0 else { throw ValidationError("cannot open \(file): errno \(errno)") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, Int64(st.st_size) >= size else { throw ValidationError("\(file) is shorter than \(sizeMib) MiB") }

        let identity = try signIdentity.map(Self.identity)
        let key = InternalAuth.key(from: ProcessInfo.processInfo.environment["COFFRE_INTERNAL_SECRET"]
                                   ?? CommonConfiguration.developmentInternalSecret)
        let total = count ?? concurrency
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            timeout: .init(connect: .seconds(10), read: .seconds(600)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)))
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        let run = UUID().uuidString.lowercased().prefix(8)
        let mode = self.mode, token = self.token, chunk = chunkKib << 10

        @Sendable func upload(_ index: Int) async -> UploadOutcome {
            let body = FileChunks(fd: fd, size: size, chunk: chunk)
            var request: HTTPClientRequest
            switch mode {
            case .put:
                request = HTTPClientRequest(url: "\(base)/bench-\(run)-\(index)")
                request.method = .PUT
                request.headers.add(name: "Content-Type", value: "application/octet-stream")
            case .tus:
                let path = "/v1/uploads"
                request = HTTPClientRequest(url: base + path)
                request.method = .POST
                request.headers.add(name: "Tus-Resumable", value: "1.0.0")
                request.headers.add(name: "Upload-Length", value: String(size))
                request.headers.add(name: "Content-Type", value: "application/offset+octet-stream")
                func b64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
                let node = b64(Array(UUID().uuidString.lowercased().utf8))
                // Opaque to the server: any bytes stand for the encrypted name and the wrapped key.
                let attributes = b64((0..<64).map { _ in UInt8.random(in: 0...255) })
                let wrapped = b64((0..<73).map { _ in UInt8.random(in: 0...255) })
                request.headers.add(name: "Upload-Metadata", value: "node \(node),attributes \(attributes),key \(wrapped)")
                if let token {
                    request.headers.add(name: "Authorization", value: "Bearer \(token)")
                } else if let identity {
                    var fields = HTTPFields()
                    InternalAuth.sign(identity, method: "POST", path: path, key: key, into: &fields)
                    for field in fields { request.headers.add(name: field.name.rawName, value: field.value) }
                }
            }
            request.body = .stream(body, length: .known(size))
            let started = ContinuousClock.now
            do {
                let response = try await client.execute(request, deadline: .distantFuture)
                let answer = try await response.body.collect(upTo: 1 << 20)
                let seconds = (ContinuousClock.now - started).seconds
                let status = Int(response.status.code)
                switch mode {
                case .put:
                    guard status == 201 || status == 204 else {
                        return .init(status: status, seconds: seconds, error: String(buffer: answer).prefix(300).description)
                    }
                case .tus:
                    guard status == 201 || status == 204 else {
                        return .init(status: status, seconds: seconds, error: String(buffer: answer).prefix(300).description)
                    }
                    let offset = response.headers.first(name: "Upload-Offset")
                    guard offset == String(size) else {
                        return .init(status: status, seconds: seconds, error: "Upload-Offset \(offset ?? "missing"), expected \(size)")
                    }
                }
                return .init(status: status, seconds: seconds, error: nil)
            } catch {
                return .init(status: -1, seconds: (ContinuousClock.now - started).seconds, error: String(describing: error))
            }
        }

        let next = Counter()
        let clock = ContinuousClock()
        let started = clock.now
        let outcomes = await withTaskGroup(of: [UploadOutcome].self) { group in
            for _ in 0..<min(concurrency, total) {
                group.addTask {
                    var mine: [UploadOutcome] = []
                    while true {
                        let i = next.next()
                        if i >= total { return mine }
                        mine.append(await upload(i))
                    }
                }
            }
            var all: [UploadOutcome] = []
            for await some in group { all += some }
            return all
        }
        let wall = (clock.now - started).seconds
        try await client.shutdown()

        let ok = outcomes.filter { $0.error == nil }
        let bytes = Int64(ok.count) * size
        var statuses: [String: Int] = [:]
        for o in outcomes { statuses[String(o.status), default: 0] += 1 }
        let times = ok.map(\.seconds)
        let result: [String: Any] = [
            "mode": mode.rawValue, "url": url, "uploads": total, "concurrency": concurrency, "size_bytes": size,
            "total_bytes": bytes, "wall_seconds": wall, "mib_per_second": Double(bytes) / 1_048_576 / wall,
            "min_seconds": times.min() ?? 0, "max_seconds": times.max() ?? 0,
            "mean_seconds": times.isEmpty ? 0 : times.reduce(0, +) / Double(times.count),
            "failures": outcomes.count - ok.count, "statuses": statuses,
            "errors": Array(Set(outcomes.compactMap(\.error)).prefix(5)),
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        if ok.count != outcomes.count { throw ExitCode(1) }
    }

    static func identity(_ raw: String) throws -> VerifiedIdentity {
        let ids = raw.split(separator: ":").map { UUID(uuidString: String($0)) }
        guard ids.count == 3, let tenant = ids[0], let account = ids[1], let session = ids[2] else {
            throw ValidationError("--sign-identity is TENANT:ACCOUNT:SESSION (three UUIDs)")
        }
        return VerifiedIdentity(tenantID: tenant, accountID: account, sessionID: session)
    }
}

struct UploadOutcome: Sendable {
    var status: Int
    var seconds: Double
    var error: String?
}

/// The first `size` bytes of an open file as `chunk`-sized buffers, each read
/// with `pread` on NIO's blocking-I/O thread pool: one chunk per upload in
/// memory here (the HTTP client writes it out before asking for the next).
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let fd: CInt
    let size: Int64
    let chunk: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        let fd: CInt
        let size: Int64
        let chunk: Int
        var offset: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            guard offset < size else { return nil }
            let count = Int(Swift.min(Int64(chunk), size - offset))
            let fd = self.fd, at = offset
            let buffer = try await NIOThreadPool.singleton.runIfActive {
                var buffer = ByteBufferAllocator().buffer(capacity: count)
                _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                    var done = 0
                    while done < count {
                        let n = pread(fd, target.baseAddress! + done, count - done, off_t(at) + off_t(done))
                        if n < 0, errno == EINTR { continue }
                        guard n > 0 else { throw IOError(errnoCode: n == 0 ? EIO : errno, reason: "pread") }
                        done += n
                    }
                    return count
                }
                return buffer
            }
            offset += Int64(count)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(fd: fd, size: size, chunk: chunk) }
}

/// A fresh account for the upload benchmark: signed up and logged in through
/// the gateway with a random login secret (the server's work does not depend
/// on how the client derived it). Prints the access token and the ids the
/// gateway would sign for it.
struct BenchUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Signs up and logs in a fresh account; prints its token and ids as JSON.")

    @Option var gateway: String

    func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let body = try Signups.body(index: 0)
        guard let signup = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let email = signup["email"] as? String, let secret = signup["login_secret"] as? String else {
            throw ValidationError("could not prepare a signup")
        }
        func post(_ path: String, _ body: ByteBuffer) async throws -> [String: Any] {
            var request = HTTPClientRequest(url: gateway + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
            let response = try await client.execute(request, timeout: .seconds(30))
            let answer = try await response.body.collect(upTo: 1 << 20)
            guard (200..<300).contains(Int(response.status.code)),
                  let object = try JSONSerialization.jsonObject(with: Data(answer.readableBytesView)) as? [String: Any] else {
                throw ValidationError("\(path): \(response.status.code) \(String(buffer: answer))")
            }
            return object
        }
        _ = try await post("/v1/accounts", body)
        let login = try await post("/v1/auth/login", ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["email": email, "login_secret": secret])))
        var out: [String: Any] = [:]
        for key in ["access_token", "expires_in", "tenant_id", "account_id", "session_id"] { out[key] = login[key] }
        print(String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]), as: UTF8.self))
        try await client.shutdown()
    }
}
