import CoffreCore
import Hummingbird
import NIOCore

/// The address of the TCP peer a request arrived from.
///
/// `CoffreRequestContext` is shared by every service and does not keep the
/// channel, so the gateway wraps its router in `PeerAddressResponder`, whose
/// context reads the peer address off the channel and hands it to the
/// handlers in a task local (the handler runs inside `respond`, so the value
/// is there for the whole routing and proxying of the request).
enum ClientAddress {
    @TaskLocal static var peer: SocketAddress?

    /// The peer as a plain IP string ("127.0.0.1", "::1"), or nil.
    static var peerIP: String? { peer?.ipAddress }
}

/// The context the HTTP server creates per request: the peer address plus
/// the ordinary Coffre context the router works with.
struct PeerAddressContext: InitializableFromSource {
    let remoteAddress: SocketAddress?
    let inner: CoffreRequestContext

    init(source: ApplicationRequestContextSource) {
        remoteAddress = source.channel.remoteAddress
        inner = CoffreRequestContext(source: source)
    }
}

struct PeerAddressResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == CoffreRequestContext {
    typealias Context = PeerAddressContext
    let inner: Inner

    func respond(to request: Request, context: PeerAddressContext) async throws -> Response {
        try await ClientAddress.$peer.withValue(context.remoteAddress) {
            try await inner.respond(to: request, context: context.inner)
        }
    }
}
