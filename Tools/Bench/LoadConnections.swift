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
        if let reused = idle.withLockedValue({ Self.popOpen(&$0) }) {
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

    /// The open loop, run on one event loop with no task per request:
    /// request `i` is due at `start + i × interval`, and is sent when due on
    /// an idle connection of that loop or a new one. `record(i, status,
    /// latency)` runs on the loop once its response has arrived (status -1
    /// for a failed connection or a timeout), with the latency measured from
    /// when it was due. Returns when every response has arrived.
    ///
    /// `warm` connections are opened before the first request is due, as a
    /// client's pool would hold them, so that the first requests do not also
    /// pay for connection set-up (the closed loop's connections live on
    /// other loops and stay idle). That did not remove the slow first
    /// second seen in bench/RESULTS.md's notes, whose cause is not known.
    ///
    /// A task and a timer wake-up per request (the loop this replaced) cost
    /// the generator twice its closed-loop CPU per request, taken from the
    /// services it shares the cores with.
    func openLoop(bodies: [ByteBuffer], interval: TimeAmount, warm: Int, timeout: TimeAmount = .seconds(30),
                  record: @escaping @Sendable (_ index: Int, _ status: Int, _ latency: TimeAmount) -> Void) async {
        guard !bodies.isEmpty else { return }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let finished = loop.makePromise(of: Void.self)
        guard let state = try? await loop.submit({ NIOLoopBound(OpenLoopState(), eventLoop: loop) }).get() else { return }
        let host = self.host, port = self.port, path = self.path, authority = self.authority, opened = self.opened
        for _ in 0..<warm {
            guard let connection = try? await LoadConnection.connect(host: host, port: port, on: loop).get() else { continue }
            opened.withLockedValue { $0 += 1 }
            try? await loop.submit { state.value.idle.append(connection) }.get()
        }
        let start = NIODeadline.now() + .milliseconds(1)
        @Sendable func due(_ i: Int) -> NIODeadline { start + .nanoseconds(Int64(i) * interval.nanoseconds) }

        @Sendable func send(_ i: Int) {
            let intended = due(i)
            let ready: EventLoopFuture<LoadConnection>
            if let connection = Self.popOpen(&state.value.idle) {
                ready = loop.makeSucceededFuture(connection)
            } else {
                opened.withLockedValue { $0 += 1 }
                ready = LoadConnection.connect(host: host, port: port, on: loop)
            }
            ready.flatMap { connection in
                connection.sendOnLoop(path: path, host: authority, body: bodies[i], timeout: timeout)
                    .map { status in
                        state.value.idle.append(connection)
                        return status
                    }
                    .flatMapError { error -> EventLoopFuture<Int> in
                        connection.channel.close(promise: nil)
                        return loop.makeFailedFuture(error)
                    }
            }.whenComplete { result in
                let status = (try? result.get()) ?? -1
                record(i, status, NIODeadline.now() - intended)
                state.value.completed += 1
                if state.value.completed == bodies.count { finished.succeed() }
            }
        }

        /// Sends every request now due, then sleeps until the next one is.
        @Sendable func tick() {
            let now = NIODeadline.now()
            while state.value.next < bodies.count, due(state.value.next) <= now {
                send(state.value.next)
                state.value.next += 1
            }
            if state.value.next < bodies.count {
                loop.scheduleTask(deadline: due(state.value.next)) { tick() }
            }
        }

        loop.execute { tick() }
        try? await finished.futureResult.get()
        let connections = try? await loop.submit { state.value.idle }.get()
        for connection in connections ?? [] { try? await connection.channel.close() }
    }

    /// The most recently used idle connection that is still open, dropping
    /// those the server closed while they sat idle.
    private static func popOpen(_ idle: inout [LoadConnection]) -> LoadConnection? {
        while let connection = idle.popLast() {
            if connection.channel.isActive { return connection }
        }
        return nil
    }

    func close() async {
        for connection in idle.withLockedValue({ pool in defer { pool = [] }; return pool }) {
            try? await connection.channel.close()
        }
    }
}

/// The open loop's state, touched only on its event loop.
final class OpenLoopState {
    var idle: [LoadConnection] = []
    var next = 0
    var completed = 0
}

final class LoadConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<StatusHandler>

    private init(channel: any Channel, handler: NIOLoopBound<StatusHandler>) {
        self.channel = channel
        self.handler = handler
    }

    static func connect(host: String, port: Int) async throws -> LoadConnection {
        try await connect(host: host, port: port, on: MultiThreadedEventLoopGroup.singleton.next()).get()
    }

    /// A connection whose channel lives on `loop` (the future completes there).
    static func connect(host: String, port: Int, on loop: any EventLoop) -> EventLoopFuture<LoadConnection> {
        ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(StatusHandler())
                }
            }
            .connect(host: host, port: port)
            .flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: StatusHandler.self)
                return LoadConnection(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
            }
    }

    func send(path: String, host: String, body: ByteBuffer, timeout: TimeAmount) async throws -> Int {
        let loop = channel.eventLoop
        return try await loop.flatSubmit { self.sendOnLoop(path: path, host: host, body: body, timeout: timeout) }.get()
    }

    /// Sends one request; must be called on the channel's event loop. The
    /// future holds the response's status once the whole response arrived.
    func sendOnLoop(path: String, host: String, body: ByteBuffer, timeout: TimeAmount) -> EventLoopFuture<Int> {
        let loop = channel.eventLoop
        loop.preconditionInEventLoop()
        guard channel.isActive else { return loop.makeFailedFuture(LoadConnections.Closed()) }
        let promise = loop.makePromise(of: Int.self)
        let channel = self.channel, handler = self.handler
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
        return promise.futureResult
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
