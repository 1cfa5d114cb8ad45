// Sealed, signed shares of node keys between users.
import Foundation
import Testing
@testable import CoffreCrypto
import Sodium

struct Person {
    let account: String
    let box = X25519KeyPair.generate()
    let signing = Ed25519KeyPair.generate()
}

@Suite struct ShareParcelTests {
    let alice = Person(account: "acct-alice")
    let bob = Person(account: "acct-bob")
    let carol = Person(account: "acct-carol")
    let mallory = Person(account: "acct-mallory")
    let nodeKey = FileKey.generate()

    func parcel(from sender: Person, to recipient: Person, sealedTo: X25519PublicKey? = nil) throws -> ShareParcel {
        try ShareParcel.seal(nodeKey: nodeKey, recipientX25519: sealedTo ?? recipient.box.publicKey,
                             senderSigningKey: sender.signing, senderAccount: sender.account,
                             recipientAccount: recipient.account, nodeID: "node-7")
    }

    func open(_ parcel: ShareParcel, as recipient: Person, from sender: Person, nodeID: String = "node-7") throws -> FileKey {
        try parcel.open(recipientKeys: recipient.box, recipientAccount: recipient.account,
                        senderSigningPublic: sender.signing.publicKey, senderAccount: sender.account, nodeID: nodeID)
    }

    @Test func roundTrip() throws {
        let sent = try parcel(from: alice, to: bob)
        #expect(try open(sent, as: bob, from: alice) == nodeKey)
        let decoded = try JSONDecoder().decode(ShareParcel.self, from: JSONEncoder().encode(sent))
        #expect(decoded == sent)
        #expect(try open(decoded, as: bob, from: alice) == nodeKey)
        #expect(!sent.sealedKey.isEmpty && sent.signature.count == 64)
    }

    @Test func parcelSignedBySomeoneElseIsRejected() throws {
        // Mallory seals a key of her choosing to Bob and claims it comes from Alice.
        let forged = try ShareParcel.seal(nodeKey: .generate(), recipientX25519: bob.box.publicKey,
                                          senderSigningKey: mallory.signing, senderAccount: alice.account,
                                          recipientAccount: bob.account, nodeID: "node-7")
        #expect(throws: ShareParcelError.invalidSignature) { try open(forged, as: bob, from: alice) }
    }

    @Test func resignedParcelIsRejected() throws {
        // Mallory intercepts Alice's parcel and re-signs it as her own share.
        let original = try parcel(from: alice, to: bob)
        let message = ShareParcel.signedMessage(version: 1, sender: mallory.account, recipient: bob.account, nodeID: "node-7",
                                                recipientX25519: bob.box.publicKey, sealed: original.sealedKey)
        let resigned = ShareParcel(version: 1, senderAccount: mallory.account, recipientAccount: bob.account, nodeID: "node-7",
                                   recipientX25519: bob.box.publicKey, sealedKey: original.sealedKey,
                                   signature: mallory.signing.signature(for: message))
        #expect(throws: ShareParcelError.senderMismatch) { try open(resigned, as: bob, from: mallory) }
    }

    @Test func parcelSealedToSomeoneElseIsRejected() throws {
        let forBob = try parcel(from: alice, to: bob)
        // Carol, as herself: not addressed to her.
        #expect(throws: ShareParcelError.wrongRecipient) { try open(forBob, as: carol, from: alice) }
        // Carol claiming Bob's account: sealed to Bob's key, not hers.
        #expect(throws: ShareParcelError.sealedToAnotherKey) {
            try forBob.open(recipientKeys: carol.box, recipientAccount: bob.account,
                            senderSigningPublic: alice.signing.publicKey, senderAccount: alice.account, nodeID: "node-7")
        }
        // The server substituted Carol's key for Bob's in the key directory:
        // Alice sealed to Carol, and Bob cannot be fooled into thinking it is his.
        let substituted = try parcel(from: alice, to: bob, sealedTo: carol.box.publicKey)
        #expect(throws: ShareParcelError.sealedToAnotherKey) { try open(substituted, as: bob, from: alice) }
        // Relabelling the clear recipient key breaks the signature.
        let relabelled = ShareParcel(version: 1, senderAccount: alice.account, recipientAccount: bob.account, nodeID: "node-7",
                                     recipientX25519: bob.box.publicKey, sealedKey: substituted.sealedKey,
                                     signature: substituted.signature)
        #expect(throws: ShareParcelError.invalidSignature) { try open(relabelled, as: bob, from: alice) }
    }

    @Test func addressingAndTamperingAreChecked() throws {
        let sent = try parcel(from: alice, to: bob)
        #expect(throws: ShareParcelError.wrongSender) { try open(sent, as: bob, from: carol) }
        #expect(throws: ShareParcelError.wrongNode) { try open(sent, as: bob, from: alice, nodeID: "node-8") }
        for index in [0, 31, sent.sealedKey.count - 1] {
            let tampered = ShareParcel(version: 1, senderAccount: sent.senderAccount, recipientAccount: sent.recipientAccount,
                                       nodeID: sent.nodeID, recipientX25519: sent.recipientX25519,
                                       sealedKey: flipping(sent.sealedKey, at: index), signature: sent.signature)
            #expect(throws: ShareParcelError.invalidSignature) { try open(tampered, as: bob, from: alice) }
        }
        let badSignature = ShareParcel(version: 1, senderAccount: sent.senderAccount, recipientAccount: sent.recipientAccount,
                                       nodeID: sent.nodeID, recipientX25519: sent.recipientX25519,
                                       sealedKey: sent.sealedKey, signature: flipping(sent.signature, at: 10))
        #expect(throws: ShareParcelError.invalidSignature) { try open(badSignature, as: bob, from: alice) }
        // Signed correctly by Alice, but the sealed bytes are not a box for Bob.
        let junk = Sodium.randomBytes(sent.sealedKey.count)
        let message = ShareParcel.signedMessage(version: 1, sender: alice.account, recipient: bob.account, nodeID: "node-7",
                                                recipientX25519: bob.box.publicKey, sealed: junk)
        let unsealable = ShareParcel(version: 1, senderAccount: alice.account, recipientAccount: bob.account, nodeID: "node-7",
                                     recipientX25519: bob.box.publicKey, sealedKey: junk,
                                     signature: alice.signing.signature(for: message))
        #expect(throws: ShareParcelError.cannotUnseal) { try open(unsealable, as: bob, from: alice) }
        let future = ShareParcel(version: 2, senderAccount: alice.account, recipientAccount: bob.account, nodeID: "node-7",
                                 recipientX25519: bob.box.publicKey, sealedKey: sent.sealedKey, signature: sent.signature)
        #expect(throws: ShareParcelError.unsupportedVersion(2)) { try open(future, as: bob, from: alice) }
    }
}

@Suite struct SafetyCodeTests {
    @Test func deterministicShortAndKeyDependent() throws {
        let person = Person(account: "a")
        let code = SafetyCode.fingerprint(ed25519Public: person.signing.publicKey, x25519Public: person.box.publicKey)
        #expect(code == SafetyCode.fingerprint(ed25519Public: person.signing.publicKey, x25519Public: person.box.publicKey))
        let groups = code.split(separator: " ")
        #expect(groups.count == 12 && groups.allSatisfy { $0.count == 5 && $0.allSatisfy(\.isNumber) })
        let other = Person(account: "b")
        #expect(code != SafetyCode.fingerprint(ed25519Public: other.signing.publicKey, x25519Public: person.box.publicKey))
        #expect(code != SafetyCode.fingerprint(ed25519Public: person.signing.publicKey, x25519Public: other.box.publicKey))
    }

    // Pins the derivation so two client versions always show the same code
    // (the expected string was recomputed independently with Python's hashlib).
    @Test func knownAnswer() throws {
        let ed = try Ed25519PublicKey(rawBytes: [UInt8](repeating: 1, count: 32))
        let x = try X25519PublicKey(rawBytes: [UInt8](repeating: 2, count: 32))
        #expect(SafetyCode.fingerprint(ed25519Public: ed, x25519Public: x) == "20207 08007 61292 22711 33573 62302 05091 76610 86915 71804 90838 38800")
    }
}
