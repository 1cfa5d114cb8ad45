import AsyncHTTPClient
import ServiceLifecycle

/// Keeps the shared HTTP client alive for the process and shuts it down last.
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
