import ArgumentParser
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The signup benchmark's load: keep-alive HTTP/1.1 connections that carry
/// one request at a time, each request a prepared body behind a fixed head.
///
/// The load tool shares the machine's two cores with everything it measures,
/// so whatever it spends per request is taken from the gateway, accounts and
/// Postgres. AsyncHTTPClient's per-request machinery (URL parsing, pool state
/// machine, body streaming, task hops) made it about a sixth of the machine's
/// CPU in the open loop; this is NIO's HTTP/1 codec on a plain channel, the
/// least a client can do, as a `wrk`-style tool would.
final class LoadConnections: Sendable {
    struct Closed: Error {}
    struct TimedOut: Error {}

    private let host: String
    private let port: Int
    private let path: String
    /// `host:port`, the `Host` header of every request.
    private let authority: String
    private let idle = NIOLockedValueBox<[LoadConnection]>([])
    private let opened = NIOLockedValueBox(0)

    /// Connections opened so far. There is no cap: a request that finds
    /// none idle opens one, as independent clients would, so in an overload
    /// the queue forms at the gateway (AsyncHTTPClient capped them and
    /// queued requests inside the client; both count in the latency).
    var connectionsOpened: Int { opened.withLockedValue { $0 } }

    /// `url` is `http://host:port` (the gateway's origin); requests go to `path`.
    init(url: String, path: String) throws {
        guard let rest = url.split(separator: "://", maxSplits: 1).last, url.hasPrefix("http://"),
              let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]) else {
            throw ValidationError("--gateway must be http://host:port, not \(url)")
        }
        self.host = String(rest[..<colon])
        self.port = port
        self.path = path
        self.authority = "\(host):\(port)"
    }

    /// POSTs `body` as JSON on an idle connection (or a new one) and returns
    /// the response's status, -1 for a failed connection or a response not
    /// complete within `timeout`.
    func post(_ body: ByteBuffer, timeout: TimeAmount = .seconds(30)) async -> Int {
        let connection: LoadConnection
        // Skip connections the server closed while they sat idle.
        var reused = idle.withLockedValue { $0.popLast() }
        while let stale = reused, !stale.channel.isActive { reused = idle.withLockedValue { $0.popLast() } }
        if let reused {
            connection = reused
        } else {
            do { connection = try await LoadConnection.connect(host: host, port: port) } catch { return -1 }
            opened.withLockedValue { $0 += 1 }
        }
        do {
            let status = try await connection.send(path: path, host: authority, body: body, timeout: timeout)
            idle.withLockedValue { $0.append(connection) }
            return status
        } catch {
            connection.channel.close(promise: nil)
            return -1
        }
    }

    func close() async {
        for connection in idle.withLockedValue({ pool in defer { pool = [] }; return pool }) {
            try? await connection.channel.close()
        }
    }
}

final class LoadConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<StatusHandler>

    private init(channel: any Channel, handler: NIOLoopBound<StatusHandler>) {
        self.channel = channel
        self.handler = handler
    }

    static func connect(host: String, port: Int) async throws -> LoadConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(StatusHandler())
                }
            }
            .connect(host: host, port: port).get()
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: StatusHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return LoadConnection(channel: channel, handler: handler)
    }

    func send(path: String, host: String, body: ByteBuffer, timeout: TimeAmount) async throws -> Int {
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: Int.self)
        let channel = self.channel, handler = self.handler
        loop.execute {
            guard channel.isActive else { return promise.fail(LoadConnections.Closed()) }
            let timer = loop.scheduleTask(in: timeout) {
                handler.value.fail(LoadConnections.TimedOut())
                channel.close(promise: nil)
            }
            handler.value.expect(promise, timeout: timer)
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: host)
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.readableBytes))
            channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)), promise: nil)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        return try await promise.futureResult.get()
    }
}

/// Completes the request in flight with its response's status once the
/// whole response has arrived; fails it if the connection ends first.
final class StatusHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private var waiting: (promise: EventLoopPromise<Int>, timeout: Scheduled<Void>)?
    private var status = 0

    func expect(_ promise: EventLoopPromise<Int>, timeout: Scheduled<Void>) {
        waiting = (promise, timeout)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body: break
        case .end:
            if let waiting {
                self.waiting = nil
                waiting.timeout.cancel()
                waiting.promise.succeed(status)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(LoadConnections.Closed())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func fail(_ error: any Error) {
        guard let waiting else { return }
        self.waiting = nil
        waiting.timeout.cancel()
        waiting.promise.fail(error)
    }
}
