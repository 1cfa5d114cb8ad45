import CoffreCore
import Foundation

/// Settings of the S3-compatible blob store (environment variables):
///
/// | variable | default |
/// |---|---|
/// | `INGEST_S3_ENDPOINT` | `https://s3.<region>.amazonaws.com` (path-style requests: `<endpoint>/<bucket>/<key>`) |
/// | `INGEST_S3_BUCKET` | required |
/// | `INGEST_S3_REGION` | `us-east-1` |
/// | `INGEST_S3_ACCESS_KEY` | required |
/// | `INGEST_S3_SECRET_KEY` | required; never logged, never part of `description` |
/// | `INGEST_S3_PREFIX` | empty; keys are `<prefix>blobs/<id>` and `<prefix>uploads/<id>/…` (a missing final `/` is added) |
/// | `INGEST_S3_PART_BYTES` | 8 MiB; at least 5 MiB (S3's smallest non-final part), at most 5 GiB |
/// | `INGEST_S3_SPOOL_DIR` | the system temporary directory |
///
/// The spool directory holds, for each open upload, the part being filled
/// (at most `partSize` bytes, on disk rather than in memory). Nothing in it
/// needs to survive a restart: every checkpointed byte is in S3.
public struct S3Configuration: Sendable, CustomStringConvertible {
    public static let minimumPartSize = 5 * 1024 * 1024
    public static let maximumPartSize = 5 * 1024 * 1024 * 1024
    public static let defaultPartSize = 8 * 1024 * 1024

    public var endpoint: String
    public var bucket: String
    public var region: String
    public var accessKey: String
    public var secretKey: String
    public var prefix: String
    public var partSize: Int
    public var spoolDirectory: String

    public init(
        endpoint: String,
        bucket: String,
        region: String = "us-east-1",
        accessKey: String,
        secretKey: String,
        prefix: String = "",
        partSize: Int = S3Configuration.defaultPartSize,
        spoolDirectory: String = NSTemporaryDirectory()
    ) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.prefix = Self.normalizedPrefix(prefix)
        self.partSize = partSize
        self.spoolDirectory = spoolDirectory
    }

    public init(env: EnvironmentReader) throws(ConfigurationError) {
        region = env.string("INGEST_S3_REGION", default: "us-east-1")
        endpoint = env.string("INGEST_S3_ENDPOINT", default: "https://s3.\(region).amazonaws.com")
        _ = try S3Endpoint(parsing: endpoint, key: "INGEST_S3_ENDPOINT")
        bucket = try Self.required("INGEST_S3_BUCKET", env)
        guard !bucket.contains("/") else {
            throw ConfigurationError(key: "INGEST_S3_BUCKET", problem: "a bucket name has no \"/\"")
        }
        accessKey = try Self.required("INGEST_S3_ACCESS_KEY", env)
        secretKey = try Self.required("INGEST_S3_SECRET_KEY", env)
        prefix = Self.normalizedPrefix(env.string("INGEST_S3_PREFIX", default: ""))
        partSize = try env.int("INGEST_S3_PART_BYTES", default: Self.defaultPartSize,
                               range: Self.minimumPartSize...Self.maximumPartSize)
        spoolDirectory = env.string("INGEST_S3_SPOOL_DIR", default: NSTemporaryDirectory())
    }

    /// Everything but the secret key.
    public var description: String {
        "S3(endpoint: \(endpoint), bucket: \(bucket), region: \(region), access key: \(accessKey), "
            + "prefix: \"\(prefix)\", part: \(partSize) bytes, spool: \(spoolDirectory))"
    }

    static func required(_ key: String, _ env: EnvironmentReader) throws(ConfigurationError) -> String {
        guard let value = env.optionalString(key) else {
            throw ConfigurationError(key: key, problem: "required for the S3 blob store")
        }
        return value
    }

    /// `a/b` and `/a/b/` both become `a/b/`; empty stays empty.
    static func normalizedPrefix(_ raw: String) -> String {
        let trimmed = String(raw.drop { $0 == "/" })
        guard !trimmed.isEmpty else { return "" }
        return trimmed.hasSuffix("/") ? trimmed : trimmed + "/"
    }
}

/// Where requests go: scheme, host and port of the endpoint, and the `Host`
/// header value that is signed.
struct S3Endpoint: Sendable {
    var scheme: String
    var host: String
    var port: Int

    init(parsing raw: String, key: String = "INGEST_S3_ENDPOINT") throws(ConfigurationError) {
        guard let components = URLComponents(string: raw), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty else {
            throw ConfigurationError(key: key, problem: "expected http(s)://host[:port], got \"\(raw)\"")
        }
        guard components.path.isEmpty || components.path == "/", components.query == nil else {
            throw ConfigurationError(key: key, problem: "the endpoint has no path or query (requests are path-style: <endpoint>/<bucket>/<key>)")
        }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
    }

    var isDefaultPort: Bool { port == (scheme == "https" ? 443 : 80) }

    /// `host` or `host:port`, as sent and signed.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return isDefaultPort ? name : "\(name):\(port)"
    }

    var base: String { "\(scheme)://\(hostHeader)" }
}
