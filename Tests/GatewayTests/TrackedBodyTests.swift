@testable import Gateway
import NIOCore
import Synchronization
import Testing

/// The client's body is a single-pass stream: the proxy must never ask it
/// for a second iterator (Hummingbird's request body traps on one), even
/// when the HTTP client makes one per attempt of a retried request.
@Suite struct TrackedBodyTests {
    /// A body that counts its iterators, as Hummingbird's allows one.
    struct OnePassBody: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let chunks: [ByteBuffer]
        let iterators = Counter()

        final class Counter: Sendable {
            let value = Atomic<Int>(0)
        }

        struct AsyncIterator: AsyncIteratorProtocol {
            var rest: [ByteBuffer]
            mutating func next() async throws -> ByteBuffer? { rest.isEmpty ? nil : rest.removeFirst() }
        }

        func makeAsyncIterator() -> AsyncIterator {
            iterators.value.add(1, ordering: .relaxed)
            return AsyncIterator(rest: chunks)
        }
    }

    static func body() -> OnePassBody {
        OnePassBody(chunks: [ByteBuffer(bytes: [1, 2]), ByteBuffer(bytes: [3])])
    }

    @Test func anAttemptThatNeverReadLeavesTheBodyToTheNext() async throws {
        let body = Self.body()
        let progress = BodyProgress()
        let tracked = TrackedBody(base: body, length: 3, progress: progress)
        // The first attempt made its iterator and failed before reading.
        _ = tracked.makeAsyncIterator()
        #expect(!progress.isStarted)
        var bytes: [UInt8] = []
        for try await chunk in tracked { bytes += Array(buffer: chunk) }
        #expect(bytes == [1, 2, 3])
        #expect(body.iterators.value.load(ordering: .relaxed) == 1)
        #expect(progress.isStarted && !progress.isBroken)
    }

    @Test func anAttemptAfterReadingBeganFailsInsteadOfReadingAgain() async throws {
        let body = Self.body()
        let progress = BodyProgress()
        let tracked = TrackedBody(base: body, length: 3, progress: progress)
        var first = tracked.makeAsyncIterator()
        #expect(try await first.next().map { Array(buffer: $0) } == [1, 2])
        var second = tracked.makeAsyncIterator()
        await #expect(throws: BodyAlreadyRead.self) { _ = try await second.next() }
        #expect(body.iterators.value.load(ordering: .relaxed) == 1)
    }

    @Test func aBodyShortOfItsLengthBreaksOff() async throws {
        let progress = BodyProgress()
        var iterator = TrackedBody(base: Self.body(), length: 4, progress: progress).makeAsyncIterator()
        _ = try await iterator.next()
        _ = try await iterator.next()
        await #expect(throws: IncompleteBody.self) { _ = try await iterator.next() }
        #expect(progress.isBroken)
    }
}
