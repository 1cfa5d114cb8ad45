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

    /// The envelope as JSON, keys sorted, `time` in RFC 3339 with
    /// milliseconds; written by `CompactJSON`, as on every outbox write it
    /// is (a JSONEncoder with a custom date strategy gave the same bytes at
    /// several times the cost).
    public func encoded() throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(384)
        func member(_ key: String, _ value: String) {
            out.append(UInt8(ascii: ","))
            CompactJSON.write(key, into: &out)
            out.append(UInt8(ascii: ":"))
            CompactJSON.write(value, into: &out)
        }
        out.append(contentsOf: #"{"data":"#.utf8)
        try CompactJSON.write(data, into: &out)
        member("datacontenttype", datacontenttype)
        member("id", id.uuidString)
        member("source", source)
        member("specversion", specversion)
        if let subject { member("subject", subject) }
        member("tenant", tenant)
        member("time", RFC3339.format(time))
        member("type", type)
        out.append(UInt8(ascii: "}"))
        return out
    }

    public static func decode(_ bytes: [UInt8]) throws -> CloudEvent {
        try decoder.decode(CloudEvent.self, from: Data(bytes))
    }

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

public enum RFC3339 {
    /// UTC with milliseconds, without a formatter object per call (they are
    /// costly to create and events are made on hot paths).
    public static func format(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        let millis = Int(((interval - Double(seconds)) * 1000).rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let year = Int(parts.tm_year) + 1900
        guard (0...9999).contains(year) else {
            // Not four digits: the slow, general path.
            return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, parts.tm_mon + 1, parts.tm_mday,
                          parts.tm_hour, parts.tm_min, parts.tm_sec, millis)
        }
        // Digits by hand: String(format:) was most of this function's cost.
        var text: [UInt8] = []
        text.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int, then separator: Character?) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8((rest / divisor) % 10))
                rest %= divisor
                divisor /= 10
            }
            if let separator { text.append(separator.asciiValue!) }
        }
        digits(year, 4, then: "-")
        digits(Int(parts.tm_mon) + 1, 2, then: "-")
        digits(Int(parts.tm_mday), 2, then: "T")
        digits(Int(parts.tm_hour), 2, then: ":")
        digits(Int(parts.tm_min), 2, then: ":")
        digits(Int(parts.tm_sec), 2, then: ".")
        digits(millis, 3, then: "Z")
        return String(decoding: text, as: UTF8.self)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` by hand: creating
    /// an ISO8601DateFormatter per event cost ~0.4 ms, most of a consumer's
    /// time per event.
    public static func parse(_ s: String) -> Date? {
        let b = Array(s.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                let c = b[i]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
              let year = num(0, 4), let month = num(5, 2), let day = num(8, 2),
              let hour = num(11, 2), let minute = num(14, 2), let second = num(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 46 {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45, let oh = num(i + 1, 2), b.count > i + 3, b[i + 3] == 58, let om = num(i + 4, 2) {
            offset = (oh * 3600 + om * 60) * (b[i] == 43 ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch - offset) + fraction)
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
