import CoffreCore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct ProblemTests {
    struct Body: Decodable { var name: String; var size: Int }

    func app() -> some ApplicationProtocol {
        let router = Router(context: CoffreRequestContext.self)
        ServiceCore.addStandardMiddleware(to: router)
        router.post("/things") { request, context -> String in
            let body = try await request.decode(as: Body.self, context: context)
            return body.name
        }
        router.get("/conflict") { _, _ -> String in throw Problem.conflict("taken", type: "urn:coffre:problem:email-taken") }
        router.get("/crash") { _, _ -> String in throw CocoaError(.fileNoSuchFile) }
        return Application(router: router)
    }

    func problem(_ response: TestResponse) throws -> [String: Any] {
        #expect(response.headers[.contentType] == "application/problem+json")
        return try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
    }

    @Test func unknownRouteIs404Problem() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/nope", method: .get) { response in
                #expect(response.status == .notFound)
                let p = try problem(response)
                #expect(p["status"] as? Int == 404)
                #expect(p["instance"] as? String == "/nope")
                #expect(response.headers[.requestID] != nil)
            }
        }
    }

    @Test func malformedJSONIs400() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/things", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{nope")) { response in
                #expect(response.status == .badRequest)
                let p = try problem(response)
                #expect(p["type"] as? String == "urn:coffre:problem:malformed-body")
            }
            try await client.execute(uri: "/things", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"name":"a"}"#)) { response in
                #expect(response.status == .badRequest)
                let p = try problem(response)
                #expect((p["detail"] as? String)?.contains("size") == true)
            }
        }
    }

    @Test func domainProblemKeepsItsStatusAndType() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/conflict", method: .get, headers: [.requestID: "abc-123"]) { response in
                #expect(response.status == .conflict)
                let p = try problem(response)
                #expect(p["type"] as? String == "urn:coffre:problem:email-taken")
                #expect(p["request_id"] as? String == "abc-123")
                #expect(response.headers[.requestID] == "abc-123")
            }
        }
    }

    @Test func unexpectedErrorIs500WithoutInternals() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/crash", method: .get, headers: [.requestID: "bad id with spaces"]) { response in
                #expect(response.status == .internalServerError)
                let p = try problem(response)
                #expect((p["detail"] as? String)?.contains("NSCocoaError") == false)
                // An unacceptable client request id is replaced, not echoed.
                #expect(response.headers[.requestID] != "bad id with spaces")
            }
        }
    }

    @Test func oversizedJSONBodyIs413() async throws {
        try await app().test(.router) { client in
            let big = ByteBuffer(string: "{\"name\":\"" + String(repeating: "x", count: 2 << 20) + "\",\"size\":1}")
            try await client.execute(uri: "/things", method: .post, headers: [.contentType: "application/json"], body: big) { response in
                #expect(response.status == .contentTooLarge)
                let p = try problem(response)
                #expect(p["status"] as? Int == 413)
            }
        }
    }
}
