@testable import Accounts
import CoffreCore
import Testing

/// The address normalisation every signup, prelogin and login goes through:
/// two spellings of one address must land on one account, and anything that
/// is not an address is a 400.
struct ValidateEmailTests {
    @Test(arguments: [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM\t", "alice@example.com"),
        ("\u{00A0}bob@example.org\u{2003}", "bob@example.org"),  // no-break and em space are blanks too
        ("ÉLODIE@exemple.fr", "élodie@exemple.fr"),
        ("a@b.c", "a@b.c"),
    ])
    func normalises(raw: String, expected: String) throws {
        #expect(try Validate.email(raw) == expected)
    }

    @Test(arguments: [
        "", "   ", "not-an-email", "@example.com", "alice@example", "alice@@example.com", "a@b@example.com",
        "alice @example.com", "alice@exa mple.com", "alice@example.com\n", "\nalice@example.com",
        "alice@exam\u{2028}ple.com", "alice\t@example.com",
        String(repeating: "a", count: 250) + "@b.co",
    ])
    func rejects(raw: String) {
        #expect(throws: Problem.self) { try Validate.email(raw) }
    }
}
