import HummingbirdCore
import Logging
import NIOCore

/// HTTP/1.1 for a service that passes bulk bodies on (the gateway): the
/// same channel as Hummingbird's `.http1`, with socket reads of up to
/// `maxRead` bytes instead of NIO's 64 KiB. An upload then arrives in fewer,
/// larger chunks: fewer read and write system calls, wake-ups and async
/// hand-offs per byte (a profile of 16 concurrent uploads showed the
/// gateway's time in the kernel's socket paths, not in Swift). Memory stays
/// bounded: Hummingbird's request body stream holds at most four chunks.
/// (Ingest keeps NIO's reads: with 128 KiB ones its peak memory over 32
/// concurrent uploads rose from ~106 to ~141 MB, too near its 150 MB target,
/// for no clear gain on this machine.)
struct BulkReadHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let maxRead: Int

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let allocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: maxRead)
        return channel.setOption(ChannelOptions.recvAllocator, value: allocator).flatMap {
            inner.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// `.http1(configuration:)` with reads of up to `maxRead` bytes.
    static func http1(configuration: HTTP1Channel.Configuration, maxRead: Int) -> HTTPServerBuilder {
        .init { responder in
            BulkReadHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: configuration), maxRead: maxRead)
        }
    }
}
