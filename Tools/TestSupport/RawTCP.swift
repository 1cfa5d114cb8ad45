import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Plain TCP to a local test server, for checks an HTTP client would smooth
/// over: response framing byte for byte, or a request cut off mid-body.
public enum RawTCP {
    public struct Failure: Error, CustomStringConvertible {
        public var step: String
        public var description: String { "raw TCP: \(step) failed" }
    }

    /// A connected socket to 127.0.0.1:`port`; the caller closes it.
    /// Reads time out after `readTimeoutSeconds`.
    public static func connect(port: Int, readTimeoutSeconds: Int = 10) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(step: "socket") }
        var timeout = timeval(tv_sec: readTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(step: "connect")
        }
        return fd
    }

    public static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(step: "send") }
            offset += n
        }
    }

    /// Everything the server sends until it closes the connection.
    public static func readToEnd(_ fd: Int32) throws -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return received }
            guard n > 0 else { throw Failure(step: "recv after \(received.count) bytes (timed out or reset)") }
            received.append(contentsOf: buffer[0..<n])
        }
    }

    /// Sends `text` on a new connection and returns all the server answers
    /// until it closes (end the last request with `Connection: close`). The
    /// blocking socket calls run on a thread of their own, off the
    /// cooperative pool the server under test needs. With
    /// `halfCloseAfter`, the client then waits that long and shuts down its
    /// sending side, as a client that stops mid-body does.
    public static func exchange(port: Int, _ text: String, halfCloseAfter pause: TimeInterval? = nil,
                                readTimeoutSeconds: Int = 10) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result {
                    let fd = try connect(port: port, readTimeoutSeconds: readTimeoutSeconds)
                    defer { close(fd) }
                    try sendAll(fd, Array(text.utf8))
                    if let pause {
                        Thread.sleep(forTimeInterval: pause)
                        shutdown(fd, Int32(SHUT_WR))
                    }
                    return String(decoding: try readToEnd(fd), as: UTF8.self)
                })
            }
        }
    }
}
