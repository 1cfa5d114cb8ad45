// Streams a file's plaintext into the encrypted format (see FileFormat). It
// holds back up to one chunk so the last chunk, whatever its size, is the one
// tagged FINAL, which is what makes truncation detectable.
import Sodium

public enum FileEncryptionError: Error, Equatable, Sendable {
    case invalidChunkSize(Int)
    case alreadyFinished
    /// A header to resume from that is not a secretstream header.
    case invalidStreamHeader
}

/// Not Sendable: one encryptor is one ordered stream.
public final class FileEncryptor {
    public static let defaultChunkSize = 64 * 1024
    public static let maximumChunkSize = 16 * 1024 * 1024

    public let chunkSize: Int
    private let nodeID: String
    private let pusher: any SecretStreamPushing
    private let streamTag: [UInt8]
    private var unsentHeader: [UInt8]?
    private var pending: [UInt8] = []
    private var nextIndex: UInt64 = 0
    private var finished = false

    /// The content is encrypted under the node key's content subkey; `nodeID`
    /// is bound into every chunk.
    public convenience init(fileKey: FileKey, nodeID: String, chunkSize: Int = FileEncryptor.defaultChunkSize) throws {
        guard (1...Self.maximumChunkSize).contains(chunkSize) else { throw FileEncryptionError.invalidChunkSize(chunkSize) }
        try self.init(fileKey: fileKey, nodeID: nodeID, chunkSize: chunkSize,
                      pusher: Sodium.SecretStream.Pusher(key: fileKey.subkey(for: .fileContent).bytes))
    }

    /// The same encryption again: given the `streamHeader` of an earlier
    /// encryptor with this key, node and chunk size, and the same plaintext,
    /// it outputs the same bytes. For resuming an upload, and only with
    /// plaintext known to be unchanged (different plaintext under a header
    /// already sent would reuse the keystream).
    public convenience init(fileKey: FileKey, nodeID: String, chunkSize: Int, resumingStreamHeader header: [UInt8]) throws {
        guard (1...Self.maximumChunkSize).contains(chunkSize) else { throw FileEncryptionError.invalidChunkSize(chunkSize) }
        guard header.count == Sodium.SecretStream.headerBytes else { throw FileEncryptionError.invalidStreamHeader }
        try self.init(fileKey: fileKey, nodeID: nodeID, chunkSize: chunkSize,
                      pusher: ResumedPusher(key: fileKey.subkey(for: .fileContent).bytes, header: header))
    }

    private init(fileKey: FileKey, nodeID: String, chunkSize: Int, pusher: any SecretStreamPushing) {
        self.chunkSize = chunkSize
        self.nodeID = nodeID
        self.pusher = pusher
        streamTag = FileFormat.streamTag(streamHeader: pusher.header)
        unsentHeader = [FileFormat.version] + UInt32(chunkSize).bigEndianBytes + pusher.header
            + FileFormat.keyCheck(fileKey: fileKey, chunkSize: UInt32(chunkSize), streamHeader: pusher.header)
    }

    /// The random secretstream header of this encryption. Public (it is in
    /// the file header); keep it to resume (`init(…resumingStreamHeader:)`).
    public var streamHeader: [UInt8] { pusher.header }

    /// Encrypted bytes ready to send (the header comes out with the first
    /// call). Write the outputs of every call and of `finish()` in order.
    public func update(_ plaintext: some Sequence<UInt8>) throws -> [UInt8] {
        guard !finished else { throw FileEncryptionError.alreadyFinished }
        pending.append(contentsOf: plaintext)
        var output = takeHeader()
        var start = 0
        // Strictly more than a chunk: the chunk at hand is not the last one.
        while pending.count - start > chunkSize {
            output += try seal(Array(pending[start..<start + chunkSize]), tag: .message)
            start += chunkSize
        }
        if start > 0 { pending.removeFirst(start) }
        return output
    }

    /// The last chunk, tagged FINAL (empty for an empty file).
    public func finish() throws -> [UInt8] {
        guard !finished else { throw FileEncryptionError.alreadyFinished }
        finished = true
        var output = takeHeader()
        output += try seal(pending, tag: .final)
        Sodium.wipe(&pending)
        pending = []
        return output
    }

    /// One-shot encryption of a whole file in memory.
    public static func encrypt(_ plaintext: [UInt8], fileKey: FileKey, nodeID: String,
                               chunkSize: Int = defaultChunkSize) throws -> [UInt8] {
        let encryptor = try FileEncryptor(fileKey: fileKey, nodeID: nodeID, chunkSize: chunkSize)
        return try encryptor.update(plaintext) + encryptor.finish()
    }

    /// The exact size of the encrypted file, for quota reservations and upload lengths.
    public static func encryptedSize(plaintextSize: Int, chunkSize: Int = defaultChunkSize) -> Int {
        precondition(plaintextSize >= 0 && chunkSize > 0)
        let chunks = max(1, (plaintextSize + chunkSize - 1) / chunkSize)
        return FileFormat.headerSize + plaintextSize + chunks * FileFormat.chunkOverhead
    }

    /// The plaintext size an encrypted file of this size holds, or nil if no
    /// file encrypted with `chunkSize` can have that size.
    public static func plaintextSize(encryptedSize: Int, chunkSize: Int = defaultChunkSize) -> Int? {
        precondition(chunkSize > 0)
        let body = encryptedSize - FileFormat.headerSize
        guard body >= FileFormat.chunkOverhead else { return nil }
        let full = chunkSize + FileFormat.chunkOverhead
        let (fullChunks, rest) = body.quotientAndRemainder(dividingBy: full)
        if rest == 0 { return fullChunks * chunkSize }
        if rest > FileFormat.chunkOverhead { return fullChunks * chunkSize + rest - FileFormat.chunkOverhead }
        if rest == FileFormat.chunkOverhead, fullChunks == 0 { return 0 }
        return nil
    }

    private func takeHeader() -> [UInt8] {
        defer { unsentHeader = nil }
        return unsentHeader ?? []
    }

    private func seal(_ chunk: [UInt8], tag: Sodium.SecretStream.Tag) throws -> [UInt8] {
        let length = UInt32(chunk.count)
        let ad = FileFormat.chunkAssociatedData(nodeID: nodeID, streamTag: streamTag, index: nextIndex, length: length)
        let ciphertext = try pusher.push(chunk, additionalData: ad, tag: tag)
        let sealed = FileFormat.frame(streamTag: streamTag, index: nextIndex, length: length) + ciphertext
        nextIndex += 1
        return sealed
    }
}
