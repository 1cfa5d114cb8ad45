// Streams an encrypted file back to plaintext, releasing each chunk only after
// it authenticates. Until `finish()` returns, what came out is a prefix of
// the file that may still turn out truncated: a caller must not treat it as
// the file (for instance, must not replace a local copy) before then. Any
// error is final; later calls repeat it.
import Sodium

public enum FileDecryptionError: Error, Equatable, Sendable {
    /// The first byte names a format this client does not know.
    case unsupportedVersion(UInt8)
    /// The header's chunk size is out of range.
    case malformedHeader
    /// The key does not open this file (or its header was damaged).
    case wrongKey
    /// The input ended before the FINAL chunk: the file was cut short.
    case truncated
    /// The chunk at this position was encrypted as part of another file.
    case chunkFromAnotherFile(index: UInt64)
    /// A chunk of this file, but not the one that belongs here: chunks were
    /// reordered, repeated or dropped.
    case chunkOutOfOrder(expected: UInt64, found: UInt64)
    /// The frame or the content of the chunk breaks the format.
    case malformedChunk(index: UInt64)
    /// The chunk's bytes were altered, or it was bound to another node id.
    case chunkAuthenticationFailed(index: UInt64)
    /// Bytes follow the FINAL chunk.
    case trailingData
}

/// Not Sendable: one decryptor is one ordered stream.
public final class FileDecryptor {
    private enum Phase {
        case header
        case chunks
        case done
        case failed(FileDecryptionError)
    }

    private let fileKey: FileKey
    private let nodeID: String
    private var phase = Phase.header
    private var buffer: [UInt8] = []
    private var puller: Sodium.SecretStream.Puller?
    private var streamTag: [UInt8] = []
    private var chunkSize = 0
    private var nextIndex: UInt64 = 0

    public init(fileKey: FileKey, nodeID: String) {
        self.fileKey = fileKey
        self.nodeID = nodeID
    }

    /// Authenticated plaintext of every chunk completed by these bytes.
    public func update(_ ciphertext: some Sequence<UInt8>) throws -> [UInt8] {
        if case .failed(let error) = phase { throw error }
        buffer.append(contentsOf: ciphertext)
        do {
            return try process()
        } catch {
            phase = .failed(error)
            buffer = []
            puller = nil
            throw error
        }
    }

    /// Declares the end of the input; throws unless the FINAL chunk was the last thing read.
    public func finish() throws {
        switch phase {
        case .failed(let error):
            throw error
        case .done:
            return
        case .header, .chunks:
            phase = .failed(.truncated)
            throw FileDecryptionError.truncated
        }
    }

    /// One-shot decryption of a whole file in memory.
    public static func decrypt(_ ciphertext: [UInt8], fileKey: FileKey, nodeID: String) throws -> [UInt8] {
        let decryptor = FileDecryptor(fileKey: fileKey, nodeID: nodeID)
        let plaintext = try decryptor.update(ciphertext)
        try decryptor.finish()
        return plaintext
    }

    private func process() throws(FileDecryptionError) -> [UInt8] {
        var output: [UInt8] = []
        var offset = 0
        while true {
            let available = buffer.count - offset
            switch phase {
            case .failed(let error):
                throw error
            case .done:
                guard available == 0 else { throw .trailingData }
                buffer = []
                return output
            case .header:
                guard available >= 1 else { break }
                guard buffer[offset] == FileFormat.version else { throw .unsupportedVersion(buffer[offset]) }
                guard available >= FileFormat.headerSize else { break }
                try readHeader(at: offset)
                offset += FileFormat.headerSize
                phase = .chunks
                continue
            case .chunks:
                guard available >= FileFormat.frameSize else { break }
                let frameTag = Array(buffer[offset..<offset + FileFormat.streamTagBytes])
                let index = buffer.readBigEndian(UInt64.self, at: offset + FileFormat.streamTagBytes)
                let length = buffer.readBigEndian(UInt32.self, at: offset + FileFormat.streamTagBytes + 8)
                guard frameTag == streamTag else { throw .chunkFromAnotherFile(index: nextIndex) }
                guard index == nextIndex else { throw .chunkOutOfOrder(expected: nextIndex, found: index) }
                guard Int(length) <= chunkSize else { throw .malformedChunk(index: index) }
                let total = FileFormat.frameSize + Int(length) + Sodium.SecretStream.overheadBytes
                guard available >= total else { break }
                let ciphertext = Array(buffer[offset + FileFormat.frameSize..<offset + total])
                let ad = FileFormat.chunkAssociatedData(nodeID: nodeID, streamTag: streamTag, index: index, length: length)
                guard let (plaintext, chunkTag) = try? puller!.pull(ciphertext, additionalData: ad) else {
                    throw .chunkAuthenticationFailed(index: index)
                }
                switch chunkTag {
                case .final:
                    phase = .done
                case .message where Int(length) == chunkSize:
                    nextIndex += 1
                default:
                    // Only the last chunk may be short, and the encryptor uses no other tags.
                    throw .malformedChunk(index: index)
                }
                output += plaintext
                offset += total
                continue
            }
            // Not enough bytes for the next step: keep the rest for the next update.
            buffer.removeFirst(offset)
            return output
        }
    }

    private func readHeader(at offset: Int) throws(FileDecryptionError) {
        let size = buffer.readBigEndian(UInt32.self, at: offset + 1)
        guard (1...UInt32(FileEncryptor.maximumChunkSize)).contains(size) else { throw .malformedHeader }
        let headerStart = offset + 5
        let streamHeader = Array(buffer[headerStart..<headerStart + Sodium.SecretStream.headerBytes])
        let check = Array(buffer[headerStart + Sodium.SecretStream.headerBytes..<offset + FileFormat.headerSize])
        guard Sodium.constantTimeEqual(check, FileFormat.keyCheck(fileKey: fileKey, chunkSize: size, streamHeader: streamHeader)) else {
            throw .wrongKey
        }
        guard let puller = try? Sodium.SecretStream.Puller(header: streamHeader, key: fileKey.subkey(for: .fileContent).bytes) else {
            throw .wrongKey
        }
        self.puller = puller
        streamTag = FileFormat.streamTag(streamHeader: streamHeader)
        chunkSize = Int(size)
    }
}
