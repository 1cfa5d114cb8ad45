// swift-tools-version:6.0
// Coffre: a zero-knowledge storage backend. One package, five service
// executables that share `CoffreCore`, plus the client SDK, the CLI and the
// load generator. See README.md for the layout.
import PackageDescription

let hummingbird: Target.Dependency = .product(name: "Hummingbird", package: "hummingbird")
let postgres: Target.Dependency = .product(name: "PostgresNIO", package: "postgres-nio")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let metrics: Target.Dependency = .product(name: "Metrics", package: "swift-metrics")
let prometheus: Target.Dependency = .product(name: "Prometheus", package: "swift-prometheus")
let lifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let httpClient: Target.Dependency = .product(name: "AsyncHTTPClient", package: "async-http-client")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let hdr: Target.Dependency = .product(name: "Histogram", package: "hdrhistogram-swift")
let httpTypes: Target.Dependency = .product(name: "HTTPTypes", package: "swift-http-types")
let hbTesting: Target.Dependency = .product(name: "HummingbirdTesting", package: "hummingbird")

/// Every service is a library (`Services/<Name>/Library`, imported by tests)
/// plus a thin executable (`Services/<Name>/Main`) whose `@main` only reads
/// configuration and runs.
func service(_ library: String, executable: String, extra: [Target.Dependency] = []) -> [Target] {
    [
        .target(
            name: library,
            dependencies: ["CoffreCore", hummingbird, postgres, logging, lifecycle] + extra,
            path: "Services/\(library)/Library"
        ),
        .executableTarget(
            name: executable,
            dependencies: [.target(name: library), "CoffreCore"],
            path: "Services/\(library)/Main"
        ),
    ]
}

let package = Package(
    name: "coffre",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gateway", targets: ["gateway"]),
        .executable(name: "accounts", targets: ["accounts"]),
        .executable(name: "keydir", targets: ["keydir"]),
        .executable(name: "ingest", targets: ["ingest"]),
        .executable(name: "quota", targets: ["quota"]),
        .executable(name: "coffre", targets: ["coffre"]),
        .executable(name: "coffre-testkit", targets: ["coffre-testkit"]),
        .executable(name: "coffre-bench", targets: ["coffre-bench"]),
        .executable(name: "coffre-load", targets: ["coffre-load"]),
        .library(name: "CoffreCore", targets: ["CoffreCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
    ],
    targets: [
        // C libraries: one system-library target each, found through pkg-config.
        // `rdkafka.pc` is the project's own (scripts/setup.sh writes it): it links
        // the static librdkafka 2.8.0 archive so Debian's 2.0.2 can never be loaded.
        .systemLibrary(name: "CRdKafka", path: "Shared/CRdKafka", pkgConfig: "rdkafka"),
        .systemLibrary(name: "CSodium", path: "Shared/CSodium", pkgConfig: "libsodium",
                       providers: [.apt(["libsodium-dev"])]),
        // The only module that touches librdkafka's C API.
        .target(name: "Kafka", dependencies: ["CRdKafka", logging, lifecycle], path: "Shared/Kafka"),
        // The only module that touches libsodium's C API.
        .target(name: "Sodium", dependencies: ["CSodium"], path: "Shared/Sodium"),
        // Linux's sync_file_range, which Swift's Glibc module does not export
        // (ingest starts writeback of each upload chunk with it).
        .target(name: "CFileSync", path: "Shared/CFileSync"),
        // The key directory's transparency log: RFC 6962 hashing and proofs,
        // C2SP checkpoints, the log entry format. The server builds the log
        // with it and clients verify with the same code.
        .target(name: "KeyTransparency", dependencies: ["Sodium"], path: "Shared/KeyTransparency"),
        // Client-side cryptography: key derivation, key wrapping, file
        // encryption, sealed shares. Only clients (SDK, CLI, load tool) use it.
        .target(name: "CoffreCrypto", dependencies: ["Sodium"], path: "Clients/Crypto"),
        // The client SDK: the public API over HTTP, with all cryptography on
        // the client side (CoffreCrypto). The CLI and the load tool use it.
        .target(name: "CoffreSDK", dependencies: ["CoffreCrypto", "KeyTransparency", "Sodium", httpClient, logging], path: "Clients/SDK"),
        .executableTarget(name: "coffre", dependencies: ["CoffreSDK", "CoffreCrypto", argumentParser], path: "Clients/CLI"),
        // What every service needs once: config, logs, metrics, Postgres,
        // migrations, events, outbox, idempotent consumption, errors, bootstrap.
        .target(
            name: "CoffreCore",
            dependencies: ["Kafka", "Sodium", hummingbird, httpTypes,
                           postgres, logging, metrics, prometheus, lifecycle,
                           .product(name: "HummingbirdCore", package: "hummingbird"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras")],
            path: "Shared/CoffreCore"
        ),
    ]
        // Gateway: AsyncHTTPClient to reach upstreams; the NIO, HTTPTypes and
        // HummingbirdCore modules its proxy and headers code imports directly.
        + service("Gateway", executable: "gateway", extra: [
            httpClient, httpTypes, .product(name: "HummingbirdCore", package: "hummingbird"), .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
        ])
        // swift-crypto only for TOTP's HMAC-SHA1 (RFC 6238), which libsodium lacks;
        // Sodium for the XChaCha20-Poly1305 sealing TOTP seeds at rest.
        + service("Accounts", executable: "accounts", extra: [.product(name: "Crypto", package: "swift-crypto"), "Sodium"])
        // Key directory: KeyTransparency for the log (hashes, proofs, signed
        // checkpoints, entries); Sodium for the log key and signature checks.
        + service("KeyDirectory", executable: "keydir", extra: ["KeyTransparency", "Sodium", httpClient])
        // Ingest: NIOFileSystem for the local blob store (fsync, positioned
        // writes off the event loop); NIOPosix's thread pool for direct-I/O
        // uploads; AsyncHTTPClient and swift-crypto
        // (SHA-256, HMAC for AWS Signature V4, SHA-1 for tus checksums) for
        // S3-compatible storage and checksums.
        + service("Ingest", executable: "ingest", extra: [
            httpClient, .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_NIOFileSystem", package: "swift-nio"), .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"), "CFileSync",
        ])
        // Quota: AsyncHTTPClient to read blob ingest's usage (reconciliation).
        + service("Quota", executable: "quota", extra: [httpClient])
        + [
            // Test support process: runs a consumer or migrator in its own OS
            // process so tests can kill -9 it and start it again.
            // Schemas and helpers shared by the testkit process and the tests.
            .target(
                name: "CoffreTestSupport",
                dependencies: ["CoffreCore", "Kafka", postgres, logging, httpClient, httpTypes, lifecycle],
                path: "Tools/TestSupport"
            ),
            .executableTarget(
                name: "coffre-testkit",
                dependencies: ["CoffreCore", "CoffreTestSupport", "Kafka", postgres, logging, argumentParser, lifecycle],
                path: "Tools/Testkit"
            ),
            .executableTarget(
                name: "coffre-bench",
                // Ingest: its HTTPQuotaClient makes the reservations of `coffre-bench reservations`.
                dependencies: ["CoffreCore", "CoffreTestSupport", "Ingest", "KeyDirectory", "KeyTransparency", "Kafka", "Sodium", postgres, logging, argumentParser, hdr,
                               httpClient],
                path: "Tools/Bench"
            ),
            // The launch-replay load generator: the engine is a library so
            // the smoke test can run it in-process; the executable reads flags.
            .target(
                name: "CoffreLoad",
                dependencies: ["CoffreSDK", "CoffreCrypto", "Sodium", hdr, httpClient, logging],
                path: "Tools/Load/Library"
            ),
            .executableTarget(
                name: "coffre-load",
                dependencies: ["CoffreLoad", argumentParser, logging],
                path: "Tools/Load/Main"
            ),
            .testTarget(
                name: "CoffreCoreTests",
                dependencies: ["CoffreCore", "CoffreTestSupport", "Kafka", "Sodium", hbTesting, postgres, lifecycle],
                path: "Tests/CoffreCoreTests"
            ),
            .testTarget(
                name: "KeyTransparencyTests",
                dependencies: ["KeyTransparency", "Sodium"],
                path: "Tests/KeyTransparencyTests",
                exclude: ["Vectors"]
            ),
            .testTarget(
                name: "CryptoTests",
                dependencies: ["CoffreCrypto", "Sodium"],
                path: "Tests/CryptoTests"
            ),
            .testTarget(
                name: "AccountsTests",
                dependencies: ["Accounts", "CoffreCore", "CoffreTestSupport", "Sodium", "Kafka", hbTesting, postgres],
                path: "Tests/AccountsTests"
            ),
            .testTarget(
                name: "IngestTests",
                dependencies: ["Ingest", "CoffreCore", "CoffreTestSupport", "Kafka", hbTesting, httpClient, httpTypes, postgres,
                               .product(name: "NIOCore", package: "swift-nio"), .product(name: "Crypto", package: "swift-crypto"), "CFileSync"],
                path: "Tests/IngestTests"
            ),
            .testTarget(
                name: "QuotaTests",
                dependencies: ["Quota", "Ingest", "CoffreCore", "CoffreTestSupport", "Kafka", hbTesting, httpClient, postgres],
                path: "Tests/QuotaTests"
            ),
            .testTarget(
                name: "KeyDirectoryTests",
                dependencies: ["KeyDirectory", "Ingest", "KeyTransparency", "CoffreCore", "CoffreCrypto", "CoffreTestSupport", "Kafka", "Sodium", hbTesting, httpClient, postgres],
                path: "Tests/KeyDirectoryTests"
            ),
            .testTarget(
                name: "SDKTests",
                dependencies: ["CoffreSDK", "CoffreCrypto", "KeyTransparency", "Sodium"],
                path: "Tests/SDKTests"
            ),
            .testTarget(
                name: "GatewayTests",
                dependencies: ["CoffreCore", "CoffreTestSupport", "Gateway", hbTesting, httpClient],
                path: "Tests/GatewayTests"
            ),
            .testTarget(
                name: "ServiceTests",
                dependencies: ["CoffreCore", "CoffreTestSupport", "CoffreSDK", "CoffreCrypto", "CoffreLoad", "Sodium", "Kafka", "Gateway", "Accounts", "KeyDirectory", "Ingest", "Quota",
                               hbTesting, httpClient, postgres, .product(name: "Crypto", package: "swift-crypto")],
                path: "Tests/ServiceTests"
            ),
        ],
    swiftLanguageModes: [.v6]
)
