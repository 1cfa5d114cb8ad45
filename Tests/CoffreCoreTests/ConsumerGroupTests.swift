import CoffreCore
import CoffreTestSupport
import Foundation
import Kafka
import Logging
import Testing

/// Group membership on the broker the project runs (Tansu), not the mock
/// cluster: what a stopped member leaves behind decides whether the next
/// replica of the service gets any partitions at all.
@Suite(.enabled(if: TestEnvironment.hasStack, "needs ./coffre test's Postgres and broker"), .serialized)
struct ConsumerGroupTests {
    let logger = TestEnvironment.logger

    /// Polls `consumer` until it returns a message or `timeout` passes.
    func firstMessage(_ consumer: KafkaConsumer, timeout: Duration) async -> KafkaMessage? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let message = await consumer.poll(max: 10, timeout: .milliseconds(200)).first { return message }
        }
        return nil
    }

    /// A service stopped a moment after it subscribed (as a replica killed
    /// during a deploy) must not keep its group from forming again: the next
    /// member of the group is assigned the partitions and reads the topic.
    /// On Tansu 0.6, leaving while the group is still forming left it without
    /// a leader and the next member waited in the rebalance without end.
    @Test(arguments: [200, 400, 700])
    func memberStoppedDuringItsFirstJoinDoesNotStallTheGroup(afterMilliseconds: Int) async throws {
        let brokers = try #require(TestEnvironment.kafkaBrokers)
        let topic = TestEnvironment.unique("group-join")
        let group = TestEnvironment.unique("group-join")
        try TestEnvironment.createTopic(topic, partitions: 2, brokers: brokers)
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: brokers), logger: logger)
        _ = try await producer.send([KafkaOutgoingMessage(topic: topic, key: "k", value: Array("hello".utf8))])[0].get()

        let first = try KafkaConsumer(configuration: .init(bootstrapServers: brokers), groupID: group, topics: [topic], logger: logger)
        let stopAt = ContinuousClock.now + .milliseconds(afterMilliseconds)
        while ContinuousClock.now < stopAt && !first.hasAssignment {
            _ = await first.poll(max: 1, timeout: .milliseconds(50))
        }
        await first.close()

        let next = try KafkaConsumer(configuration: .init(bootstrapServers: brokers), groupID: group, topics: [topic], logger: logger)
        let message = await firstMessage(next, timeout: .seconds(45))
        #expect(message.map { String(decoding: $0.value, as: UTF8.self) } == "hello",
                "the next member of the group never read the topic")
        await next.close()
    }
}
