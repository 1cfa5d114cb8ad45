import CoffreCore
import Testing

@Suite struct ConfigurationTests {
    @Test func defaultsRunOnOneMachine() throws {
        let common = try CommonConfiguration(env: EnvironmentReader([:]))
        #expect(common.postgresURL == "postgres://coffre:coffre@127.0.0.1:55432/coffre")
        #expect(common.postgresWait == .seconds(5))
        #expect(common.kafkaBrokers == "127.0.0.1:59092")
        let listen = try HTTPListenConfiguration(prefix: "ACCOUNTS", defaultPort: 8081, env: EnvironmentReader([:]))
        #expect(listen.port == 8081)
        #expect(listen.host == "127.0.0.1")
    }

    @Test func environmentOverridesDefaults() throws {
        let env = EnvironmentReader(["ACCOUNTS_HTTP_PORT": "9001", "COFFRE_POSTGRES_POOL_SIZE": "7", "COFFRE_KAFKA_BROKERS": "k:1",
                                     "COFFRE_POSTGRES_WAIT_SECONDS": "30"])
        #expect(try HTTPListenConfiguration(prefix: "ACCOUNTS", defaultPort: 8081, env: env).port == 9001)
        let common = try CommonConfiguration(env: env)
        #expect(common.postgresPoolSize == 7)
        #expect(common.postgresWait == .seconds(30))
        for bad in ["0", "301", "soon"] {
            do {
                _ = try CommonConfiguration(env: EnvironmentReader(["COFFRE_POSTGRES_WAIT_SECONDS": bad]))
                Issue.record("COFFRE_POSTGRES_WAIT_SECONDS=\(bad) was accepted")
            } catch {
                #expect(error.key == "COFFRE_POSTGRES_WAIT_SECONDS")
            }
        }
        #expect(common.kafkaBrokers == "k:1")
    }

    @Test func badNumbersNameTheSetting() {
        #expect(throws: ConfigurationError.self) {
            try HTTPListenConfiguration(prefix: "QUOTA", defaultPort: 1, env: EnvironmentReader(["QUOTA_HTTP_PORT": "eighty"]))
        }
        do {
            _ = try HTTPListenConfiguration(prefix: "QUOTA", defaultPort: 1, env: EnvironmentReader(["QUOTA_HTTP_PORT": "70000"]))
            Issue.record("a port above 65535 was accepted")
        } catch {
            #expect(error.key == "QUOTA_HTTP_PORT")
        }
    }

    @Test(arguments: [
        "mysql://a@b/c", "postgres://127.0.0.1:5432/db", "postgres://user@host", "not a url at all",
        "postgres://u@h/db?sslmode=require",
    ])
    func malformedPostgresURLsAreRejected(url: String) {
        #expect(throws: ConfigurationError.self) { try PostgresSetup.configuration(url: url, poolSize: 1) }
    }

    @Test func postgresURLIsParsed() throws {
        let config = try PostgresSetup.configuration(url: "postgres://coffre:secret@db.internal:6543/vault", poolSize: 9)
        #expect(config.host == "db.internal")
        #expect(config.port == 6543)
        #expect(config.username == "coffre")
        #expect(config.password == "secret")
        #expect(config.database == "vault")
        #expect(config.options.maximumConnections == 9)
    }
}
