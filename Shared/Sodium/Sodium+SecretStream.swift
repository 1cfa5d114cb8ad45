// crypto_secretstream_xchacha20poly1305: authenticated encryption of a
// sequence of chunks. libsodium chains the chunks, so a pull fails if chunks
// are dropped, repeated or reordered; the FINAL tag lets the reader tell a
// complete stream from a truncated one. The state holds key material: it lives
// in memory this module allocates and zeroes, and it is never copied.
import CSodium

extension Sodium {
    public enum SecretStream {
        public static let keyBytes = Int(crypto_secretstream_xchacha20poly1305_keybytes())
        public static let headerBytes = Int(crypto_secretstream_xchacha20poly1305_headerbytes())
        /// Bytes a pushed chunk adds to its plaintext (1 encrypted tag byte + 16-byte MAC).
        public static let overheadBytes = Int(crypto_secretstream_xchacha20poly1305_abytes())

        public enum Tag: UInt8, Sendable {
            case message = 0
            case push = 1
            case rekey = 2
            case final = 3
        }

        /// Owns one libsodium stream state. Not Sendable: a stream is one
        /// ordered conversation and must not be shared across tasks.
        final class State {
            let pointer: UnsafeMutablePointer<crypto_secretstream_xchacha20poly1305_state>

            init() {
                pointer = .allocate(capacity: 1)
                sodium_memzero(pointer, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
            }

            deinit {
                sodium_memzero(pointer, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
                pointer.deallocate()
            }
        }

        /// The writing side. The header must reach the reader before any chunk.
        public final class Pusher {
            private let state = State()
            public let header: [UInt8]

            public init(key: [UInt8]) throws(SodiumError) {
                precondition(ready)
                try require(key.count == keyBytes, "secretstream key length")
                var header = [UInt8](repeating: 0, count: headerBytes)
                guard crypto_secretstream_xchacha20poly1305_init_push(state.pointer, &header, key) == 0 else {
                    throw SodiumError.operationFailed("secretstream init_push")
                }
                self.header = header
            }

            public func push(_ message: [UInt8], additionalData: [UInt8] = [], tag: Tag) throws(SodiumError) -> [UInt8] {
                var out = [UInt8](repeating: 0, count: message.count + overheadBytes)
                var outLength: UInt64 = 0
                let rc = crypto_secretstream_xchacha20poly1305_push(
                    state.pointer, &out, &outLength, message, UInt64(message.count),
                    additionalData, UInt64(additionalData.count), tag.rawValue)
                guard rc == 0 else { throw SodiumError.operationFailed("secretstream push") }
                return out
            }
        }

        /// The reading side. A failed pull leaves the state as it was, but
        /// callers should treat any failure as the end of the stream.
        public final class Puller {
            private let state = State()

            public init(header: [UInt8], key: [UInt8]) throws(SodiumError) {
                precondition(ready)
                try require(key.count == keyBytes, "secretstream key length")
                try require(header.count == headerBytes, "secretstream header length")
                guard crypto_secretstream_xchacha20poly1305_init_pull(state.pointer, header, key) == 0 else {
                    throw SodiumError.verificationFailed
                }
            }

            public func pull(_ ciphertext: [UInt8], additionalData: [UInt8] = []) throws(SodiumError) -> (plaintext: [UInt8], tag: Tag) {
                guard ciphertext.count >= overheadBytes else { throw SodiumError.verificationFailed }
                var out = [UInt8](repeating: 0, count: ciphertext.count - overheadBytes)
                var outLength: UInt64 = 0
                var tag: UInt8 = 0
                let rc = crypto_secretstream_xchacha20poly1305_pull(
                    state.pointer, &out, &outLength, &tag, ciphertext, UInt64(ciphertext.count),
                    additionalData, UInt64(additionalData.count))
                guard rc == 0, let parsed = Tag(rawValue: tag) else { throw SodiumError.verificationFailed }
                return (out, parsed)
            }
        }
    }
}
