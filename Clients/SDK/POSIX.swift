// The few system calls the SDK's local files need, in one place and under
// names no method shadows (`read`, `write`, `close` and `rename` are also
// method names in the types that use them). Failures come back as errno.
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum POSIX {
    /// Writes all of `bytes`; the errno of a failure, or nil.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += written
        }
        return nil
    }

    /// Reads until `bytes` is full or the file ends; the count, or the errno.
    static func readFully(_ fd: Int32, into bytes: UnsafeMutableRawBufferPointer) -> Result<Int, POSIXFailure> {
        var filled = 0
        while filled < bytes.count {
            let n = read(fd, bytes.baseAddress! + filled, bytes.count - filled)
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(POSIXFailure(code: errno))
            }
            if n == 0 { break }
            filled += n
        }
        return .success(filled)
    }

    static func renameFile(_ from: String, to: String) -> Int32 {
        rename(from, to)
    }

    static func closeFile(_ fd: Int32) {
        _ = close(fd)
    }

    /// The current errno, in words.
    static var lastError: String { describe(errno) }

    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code)).lowercased()
    }
}

struct POSIXFailure: Error {
    let code: Int32
}
