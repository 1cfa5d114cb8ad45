import CoffreCore
import Foundation
import Testing

@Suite struct CloudEventTests {
    struct Payload: Codable, Equatable {
        var account: String
        var bytes: Int64
    }

    @Test func roundTripsThroughJSON() throws {
        let event = try CloudEvent(source: "/coffre/ingest", type: "coffre.blob.committed", subject: "acct-1", tenant: "t-1",
                                   payload: Payload(account: "acct-1", bytes: 50_000_000_000))
        let decoded = try CloudEvent.decode(try event.encoded())
        #expect(decoded.id == event.id)
        #expect(decoded.type == "coffre.blob.committed")
        #expect(decoded.tenant == "t-1")
        #expect(try decoded.decodeData(Payload.self) == Payload(account: "acct-1", bytes: 50_000_000_000))
        #expect(abs(decoded.time.timeIntervalSince(event.time)) < 0.001)
    }

    @Test func wireFormatIsCloudEvents10() throws {
        let event = CloudEvent(source: "/coffre/accounts", type: "coffre.account.created", subject: "a", tenant: "t", data: .object(["x": .bool(true)]))
        let object = try JSONSerialization.jsonObject(with: Data(try event.encoded())) as! [String: Any]
        #expect(object["specversion"] as? String == "1.0")
        #expect(object["datacontenttype"] as? String == "application/json")
        for required in ["id", "source", "type", "time", "subject", "tenant", "data"] {
            #expect(object[required] != nil, "missing \(required)")
        }
        // RFC 3339 time with a zone designator.
        #expect((object["time"] as? String)?.hasSuffix("Z") == true)
    }

    @Test func rejectsEnvelopeWithoutType() {
        let bytes = Array(#"{"specversion":"1.0","id":"8B7E1E2C-0D0B-4C2E-9D1E-1E1E1E1E1E1E","source":"/x","time":"2026-01-01T00:00:00Z","tenant":"t","datacontenttype":"application/json","data":{}}"#.utf8)
        #expect(throws: DecodingError.self) { try CloudEvent.decode(bytes) }
    }
}

@Suite struct RFC3339Tests {
    @Test(arguments: [
        ("2026-11-29T03:00:00Z", 1_795_921_200.0),
        ("2026-11-29T03:00:00.250Z", 1_795_921_200.25),
        ("2026-11-29T04:30:00+01:30", 1_795_921_200.0),
        ("2026-11-29T01:00:00-02:00", 1_795_921_200.0),
        ("1970-01-01T00:00:00Z", 0.0),
    ])
    func parsesWhatTheSpecAllows(text: String, epoch: Double) throws {
        let event = #"{"specversion":"1.0","id":"8B7E1E2C-0D0B-4C2E-9D1E-1E1E1E1E1E1E","source":"/x","type":"t","time":"\#(text)","tenant":"t","datacontenttype":"application/json","data":{}}"#
        let decoded = try CloudEvent.decode(Array(event.utf8))
        #expect(abs(decoded.time.timeIntervalSince1970 - epoch) < 0.0005)
    }

    @Test(arguments: ["2026-11-29 03:00:00Z", "2026-13-01T00:00:00Z", "2026-11-29T03:00:00", "2026-11-29T03:00:00.Z", "yesterday", "2026-11-29T03:00:00Zjunk"])
    func rejectsWhatItDoesNot(text: String) {
        let event = #"{"specversion":"1.0","id":"8B7E1E2C-0D0B-4C2E-9D1E-1E1E1E1E1E1E","source":"/x","type":"t","time":"\#(text)","tenant":"t","datacontenttype":"application/json","data":{}}"#
        #expect(throws: DecodingError.self) { try CloudEvent.decode(Array(event.utf8)) }
    }
}
