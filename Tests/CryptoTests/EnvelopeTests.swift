// The envelope format and what its associated data binds.
import Testing
@testable import CoffreCrypto
import Sodium

@Suite struct EnvelopeTests {
    let key = SymmetricKey.random()
    let context = EnvelopeContext(owner: "acct-alice", purpose: .nodeKeyWrap, objectID: "node-42")
    let plaintext = Array("a wrapped key, say".utf8)

    @Test func roundTripAndLayout() throws {
        let sealed = try Envelope.seal(plaintext: plaintext, key: key, context: context)
        #expect(sealed.count == plaintext.count + Envelope.overhead)
        #expect(sealed[0] == 1)
        #expect(try Envelope.open(sealed, key: key, context: context) == plaintext)
        // A fresh random nonce every time.
        #expect(try Envelope.seal(plaintext: plaintext, key: key, context: context) != sealed)
        let empty = try Envelope.seal(plaintext: [], key: key, context: context)
        #expect(try Envelope.open(empty, key: key, context: context) == [])
    }

    @Test func everyTamperedByteIsRejected() throws {
        let sealed = try Envelope.seal(plaintext: plaintext, key: key, context: context)
        #expect(throws: EnvelopeError.unsupportedVersion(0)) {
            try Envelope.open(flipping(sealed, at: 0), key: key, context: context)
        }
        for index in 1..<sealed.count {
            #expect(throws: EnvelopeError.authenticationFailed) {
                try Envelope.open(flipping(sealed, at: index), key: key, context: context)
            }
        }
        #expect(throws: EnvelopeError.authenticationFailed) {
            try Envelope.open(Array(sealed.dropLast()), key: key, context: context)
        }
        #expect(throws: EnvelopeError.authenticationFailed) {
            try Envelope.open(sealed + [0], key: key, context: context)
        }
    }

    @Test func wrongKeyOwnerPurposeOrObjectIsRejected() throws {
        let sealed = try Envelope.seal(plaintext: plaintext, key: key, context: context)
        var otherOwner = context
        otherOwner.owner = "acct-bob"
        var otherPurpose = context
        otherPurpose.purpose = .accountAttributes
        var otherObject = context
        otherObject.objectID = "node-43"
        for wrong in [otherOwner, otherPurpose, otherObject] {
            #expect(throws: EnvelopeError.authenticationFailed) { try Envelope.open(sealed, key: key, context: wrong) }
        }
        #expect(throws: EnvelopeError.authenticationFailed) {
            try Envelope.open(sealed, key: .random(), context: context)
        }
    }

    @Test func fieldBoundariesAreUnambiguous() throws {
        let a = EnvelopeContext(owner: "ab", purpose: .attributes, objectID: "c")
        let b = EnvelopeContext(owner: "a", purpose: .attributes, objectID: "bc")
        let sealed = try Envelope.seal(plaintext: plaintext, key: key, context: a)
        #expect(throws: EnvelopeError.authenticationFailed) { try Envelope.open(sealed, key: key, context: b) }
    }

    @Test func malformedAndUnknownVersions() throws {
        #expect(throws: EnvelopeError.malformed) { try Envelope.open([], key: key, context: context) }
        #expect(throws: EnvelopeError.malformed) { try Envelope.open([1] + [UInt8](repeating: 0, count: 30), key: key, context: context) }
        var sealed = try Envelope.seal(plaintext: plaintext, key: key, context: context)
        sealed[0] = 2
        #expect(throws: EnvelopeError.unsupportedVersion(2)) { try Envelope.open(sealed, key: key, context: context) }
    }
}

@Suite struct KeyPurposeTests {
    @Test func contextsAreEightASCIICharactersAndUnique() {
        let contexts = KeyPurpose.allCases.map(\.context)
        for context in contexts {
            #expect(context.utf8.count == 8 && context.allSatisfy(\.isASCII))
        }
        #expect(Set(contexts).count == contexts.count)
        #expect(Set(KeyPurpose.allCases.map(\.subkeyID)).count == KeyPurpose.allCases.count)
    }

    @Test func purposeSubkeysAreDistinct() {
        let master = MasterKey.generate()
        let masterPurposes = KeyPurpose.allCases.filter { $0.source == .masterKey }
        let subkeys = masterPurposes.map { master.subkey(for: $0).bytes } + [master.key.bytes]
        #expect(Set(subkeys).count == masterPurposes.count + 1)
        #expect(master.subkey(for: .nodeKeyWrap) == master.subkey(for: .nodeKeyWrap))

        let node = FileKey.generate()
        let nodePurposes = KeyPurpose.allCases.filter { $0.source == .nodeKey }
        let nodeSubkeys = nodePurposes.map { node.subkey(for: $0).bytes } + [node.rawBytes]
        #expect(Set(nodeSubkeys).count == nodePurposes.count + 1)
    }

    @Test func nodeKeysWrapUnderTheMasterKey() throws {
        let master = MasterKey.generate()
        let node = FileKey.generate()
        let wrapped = try master.wrap(nodeKey: node, nodeID: "n1", owner: "acct-alice")
        #expect(try master.unwrapNodeKey(wrapped, nodeID: "n1", owner: "acct-alice") == node)
        #expect(throws: EnvelopeError.authenticationFailed) { try master.unwrapNodeKey(wrapped, nodeID: "n2", owner: "acct-alice") }
        #expect(throws: EnvelopeError.authenticationFailed) { try master.unwrapNodeKey(wrapped, nodeID: "n1", owner: "acct-bob") }
        #expect(throws: EnvelopeError.authenticationFailed) {
            try MasterKey.generate().unwrapNodeKey(wrapped, nodeID: "n1", owner: "acct-alice")
        }
    }
}
