import CoffreCore
import Foundation
@testable import Ingest
import Testing

/// Parsing of tus headers and byte ranges: every malformed value is refused.
@Suite struct TusHeaderTests {
    @Test func integersAreDigitsOnly() throws {
        #expect(try Tus.integer("0", "X") == 0)
        #expect(try Tus.integer("1234567890", "X") == 1_234_567_890)
        for bad in ["", "-1", "+1", " 1", "1.0", "0x10", "99999999999999999999", "1e3"] {
            #expect(throws: Problem.self) { try Tus.integer(bad, "X") }
        }
        #expect(throws: Problem.self) { try Tus.integer(nil, "X") }
    }

    @Test func metadataPairs() throws {
        let parsed = try Tus.metadata("node \(Data("abc".utf8).base64EncodedString()),flag,key AQID")
        #expect(parsed["node"] == Array("abc".utf8))
        #expect(parsed["flag"] == [])
        #expect(parsed["key"] == [1, 2, 3])
        #expect(try Tus.metadata(nil).isEmpty)
        #expect(try Tus.metadata("  ").isEmpty)
        for bad in ["a b c", "k !!", "k AQID,k AQID", ",", "ké AQID"] {
            #expect(throws: Problem.self) { try Tus.metadata(bad) }
        }
    }

    @Test func checksumHeader() throws {
        let sha = Data(repeating: 1, count: 32).base64EncodedString()
        let parsed = try #require(try Tus.checksum("sha256 \(sha)"))
        #expect(parsed.0 == .sha256 && parsed.1 == Array(repeating: 1, count: 32))
        #expect(try Tus.checksum("SHA1 \(Data(repeating: 0, count: 20).base64EncodedString())")?.0 == .sha1)
        #expect(try Tus.checksum(nil) == nil)
        for bad in ["sha256", "md5 \(sha)", "sha256 \(Data(repeating: 1, count: 20).base64EncodedString())", "sha256 ***"] {
            #expect(throws: Problem.self) { try Tus.checksum(bad) }
        }
    }

    @Test func checksumState() {
        var state = ChecksumState(.sha256, expected: [UInt8](Data(base64Encoded: "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")!))
        Array("abc".utf8).withUnsafeBytes { state.update($0) }  // SHA-256("abc"), FIPS 180-2 example
        #expect(state.matches())
        var wrong = ChecksumState(.sha1, expected: Array(repeating: 0, count: 20))
        Array("abc".utf8).withUnsafeBytes { wrong.update($0) }
        #expect(!wrong.matches())
    }

    @Test func httpDate() {
        #expect(Tus.httpDate(Date(timeIntervalSince1970: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }

    @Test func byteRanges() {
        #expect(ByteRange.parse("bytes=0-9", size: 100) == .satisfiable(0..<10))
        #expect(ByteRange.parse("bytes=90-", size: 100) == .satisfiable(90..<100))
        #expect(ByteRange.parse("bytes=-5", size: 100) == .satisfiable(95..<100))
        #expect(ByteRange.parse("bytes=-500", size: 100) == .satisfiable(0..<100))
        #expect(ByteRange.parse("bytes=50-5000", size: 100) == .satisfiable(50..<100))
        #expect(ByteRange.parse("bytes=100-", size: 100) == .unsatisfiable)
        #expect(ByteRange.parse("bytes=-0", size: 100) == .unsatisfiable)
        #expect(ByteRange.parse("bytes=0-0", size: 0) == .unsatisfiable)
        for ignored in ["items=0-1", "bytes=5-1", "bytes=a-b", "bytes=0-1,5-6", "bytes=--1"] {
            #expect(ByteRange.parse(ignored, size: 100) == .ignored)
        }
    }
}
