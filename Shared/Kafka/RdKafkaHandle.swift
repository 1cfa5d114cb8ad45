import CRdKafka
import Foundation
import Logging

/// Owns one `rd_kafka_t` and the queues polled for it.
///
/// `@unchecked Sendable`: librdkafka's handle is thread-safe for every call
/// made here (produce, poll of a queue by one thread at a time, metadata,
/// offsets_store). Destruction happens once, in `destroy()`, after every
/// poller has stopped.
final class RdKafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let logger: Logger

    init(type: rd_kafka_type_t, configuration: KafkaConfiguration, events: Int32, logger: Logger) throws {
        self.logger = logger
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(code: -1, message: "rd_kafka_conf_new failed")
        }
        var errstr = [CChar](repeating: 0, count: 512)
        // Route librdkafka's own log lines through our logger (JSON lines),
        // never its default stderr printer.
        var properties = configuration.properties
        properties["log.queue"] = "true"
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(code: -1, message: "invalid Kafka setting \(key): \(String(cString: errstr))")
            }
        }
        if events != 0 {
            rd_kafka_conf_set_events(conf, events)
        }
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            // rd_kafka_new frees conf only on success.
            rd_kafka_conf_destroy(conf)
            throw KafkaError(code: -1, message: "cannot create Kafka client: \(String(cString: errstr))")
        }
        self.pointer = rk
    }

    /// The librdkafka version this binary is linked with, e.g. "2.8.0".
    static var versionString: String { String(cString: rd_kafka_version_str()) }

    /// Asks the cluster for metadata: true when a broker answered in time.
    /// Blocking; call from a thread of our own.
    func brokerReachable(timeoutMs: Int32) -> Bool {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(pointer, 0, nil, &metadata, timeoutMs)
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        return err == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    /// Handles the non-message events every client can receive.
    func handleCommonEvent(_ event: OpaquePointer) {
        switch rd_kafka_event_type(event) {
        case RD_KAFKA_EVENT_LOG:
            var facility: UnsafePointer<CChar>?
            var message: UnsafePointer<CChar>?
            var level: Int32 = 0
            if rd_kafka_event_log(event, &facility, &message, &level) == 0 {
                let text = message.map { String(cString: $0) } ?? ""
                let fac = facility.map { String(cString: $0) } ?? ""
                logger.log(level: Self.level(syslog: level), "librdkafka", metadata: ["facility": .string(fac), "detail": .string(text)])
            }
        case RD_KAFKA_EVENT_ERROR:
            let err = rd_kafka_event_error(event)
            let text = String(cString: rd_kafka_event_error_string(event))
            let fatal = rd_kafka_event_error_is_fatal(event) != 0
            logger.log(level: fatal ? .critical : .warning, "kafka client error",
                       metadata: ["code": "\(err.rawValue)", "detail": .string(text), "fatal": "\(fatal)"])
        default:
            break
        }
    }

    static func level(syslog: Int32) -> Logger.Level {
        switch syslog {
        case ...3: return .error
        case 4: return .warning
        case 5, 6: return .info
        default: return .debug
        }
    }

    /// `leaveGroup: false` destroys a consumer without the LeaveGroup that
    /// `rd_kafka_destroy` would otherwise send: the broker expires the member
    /// after its session timeout instead.
    func destroy(leaveGroup: Bool = true) {
        if leaveGroup {
            rd_kafka_destroy(pointer)
        } else {
            rd_kafka_destroy_flags(pointer, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
        }
    }
}

/// A thread of our own that runs a blocking loop (queue polls) until told to stop.
final class PollThread: @unchecked Sendable {
    private let lock = NSLock()
    private var stopping = false
    private var started = false
    private let done = DispatchSemaphore(value: 0)
    private let name: String
    private let body: @Sendable (_ shouldStop: @Sendable () -> Bool) -> Void

    init(name: String, body: @escaping @Sendable (_ shouldStop: @Sendable () -> Bool) -> Void) {
        self.name = name
        self.body = body
    }

    var isStopping: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopping
    }

    func start() {
        lock.lock()
        started = true
        lock.unlock()
        let thread = Thread { [self] in
            body { self.isStopping }
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Asks the loop to stop and waits for it (blocking).
    func stopAndWait() {
        lock.lock()
        let alreadyStopped = stopping
        stopping = true
        let wasStarted = started
        lock.unlock()
        if !alreadyStopped && wasStarted { done.wait() }
    }
}

/// Runs a blocking closure on a dedicated serial queue and awaits its result,
/// so librdkafka calls with timeouts never block the cooperative thread pool.
struct BlockingExecutor: Sendable {
    let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}

/// A librdkafka queue pointer handed to the thread that polls it. Queues are
/// thread-safe in librdkafka; each is polled by one thread at a time here.
struct QueueRef: @unchecked Sendable {
    let pointer: OpaquePointer
}
