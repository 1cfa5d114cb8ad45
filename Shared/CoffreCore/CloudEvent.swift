import Foundation

/// The envelope of every Coffre event: CloudEvents 1.0 in its JSON format,
/// with a `tenant` extension attribute. Events are keyed by account id on
/// Kafka so one account's events stay in order.
public struct CloudEvent: Codable, Sendable, Equatable {
    public var specversion: String = "1.0"
    public var id: UUID
    /// URI reference of the producer, e.g. `/coffre/accounts`.
    public var source: String
    /// Reverse-DNS event type, e.g. `coffre.account.created`.
    public var type: String
    public var time: Date
    /// What the event is about, usually the account id.
    public var subject: String?
    public var tenant: String
    public var datacontenttype: String = "application/json"
    public var data: JSONValue

    public init(id: UUID = UUID(), source: String, type: String, time: Date = Date(), subject: String?, tenant: String, data: JSONValue) {
        self.id = id
        self.source = source
        self.type = type
        self.time = time
        self.subject = subject
        self.tenant = tenant
        self.data = data
    }

    public init<Payload: Encodable>(id: UUID = UUID(), source: String, type: String, time: Date = Date(), subject: String?, tenant: String, payload: Payload) throws {
        self.init(id: id, source: source, type: type, time: time, subject: subject, tenant: tenant, data: try JSONValue(encoding: payload))
    }

    public func decodeData<Payload: Decodable>(_ type: Payload.Type) throws -> Payload {
        try data.decode(type)
    }

    public func encoded() throws -> [UInt8] {
        Array(try CloudEvent.encoder.encode(self))
    }

    public static func decode(_ bytes: [UInt8]) throws -> CloudEvent {
        try decoder.decode(CloudEvent.self, from: Data(bytes))
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(RFC3339.format(date))
        }
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let s = try c.decode(String.self)
            guard let date = RFC3339.parse(s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an RFC 3339 time: \(s)")
            }
            return date
        }
        return d
    }()
}

enum RFC3339 {
    /// UTC with milliseconds, without a formatter object per call (they are
    /// costly to create and events are made on hot paths).
    static func format(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        let millis = Int(((interval - Double(seconds)) * 1000).rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, millis)
    }

    static func parse(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }
}

/// Any JSON value; the `data` of an event, kept exactly as produced.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Strings first: they are most of what Coffre's JSON carries, and
        // every failed attempt costs a thrown DecodingError.
        if c.decodeNil() { self = .null }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    public init<T: Encodable>(encoding value: T) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONDecoder().decode(JSONValue.self, from: data)
    }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: JSONEncoder().encode(self))
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}
