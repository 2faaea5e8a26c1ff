/*
 * cli_server.c - the options that the commands serving the HTTP API (run,
 * demo, serve) share: --tls-cert, --tls-key and --insecure into a
 * cs_server_cfg, and the check of the whole configuration before anything
 * is opened (cli.h).
 *
 * Kept apart from cli_util.c so that a command or test using the generic
 * helpers does not link the HTTP server. The rules themselves (loopback,
 * token, TLS) are the server's own (server/server.h: cs_server_check);
 * here only the pairing of --tls-cert and --tls-key is turned into a usage
 * error, since it is a mistake in the command line rather than a refusal.
 */
#include "cli/cli.h"

#include "server/server.h"

int cs_cli_is_tls_option(int c)
{
    return c == CS_CLI_OPT_TLS_CERT || c == CS_CLI_OPT_TLS_KEY || c == CS_CLI_OPT_INSECURE;
}

int cs_cli_tls_option(int c, const char *arg, cs_server_cfg *sc)
{
    if (c == CS_CLI_OPT_TLS_CERT)
        sc->tls_cert = arg;
    else if (c == CS_CLI_OPT_TLS_KEY)
        sc->tls_key = arg;
    else if (c == CS_CLI_OPT_INSECURE)
        sc->insecure = 1;
    return 0;
}

int cs_cli_server_check(const char *cmd, const cs_server_cfg *sc)
{
    int rc;

    if ((sc->tls_cert == NULL) != (sc->tls_key == NULL))
        return cs_cli_usage_error(cmd,
                                  "%s without %s: give the certificate and its private "
                                  "key together",
                                  sc->tls_cert ? "--tls-cert" : "--tls-key",
                                  sc->tls_cert ? "--tls-key" : "--tls-cert");
    if ((rc = cs_server_check(sc)) < 0)
        return cs_cli_fail(rc);
    return 0;
}
