// The encrypted file format, shared by FileEncryptor and FileDecryptor.
//
//     header:  version (1) ‖ chunk size (u32) ‖ secretstream header (24) ‖ key check (16)
//     chunk:   stream tag (8) ‖ index (u64) ‖ plaintext length (u32) ‖ secretstream ciphertext (length + 17)
//
// Every chunk holds `chunkSize` plaintext bytes except the last, which holds
// 0...chunkSize and carries the FINAL tag; an empty file is one empty FINAL
// chunk. Secretstream chains the chunks, and each chunk's associated data
// binds the version, node id, stream tag, index and length, so truncation,
// reordering and chunks from other files all fail authentication.
//
// The clear frame (stream tag, index, length) and the key check add 37 bytes
// per chunk and 16 per file; they cost nothing in security (all of it is
// authenticated) and let the decryptor tell the user *why* a file was
// rejected: wrong key, a chunk out of place, one from another file,
// truncation or trailing data. The key check is a BLAKE2b MAC of the header
// under its own subkey, which also commits the file to one key.
import Sodium

enum FileFormat {
    static let version: UInt8 = 1
    static let keyCheckBytes = 16
    static let headerSize = 1 + 4 + Sodium.SecretStream.headerBytes + keyCheckBytes
    static let streamTagBytes = 8
    static let frameSize = streamTagBytes + 8 + 4
    static let chunkOverhead = frameSize + Sodium.SecretStream.overheadBytes

    static func keyCheck(fileKey: FileKey, chunkSize: UInt32, streamHeader: [UInt8]) -> [UInt8] {
        var input = CanonicalEncoder(domain: "coffre.file-key-check")
        input.append(version)
        input.append(chunkSize)
        input.append(streamHeader)
        return try! Sodium.genericHash(input.bytes, key: fileKey.subkey(for: .fileKeyCheck).bytes, outputLength: keyCheckBytes)
    }

    /// The stream tag identifies one encryption of one file. It is public (a
    /// prefix of the random secretstream header) and only serves diagnosis.
    static func streamTag(streamHeader: [UInt8]) -> [UInt8] {
        Array(streamHeader.prefix(streamTagBytes))
    }

    static func frame(streamTag: [UInt8], index: UInt64, length: UInt32) -> [UInt8] {
        streamTag + index.bigEndianBytes + length.bigEndianBytes
    }

    static func chunkAssociatedData(nodeID: String, streamTag: [UInt8], index: UInt64, length: UInt32) -> [UInt8] {
        var ad = CanonicalEncoder(domain: "coffre.file-chunk")
        ad.append(version)
        ad.append(nodeID)
        ad.append(streamTag)
        ad.append(index)
        ad.append(length)
        return ad.bytes
    }
}
