import Foundation
import Testing
@testable import Gateway

/// Keeps the OpenAPI document true: every public route is in it and it
/// names no route the gateway does not serve.
///
/// When the services' own routers are built (accounts, keydir, ingest,
/// quota), a further test can compare `PublicRoutes` with each router's
/// `router.routes` (Hummingbird's `RouteDescription`s, path + method), so a
/// service route missing from the public list fails too.
@Suite struct OpenAPIDocumentTests {
    struct Operation: Hashable, CustomStringConvertible {
        var method: String
        var path: String
        var description: String { "\(method) \(path)" }
    }

    static let httpMethods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    func documentOperations() throws -> Set<Operation> {
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        var operations = Set<Operation>()
        for (path, item) in paths {
            for method in item.keys where Self.httpMethods.contains(method) {
                operations.insert(Operation(method: method.uppercased(), path: path))
            }
        }
        return operations
    }

    @Test func documentMatchesPublicRoutes() throws {
        let documented = try documentOperations()
        let declared = Set(PublicRoutes.all.map { Operation(method: $0.method.rawValue, path: $0.path) })
        let missing = declared.subtracting(documented).map(\.description).sorted()
        let unknown = documented.subtracting(declared).map(\.description).sorted()
        #expect(missing.isEmpty, "routes missing from the OpenAPI document: \(missing)")
        #expect(unknown.isEmpty, "OpenAPI document names routes that do not exist: \(unknown)")
        #expect(declared.count == PublicRoutes.all.count, "PublicRoutes lists a route twice")
    }

    @Test func everyReferenceResolves() throws {
        let text = OpenAPIDocument.json
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let components = try #require(doc["components"] as? [String: [String: Any]])
        let regex = try NSRegularExpression(pattern: ##""\$ref": "#/components/([a-zA-Z]+)/([A-Za-z0-9]+)""##)
        let matches = regex.matches(in: text, range: NSRange(text.startIndex..., in: text))
        #expect(!matches.isEmpty)
        for match in matches {
            let kind = String(text[Range(match.range(at: 1), in: text)!])
            let name = String(text[Range(match.range(at: 2), in: text)!])
            #expect(components[kind]?[name] != nil, "unresolved $ref \(kind)/\(name)")
        }
    }

    /// The tus and download contract (docs/ingest-api.md) is in the document,
    /// not only the routes: statuses, the upload media type, `Tus-Resumable`.
    @Test func uploadsAndDownloadsAreDescribed() throws {
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        func operation(_ method: String, _ path: String) -> [String: Any] { paths[path]?[method] as? [String: Any] ?? [:] }
        func statuses(_ method: String, _ path: String) -> Set<String> { Set((operation(method, path)["responses"] as? [String: Any]).map { Array($0.keys) } ?? []) }
        #expect(statuses("patch", "/v1/uploads/{id}").isSuperset(of: ["204", "403", "404", "409", "410", "412", "413", "415", "423", "460"]))
        #expect(statuses("post", "/v1/uploads").isSuperset(of: ["201", "412", "413", "415", "460", "507"]))
        #expect(statuses("head", "/v1/uploads/{id}").isSuperset(of: ["200", "404", "410", "412"]))
        #expect(statuses("options", "/v1/uploads").contains("204"))
        #expect(statuses("get", "/v1/nodes/{id}/content").isSuperset(of: ["200", "206", "304", "416"]))
        for route in PublicRoutes.all where route.streamsBody {
            let content = (operation(route.method.rawValue.lowercased(), route.path)["requestBody"] as? [String: Any])?["content"] as? [String: Any]
            #expect(content?["application/offset+octet-stream"] != nil, "\(route)")
        }
        for route in PublicRoutes.all where route.path.hasPrefix("/v1/uploads") && route.method != .options {
            let parameters = operation(route.method.rawValue.lowercased(), route.path)["parameters"] as? [[String: Any]] ?? []
            #expect(parameters.contains { $0["$ref"] as? String == "#/components/parameters/TusResumable" }, "\(route)")
        }
    }

    @Test func pathParametersAreDeclared() throws {
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        for (path, item) in paths where path.contains("{") {
            for (method, op) in item where Self.httpMethods.contains(method) {
                let params = ((op as? [String: Any])?["parameters"] as? [[String: Any]]) ?? []
                let names = Set(params.compactMap { $0["in"] as? String == "path" ? $0["name"] as? String : nil })
                let templated = Set(path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) })
                #expect(names == templated, "\(method) \(path)")
            }
        }
    }
}
