// Encrypted names and attributes.
import Testing
@testable import CoffreCrypto
import Sodium

struct NodeAttributes: Codable, Equatable {
    var name: String
    var modified: Int
}

@Suite struct AttributesTests {
    let key = FileKey.generate()

    @Test func roundTrip() throws {
        let json = Array(#"{"name":"tax return 2012.pdf"}"#.utf8)
        let sealed = try Attributes.seal(json: json, fileKey: key, nodeID: "n1", owner: "acct-alice")
        #expect(try Attributes.open(sealed, fileKey: key, nodeID: "n1", owner: "acct-alice") == json)

        let value = NodeAttributes(name: "holiday.jpg", modified: 1_358_467_200)
        let sealedValue = try Attributes.seal(value, fileKey: key, nodeID: "n1", owner: "acct-alice")
        #expect(try Attributes.open(NodeAttributes.self, from: sealedValue, fileKey: key, nodeID: "n1", owner: "acct-alice") == value)
    }

    @Test func lengthIsPadded() throws {
        let short = try Attributes.seal(json: Array(#"{"name":"a"}"#.utf8), fileKey: key, nodeID: "n1", owner: "o")
        let longer = try Attributes.seal(json: Array(#"{"name":"a considerably longer name.txt"}"#.utf8), fileKey: key, nodeID: "n1", owner: "o")
        #expect(short.count == longer.count)
        #expect((short.count - Envelope.overhead) % 64 == 0)
    }

    @Test func boundToNodeOwnerKeyAndPurpose() throws {
        let json = Array(#"{"name":"secret.txt"}"#.utf8)
        let sealed = try Attributes.seal(json: json, fileKey: key, nodeID: "n1", owner: "acct-alice")
        #expect(throws: EnvelopeError.authenticationFailed) { try Attributes.open(sealed, fileKey: key, nodeID: "n2", owner: "acct-alice") }
        #expect(throws: EnvelopeError.authenticationFailed) { try Attributes.open(sealed, fileKey: key, nodeID: "n1", owner: "acct-bob") }
        #expect(throws: EnvelopeError.authenticationFailed) { try Attributes.open(sealed, fileKey: .generate(), nodeID: "n1", owner: "acct-alice") }
        for index in tamperPositions(count: sealed.count) where index > 0 {
            #expect(throws: EnvelopeError.authenticationFailed) {
                try Attributes.open(flipping(sealed, at: index), fileKey: key, nodeID: "n1", owner: "acct-alice")
            }
        }
        // Same key and ids, another purpose: an attributes envelope is not a wrapped node key.
        let asWrap = EnvelopeContext(owner: "acct-alice", purpose: .nodeKeyWrap, objectID: "n1")
        #expect(throws: EnvelopeError.authenticationFailed) {
            try Envelope.open(sealed, key: key.subkey(for: .attributes), context: asWrap)
        }
    }
}
