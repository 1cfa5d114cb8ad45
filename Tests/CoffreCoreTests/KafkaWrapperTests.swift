import Foundation
import Kafka
import Logging
import Testing

/// The wrapper against librdkafka's own mock cluster: produce with delivery
/// reports, consume in a group, offsets stored only on request.
@Suite struct KafkaWrapperTests {
    let logger: Logger = {
        var l = Logger(label: "kafka-test")
        l.logLevel = .error
        return l
    }()

    @Test func linkedLibrdkafkaIsAtLeast280() {
        let parts = KafkaProducer.librdkafkaVersion.split(separator: ".").compactMap { Int($0) }
        #expect(parts.count >= 2)
        #expect(parts[0] > 2 || (parts[0] == 2 && parts[1] >= 8), "linked \(KafkaProducer.librdkafkaVersion)")
    }

    @Test func producesAndConsumesInKeyOrder() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("orders", partitions: 3)
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: cluster.bootstrapServers), logger: logger)
        let messages = (0..<300).map { i in
            KafkaOutgoingMessage(topic: "orders", key: "account-\(i % 5)", value: Array("\(i % 5):\(i)".utf8))
        }
        let results = await producer.send(messages)
        let deliveries = try results.map { try $0.get() }
        #expect(deliveries.count == 300)
        // One key always lands on one partition.
        var partitionOfKey: [String: Int32] = [:]
        for (message, delivery) in zip(messages, deliveries) {
            let key = String(decoding: message.key, as: UTF8.self)
            if let p = partitionOfKey[key] { #expect(p == delivery.partition) } else { partitionOfKey[key] = delivery.partition }
        }

        let consumer = try KafkaConsumer(configuration: .init(bootstrapServers: cluster.bootstrapServers), groupID: "g1", topics: ["orders"], logger: logger)
        var received: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while received.count < 300 && ContinuousClock.now < deadline {
            received += await consumer.poll(max: 100, timeout: .milliseconds(200))
        }
        #expect(received.count == 300)
        // Within each key, values arrive in the order they were produced.
        var lastIndex: [String: Int] = [:]
        for m in received {
            let text = String(decoding: m.value, as: UTF8.self)
            let parts = text.split(separator: ":")
            let key = String(parts[0]), index = Int(parts[1])!
            #expect(index > lastIndex[key, default: -1], "key \(key) out of order")
            lastIndex[key] = index
        }
        consumer.store(received)
        await consumer.close()
    }

    @Test func unstoredOffsetsAreRedeliveredToTheGroup() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("events", partitions: 1)
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: cluster.bootstrapServers), logger: logger)
        for result in await producer.send((0..<10).map { KafkaOutgoingMessage(topic: "events", key: "k", value: [UInt8($0)]) }) {
            _ = try result.get()
        }
        func drain(_ consumer: KafkaConsumer, count: Int) async -> [KafkaMessage] {
            var got: [KafkaMessage] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while got.count < count && ContinuousClock.now < deadline {
                got += await consumer.poll(max: 10, timeout: .milliseconds(200))
            }
            return got
        }
        let first = try KafkaConsumer(configuration: .init(bootstrapServers: cluster.bootstrapServers), groupID: "g", topics: ["events"], logger: logger)
        let firstBatch = await drain(first, count: 10)
        #expect(firstBatch.count == 10)
        // Only the first four are "applied": the committed position is offset 4.
        first.store(Array(firstBatch.prefix(4)))
        await first.close()

        let second = try KafkaConsumer(configuration: .init(bootstrapServers: cluster.bootstrapServers), groupID: "g", topics: ["events"], logger: logger)
        let secondBatch = await drain(second, count: 6)
        #expect(secondBatch.map(\.value) == (4..<10).map { [UInt8($0)] })
        await second.close()
    }

    @Test func unreachableBrokerFailsDeliveryWithinTheTimeout() async throws {
        var config = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        config["message.timeout.ms"] = "1000"
        config["log_level"] = "0"
        let producer = try KafkaProducer(configuration: config, logger: logger)
        #expect(await producer.isConnected(timeout: .milliseconds(500)) == false)
        let result = await producer.send([KafkaOutgoingMessage(topic: "x", key: "k", value: [1])])
        #expect(throws: KafkaError.self) { try result[0].get() }
    }

    /// A send in flight on a client that is replaced (after a fatal error,
    /// or `recycle()`) fails back when the old client closes, long before
    /// its own message timeout, instead of waiting for a report that the
    /// closed client can no longer deliver.
    @Test func aSendOnAReplacedClientFailsBackWhenItCloses() async throws {
        var config = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        config["message.timeout.ms"] = "20000"
        config["log_level"] = "0"
        let producer = try KafkaProducer(configuration: config, logger: logger)
        let started = ContinuousClock.now
        let inFlight = Task { await producer.send([KafkaOutgoingMessage(topic: "x", key: "k", value: [1])]) }
        try await Task.sleep(for: .milliseconds(300))
        producer.recycle()
        // The next send replaces the client; the old one closes on a thread of its own.
        // (That send ends at its own message timeout, after the test.)
        Task { _ = await producer.send([KafkaOutgoingMessage(topic: "x", key: "k", value: [2])]) }
        let result = await inFlight.value
        #expect(throws: KafkaError.self) { try result[0].get() }
        #expect(ContinuousClock.now - started < .seconds(15), "waited for the message timeout instead")
    }

    @Test func invalidSettingIsAClearError() {
        var config = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        config["no.such.setting"] = "1"
        do {
            _ = try KafkaProducer(configuration: config, logger: logger)
            Issue.record("accepted an unknown setting")
        } catch {
            #expect(String(describing: error).contains("no.such.setting"))
        }
    }
}
