/*
 * mhd.c - loads libmicrohttpd with dlopen() (see mhd.h for why).
 *
 * The library's file name is its soname, which the build takes from the
 * libmicrohttpd it compiles against (CS_MHD_SONAME, Makefile), so the
 * loaded library is the one whose header gave the types. Each function is
 * looked up by its exported name; a missing one fails the load as a whole,
 * so no caller ever finds a null pointer in the table.
 */
#include "server/mhd.h"

#include "core/error.h"

#include <dlfcn.h>
#include <stddef.h>

#ifndef CS_MHD_SONAME
#define CS_MHD_SONAME "libmicrohttpd.so.12"
#endif

cs__mhd_api cs__mhd;

typedef struct mhd_symbol {
    const char *name;
    size_t offset; /* of its pointer in cs__mhd_api */
} mhd_symbol;

#define MHD_SYMBOL(field, name)                                                                    \
    {                                                                                              \
#name, offsetof(cs__mhd_api, field)                                                        \
    }

static const mhd_symbol symbols[] = {
    MHD_SYMBOL(start_daemon, MHD_start_daemon),
    MHD_SYMBOL(stop_daemon, MHD_stop_daemon),
    MHD_SYMBOL(queue_response, MHD_queue_response),
    MHD_SYMBOL(destroy_response, MHD_destroy_response),
    MHD_SYMBOL(add_response_header, MHD_add_response_header),
    MHD_SYMBOL(create_response_from_buffer, MHD_create_response_from_buffer),
    MHD_SYMBOL(create_response_from_callback, MHD_create_response_from_callback),
    MHD_SYMBOL(create_response_from_fd, MHD_create_response_from_fd),
    MHD_SYMBOL(get_connection_values, MHD_get_connection_values),
    MHD_SYMBOL(lookup_connection_value, MHD_lookup_connection_value),
    MHD_SYMBOL(set_connection_option, MHD_set_connection_option),
    MHD_SYMBOL(is_feature_supported, MHD_is_feature_supported),
};

int cs__mhd_load(void)
{
    static int loaded;
    cs__mhd_api api;
    void *lib;

    if (loaded)
        return 0;
    lib = dlopen(CS_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return cs_error_set(CS_EUNSUPPORTED, "cannot load %s, the HTTP server library: %s",
                            CS_MHD_SONAME, dlerror());
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        void *f = dlsym(lib, symbols[i].name);
        if (f == NULL) {
            dlclose(lib);
            return cs_error_set(CS_EUNSUPPORTED, "%s has no %s", CS_MHD_SONAME, symbols[i].name);
        }
        /* POSIX guarantees that a data pointer from dlsym converts to the
         * function pointer it stands for */
        *(void **)((char *)&api + symbols[i].offset) = f;
    }
    cs__mhd = api;
    loaded = 1; /* the library stays loaded for the life of the process */
    return 0;
}
