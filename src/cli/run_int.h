/*
 * run_int.h - the live daemon of `capstream run`, callable by other
 * commands (`capstream demo`) with options they chose themselves.
 *
 * cs__run_daemon() runs exactly what `capstream run` runs after parsing its
 * options - the engine's daemon (engine/daemon.h: source thread -> ring ->
 * pipeline: store, decode, pair, metrics, alerts) and the HTTP API - on
 * synthetic traffic ("synth", a spec of source/synth.h) until SIGINT/
 * SIGTERM. Returns the process exit status (CS_EXIT_OK / CS_EXIT_FAIL).
 */
#ifndef CS_CLI_RUN_INT_H
#define CS_CLI_RUN_INT_H

#include "decode/decoder.h"
#include "export/chexport.h"
#include "server/server.h"

typedef struct cs__run_opts {
    const char *dir;                       /* the store (created if missing) */
    const char *listen;                    /* HTTP address, "ADDR:PORT" */
    const char *config;                    /* alert rules file, or NULL */
    const char *synth;                     /* the synthetic source's spec, e.g.
                                              "rate=5000,seed=1" */
    const char *label;                     /* what the status calls the source, e.g. "synth" */
    const char *banner;                    /* printed to standard output once serving, or NULL */
    const cs_decoder_optset *decoder_opts; /* --decoder-opt settings, or NULL */
    int tap_by_vlan;                       /* --tap-by vlan: a frame's tap is its VLAN id */
    const cs_chexport_cfg *exp;            /* --export, or NULL */
    const cs_server_cfg *server;           /* --token-file and TLS of the API (its listen
                                              and store_dir are the fields above), or NULL */
} cs__run_opts;

int cs__run_daemon(const cs__run_opts *o);

#endif
