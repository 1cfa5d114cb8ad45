import AsyncHTTPClient
import CoffreCore
import Foundation
import NIOCore
import Testing
@testable import Gateway

@Suite struct StreamingTests {
    static let blocks = 64  // 64 MiB

    @Test func uploadStreamsThroughWithoutBuffering() async throws {
        try await GatewayHarness.run { h in
            let finishedAt = Finished()
            var request = HTTPClientRequest(url: h.gatewayURL + "/v1/uploads/u1")
            request.method = .PATCH
            request.headers.add(name: "Authorization", value: "Bearer " + (try h.token()))
            request.headers.add(name: "Content-Type", value: "application/offset+octet-stream")
            request.body = .stream(SlowBlocks(count: Self.blocks, finished: finishedAt), length: .known(Int64(Self.blocks << 20)))
            let response = try await h.client.execute(request, timeout: .seconds(120))
            let body = try await response.body.collect(upTo: 1 << 20)
            #expect(response.status == .ok)
            let echo = try JSONDecoder().decode(Echo.self, from: Data(buffer: body))
            #expect(echo.bytes == Self.blocks << 20)
            #expect(echo.sha256 == Pattern.sha256(ofBlocks: Self.blocks))
            let first = try #require(echo.firstByteAt)
            let finished = try #require(finishedAt.value)
            // The client pauses before its last block: a gateway that
            // buffered the upload could not have passed on the first byte yet.
            #expect(first < finished - 0.2)
        }
    }

    @Test func downloadStreamsBack() async throws {
        try await GatewayHarness.run { h in
            var request = HTTPClientRequest(url: h.gatewayURL + "/v1/nodes/d1/content?download=\(Self.blocks << 20)")
            request.headers.add(name: "Authorization", value: "Bearer " + (try h.token()))
            let response = try await h.client.execute(request, timeout: .seconds(120))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "content-length") == String(Self.blocks << 20))
            var all: [UInt8] = []
            all.reserveCapacity(Self.blocks << 20)
            for try await chunk in response.body { all.append(contentsOf: chunk.readableBytesView) }
            #expect(all.count == Self.blocks << 20)
            #expect(Pattern.hex(Sodium.sha256(all)) == Pattern.sha256(ofBlocks: Self.blocks))
        }
    }
}

import Sodium
import Synchronization

final class Finished: Sendable {
    private let time = Mutex<Double?>(nil)
    var value: Double? { time.withLock { $0 } }
    func mark() { time.withLock { $0 = Date().timeIntervalSince1970 } }
}

/// `count` blocks of the test pattern, with a pause before the last one.
struct SlowBlocks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let count: Int
    let finished: Finished

    struct AsyncIterator: AsyncIteratorProtocol {
        var sent = 0
        let count: Int
        let finished: Finished
        mutating func next() async throws -> ByteBuffer? {
            guard sent < count else {
                finished.mark()
                return nil
            }
            if sent == count - 1 { try await Task.sleep(for: .milliseconds(500)) }
            sent += 1
            return ByteBuffer(bytes: Pattern.block)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(count: count, finished: finished) }
}
