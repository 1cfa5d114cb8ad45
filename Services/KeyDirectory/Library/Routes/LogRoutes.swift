import CoffreCore
import Foundation
import Hummingbird
import KeyTransparency
import PostgresNIO

/// The public log (docs/keydir-api.md, "The log"): the newest checkpoint,
/// the verifier key, proofs and entries. No token: a transparency log is
/// audited by anyone, and these answer the same for every caller. Proofs
/// are served for any tree size up to the newest checkpoint's.
struct LogRoutes: Sendable {
    let log: LogStore
    let signer: NoteSigner

    func add(to router: Router<CoffreRequestContext>) {
        router.get("/v1/log/checkpoint") { _, _ -> Response in
            guard let checkpoint = try await log.latestCheckpoint() else { throw KeyProblems.noCheckpoint }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: checkpoint.note)))
        }
        router.get("/v1/log/key") { _, _ -> LogKeyView in
            LogKeyView(origin: signer.name, verifier_key: signer.verifierKey)
        }
        router.get("/v1/log/proof/inclusion") { request, _ -> InclusionProofView in
            let index = try Self.number(request, "index")
            let size = try Self.number(request, "size")
            guard index < size else { throw Problem.badRequest("index must be below size", type: "urn:coffre:problem:bad-range") }
            return try await log.postgres.withConnection { connection in
                try await Self.requireSize(size, log: log, on: connection)
                let proof = try await log.inclusionProof(index: index, size: size, on: connection)
                return InclusionProofView(index: index, size: size, proof: proof.map(Base64URL.encode))
            }
        }
        router.get("/v1/log/proof/consistency") { request, _ -> ConsistencyProofView in
            let from = try Self.number(request, "from")
            let to = try Self.number(request, "to")
            guard from >= 1, from <= to else { throw Problem.badRequest("need 1 <= from <= to", type: "urn:coffre:problem:bad-range") }
            return try await log.postgres.withConnection { connection in
                try await Self.requireSize(to, log: log, on: connection)
                let proof = try await log.consistencyProof(from: from, to: to, on: connection)
                return ConsistencyProofView(from: from, to: to, proof: proof.map(Base64URL.encode))
            }
        }
        router.get("/v1/log/entries/{index}") { _, context -> IndexedEntry in
            guard let raw = context.parameters.get("index"), let index = UInt64(raw), index <= UInt64(Int64.max) else {
                throw Problem.badRequest("index must be a non-negative integer", type: "urn:coffre:problem:bad-range")
            }
            return try await log.postgres.withConnection { connection in
                // Only what a checkpoint covers: an entry being sequenced right
                // now has no proof to go with it yet.
                let checkpoint = try await log.requireCheckpoint(on: connection)
                guard index < checkpoint.size, let entry = try await log.entry(at: index, on: connection) else {
                    throw Problem.notFound("no entry \(index) in the log of size \(checkpoint.size)")
                }
                return IndexedEntry(index: index, entry: Base64URL.encode(entry))
            }
        }
    }

    static func number(_ request: Request, _ name: String) throws -> UInt64 {
        guard let raw = request.uri.queryParameters.get(name) else {
            throw Problem.badRequest("missing query parameter \(name)", type: "urn:coffre:problem:bad-range")
        }
        guard let value = UInt64(raw), value <= UInt64(Int64.max) else {
            throw Problem.badRequest("\(name) must be a non-negative integer", type: "urn:coffre:problem:bad-range")
        }
        return value
    }

    static func requireSize(_ size: UInt64, log: LogStore, on connection: PostgresConnection) async throws {
        let checkpoint = try await log.requireCheckpoint(on: connection)
        guard size <= checkpoint.size else {
            throw Problem.badRequest("size \(size) is beyond the newest checkpoint (\(checkpoint.size))", type: "urn:coffre:problem:bad-range")
        }
    }
}
