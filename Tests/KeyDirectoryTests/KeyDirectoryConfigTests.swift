import CoffreCore
import Foundation
@testable import KeyDirectory
import KeyTransparency
import Logging
import Testing

/// Configuration and the log key, without Postgres or Kafka.
struct KeyDirectoryConfigTests {
    static let logger = Logger(label: "keydir-config-test")

    @Test func defaultsAndOverridesFromTheEnvironment() throws {
        let defaults = try KeyDirectoryConfiguration(env: EnvironmentReader([:]))
        #expect(defaults.logOrigin == "coffre.local/keys" && defaults.logKey == nil)
        #expect(defaults.sequencer.batchSize == 1024 && defaults.sequencer.interval == .milliseconds(100))
        #expect(defaults.sequencer.checkpointInterval == .seconds(60) && defaults.consumerGroup == "keydir")
        let set = try KeyDirectoryConfiguration(env: EnvironmentReader([
            "KEYDIR_BATCH_SIZE": "64", "KEYDIR_SEQUENCE_INTERVAL_MS": "250", "KEYDIR_CHECKPOINT_INTERVAL_MS": "5000",
            "KEYDIR_LOG_ORIGIN": "example.org/keys", "KEYDIR_CONSUMER_GROUP": "kd2", "KEYDIR_PUBLISH_WAIT_MS": "0",
        ]))
        #expect(set.sequencer.batchSize == 64 && set.sequencer.interval == .milliseconds(250))
        #expect(set.sequencer.checkpointInterval == .seconds(5) && set.logOrigin == "example.org/keys")
        #expect(set.consumerGroup == "kd2" && set.publishWait == .zero)
        #expect(throws: ConfigurationError.self) { try KeyDirectoryConfiguration(env: EnvironmentReader(["KEYDIR_BATCH_SIZE": "0"])) }
    }

    @Test func logKeyIsTheConfiguredSeedOrADerivedDevelopmentKey() throws {
        let seed = [UInt8](repeating: 9, count: 32)
        let configured = try LogKey.signer(origin: "o.example/keys", seed: Base64URL.encode(seed), internalSecret: "s1", logger: Self.logger)
        #expect(configured.verifierKey == (try NoteSigner(name: "o.example/keys", seed: seed)).verifierKey)
        // Derived: stable for one secret, different for another.
        let a = try LogKey.signer(origin: "o.example/keys", seed: nil, internalSecret: "s1", logger: Self.logger)
        let b = try LogKey.signer(origin: "o.example/keys", seed: nil, internalSecret: "s1", logger: Self.logger)
        let c = try LogKey.signer(origin: "o.example/keys", seed: nil, internalSecret: "s2", logger: Self.logger)
        #expect(a.verifierKey == b.verifierKey && a.verifierKey != c.verifierKey)
        #expect(throws: ConfigurationError.self) {
            try LogKey.signer(origin: "o.example/keys", seed: Base64URL.encode([1, 2, 3]), internalSecret: "s1", logger: Self.logger)
        }
        // What it signs verifies with its published verifier key.
        let note = a.sign(Checkpoint(origin: "o.example/keys", size: 3, rootHash: Array(repeating: 1, count: 32), time: 1))
        #expect(try NoteVerifier(verifierKey: a.verifierKey).verify(note: note).size == 3)
    }

    @Test func routeListMatchesTheDocumentedLogAndKeyRoutes() {
        let routes = Set(KeyDirectoryApp.routeList())
        for route in ["GET /v1/log/checkpoint", "GET /v1/log/key", "GET /v1/log/proof/inclusion", "GET /v1/log/proof/consistency",
                      "GET /v1/log/entries/{index}", "GET /v1/keys/accounts/{account}", "GET /v1/keys/accounts/{account}/history",
                      "GET /v1/keys/lookup", "POST /v1/keys"] {
            #expect(routes.contains(route), "\(route) missing from \(routes.sorted())")
        }
    }
}
