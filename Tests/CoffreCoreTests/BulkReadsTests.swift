import CoffreCore
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// `BulkReadHTTP1Channel` over a real socket: streamed bodies larger than
/// its buffer arrive whole, one connection after another request, whatever
/// the number of parts it may queue (reading pauses at that many and must
/// resume once the handler has taken them).
@Suite struct BulkReadsTests {
    func app(bufferedParts: Int) -> some ApplicationProtocol {
        let router = Router(context: CoffreRequestContext.self)
        router.post("/count") { request, _ -> String in
            var bytes = 0
            var checksum: UInt64 = 0
            for try await part in request.body {
                checksum = Self.checksum(part, from: checksum)
                bytes += part.readableBytes
            }
            return "\(bytes) \(checksum)"
        }
        return Application(router: router,
                           server: .http1(configuration: .init(), maxRead: 64 * 1024, bufferedParts: bufferedParts))
    }

    static func checksum(_ buffer: ByteBuffer, from start: UInt64) -> UInt64 {
        buffer.withUnsafeReadableBytes { bytes in
            var sum = start
            for byte in bytes { sum = sum &* 31 &+ UInt64(byte) }
            return sum
        }
    }

    static func body(_ size: Int, seed: UInt8) -> (ByteBuffer, String) {
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { storage, count in
            for i in 0..<size { storage[i] = UInt8(truncatingIfNeeded: i &* 7) ^ seed }
            count = size
        }
        let buffer = ByteBuffer(bytes: bytes)
        return (buffer, "\(size) \(checksum(buffer, from: 0))")
    }

    /// One part queued used to stall for good: its low-water mark came out
    /// as zero, and reading resumes only below that mark.
    @Test(arguments: [1, 2, 4])
    func streamedBodiesArriveWholeOnOneConnection(bufferedParts: Int) async throws {
        try await withTimeout(.seconds(30)) {
            try await app(bufferedParts: bufferedParts).test(.live) { client in
                for (size, seed) in [(3 << 19, UInt8(1)), (5, 2), (1 << 18, 3)] {
                    let (body, expected) = Self.body(size, seed: seed)
                    try await client.execute(uri: "/count", method: .post, body: body) { response in
                        #expect(response.status == .ok)
                        #expect(String(buffer: response.body) == expected)
                    }
                }
            }
        }
    }
}
