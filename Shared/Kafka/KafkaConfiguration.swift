// The Kafka module is the only code in Coffre that touches librdkafka's C API.
// It owns every rd_kafka handle, drives librdkafka through its event queues
// (no per-message C callbacks), and keeps blocking calls (queue polls, flush,
// close) on threads of its own, never on Swift's cooperative pool.
// It must never log message payloads: they may carry account data.

/// librdkafka properties, as the `key=value` strings its configuration API takes.
public struct KafkaConfiguration: Sendable {
    public var properties: [String: String]

    /// `bootstrapServers` is a comma-separated `host:port` list.
    public init(bootstrapServers: String, properties: [String: String] = [:]) {
        self.properties = ["bootstrap.servers": bootstrapServers].merging(properties) { _, new in new }
    }

    public subscript(key: String) -> String? {
        get { properties[key] }
        set { properties[key] = newValue }
    }
}

public struct KafkaError: Error, CustomStringConvertible, Sendable, Equatable {
    /// librdkafka's `rd_kafka_resp_err_t` value (negative: local errors).
    public var code: Int32
    public var message: String
    public var isFatal: Bool

    public init(code: Int32, message: String, isFatal: Bool = false) {
        self.code = code
        self.message = message
        self.isFatal = isFatal
    }

    public var description: String { "kafka error \(code): \(message)" }
}

/// A message to produce. The key decides the partition, so every event of one
/// account (keyed by account id) stays in order.
public struct KafkaOutgoingMessage: Sendable {
    public var topic: String
    public var key: [UInt8]
    public var value: [UInt8]

    public init(topic: String, key: [UInt8], value: [UInt8]) {
        self.topic = topic
        self.key = key
        self.value = value
    }

    public init(topic: String, key: String, value: [UInt8]) {
        self.init(topic: topic, key: Array(key.utf8), value: value)
    }
}

/// Where the broker acknowledged a message.
public struct KafkaDelivery: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}

/// A consumed message.
public struct KafkaMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
}
