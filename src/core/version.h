/*
 * version.h - capstream's version, shown by `capstream --version` and the
 * API's status.
 */
#ifndef CS_CORE_VERSION_H
#define CS_CORE_VERSION_H

#define CS_VERSION_STRING "0.1.0"

#endif
