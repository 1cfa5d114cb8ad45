import CRdKafka

/// librdkafka's in-process mock cluster, for unit tests of this wrapper.
/// Not a stand-in for a real broker: integration tests use Tansu.
public final class KafkaMockCluster: @unchecked Sendable {
    private let handle: OpaquePointer
    private let cluster: OpaquePointer
    /// `host:port` list that clients use as `bootstrap.servers`.
    public let bootstrapServers: String

    public init(brokers: Int = 1) throws {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError(code: -1, message: "conf") }
        var errstr = [CChar](repeating: 0, count: 512)
        rd_kafka_conf_set(conf, "test.mock.num.brokers", String(brokers), &errstr, errstr.count)
        rd_kafka_conf_set(conf, "log_level", "3", &errstr, errstr.count)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(code: -1, message: String(cString: errstr))
        }
        handle = rk
        guard let cluster = rd_kafka_handle_mock_cluster(rk) else {
            rd_kafka_destroy(rk)
            throw KafkaError(code: -1, message: "no mock cluster")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    public func createTopic(_ name: String, partitions: Int32) throws {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, 1)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: err.rawValue, message: String(cString: rd_kafka_err2str(err)))
        }
    }

    deinit {
        rd_kafka_destroy(handle)
    }
}
