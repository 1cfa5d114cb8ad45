// File contents: streaming round trips and each way a stored file can be
// damaged or spliced, each with its own error.
import Testing
@testable import CoffreCrypto
import Sodium

/// Offsets of the chunks in an encrypted file of `plaintextSize` bytes.
func chunkRanges(plaintextSize: Int, chunkSize: Int) -> [Range<Int>] {
    let chunks = max(1, (plaintextSize + chunkSize - 1) / chunkSize)
    var ranges: [Range<Int>] = []
    var start = FileFormat.headerSize
    for index in 0..<chunks {
        let length = index < chunks - 1 ? chunkSize : plaintextSize - chunkSize * (chunks - 1)
        ranges.append(start..<start + length + FileFormat.chunkOverhead)
        start += length + FileFormat.chunkOverhead
    }
    return ranges
}

@Suite struct FileEncryptionTests {
    static let small = 1024
    let key = FileKey.generate()

    @Test(arguments: [0, 1, small - 1, small, small + 1, 3 * small, 5 * small + 17])
    func roundTripSmallChunks(size: Int) throws {
        let plaintext = Sodium.randomBytes(size)
        let encrypted = try FileEncryptor.encrypt(plaintext, fileKey: key, nodeID: "node-1", chunkSize: Self.small)
        #expect(encrypted.count == FileEncryptor.encryptedSize(plaintextSize: size, chunkSize: Self.small))
        #expect(FileEncryptor.plaintextSize(encryptedSize: encrypted.count, chunkSize: Self.small) == size)
        #expect(encrypted.count == chunkRanges(plaintextSize: size, chunkSize: Self.small).last!.upperBound)
        #expect(try FileDecryptor.decrypt(encrypted, fileKey: key, nodeID: "node-1") == plaintext)
    }

    @Test(arguments: [0, 1, 65_536, 65_537, 3 * 65_536 + 5])
    func roundTripDefaultChunks(size: Int) throws {
        let plaintext = Sodium.randomBytes(size)
        let encrypted = try FileEncryptor.encrypt(plaintext, fileKey: key, nodeID: "node-1")
        #expect(encrypted.count == FileEncryptor.encryptedSize(plaintextSize: size))
        #expect(try FileDecryptor.decrypt(encrypted, fileKey: key, nodeID: "node-1") == plaintext)
    }

    @Test func emptyFileIsOneEmptyFinalChunk() throws {
        let encrypted = try FileEncryptor.encrypt([], fileKey: key, nodeID: "empty")
        #expect(encrypted.count == FileFormat.headerSize + FileFormat.chunkOverhead)
        #expect(try FileDecryptor.decrypt(encrypted, fileKey: key, nodeID: "empty") == [])
    }

    @Test func streamsInArbitraryPieces() throws {
        let plaintext = Sodium.randomBytes(7 * Self.small + 333)
        let encryptor = try FileEncryptor(fileKey: key, nodeID: "node-s", chunkSize: Self.small)
        var encrypted: [UInt8] = []
        var offset = 0
        for piece in [0, 1, 1023, 1024, 5000, 1] + [Int](repeating: 77, count: 20) {
            let end = min(plaintext.count, offset + piece)
            encrypted += try encryptor.update(plaintext[offset..<end])
            offset = end
        }
        encrypted += try encryptor.update(plaintext[offset...])
        encrypted += try encryptor.finish()
        #expect(throws: FileEncryptionError.alreadyFinished) { try encryptor.update([1]) }

        let decryptor = FileDecryptor(fileKey: key, nodeID: "node-s")
        var decrypted: [UInt8] = []
        offset = 0
        var step = 1
        while offset < encrypted.count {
            let end = min(encrypted.count, offset + step)
            decrypted += try decryptor.update(encrypted[offset..<end])
            offset = end
            step = step * 3 % 997 + 1
        }
        try decryptor.finish()
        #expect(decrypted == plaintext)
    }

    @Test func sizeHelpers() {
        #expect(FileEncryptor.encryptedSize(plaintextSize: 0) == 45 + 37)
        #expect(FileEncryptor.encryptedSize(plaintextSize: 65_536) == 45 + 65_536 + 37)
        #expect(FileEncryptor.encryptedSize(plaintextSize: 65_537) == 45 + 65_537 + 2 * 37)
        for size in [0, 1, 100, 1023, 1024, 1025, 4096, 10_000] {
            let encrypted = FileEncryptor.encryptedSize(plaintextSize: size, chunkSize: Self.small)
            #expect(FileEncryptor.plaintextSize(encryptedSize: encrypted, chunkSize: Self.small) == size)
        }
        #expect(FileEncryptor.plaintextSize(encryptedSize: 10, chunkSize: Self.small) == nil)
        // An empty final chunk after full chunks is never produced.
        #expect(FileEncryptor.plaintextSize(encryptedSize: 45 + 1024 + 37 + 37, chunkSize: Self.small) == nil)
    }

    @Test func invalidChunkSizes() {
        #expect(throws: FileEncryptionError.invalidChunkSize(0)) { try FileEncryptor(fileKey: key, nodeID: "n", chunkSize: 0) }
        #expect(throws: FileEncryptionError.invalidChunkSize(32 << 20)) {
            try FileEncryptor(fileKey: key, nodeID: "n", chunkSize: 32 << 20)
        }
    }

    // MARK: - Rejections

    func fourChunkFile(nodeID: String = "node-a", key: FileKey? = nil) throws -> (plaintext: [UInt8], encrypted: [UInt8], chunks: [Range<Int>]) {
        let plaintext = Sodium.randomBytes(3 * Self.small + 100)
        let encrypted = try FileEncryptor.encrypt(plaintext, fileKey: key ?? self.key, nodeID: nodeID, chunkSize: Self.small)
        return (plaintext, encrypted, chunkRanges(plaintextSize: plaintext.count, chunkSize: Self.small))
    }

    @Test func truncationIsDetected() throws {
        let file = try fourChunkFile()
        // At every chunk boundary (including right after the header), inside
        // the header, inside a frame and inside a chunk body.
        let cuts = file.chunks.map(\.lowerBound) + [0, 1, 10, file.chunks[1].lowerBound + 5,
                                                    file.chunks[2].lowerBound + 100, file.encrypted.count - 1]
        for cut in cuts {
            #expect(throws: FileDecryptionError.truncated) {
                try FileDecryptor.decrypt(Array(file.encrypted.prefix(cut)), fileKey: key, nodeID: "node-a")
            }
        }
    }

    @Test func reorderedRepeatedAndDroppedChunksAreDetected() throws {
        let file = try fourChunkFile()
        let e = file.encrypted, c = file.chunks
        let header = Array(e[..<c[0].lowerBound])
        func assemble(_ order: [Int]) -> [UInt8] { header + order.flatMap { Array(e[c[$0]]) } }

        #expect(throws: FileDecryptionError.chunkOutOfOrder(expected: 1, found: 2)) {
            try FileDecryptor.decrypt(assemble([0, 2, 1, 3]), fileKey: key, nodeID: "node-a")
        }
        #expect(throws: FileDecryptionError.chunkOutOfOrder(expected: 0, found: 1)) {
            try FileDecryptor.decrypt(assemble([1, 0, 2, 3]), fileKey: key, nodeID: "node-a")
        }
        #expect(throws: FileDecryptionError.chunkOutOfOrder(expected: 1, found: 0)) {
            try FileDecryptor.decrypt(assemble([0, 0, 1, 2, 3]), fileKey: key, nodeID: "node-a")
        }
        #expect(throws: FileDecryptionError.chunkOutOfOrder(expected: 1, found: 2)) {
            try FileDecryptor.decrypt(assemble([0, 2, 3]), fileKey: key, nodeID: "node-a")
        }
        // Rewriting the clear index to hide the swap does not help: the index is authenticated.
        var relabelled = assemble([0, 2, 1, 3])
        let second = c[1].lowerBound + FileFormat.streamTagBytes
        relabelled.replaceSubrange(second..<second + 8, with: UInt64(1).bigEndianBytes)
        #expect(throws: FileDecryptionError.chunkAuthenticationFailed(index: 1)) {
            try FileDecryptor.decrypt(relabelled, fileKey: key, nodeID: "node-a")
        }
    }

    @Test func chunksFromAnotherFileAreDetected() throws {
        let a = try fourChunkFile(nodeID: "node-a")
        let otherKey = FileKey.generate()
        let b = try fourChunkFile(nodeID: "node-b", key: otherKey)
        var spliced = a.encrypted
        spliced.replaceSubrange(a.chunks[1], with: b.encrypted[b.chunks[1]])
        #expect(throws: FileDecryptionError.chunkFromAnotherFile(index: 1)) {
            try FileDecryptor.decrypt(spliced, fileKey: key, nodeID: "node-a")
        }
        // Same key and node, encrypted twice: still two different streams.
        let again = try fourChunkFile(nodeID: "node-a")
        var mixed = a.encrypted
        mixed.replaceSubrange(a.chunks[2], with: again.encrypted[again.chunks[2]])
        #expect(throws: FileDecryptionError.chunkFromAnotherFile(index: 2)) {
            try FileDecryptor.decrypt(mixed, fileKey: key, nodeID: "node-a")
        }
        // A whole file presented as another node's, under the same key.
        #expect(throws: FileDecryptionError.chunkAuthenticationFailed(index: 0)) {
            try FileDecryptor.decrypt(a.encrypted, fileKey: key, nodeID: "node-b")
        }
    }

    @Test func wrongKeyIsDetected() throws {
        let file = try fourChunkFile()
        #expect(throws: FileDecryptionError.wrongKey) {
            try FileDecryptor.decrypt(file.encrypted, fileKey: .generate(), nodeID: "node-a")
        }
    }

    @Test func trailingDataIsDetected() throws {
        let file = try fourChunkFile()
        #expect(throws: FileDecryptionError.trailingData) {
            try FileDecryptor.decrypt(file.encrypted + [0], fileKey: key, nodeID: "node-a")
        }
        #expect(throws: FileDecryptionError.trailingData) {
            try FileDecryptor.decrypt(file.encrypted + file.encrypted[file.chunks[1]], fileKey: key, nodeID: "node-a")
        }
        // Garbage arriving in a later update, after the file was complete.
        let decryptor = FileDecryptor(fileKey: key, nodeID: "node-a")
        #expect(try decryptor.update(file.encrypted) == file.plaintext)
        #expect(throws: FileDecryptionError.trailingData) { try decryptor.update([1, 2, 3]) }
    }

    @Test func tamperedBytesAreDetected() throws {
        let file = try fourChunkFile()
        let c = file.chunks
        func decrypt(_ bytes: [UInt8]) throws { _ = try FileDecryptor.decrypt(bytes, fileKey: key, nodeID: "node-a") }

        #expect(throws: FileDecryptionError.unsupportedVersion(0)) { try decrypt(flipping(file.encrypted, at: 0)) }
        #expect(throws: FileDecryptionError.malformedHeader) { try decrypt(flipping(file.encrypted, at: 1)) }
        // Chunk size, secretstream header and key check are all covered by the key check.
        for index in [3, 4, 5, 20, 28, 29, 44] {
            #expect(throws: FileDecryptionError.wrongKey) { try decrypt(flipping(file.encrypted, at: index)) }
        }
        for (chunk, range) in c.enumerated() {
            let index = UInt64(chunk)
            let frame = range.lowerBound
            #expect(throws: FileDecryptionError.chunkFromAnotherFile(index: index)) { try decrypt(flipping(file.encrypted, at: frame)) }
            #expect(throws: FileDecryptionError.chunkOutOfOrder(expected: index, found: index ^ 1)) {
                try decrypt(flipping(file.encrypted, at: frame + 15))
            }
            for offset in [FileFormat.frameSize, FileFormat.frameSize + 1, range.count / 2, range.count - 1] {
                #expect(throws: FileDecryptionError.chunkAuthenticationFailed(index: index)) {
                    try decrypt(flipping(file.encrypted, at: frame + offset))
                }
            }
        }
        // A length field beyond the chunk size.
        var oversized = file.encrypted
        oversized.replaceSubrange(c[0].lowerBound + 16..<c[0].lowerBound + 20, with: UInt32(Self.small + 1).bigEndianBytes)
        #expect(throws: FileDecryptionError.malformedChunk(index: 0)) { try decrypt(oversized) }
    }

    @Test func errorsAreFinal() throws {
        let file = try fourChunkFile()
        let decryptor = FileDecryptor(fileKey: key, nodeID: "node-a")
        #expect(throws: FileDecryptionError.wrongKey) {
            try FileDecryptor(fileKey: .generate(), nodeID: "node-a").update(file.encrypted)
        }
        _ = try decryptor.update(file.encrypted[..<file.chunks[1].lowerBound])
        #expect(throws: FileDecryptionError.chunkOutOfOrder(expected: 1, found: 2)) {
            try decryptor.update(file.encrypted[file.chunks[2]])
        }
        #expect(throws: FileDecryptionError.chunkOutOfOrder(expected: 1, found: 2)) {
            try decryptor.update(file.encrypted[file.chunks[1]])
        }
        #expect(throws: FileDecryptionError.chunkOutOfOrder(expected: 1, found: 2)) { try decryptor.finish() }
    }
}
