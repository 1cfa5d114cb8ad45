import CoffreTestSupport
import Foundation
@testable import Ingest
import Testing

/// The filesystem store passes the same conformance checks as the S3 one
/// (BlobStoreConformance), and refuses keys that are not its own.
@Suite struct FileBlobStoreTests {
    @Test func conformance() async throws {
        let dir = NSTemporaryDirectory() + "coffre-fs-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await BlobStoreConformance.runAll(partSize: 1 << 20) { try FileBlobStore(root: dir) }
    }

    @Test func keysOutsideItsLayoutAreRefused() async throws {
        let dir = NSTemporaryDirectory() + "coffre-fs-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FileBlobStore(root: dir)
        let id = UUID().uuidString.lowercased()
        for key in ["../../etc/passwd", "blobs/\(id.prefix(2))/../\(id)", "blobs/zz/\(id)", "blobs/\(id)", "/etc/passwd", ""] {
            await #expect(throws: BlobStoreError.self) { try await store.read(key: key, range: 0..<1) { _ in } }
            await #expect(throws: BlobStoreError.self) { try await store.delete(key: key) }
        }
    }
}
