// Signed notes and checkpoints. The PeterNeumann key, note and signature are
// the reference example of golang.org/x/mod/sumdb/note (note_test.go), the
// implementation C2SP signed-note describes: reproducing its signature byte
// for byte means Go verifiers accept our checkpoints.
import Foundation
import KeyTransparency
import Sodium
import XCTest

final class SignedNoteTests: XCTestCase {
    static let peterVerifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    /// From the reference signer key "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz":
    /// the bytes after the 0x01 type are the Ed25519 seed.
    static let peterSeed = Array(Data(base64Encoded: "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")!.dropFirst())
    static let peterText = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let peterNote = peterText + "\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

    func testReferenceNoteVerifiesAndIsReproducedByteForByte() throws {
        let verifier = try NoteVerifier(verifierKey: Self.peterVerifierKey)
        XCTAssertEqual(try verifier.open(note: Self.peterNote), Self.peterText)
        let signer = try NoteSigner(name: "PeterNeumann", seed: Self.peterSeed)
        XCTAssertEqual(signer.verifierKey, Self.peterVerifierKey)
        XCTAssertEqual(signer.sign(text: Self.peterText), Self.peterNote)
        // One changed letter of the text.
        XCTAssertThrowsError(try verifier.open(note: Self.peterNote.replacingOccurrences(of: "cryptography", with: "cryptographY"))) {
            XCTAssertEqual($0 as? NoteError, .badSignature)
        }
    }

    func testMangledVerifierKeysAreRefused() {
        let key = Self.peterVerifierKey
        for bad in [String(key.dropLast()), "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                    "Peter+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "PeterNeumann+c74f20a3",
                    "PeterNeumann+c74f20a3+AhpcQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", ""] {
            XCTAssertThrowsError(try NoteVerifier(verifierKey: bad), bad)
        }
    }

    func testCheckpointRoundTripAndRefusals() throws {
        let signer = try NoteSigner(name: "coffre.test/keys", seed: Sodium.randomBytes(32))
        let other = try NoteSigner(name: "coffre.test/keys", seed: Sodium.randomBytes(32))
        let checkpoint = Checkpoint(origin: "coffre.test/keys", size: 42, rootHash: MerkleHash.leaf([7]), time: 1_796_000_000)
        let note = signer.sign(checkpoint)
        XCTAssertTrue(note.hasPrefix("coffre.test/keys\n42\n\(Data(checkpoint.rootHash).base64EncodedString())\ntime 1796000000\n\n\u{2014} coffre.test/keys "))
        let verifier = try NoteVerifier(verifierKey: signer.verifierKey)
        XCTAssertEqual(try verifier.verify(note: note), checkpoint)

        // Signed by another key of the same name: not ours.
        XCTAssertThrowsError(try verifier.verify(note: other.sign(checkpoint))) { XCTAssertEqual($0 as? NoteError, .unknownKey) }
        // Another size under our signature line.
        let forged = note.replacingOccurrences(of: "\n42\n", with: "\n43\n")
        XCTAssertThrowsError(try verifier.verify(note: forged)) { XCTAssertEqual($0 as? NoteError, .badSignature) }
        // Our signature next to a stranger's is enough; a stranger's alone is not.
        let both = note + other.sign(checkpoint).components(separatedBy: "\n\n")[1]
        XCTAssertEqual(try verifier.verify(note: both), checkpoint)
        XCTAssertThrowsError(try verifier.verify(note: String(note.dropLast())))
        XCTAssertThrowsError(try Checkpoint.parse(body: "origin\n-1\nAAAA\n"))
        XCTAssertThrowsError(try Checkpoint.parse(body: "origin\n01\n\(Data(checkpoint.rootHash).base64EncodedString())\n"))
    }
}

final class KeyLogEntryTests: XCTestCase {
    func keys() -> (x: String, ed: String, sk: [UInt8]) {
        let (edPK, edSK) = Sodium.Sign.keyPair()
        let (xPK, _) = Sodium.Box.keyPair()
        return (Sodium.base64URLEncode(xPK), Sodium.base64URLEncode(edPK), edSK)
    }

    func publish(_ k: (x: String, ed: String, sk: [UInt8]), account: String, version: UInt64 = 1) throws -> KeyLogEntry {
        let signature = try Sodium.Sign.detached(KeyLogEntry.selfSignedMessage(x25519: k.x, ed25519: k.ed), secretKey: k.sk)
        return KeyLogEntry(tenant: "00000000-0000-0000-0000-000000000001", account: account, action: .publish, version: version,
                           x25519: k.x, ed25519: k.ed, selfSignature: Sodium.base64URLEncode(signature), prevSignature: nil, reason: nil)
    }

    func testEncodingIsCanonicalAndParsesBack() throws {
        let entry = try publish(keys(), account: "0c6f1e1a-0000-4000-8000-000000000002")
        let bytes = entry.encoded()
        XCTAssertEqual(try KeyLogEntry(parsing: bytes), entry)
        XCTAssertEqual(entry.leafHash, MerkleHash.leaf(bytes))
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasPrefix("coffre-key-entry-v1\ntenant 00000000-0000-0000-0000-000000000001\n"))
        // Non-canonical variants are refused: trailing space, missing newline, reordered fields, version 0.
        let text = String(decoding: bytes, as: UTF8.self)
        for bad in [text.replacingOccurrences(of: "version 1\n", with: "version 01\n"), String(text.dropLast()),
                    text.replacingOccurrences(of: "action publish", with: "action publish "),
                    text.replacingOccurrences(of: "version 1\n", with: "version 0\n"),
                    text.replacingOccurrences(of: "action publish", with: "action delete")] {
            XCTAssertThrowsError(try KeyLogEntry(parsing: Array(bad.utf8)))
        }
        XCTAssertNoThrow(try entry.verifySignatures(previousEd25519: nil))
    }

    func testRotationNeedsThePreviousKeysSignature() throws {
        let old = keys(), new = keys(), stranger = keys()
        let account = "0c6f1e1a-0000-4000-8000-000000000003"
        var rotate = try publish(new, account: account, version: 2)
        rotate.action = .rotate
        let transition = KeyLogEntry.transitionMessage(account: account, action: .rotate, version: 2, x25519: new.x, ed25519: new.ed)
        rotate.prevSignature = Sodium.base64URLEncode(try Sodium.Sign.detached(transition, secretKey: old.sk))
        XCTAssertNoThrow(try rotate.verifySignatures(previousEd25519: old.ed))
        XCTAssertThrowsError(try rotate.verifySignatures(previousEd25519: stranger.ed))
        XCTAssertThrowsError(try rotate.verifySignatures(previousEd25519: nil))
        // The transition signature does not carry over to another version.
        var replayed = rotate
        replayed.version = 3
        XCTAssertThrowsError(try replayed.verifySignatures(previousEd25519: old.ed))
        // A self-signature by another key is refused.
        var wrongSelf = try publish(new, account: account)
        wrongSelf.ed25519 = stranger.ed
        XCTAssertThrowsError(try wrongSelf.verifySignatures(previousEd25519: nil))

        let revoke = KeyLogEntry(tenant: rotate.tenant, account: account, action: .revoke, version: 3, x25519: nil, ed25519: nil,
                                 selfSignature: nil, prevSignature: nil, reason: "account-deleted")
        XCTAssertNoThrow(try revoke.verifySignatures(previousEd25519: new.ed))
        var clientRevoke = revoke
        clientRevoke.reason = "client"
        XCTAssertThrowsError(try clientRevoke.verifySignatures(previousEd25519: new.ed), "a client revoke is signed")
        let message = KeyLogEntry.transitionMessage(account: account, action: .revoke, version: 3, x25519: nil, ed25519: nil)
        clientRevoke.prevSignature = Sodium.base64URLEncode(try Sodium.Sign.detached(message, secretKey: new.sk))
        XCTAssertNoThrow(try clientRevoke.verifySignatures(previousEd25519: new.ed))
        XCTAssertEqual(try KeyLogEntry(parsing: clientRevoke.encoded()), clientRevoke)
    }
}
