import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// HTTP/1.1 for a service that takes bulk bodies (the gateway, ingest):
/// Hummingbird's `.http1` channel, set up the same way, but with large
/// socket reads and a buffer between socket and handler that is bounded in
/// bytes, not only in chunks.
///
/// - Reads of up to `maxRead` bytes instead of NIO's 64 KiB: an upload
///   arrives in fewer, larger chunks, so fewer read and write system calls,
///   wake-ups and async hand-offs per byte (a profile of 16 concurrent
///   uploads showed the gateway's time in the kernel's socket paths, not in
///   Swift).
/// - One read per readable event (NIO's default is four) and at most
///   `bufferedParts` request parts waiting for the handler before reading
///   pauses (NIOAsyncChannel's default is ten). Hummingbird's own setup
///   could hold fourteen chunks per connection: at 1 MiB reads that was tens
///   of MB per upload. Here it is at most `bufferedParts + 1` reads per
///   connection (with the default of four parts: about 5 MiB at the
///   gateway's 1 MiB reads, 1.25 MiB at ingest's 256 KiB). A small request
///   (head, body, end) still fits under the mark, so ordinary calls never
///   pause reading.
struct BulkReadHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let maxRead: Int
    let bufferedParts: Int

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let configuration = inner.configuration
        let allocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: maxRead)
        return channel.setOption(ChannelOptions.recvAllocator, value: allocator).flatMap {
            channel.setOption(ChannelOptions.maxMessagesPerRead, value: 1)
        }.flatMapThrowing {
            // As HTTP1Channel.setup does (Hummingbird 2.28), apart from the
            // NIOAsyncChannel's back-pressure marks.
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = configuration.httpDecoder.maxHeaderFieldSize
            limits.maxHeaderListSize = configuration.httpDecoder.maxHeaderListSize
            limits.maxHeaderFieldCount = configuration.httpDecoder.maxHeaderFieldCount
            let pipeline = channel.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandlers(configuration.additionalChannelHandlers())
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: configuration.idleTimeout.map { .init($0) }, logger: logger))
            return try NIOAsyncChannel(
                wrappingChannelSynchronously: channel,
                // Reading resumes once fewer than `lowWatermark` parts wait,
                // so the mark must be at least one (a zero never resumes).
                configuration: .init(backPressureStrategy: .init(lowWatermark: max(1, bufferedParts / 2), highWatermark: bufferedParts),
                                     isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// `.http1(configuration:)` with reads of up to `maxRead` bytes and at
    /// most `bufferedParts` parts waiting for the handler.
    public static func http1(configuration: HTTP1Channel.Configuration, maxRead: Int, bufferedParts: Int = 4) -> HTTPServerBuilder {
        precondition(bufferedParts >= 1 && maxRead >= 2048, "at least one queued part, and reads of at least the allocator's first 2 KiB")
        return .init { responder in
            BulkReadHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: configuration),
                                 maxRead: maxRead, bufferedParts: bufferedParts)
        }
    }
}
