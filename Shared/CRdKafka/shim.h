#ifndef COFFRE_CRDKAFKA_SHIM_H
#define COFFRE_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

// Debian 12's librdkafka 2.0.2 cannot talk to Tansu (ApiVersion v3 parse
// error). Refuse to build against anything older than 2.8.0; scripts/setup.sh
// builds 2.8.0 and its rdkafka.pc links the static archive.
#if RD_KAFKA_VERSION < 0x020800ff
#error "Coffre needs librdkafka >= 2.8.0: run ./coffre setup (PKG_CONFIG_PATH must find its rdkafka.pc)"
#endif

#endif
