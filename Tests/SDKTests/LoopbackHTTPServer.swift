// Serves an in-memory fake (any CoffreTransport) on a real loopback socket,
// so a test can drive the SDK through its real transport (AsyncHTTPClient):
// query strings, headers, status codes and bodies then cross the wire.
// HTTP/1.1, one request per connection (`Connection: close`), bodies by
// Content-Length only; a thread of its own accepts and answers.
@testable import CoffreSDK
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class LoopbackHTTPServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let handler: any CoffreTransport
    private let lock = NSLock()
    private var stopped = false

    init(serving handler: any CoffreTransport) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CoffreClientError.invalidInput("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw CoffreClientError.invalidInput("bind/listen failed")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        listener = fd
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if lock.withLock({ stopped }) { return }
                if errno == EINTR { continue }
                return
            }
            let connection = Thread { [self] in serve(client) }
            connection.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        func fill() -> Bool {
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { return false }
            buffer += chunk[0..<n]
            return true
        }
        var headerEnd: Int?
        while headerEnd == nil {
            if let range = findHeaderEnd(buffer) { headerEnd = range; break }
            guard fill() else { return }
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ").map(String.init)
        guard requestLine.count >= 2 else { return }
        var headers: [String: String] = [:]
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = headers.first { $0.key.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
        var body = Array(buffer[(headerEnd! + 4)...])
        while body.count < length {
            let before = buffer.count
            guard fill() else { return }
            body += buffer[before...]
        }
        let request = TransportRequest(method: requestLine[0], path: requestLine[1], headers: headers,
                                       body: length > 0 || ["POST", "PUT", "PATCH"].contains(requestLine[0]) ? Array(body.prefix(length)) : nil)
        let semaphore = DispatchSemaphore(value: 0)
        let box = ResponseBox()
        let handler = self.handler
        Task {
            box.response = (try? await handler.send(request)) ?? TransportResponse(status: 502)
            semaphore.signal()
        }
        semaphore.wait()
        let response = box.response!
        var text = "HTTP/1.1 \(response.status) \(CoffreAPIError.reasonPhrase(response.status))\r\n"
        for (name, value) in response.headers where name != "content-length" && name != "connection" {
            text += "\(name): \(value)\r\n"
        }
        text += "content-length: \(response.body.count)\r\nconnection: close\r\n\r\n"
        let bytes = Array(text.utf8) + response.body
        _ = bytes.withUnsafeBytes { POSIX.writeAll(fd, $0) }
    }

    private func findHeaderEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    private final class ResponseBox: @unchecked Sendable {
        var response: TransportResponse?
    }
}
