@testable import CoffreCore
import Foundation
import Logging
import Testing

@Suite struct JSONLogHandlerTests {
    @Test func escapesEveryControlCharacter() throws {
        var line = ""
        JSONLogHandler.appendString("a\"b\\c\nd\u{01}é", to: &line)
        #expect(line == "\"a\\\"b\\\\c\\nd\\u0001é\"")
        let parsed = try JSONSerialization.jsonObject(with: Data(("[" + line + "]").utf8), options: []) as! [String]
        #expect(parsed == ["a\"b\\c\nd\u{01}é"])
    }

    @Test func nestedMetadataIsValidJSON() throws {
        var line = ""
        JSONLogHandler.append(.dictionary(["k": .array([.string("x"), .stringConvertible(42)])]), to: &line)
        let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: [String]]
        #expect(parsed == ["k": ["x", "42"]])
    }
}
