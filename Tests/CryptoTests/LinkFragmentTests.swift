// Share-link fragments: the node key in clear (`k.`) or wrapped under a
// password (`p.`), bound to the link and the node.
import Foundation
import Testing
@testable import CoffreCrypto
import Sodium

@Suite struct LinkFragmentTests {
    let key = FileKey.generate()
    let link = "0b5c8a52-9a0e-4f7e-9d4c-3b1e6d1f2a01"
    let node = "6f0e2c1d-44aa-4c1e-8f00-2a9b3c4d5e6f"

    @Test func plainKeyRoundTripsThroughText() throws {
        let text = LinkFragment.plain(key).text
        #expect(text.hasPrefix("k."))
        let parsed = try LinkFragment(parsing: text)
        #expect(!parsed.needsPassword)
        #expect(try parsed.open(password: nil, linkID: link, nodeID: node) == key)
    }

    @Test func passwordWrapsAndOpensWithTheRightPasswordOnly() throws {
        let fragment = try LinkFragment.protect(key, password: "hunter2 ünïcode", linkID: link, nodeID: node, profile: .testing)
        let text = fragment.text
        #expect(text.hasPrefix("p.") && text.split(separator: ".").count == 3)
        // The key itself is nowhere in the fragment.
        #expect(!text.contains(Sodium.base64URLEncode(key.rawBytes)))
        let parsed = try LinkFragment(parsing: text)
        #expect(parsed.needsPassword)
        #expect(try parsed.open(password: "hunter2 ünïcode", linkID: link, nodeID: node, profile: .testing) == key)
        // NFC and NFD spellings of the same password are the same password.
        let decomposed = "hunter2 ünïcode".decomposedStringWithCanonicalMapping
        #expect(try parsed.open(password: decomposed, linkID: link, nodeID: node, profile: .testing) == key)

        #expect(throws: LinkFragmentError.wrongPassword) {
            try parsed.open(password: "hunter3 ünïcode", linkID: link, nodeID: node, profile: .testing)
        }
        #expect(throws: LinkFragmentError.passwordRequired) {
            try parsed.open(password: nil, linkID: link, nodeID: node, profile: .testing)
        }
        #expect(throws: LinkFragmentError.emptyPassword) {
            try parsed.open(password: "", linkID: link, nodeID: node, profile: .testing)
        }
    }

    @Test func wrappedKeyIsBoundToTheLinkAndTheNode() throws {
        let parsed = try LinkFragment(parsing: LinkFragment.protect(key, password: "pw", linkID: link, nodeID: node, profile: .testing).text)
        #expect(throws: LinkFragmentError.wrongPassword) {
            try parsed.open(password: "pw", linkID: UUID().uuidString.lowercased(), nodeID: node, profile: .testing)
        }
        #expect(throws: LinkFragmentError.wrongPassword) {
            try parsed.open(password: "pw", linkID: link, nodeID: UUID().uuidString.lowercased(), profile: .testing)
        }
        // Ids compare in lower case, as the server may send them in either.
        #expect(try parsed.open(password: "pw", linkID: link.uppercased(), nodeID: node.uppercased(), profile: .testing) == key)
    }

    @Test func alteredWrappedKeyOrSaltFails() throws {
        guard case let .password(salt, wrapped) = try LinkFragment.protect(key, password: "pw", linkID: link, nodeID: node, profile: .testing)
        else { Issue.record("not a password fragment"); return }
        for index in [0, 5, 30, wrapped.count - 1] {
            let altered = LinkFragment.password(salt: salt, wrapped: flipping(wrapped, at: index))
            #expect(throws: LinkFragmentError.wrongPassword) {
                try altered.open(password: "pw", linkID: link, nodeID: node, profile: .testing)
            }
        }
        let otherSalt = LinkFragment.password(salt: flipping(salt, at: 3), wrapped: wrapped)
        #expect(throws: LinkFragmentError.wrongPassword) {
            try otherSalt.open(password: "pw", linkID: link, nodeID: node, profile: .testing)
        }
        // The right password under another Argon2id cost derives another key.
        #expect(throws: LinkFragmentError.wrongPassword) {
            try LinkFragment.password(salt: salt, wrapped: wrapped)
                .open(password: "pw", linkID: link, nodeID: node, profile: PasswordProfile(opsLimit: 2, memLimit: 8 << 20))
        }
    }

    @Test(arguments: ["", "k", "k.", "k.AAAA", "x.abc", "p.abc", "p..", "p.AAAAAAAAAAAAAAAAAAAAAA.AAAA", "k.a.b"])
    func malformedFragmentsAreRefused(_ text: String) {
        #expect(throws: LinkFragmentError.self) { try LinkFragment(parsing: text) }
    }

    @Test func wrapKeyIsItsOwnPurpose() throws {
        // The link key is a kdf subkey of the Argon2id output, not the output itself.
        let salt = Sodium.randomBytes(16)
        let root = try Sodium.argon2id(password: Array("pw".utf8), salt: salt, opsLimit: 1, memLimit: 8 << 20, outputLength: 32)
        let wrapKey = try LinkFragment.deriveWrapKey(password: "pw", salt: salt, profile: .testing)
        #expect(wrapKey.bytes != root)
        #expect(wrapKey == SymmetricKey(unchecked: root).derive(.linkKeyWrap))
    }

    @Test func descriptionRedactsTheKey() throws {
        let text = "\(LinkFragment.plain(key))" + String(describing: LinkFragment.plain(key))
        #expect(!text.contains(Sodium.base64URLEncode(key.rawBytes)))
    }
}
