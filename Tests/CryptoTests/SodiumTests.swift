// The Sodium wrappers against published vectors and their edge cases.
import Testing
import Sodium

@Suite struct SodiumTests {
    @Test func sha256KnownAnswer() {
        #expect(hexString(Sodium.sha256(Array("abc".utf8)))
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func blake2bKnownAnswer() throws {
        // BLAKE2b-256 of the empty string.
        #expect(hexString(try Sodium.genericHash([]))
            == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
        let keyed = try Sodium.genericHash(Array("m".utf8), key: [UInt8](repeating: 7, count: 32))
        #expect(keyed != (try Sodium.genericHash(Array("m".utf8))))
        #expect(throws: SodiumError.self) { try Sodium.genericHash([], outputLength: 8) }
    }

    // libsodium's own crypto_pwhash (Argon2id v1.3, one lane) test vectors,
    // test/default/pwhash_argon2id.c and .exp, cases 0 and 6. RFC 9106's
    // vectors do not apply: they use a secret, associated data and 4 lanes,
    // none of which crypto_pwhash can express.
    @Test func argon2idLibsodiumVectors() throws {
        let case0 = try Sodium.argon2id(
            password: hex("a347ae92bce9f80f6f595a4480fc9c2fe7e7d7148d371e9487d75f5c23008ffae0"
                + "65577a928febd9b1973a5a95073acdbeb6a030cfc0d79caa2dc5cd011cef02c08d"
                + "a232d76d52dfbca38ca8dcbd665b17d1665f7cf5fe59772ec909733b24de97d6f5"
                + "8d220b20c60d7c07ec1fd93c52c31020300c6c1facd77937a597c7a6"),
            salt: hex("5541fbc995d5c197ba290346d2c559de"), opsLimit: 5, memLimit: 7_256_678, outputLength: 155)
        #expect(hexString(case0) == "18acec5d6507739f203d1f5d9f1d862f7c2cdac4f19d2bdff64487e60d969e3ced615337b9eec6ac4461c6ca07f0939741e57c24d0005c7ea171a0ee1e7348249d135b38f222e4dad7b9a033ed83f5ca27277393e316582033c74affe2566a2bea47f91f0fd9fe49ece7e1f79f3ad6e9b23e0277c8ecc4b313225748dd2a80f5679534a0700e246a79a49b3f74eb89ec6205fe1eeb941c73b1fcf1")

        let case6 = try Sodium.argon2id(
            password: hex("b540beb016a5366524d4605156493f9874514a5aa58818cd0c6dfffaa9e90205f17b"),
            salt: hex("44071f6d181561670bda728d43fb79b4"), opsLimit: 1, memLimit: 1_631_659, outputLength: 231)
        #expect(hexString(case6) == "7fb72409b0987f8190c3729710e98c3f80c5a8727d425fdcde7f3644d467fe973f5b5fee683bd3fce812cb9ae5e9921a2d06c2f1905e4e839692f2b934b682f11a2fe2b90482ea5dd234863516dba6f52dc0702d324ec77d860c2e181f84472bd7104fedce071ffa93c5309494ad51623d214447a7b2b1462dc7d5d55a1f6fd5b54ce024118d86f0c6489d16545aaa87b6689dad9f2fb47fda9894f8e12b87d978b483ccd4cc5fd9595cdc7a818452f915ce2f7df95ec12b1c72e3788d473441d884f9748eb14703c21b45d82fd667b85f5b2d98c13303b3fe76285531a826b6fc0fe8e3dddecf")
    }

    @Test func argon2idRejectsBadParameters() {
        let salt = [UInt8](repeating: 1, count: 16)
        #expect(throws: SodiumError.self) {
            try Sodium.argon2id(password: [1], salt: [1, 2, 3], opsLimit: 1, memLimit: 8 << 20, outputLength: 32)
        }
        #expect(throws: SodiumError.self) {
            try Sodium.argon2id(password: [1], salt: salt, opsLimit: 0, memLimit: 8 << 20, outputLength: 32)
        }
        #expect(throws: SodiumError.self) {
            try Sodium.argon2id(password: [1], salt: salt, opsLimit: 1, memLimit: 8 << 20, outputLength: 8)
        }
    }

    // RFC 8032 section 7.1, TEST 1 (empty message).
    @Test func ed25519Rfc8032Vector() throws {
        let (pk, sk) = try Sodium.Sign.keyPair(seed: hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        #expect(hexString(pk) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let signature = try Sodium.Sign.detached([], secretKey: sk)
        #expect(hexString(signature) == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        #expect(Sodium.Sign.verifyDetached(signature, message: [], publicKey: pk))
        #expect(!Sodium.Sign.verifyDetached(signature, message: [0], publicKey: pk))
        #expect(!Sodium.Sign.verifyDetached(Array(signature.dropLast()), message: [], publicKey: pk))
    }

    @Test func kdfIsDeterministicAndSeparatesContexts() throws {
        let key = Sodium.randomBytes(32)
        let a = try Sodium.kdfDerive(key: key, subkeyID: 1, context: "Context1")
        #expect(a == (try Sodium.kdfDerive(key: key, subkeyID: 1, context: "Context1")))
        #expect(a != (try Sodium.kdfDerive(key: key, subkeyID: 2, context: "Context1")))
        #expect(a != (try Sodium.kdfDerive(key: key, subkeyID: 1, context: "Context2")))
        #expect(throws: SodiumError.self) { try Sodium.kdfDerive(key: key, subkeyID: 1, context: "short") }
        #expect(throws: SodiumError.self) { try Sodium.kdfDerive(key: key, subkeyID: 1, context: "éééé") }
    }

    @Test func aeadRoundTripAndFailures() throws {
        let key = Sodium.randomBytes(32), nonce = Sodium.randomBytes(24)
        let sealed = try Sodium.AEAD.encrypt(Array("hello".utf8), additionalData: [1, 2], nonce: nonce, key: key)
        #expect(try Sodium.AEAD.decrypt(sealed, additionalData: [1, 2], nonce: nonce, key: key) == Array("hello".utf8))
        #expect(throws: SodiumError.verificationFailed) {
            try Sodium.AEAD.decrypt(sealed, additionalData: [1, 3], nonce: nonce, key: key)
        }
        #expect(throws: SodiumError.verificationFailed) {
            try Sodium.AEAD.decrypt(flipping(sealed, at: 0), additionalData: [1, 2], nonce: nonce, key: key)
        }
        #expect(throws: SodiumError.verificationFailed) {
            try Sodium.AEAD.decrypt([1, 2, 3], additionalData: [], nonce: nonce, key: key)
        }
        let empty = try Sodium.AEAD.encrypt([], additionalData: [], nonce: nonce, key: key)
        #expect(try Sodium.AEAD.decrypt(empty, additionalData: [], nonce: nonce, key: key) == [])
    }

    @Test func secretStreamDetectsReorderAndCarriesTags() throws {
        let key = Sodium.randomBytes(32)
        let pusher = try Sodium.SecretStream.Pusher(key: key)
        let c0 = try pusher.push([1], tag: .message)
        let c1 = try pusher.push([2], tag: .message)
        let c2 = try pusher.push([], tag: .final)

        let puller = try Sodium.SecretStream.Puller(header: pusher.header, key: key)
        #expect(throws: SodiumError.verificationFailed) { try puller.pull(c1) }
        let first = try puller.pull(c0)
        #expect(first.plaintext == [1] && first.tag == .message)
        #expect(try puller.pull(c1).plaintext == [2])
        let last = try puller.pull(c2)
        #expect(last.plaintext == [] && last.tag == .final)
    }

    @Test func sealedBoxAndPublicKeyRecomputation() throws {
        let (pk, sk) = Sodium.Box.keyPair()
        #expect(try Sodium.Box.publicKey(secretKey: sk) == pk)
        let sealed = try Sodium.Box.seal([9, 9, 9], recipientPublicKey: pk)
        #expect(sealed.count == 3 + Sodium.Box.sealOverheadBytes)
        #expect(try Sodium.Box.sealOpen(sealed, publicKey: pk, secretKey: sk) == [9, 9, 9])
        let (otherPK, otherSK) = Sodium.Box.keyPair()
        #expect(throws: SodiumError.verificationFailed) { try Sodium.Box.sealOpen(sealed, publicKey: otherPK, secretKey: otherSK) }
    }

    @Test func constantTimeEqual() {
        #expect(Sodium.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(Sodium.constantTimeEqual([], []))
    }

    @Test func base64URLIsStrict() {
        #expect(Sodium.base64URLEncode([0xFB, 0xFF]) == "-_8")
        #expect(Sodium.base64URLDecode("-_8") == [0xFB, 0xFF])
        #expect(Sodium.base64URLEncode([]) == "")
        #expect(Sodium.base64URLDecode("") == [])
        for count in 0..<40 {
            let bytes = Sodium.randomBytes(count)
            #expect(Sodium.base64URLDecode(Sodium.base64URLEncode(bytes)) == bytes)
        }
        #expect(Sodium.base64URLDecode("+/8") == nil)      // standard alphabet
        #expect(Sodium.base64URLDecode("-_8=") == nil)     // padding
        #expect(Sodium.base64URLDecode("-_8 ") == nil)     // trailing junk
        #expect(Sodium.base64URLDecode("-_9") == nil)      // non-canonical trailing bits
    }

    @Test func padding() throws {
        for count in [0, 1, 63, 64, 65] {
            let bytes = Sodium.randomBytes(count)
            let padded = try Sodium.pad(bytes, blockSize: 64)
            #expect(padded.count % 64 == 0 && padded.count > count)
            #expect(try Sodium.unpad(padded, blockSize: 64) == bytes)
        }
        #expect(throws: SodiumError.self) { try Sodium.unpad([UInt8](repeating: 0, count: 64), blockSize: 64) }
    }
}
