import Testing
@testable import Ingest

// Placeholder replaced by the tus header parsing tests.
@Suite struct IngestPlaceholder {
    @Test func schemaName() { #expect(IngestApp.schema == "ingest") }
}
