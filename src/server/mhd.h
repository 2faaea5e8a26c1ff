/*
 * mhd.h - libmicrohttpd, loaded when the HTTP server starts.
 *
 * Only `capstream run` and `demo` serve HTTP. Linked the usual way,
 * libmicrohttpd and the TLS stack it depends on (gnutls, p11-kit, nettle,
 * hogweed, gmp, libunistring, libidn2, libtasn1, libffi: 7 MB in ten
 * libraries, half of what capstream maps) would be loaded and relocated by
 * every command, a query or an ingest too: about 5 ms a run with a warm
 * cache, more after the cache was dropped. So the server opens the library
 * with dlopen() the first time it starts and calls it through the table
 * below; the types and constants still come from <microhttpd.h>.
 *
 * Usage: cs__mhd_load() once before the first call (cs_server_start does);
 * then cs__mhd.start_daemon(...) stands for MHD_start_daemon(...).
 */
#ifndef CS_SERVER_MHD_H
#define CS_SERVER_MHD_H

#include <microhttpd.h>

typedef struct cs__mhd_api {
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_create_response_from_callback) *create_response_from_callback;
    __typeof__(MHD_create_response_from_fd) *create_response_from_fd;
    __typeof__(MHD_get_connection_values) *get_connection_values;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_set_connection_option) *set_connection_option;
    __typeof__(MHD_is_feature_supported) *is_feature_supported;
} cs__mhd_api;

extern cs__mhd_api cs__mhd;

/* Loads the library and fills cs__mhd (once; later calls return at once).
 * CS_EUNSUPPORTED, naming the library and the loader's reason, if it or
 * one of its functions cannot be found. */
int cs__mhd_load(void);

#endif
