import CRdKafka
import Foundation
import Logging
import Synchronization

/// A consumer in a consumer group.
///
/// Offsets are stored only when the caller says an event's effect is
/// committed (`store(_:)`); librdkafka's auto-commit then commits stored
/// offsets in the background, and `close()` commits them one last time.
/// Messages are fetched in batches from the consumer queue on a dedicated
/// dispatch queue, so a slow handler never blocks librdkafka's threads.
///
/// `@unchecked Sendable`: the queue pointers belong to the librdkafka handle;
/// every blocking call on them runs on one serial dispatch queue.
public final class KafkaConsumer: @unchecked Sendable {
    private let handle: RdKafkaHandle
    private let consumerQueue: OpaquePointer
    private let logQueue: OpaquePointer
    private let blocking: BlockingExecutor
    private let closed = Mutex(false)
    /// True once `close()` destroyed the handle without leaving (see there).
    /// Set and read under its lock around every use of the handle outside
    /// the serial executor.
    private let destroyed = Mutex(false)
    private let logger: Logger

    public init(configuration: KafkaConfiguration, groupID: String, topics: [String], logger: Logger) throws {
        var configuration = configuration
        configuration["group.id"] = groupID
        let defaults: [String: String] = [
            "enable.auto.commit": "true",
            // Never advance past an event whose effect is not committed.
            "enable.auto.offset.store": "false",
            "auto.commit.interval.ms": "1000",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "1000",
            "socket.keepalive.enable": "true",
            "reconnect.backoff.max.ms": "2000",
        ]
        for (key, value) in defaults where configuration[key] == nil {
            configuration[key] = value
        }
        self.logger = logger
        self.handle = try RdKafkaHandle(
            type: RD_KAFKA_CONSUMER, configuration: configuration,
            events: Int32(RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG), logger: logger)
        rd_kafka_poll_set_consumer(handle.pointer)
        self.consumerQueue = rd_kafka_queue_get_consumer(handle.pointer)!
        self.logQueue = rd_kafka_queue_new(handle.pointer)!
        rd_kafka_set_log_queue(handle.pointer, logQueue)
        self.blocking = BlockingExecutor(label: "coffre.kafka.consumer.\(groupID)")

        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        }
        let err = rd_kafka_subscribe(handle.pointer, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: err.rawValue, message: "subscribe failed: \(String(cString: rd_kafka_err2str(err)))")
        }
        logger.info("kafka consumer subscribed", metadata: [
            "group": .string(groupID), "topics": .string(topics.joined(separator: ",")),
            "librdkafka": .string(RdKafkaHandle.versionString),
        ])
    }

    /// The last reference can drop on a thread of Swift's cooperative pool
    /// (two threads on a two-core machine), and `rd_kafka_destroy` of a
    /// consumer blocks while it leaves its group, for as long as the broker
    /// takes. So the handle is destroyed on a thread of its own.
    deinit {
        if destroyed.withLock({ $0 }) { return }
        let handle = self.handle
        let queues = (QueueRef(pointer: consumerQueue), QueueRef(pointer: logQueue))
        Thread.detachNewThread {
            rd_kafka_queue_destroy(queues.0.pointer)
            rd_kafka_queue_destroy(queues.1.pointer)
            handle.destroy()
        }
    }

    /// Up to `max` messages, waiting at most `timeout` for the first one.
    /// Errors that librdkafka reports in-band (broker down, partition EOF) are
    /// logged, not returned.
    public func poll(max: Int = 500, timeout: Duration = .milliseconds(200)) async -> [KafkaMessage] {
        if closed.withLock({ $0 }) { return [] }
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let handle = self.handle
        let consumerQueue = QueueRef(pointer: self.consumerQueue)
        let logQueue = QueueRef(pointer: self.logQueue)
        return await blocking.run { [self] in
            // close() destroys on this same serial executor, so a poll queued
            // after it sees the flag and never touches the freed handle.
            if destroyed.withLock({ $0 }) { return [] }
            while let event = rd_kafka_queue_poll(logQueue.pointer, 0) {
                handle.handleCommonEvent(event)
                rd_kafka_event_destroy(event)
            }
            var buffer = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: max)
            let count = rd_kafka_consume_batch_queue(consumerQueue.pointer, ms, &buffer, max)
            guard count > 0 else { return [] }
            var messages: [KafkaMessage] = []
            messages.reserveCapacity(count)
            for slot in buffer.prefix(count) {
                guard let message = slot else { continue }
                defer { rd_kafka_message_destroy(message) }
                let m = message.pointee
                if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    if m.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                        handle.logger.warning("kafka consumer error", metadata: [
                            "code": "\(m.err.rawValue)", "detail": .string(String(cString: rd_kafka_err2str(m.err))),
                        ])
                    }
                    continue
                }
                let topic = String(cString: rd_kafka_topic_name(m.rkt))
                let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
                let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
                messages.append(KafkaMessage(topic: topic, partition: m.partition, offset: m.offset, key: key, value: value))
            }
            return messages
        }
    }

    /// True once the group gave this consumer at least one partition.
    public var hasAssignment: Bool {
        destroyed.withLock { destroyed in
            if destroyed { return false }
            var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            guard rd_kafka_assignment(handle.pointer, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return false }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            return list.pointee.cnt > 0
        }
    }

    /// Marks these messages as processed: their offsets (+1) are stored and
    /// committed with the next auto-commit or at `close()`.
    public func store(_ messages: [KafkaMessage]) {
        if messages.isEmpty || closed.withLock({ $0 }) { return }
        // Keep only the highest offset per partition.
        var highest: [String: (String, Int32, Int64)] = [:]
        for m in messages {
            let k = "\(m.topic)/\(m.partition)"
            if let existing = highest[k], existing.2 >= m.offset { continue }
            highest[k] = (m.topic, m.partition, m.offset)
        }
        let list = rd_kafka_topic_partition_list_new(Int32(highest.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (_, (topic, partition, offset)) in highest {
            let entry = rd_kafka_topic_partition_list_add(list, topic, partition)!
            entry.pointee.offset = offset + 1
        }
        let handle = self.handle
        let err = destroyed.withLock { destroyed in
            destroyed ? RD_KAFKA_RESP_ERR__DESTROY : rd_kafka_offsets_store(handle.pointer, list)
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            // Happens when a partition was revoked meanwhile: the new owner
            // re-reads from the committed offset and the dedupe table absorbs it.
            logger.info("kafka offsets not stored", metadata: ["detail": .string(String(cString: rd_kafka_err2str(err)))])
        }
    }

    /// Leaves the group, committing stored offsets. Blocking work runs off the cooperative pool.
    ///
    /// A consumer that holds no partition when stopped (before its first
    /// assignment, or in the middle of a rebalance) has no offsets of its
    /// own to commit (at worst, events are replayed and the dedupe table
    /// absorbs them) and does not leave: on Tansu (0.6), a LeaveGroup
    /// from the member that was made leader of a group still forming leaves
    /// the group without a leader for good, so every later member waits in
    /// the rebalance. Not leaving lets the broker expire the member after
    /// `session.timeout.ms` (6 s), and the next member takes over.
    public func close() async {
        let already = closed.withLock { value in
            defer { value = true }
            return value
        }
        if already { return }
        if !hasAssignment {
            logger.info("kafka consumer stopped holding no partition; not leaving the group")
            let handle = self.handle
            let queues = (QueueRef(pointer: consumerQueue), QueueRef(pointer: logQueue))
            // Destroyed now, not at deinit: a handle left alive would go on
            // heartbeating and be handed partitions it never reads.
            await blocking.run { [self] in
                destroyed.withLock { destroyed in
                    destroyed = true
                    rd_kafka_queue_destroy(queues.0.pointer)
                    rd_kafka_queue_destroy(queues.1.pointer)
                    handle.destroy(leaveGroup: false)
                }
            }
            return
        }
        let handle = self.handle
        let logger = self.logger
        await blocking.run {
            let err = rd_kafka_consumer_close(handle.pointer)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.warning("kafka consumer close", metadata: ["detail": .string(String(cString: rd_kafka_err2str(err)))])
            }
        }
    }
}
