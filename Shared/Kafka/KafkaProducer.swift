import CRdKafka
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// An idempotent Kafka producer whose `send` returns once the broker has
/// acknowledged (or definitively failed) each message.
///
/// Delivery reports arrive as `RD_KAFKA_EVENT_DR` events on librdkafka's main
/// queue, polled by a thread of our own; each message carries an opaque id
/// that maps back to the batch waiting for it.
///
/// Run it as a `Service`: `run()` polls until graceful shutdown, then flushes
/// what is in flight before destroying the handle.
///
/// `@unchecked Sendable`: the queue and topic pointers are owned by the
/// librdkafka handle, whose produce/poll calls are thread-safe; mutable
/// Swift state sits behind locks.
public final class KafkaProducer: Service, @unchecked Sendable {
    private let configuration: KafkaConfiguration
    private let pending = PendingDeliveries()
    private let blocking = BlockingExecutor(label: "coffre.kafka.producer")
    private let logger: Logger
    private let flushTimeoutMs: Int32
    private let lock = NSLock()
    private var current: ProducerGeneration

    /// - Parameter configuration: must contain `bootstrap.servers`. Coffre's
    ///   defaults (idempotence, acks=all, bounded message timeout) are applied
    ///   unless the configuration overrides them.
    public init(configuration: KafkaConfiguration, logger: Logger, flushTimeout: Duration = .seconds(10)) throws {
        var configuration = configuration
        let defaults: [String: String] = [
            "enable.idempotence": "true",
            "acks": "all",
            // A message not delivered within this time fails back to the caller
            // (the outbox relay keeps the row and retries later) instead of
            // waiting in librdkafka's queue for the default five minutes.
            "message.timeout.ms": "15000",
            "linger.ms": "5",
            "socket.keepalive.enable": "true",
            "reconnect.backoff.max.ms": "2000",
        ]
        for (key, value) in defaults where configuration[key] == nil {
            configuration[key] = value
        }
        self.configuration = configuration
        self.logger = logger
        self.flushTimeoutMs = Int32(flushTimeout.components.seconds * 1000)
        self.current = try ProducerGeneration(configuration: configuration, pending: pending, logger: logger)
        logger.info("kafka producer created", metadata: ["librdkafka": .string(RdKafkaHandle.versionString)])
    }

    /// Closing waits for the purge reports and the poll thread, and
    /// destroys the handle: not on the thread that dropped the last
    /// reference, which may be one of the cooperative pool's few.
    deinit {
        let last = current
        Thread.detachNewThread { last.close(flushMs: 0) }
    }

    /// The librdkafka version linked into this binary.
    public static var librdkafkaVersion: String { RdKafkaHandle.versionString }

    /// The live librdkafka client. An idempotent producer that hit a fatal
    /// error (e.g. a broker that lost its state and rejects our sequence
    /// numbers) can never send again, so it is replaced by a fresh one; its
    /// in-flight messages fail back to their callers, who retry.
    private func generation() -> ProducerGeneration {
        lock.lock()
        defer { lock.unlock() }
        if current.isFatal {
            do {
                let replacement = try ProducerGeneration(configuration: configuration, pending: pending, logger: logger)
                let old = current
                current = replacement
                logger.warning("kafka producer client replaced (fatal error or stuck deliveries)")
                Thread.detachNewThread { old.close(flushMs: 0) }
            } catch {
                logger.error("cannot recreate kafka producer", metadata: ["error": .string(String(describing: error))])
            }
        }
        return current
    }

    /// Replaces the librdkafka client with a fresh one at the next send.
    /// For callers that saw every delivery fail for a while: an idempotent
    /// producer whose broker lost its state (a restarted in-memory broker)
    /// can stay stuck timing out even after the broker is back.
    public func recycle() {
        lock.lock()
        let client = current
        lock.unlock()
        client.markUnusable()
    }

    /// Produces every message and waits for each one's delivery report.
    /// Results are in the order of `messages`.
    public func send(_ messages: [KafkaOutgoingMessage]) async -> [Result<KafkaDelivery, KafkaError>] {
        if messages.isEmpty { return [] }
        let client = generation()
        return await withCheckedContinuation { continuation in
            let batch = DeliveryBatch(count: messages.count, continuation: continuation)
            for (index, message) in messages.enumerated() {
                client.produce(message, batch: batch, index: index)
            }
        }
    }

    /// Produces one message and waits for its delivery report.
    public func send(_ message: KafkaOutgoingMessage) async throws -> KafkaDelivery {
        try await send([message])[0].get()
    }

    /// True when a broker answers a metadata request within the timeout.
    public func isConnected(timeout: Duration = .seconds(2)) async -> Bool {
        let client = generation()
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return await blocking.run { client.handle.brokerReachable(timeoutMs: ms) }
    }

    public func run() async throws {
        // Delivery reports are polled by our own thread from init on; here we
        // only wait for shutdown and then flush what is in flight.
        try? await gracefulShutdown()
        await flush()
    }

    /// Waits (bounded by the flush timeout) until every queued message is delivered or failed.
    public func flush() async {
        let client = generation()
        let timeout = flushTimeoutMs
        let result = await blocking.run { rd_kafka_flush(client.handle.pointer, timeout) }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            let left = rd_kafka_outq_len(client.handle.pointer)
            logger.error("kafka producer flush timed out", metadata: ["in_flight": "\(left)"])
        }
    }
}

/// One librdkafka producer client with its main queue, poll thread and
/// topic handles.
final class ProducerGeneration: @unchecked Sendable {
    let handle: RdKafkaHandle
    private let mainQueue: QueueRef
    private let topics = Mutex<[String: OpaquePointer]>([:])
    private let pending: PendingDeliveries
    private let poller: PollThread
    private let closed = Atomic<Bool>(false)
    /// Tags this client's messages in `pending`, which every generation shares.
    private let generation = ProducerGeneration.nextGeneration.wrappingAdd(1, ordering: .relaxed).oldValue
    private static let nextGeneration = Atomic<UInt64>(0)

    init(configuration: KafkaConfiguration, pending: PendingDeliveries, logger: Logger) throws {
        let handle = try RdKafkaHandle(
            type: RD_KAFKA_PRODUCER, configuration: configuration,
            events: Int32(RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG),
            logger: logger)
        self.handle = handle
        self.pending = pending
        let queue = QueueRef(pointer: rd_kafka_queue_get_main(handle.pointer)!)
        self.mainQueue = queue
        rd_kafka_set_log_queue(handle.pointer, queue.pointer)
        let fatalFlag = FatalFlag()
        self.poller = PollThread(name: "kafka-producer-poll") { shouldStop in
            while !shouldStop() {
                guard let event = rd_kafka_queue_poll(queue.pointer, 100) else { continue }
                switch rd_kafka_event_type(event) {
                case RD_KAFKA_EVENT_DR:
                    ProducerGeneration.handleDeliveryReports(event, pending: pending)
                case RD_KAFKA_EVENT_ERROR where rd_kafka_event_error_is_fatal(event) != 0:
                    fatalFlag.set()
                    handle.handleCommonEvent(event)
                default:
                    handle.handleCommonEvent(event)
                }
                rd_kafka_event_destroy(event)
            }
        }
        self.fatalFlag = fatalFlag
        poller.start()
    }

    private let fatalFlag: FatalFlag

    var isFatal: Bool { fatalFlag.isSet }

    func markUnusable() { fatalFlag.set() }

    /// Fails what is still queued (callers retry) and destroys the client.
    func close(flushMs: Int32) {
        if closed.exchange(true, ordering: .acquiringAndReleasing) { return }
        if flushMs > 0 { rd_kafka_flush(handle.pointer, flushMs) }
        rd_kafka_purge(handle.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        // Let the poller hand the purge reports back to their callers.
        var waited = 0
        while rd_kafka_outq_len(handle.pointer) > 0 && waited < 50 {
            usleep(20_000)
            waited += 1
        }
        poller.stopAndWait()
        // Whatever is still unreported now never will be (the poller is
        // gone): fail it, so no `send` waits forever. Callers retry.
        for (batch, index) in pending.takeAll(generation: generation) {
            batch.complete(index, .failure(KafkaError(code: -1, message: "producer closed before the delivery report")))
        }
        for (_, topic) in topics.withLock({ $0 }) { rd_kafka_topic_destroy(topic) }
        rd_kafka_queue_destroy(mainQueue.pointer)
        handle.destroy()
    }

    private func topic(_ name: String) -> OpaquePointer? {
        topics.withLock { topics in
            if let existing = topics[name] { return existing }
            guard let created = rd_kafka_topic_new(handle.pointer, name, nil) else { return nil }
            topics[name] = created
            return created
        }
    }

    func produce(_ message: KafkaOutgoingMessage, batch: DeliveryBatch, index: Int) {
        guard let topic = topic(message.topic) else {
            batch.complete(index, .failure(KafkaError(code: -1, message: "cannot open topic \(message.topic)")))
            return
        }
        let id = pending.register(batch: batch, index: index, generation: generation)
        let opaque = UnsafeMutableRawPointer(bitPattern: UInt(id))
        var backoffUs: UInt32 = 1_000
        while true {
            let rc = message.value.withUnsafeBytes { value in
                message.key.withUnsafeBytes { key in
                    rd_kafka_produce(
                        topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                        UnsafeMutableRawPointer(mutating: value.baseAddress), value.count,
                        key.baseAddress, key.count, opaque)
                }
            }
            if rc == 0 { return }
            let err = rd_kafka_last_error()
            if err == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                // The poller drains delivery reports; wait for room.
                usleep(backoffUs)
                backoffUs = min(backoffUs * 2, 50_000)
                continue
            }
            _ = pending.take(id)
            batch.complete(index, .failure(KafkaError(code: err.rawValue, message: String(cString: rd_kafka_err2str(err)))))
            return
        }
    }

    static func handleDeliveryReports(_ event: OpaquePointer, pending: PendingDeliveries) {
        while let message = rd_kafka_event_message_next(event) {
            let id = UInt64(UInt(bitPattern: message.pointee._private))
            guard let (batch, index) = pending.take(id) else { continue }
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                let topicName = String(cString: rd_kafka_topic_name(message.pointee.rkt))
                batch.complete(index, Result<KafkaDelivery, KafkaError>.success(KafkaDelivery(topic: topicName, partition: message.pointee.partition, offset: message.pointee.offset)))
            } else {
                batch.complete(index, Result<KafkaDelivery, KafkaError>.failure(KafkaError(code: err.rawValue, message: String(cString: rd_kafka_err2str(err)))))
            }
        }
    }
}

/// Set by the poll thread when librdkafka reports a fatal error.
final class FatalFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Messages produced and not yet reported, by opaque id.
final class PendingDeliveries: @unchecked Sendable {
    private let lock = NSLock()
    private var nextID: UInt64 = 1
    private var waiting: [UInt64: (batch: DeliveryBatch, index: Int, generation: UInt64)] = [:]

    func register(batch: DeliveryBatch, index: Int, generation: UInt64) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        let id = nextID
        nextID += 1
        waiting[id] = (batch, index, generation)
        return id
    }

    func take(_ id: UInt64) -> (DeliveryBatch, Int)? {
        lock.lock()
        defer { lock.unlock() }
        return waiting.removeValue(forKey: id).map { ($0.batch, $0.index) }
    }

    /// Removes and returns every message of one producer client.
    func takeAll(generation: UInt64) -> [(DeliveryBatch, Int)] {
        lock.lock()
        defer { lock.unlock() }
        let ids = waiting.filter { $0.value.generation == generation }.map(\.key)
        return ids.compactMap { waiting.removeValue(forKey: $0).map { ($0.batch, $0.index) } }
    }
}

/// Collects the results of one `send` call and resumes it when all are in.
final class DeliveryBatch: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<KafkaDelivery, KafkaError>?]
    private var remaining: Int
    private let continuation: CheckedContinuation<[Result<KafkaDelivery, KafkaError>], Never>

    init(count: Int, continuation: CheckedContinuation<[Result<KafkaDelivery, KafkaError>], Never>) {
        results = Array(repeating: nil, count: count)
        remaining = count
        self.continuation = continuation
    }

    func complete(_ index: Int, _ result: Result<KafkaDelivery, KafkaError>) {
        lock.lock()
        guard results[index] == nil else { lock.unlock(); return }
        results[index] = result
        remaining -= 1
        let finished = remaining == 0
        let all = finished ? results.map { $0! } : []
        lock.unlock()
        if finished { continuation.resume(returning: all) }
    }
}
