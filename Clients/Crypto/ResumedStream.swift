// Re-creating one encryption of a file from its public stream header, so an
// interrupted upload can produce again, byte for byte, the ciphertext the
// server already holds part of (the SDK re-encrypts from the start and skips
// what was sent). Everything after the header is deterministic: the stream
// state depends only on the key, the header and the chunks pushed so far.
//
// libsodium's init_push draws a random header and derives the state from it
// exactly as init_pull does from a received one, so a state initialised with
// init_pull from a header is the state init_push made with that header. The
// Sodium module (Shared/) has no "pusher from a header" yet; this is the one
// place outside it that calls libsodium, and it belongs there as
// `Pusher(key:header:)` once that module can change.
//
// Must never be used to encrypt *different* plaintext under a header that
// already went out: that reuses the keystream. The SDK checks the source is
// unchanged before it resumes.
import CSodium
import Sodium

/// What FileEncryptor pushes chunks through.
protocol SecretStreamPushing: AnyObject {
    var header: [UInt8] { get }
    func push(_ message: [UInt8], additionalData: [UInt8], tag: Sodium.SecretStream.Tag) throws(SodiumError) -> [UInt8]
}

extension Sodium.SecretStream.Pusher: SecretStreamPushing {}

/// A secretstream writer resumed from an earlier stream's header. Not Sendable.
final class ResumedPusher: SecretStreamPushing {
    private let state: UnsafeMutablePointer<crypto_secretstream_xchacha20poly1305_state>
    let header: [UInt8]

    init(key: [UInt8], header: [UInt8]) throws(SodiumError) {
        precondition(Sodium.ready)
        guard key.count == Sodium.SecretStream.keyBytes else { throw SodiumError.invalidInput("secretstream key length") }
        guard header.count == Sodium.SecretStream.headerBytes else { throw SodiumError.invalidInput("secretstream header length") }
        state = .allocate(capacity: 1)
        sodium_memzero(state, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
        self.header = header
        guard crypto_secretstream_xchacha20poly1305_init_pull(state, header, key) == 0 else {
            throw SodiumError.operationFailed("secretstream init from header")
        }
    }

    deinit {
        sodium_memzero(state, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
        state.deallocate()
    }

    func push(_ message: [UInt8], additionalData: [UInt8], tag: Sodium.SecretStream.Tag) throws(SodiumError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: message.count + Sodium.SecretStream.overheadBytes)
        var outLength: UInt64 = 0
        let rc = crypto_secretstream_xchacha20poly1305_push(
            state, &out, &outLength, message, UInt64(message.count), additionalData, UInt64(additionalData.count), tag.rawValue)
        guard rc == 0 else { throw SodiumError.operationFailed("secretstream push") }
        return out
    }
}
