// An encryption resumed from its stream header is the same encryption: the
// same bytes for the same plaintext, whatever pieces it arrives in.
import Testing
@testable import CoffreCrypto
import Sodium

@Suite struct ResumedEncryptionTests {
    let key = FileKey.generate()

    @Test(arguments: [0, 1, 1024, 1025, 10 * 1024 + 7])
    func sameHeaderSameBytes(size: Int) throws {
        let plaintext = Sodium.randomBytes(size)
        let first = try FileEncryptor(fileKey: key, nodeID: "node-r", chunkSize: 1024)
        let original = try first.update(plaintext) + first.finish()

        let again = try FileEncryptor(fileKey: key, nodeID: "node-r", chunkSize: 1024, resumingStreamHeader: first.streamHeader)
        #expect(again.streamHeader == first.streamHeader)
        var replayed: [UInt8] = []
        var offset = 0
        for piece in [1, 500, 3000, 1] + [Int](repeating: 999, count: 20) where offset < plaintext.count {
            let end = min(plaintext.count, offset + piece)
            replayed += try again.update(plaintext[offset..<end])
            offset = end
        }
        replayed += try again.update(plaintext[offset...]) + again.finish()
        #expect(replayed == original)
        #expect(try FileDecryptor.decrypt(replayed, fileKey: key, nodeID: "node-r") == plaintext)
    }

    @Test func freshEncryptionsDiffer() throws {
        let plaintext = Sodium.randomBytes(3000)
        let a = try FileEncryptor.encrypt(plaintext, fileKey: key, nodeID: "n")
        let b = try FileEncryptor.encrypt(plaintext, fileKey: key, nodeID: "n")
        #expect(a != b)
    }

    @Test func resumedWithAnotherKeyDoesNotOpen() throws {
        let first = try FileEncryptor(fileKey: key, nodeID: "n", chunkSize: 1024)
        _ = try first.update([1, 2, 3]) + first.finish()
        let other = FileKey.generate()
        let forged = try FileEncryptor(fileKey: other, nodeID: "n", chunkSize: 1024, resumingStreamHeader: first.streamHeader)
        let bytes = try forged.update([1, 2, 3]) + forged.finish()
        #expect(throws: FileDecryptionError.wrongKey) { try FileDecryptor.decrypt(bytes, fileKey: key, nodeID: "n") }
    }

    @Test func badHeadersAreRefused() {
        #expect(throws: FileEncryptionError.invalidStreamHeader) {
            try FileEncryptor(fileKey: key, nodeID: "n", chunkSize: 1024, resumingStreamHeader: [1, 2, 3])
        }
        #expect(throws: FileEncryptionError.invalidChunkSize(0)) {
            try FileEncryptor(fileKey: key, nodeID: "n", chunkSize: 0, resumingStreamHeader: Sodium.randomBytes(24))
        }
    }
}
