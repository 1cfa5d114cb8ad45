#!/bin/sh
# Creates Coffre's Kafka topics. Run once by the one-shot `kafka-init`
# service in docker-compose.yml, inside the apache/kafka image (which has the
# Kafka CLI tools in /opt/kafka/bin). Safe to run again: a topic that exists
# is left as it is (--if-not-exists).
#
# Environment (all optional):
#   BOOTSTRAP_SERVER     bootstrap server               (default kafka:9092)
#   COFFRE_TOPICS        space-separated topic names    (default: the five below)
#   TOPIC_PARTITIONS     partitions per topic            (default 6)
#   TOPIC_REPLICATION    replication factor              (default 1: one broker)
#   BROKER_WAIT_SECONDS  how long to wait for the broker (default 120)
#   KAFKA_BIN            folder of the Kafka CLI tools   (default /opt/kafka/bin)
#
# Each Kafka CLI call starts a JVM (~2 s), so the script makes as few as it
# can: one readiness probe, one create per topic, one describe.
set -eu

BIN=${KAFKA_BIN:-/opt/kafka/bin}
BOOTSTRAP=${BOOTSTRAP_SERVER:-kafka:9092}
TOPICS=${COFFRE_TOPICS:-"coffre.accounts coffre.keydir coffre.blobs coffre.quota coffre.transfer"}
PARTITIONS=${TOPIC_PARTITIONS:-6}
REPLICATION=${TOPIC_REPLICATION:-1}
WAIT=${BROKER_WAIT_SECONDS:-120}

log() { printf '%s kafka-init: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

# The compose file already waits for the broker's healthcheck; this loop
# covers a run outside compose, or a broker restarting in between.
deadline=$(( $(date +%s) + WAIT ))
until "$BIN/kafka-broker-api-versions.sh" --bootstrap-server "$BOOTSTRAP" >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "broker $BOOTSTRAP not reachable after ${WAIT}s" >&2
    exit 1
  fi
  log "waiting for broker $BOOTSTRAP"
  sleep 2
done

for topic in $TOPICS; do
  log "ensuring topic $topic (partitions=$PARTITIONS, replication=$REPLICATION)"
  "$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$topic" --partitions "$PARTITIONS" --replication-factor "$REPLICATION"
done

# Check what is there now. A topic created earlier with another partition
# count (by hand, or by a broker with auto-creation on) is reported, not
# changed: adding partitions moves keys to other partitions and breaks the
# per-key ordering the consumers rely on, so that is an operator's decision.
description=$("$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --describe --topic 'coffre\..*')
status=0
for topic in $TOPICS; do
  count=$(printf '%s\n' "$description" \
    | sed -n "s/^Topic:[[:space:]]*$(printf '%s' "$topic" | sed 's/\./\\./g')[[:space:]].*PartitionCount:[[:space:]]*\([0-9][0-9]*\).*/\1/p" \
    | head -n 1)
  if [ -z "$count" ]; then
    log "topic $topic is missing after creation" >&2
    status=1
  elif [ "$count" -ne "$PARTITIONS" ]; then
    log "WARNING: topic $topic has $count partitions, expected $PARTITIONS (left unchanged)" >&2
  else
    log "topic $topic ok ($count partitions)"
  fi
done
exit "$status"
