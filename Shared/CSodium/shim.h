#ifndef COFFRE_CSODIUM_SHIM_H
#define COFFRE_CSODIUM_SHIM_H
#include <sodium.h>
#endif
