import CoffreCore
import Foundation
import Testing

/// CompactJSON replaces JSONEncoder on the outbox and signup paths, so it is
/// checked against JSONEncoder itself: the same bytes, and decoding to the
/// same value.
@Suite struct CompactJSONTests {
    static func referenceEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(RFC3339.format(date))
        }
        return encoder
    }

    static let awkwardStrings = [
        "", "plain", "quote \" and backslash \\", "a/b//c", "line\nfeed\r\ttab", "\u{08}\u{0C}", "nul \u{00} and \u{1F} and \u{7F}",
        "é, 漢字, emoji 🔐, flag 🇫🇷", "\u{2028}\u{2029}", "</script>", "trailing \\",
    ]

    static let values: [JSONValue] = {
        var values: [JSONValue] = [.null, .bool(true), .bool(false), .int(0), .int(-1), .int(Int64.max), .int(Int64.min),
                                   .array([]), .object([:])]
        values += awkwardStrings.map { .string($0) }
        values.append(.object(Dictionary(uniqueKeysWithValues: awkwardStrings.enumerated().map { ("k\($0.offset)_\($0.element)", .string($0.element)) })))
        values.append(.object([
            "version": .int(1), "master_by_password": .string("AbC-_09"), "nested": .object(["z": .null, "a": .array([.int(3), .bool(false), .string("x")])]),
            "zeta": .array([.object(["b": .int(2), "a": .int(1)])]), "Upper": .string("u"), "_under": .string("_"), "10": .int(10), "9": .int(9),
            // Decomposed é sorts before f by UTF-8 bytes but after it in String's order.
            "e\u{301}": .int(1), "f": .int(2),
        ]))
        return values
    }()

    @Test(arguments: values)
    func writesWhatJSONEncoderWrites(value: JSONValue) throws {
        let ours = try CompactJSON.encode(value)
        let reference = Array(try Self.referenceEncoder().encode(value))
        #expect(String(decoding: ours, as: UTF8.self) == String(decoding: reference, as: UTF8.self))
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(ours)) == value)
    }

    @Test(arguments: [0.5, -2.25, 1e-7, 123456.789, 1e300, -0.0, 3.0, 1e15, 1e16, Double.pi, 5e-324])
    func numbersReadBackAsJSONEncoderOutputDoes(number: Double) throws {
        let ours = try CompactJSON.encode(.array([.double(number)]))
        let reference = try Self.referenceEncoder().encode(JSONValue.array([.double(number)]))
        // Digits may be spelled differently (1e-07 or 1e-7); the value read back may not.
        let decodedOurs = try JSONDecoder().decode(JSONValue.self, from: Data(ours))
        let decodedReference = try JSONDecoder().decode(JSONValue.self, from: reference)
        #expect(decodedOurs == decodedReference, "\(String(decoding: ours, as: UTF8.self)) vs \(String(decoding: reference, as: UTF8.self))")
    }

    @Test func refusesNumbersJSONCannotHold() {
        for number in [Double.nan, .infinity, -.infinity] {
            #expect(throws: CompactJSON.NonFiniteNumber.self) { try CompactJSON.encode(.object(["n": .double(number)])) }
        }
    }

    @Test func eventEnvelopesMatchJSONEncoder() throws {
        let time = Date(timeIntervalSince1970: 1_795_921_200.25)
        for subject in [String?.none, "acct/1 \"quoted\""] {
            let event = CloudEvent(source: "/coffre/accounts", type: "coffre.account.created", time: time, subject: subject, tenant: "t-1",
                                   data: .object(["email": .string("a@example.com"), "keys": .object(["x25519": .string("AAA_-")])]))
            let ours = try event.encoded()
            let reference = Array(try Self.referenceEncoder().encode(event))
            #expect(String(decoding: ours, as: UTF8.self) == String(decoding: reference, as: UTF8.self))
            #expect(try CloudEvent.decode(ours) == event)
        }
    }

    @Test func yearsBeyondFourDigitsKeepTheirDigits() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 253_402_300_800)) == "10000-01-01T00:00:00.000Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: 253_402_300_799.5)) == "9999-12-31T23:59:59.500Z")
    }

    @Test(arguments: [0.0, 0.5, 0.125, 59.75, 1_795_921_200.25, 4_102_444_799.5, 951_782_400.0])
    func timesAreRFC3339WithMilliseconds(epoch: Double) throws {
        let text = RFC3339.format(Date(timeIntervalSince1970: epoch))
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        #expect(text == formatter.string(from: Date(timeIntervalSince1970: (epoch * 1000).rounded(.down) / 1000)))
        #expect(abs(try #require(RFC3339.parse(text)).timeIntervalSince1970 - epoch) < 0.001)
    }
}
