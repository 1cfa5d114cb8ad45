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
