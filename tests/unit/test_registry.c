/*
 * test_registry.c - adding a decoder is its code plus one registry line.
 *
 * This test build adds a decoder of its own, "echo" (every UDP datagram to
 * port 4000 is one message, pair "echoes"), the way a new protocol is
 * added: its `const cs_decoder cs_decoder_echo` and one X(echo), here given
 * through CS_DECODERS_EXTRA before including src/decode/registry.c, so no
 * other file of capstream changes. Everything that lists protocols must
 * then know it: lookups, --decoders parsing and its error, --decoder-opt,
 * the CLI's help, and the analyzer with every registered decoder enabled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "analytics/analyzer.h"
#include "cli/cli.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_DECODERS_EXTRA(X) X(echo)
#include "decode/registry.c"

/* ---- the echo decoder ------------------------------------------------- */

static cs_probe echo_probe(const uint8_t *data, size_t len, uint8_t dir)
{
    return CS_PROBE_NEED_MORE; /* chosen by port only */
}

static void *echo_new(const cs_endpoints *flow, const cs_decoder_opts *opts)
{
    return malloc(1);
}

static size_t echo_parse(void *state, cs_decode_ctx *ctx, cs_decode_input *in)
{
    cs_msg_out m;

    memset(&m, 0, sizeof(m));
    m.type = (cs_str){"echo", 4};
    m.len = in->len;
    cs_decode_emit(ctx, &m);
    return in->len;
}

static const uint16_t echo_ports[] = {4000, 0};
static const char *const echo_pairs[] = {"echoes", NULL};

const cs_decoder cs_decoder_echo = {
    .name = "echo",
    .transports = CS_TRANSPORT_UDP,
    .ports = echo_ports,
    .pairs = echo_pairs,
    .probe = echo_probe,
    .state_new = echo_new,
    .state_free = free,
    .parse = echo_parse,
};

/* ---- tests ------------------------------------------------------------ */

static void test_lists_and_lookups(void **unused)
{
    const cs_decoder *chosen[CS_DECODERS_MAX + 1];
    cs_decoder_optset set;
    cs_decoder_opts opts;
    char buf[256];

    assert_ptr_equal(cs_decoder_find("echo"), &cs_decoder_echo);
    assert_string_equal(cs_decoders_names(",", buf, sizeof(buf)),
                        "fix,http,dns,soupbintcp,ouch,moldudp64,itch,echo");
    assert_string_equal(cs_pairs_names(", ", buf, sizeof(buf)),
                        "fix, http, dns, ouch, ab, t2t, echoes, hop");
    assert_int_equal(cs_decoders_parse("dns,echo", chosen), 0);
    assert_ptr_equal(chosen[1], &cs_decoder_echo);
    assert_null(chosen[2]);
    assert_int_equal(cs_decoders_parse("nope", chosen), CS_EINVAL);
    assert_non_null(strstr(cs_error_msg(CS_EINVAL),
                           "have: fix, http, dns, soupbintcp, ouch, moldudp64, itch, echo;"));
    memset(&set, 0, sizeof(set));
    assert_int_equal(cs_decoder_optset_add(&set, "echo.ports=4001"), 0);
    /* every decoder takes "scope": flow or session */
    opts = (cs_decoder_opts){&set, &cs_decoder_echo};
    assert_int_equal(cs_decoder_opt_scope(&opts), CS_SCOPE_FLOW);
    assert_int_equal(cs_decoder_optset_add(&set, "echo.scope=session"), 0);
    assert_int_equal(cs_decoder_opt_scope(&opts), CS_SCOPE_SESSION);
    assert_int_equal(cs_decoder_optset_add(&set, "echo.scope=tap"), CS_EINVAL);
    assert_non_null(strstr(cs_error_msg(CS_EINVAL), "scope is flow or session"));
    assert_int_equal(cs_decoder_optset_add(&set, "echo.scope=flow"), 0);
    assert_int_equal(cs_decoder_opt_scope(&opts), CS_SCOPE_FLOW);
}

static void test_cli_help_names_it(void **unused)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);

    assert_non_null(f);
    cs_cli_help(f, "--decoders {decoders} / -p {pairs} / -p {protos}\n");
    fclose(f);
    assert_string_equal(text, "--decoders fix,http,dns,soupbintcp,ouch,moldudp64,itch,echo / "
                              "-p fix, http, dns, ouch, ab, t2t, echoes, hop / "
                              "-p fix, http, dns, soupbintcp, ouch, moldudp64, itch, echo\n");
    free(text);
}

static int g_echo_msgs;

static void on_message(void *ud, const cs_message *m)
{
    if (strcmp(m->proto, "echo") == 0)
        g_echo_msgs++;
}

static void test_analyzer_runs_it(void **unused)
{
    static const uint8_t payload[] = "ping";
    cs_sink sink = {NULL, on_message, NULL, NULL, NULL, NULL};
    cs_analyzer_cfg cfg;
    cs_analyzer *a;
    cs_packet p;
    cs_layers l;

    cs_analyzer_cfg_default(&cfg); /* decoders NULL: every registered one */
    assert_int_equal(cs_analyzer_new(&cfg, &sink, &a), 0);
    memset(&p, 0, sizeof(p));
    memset(&l, 0, sizeof(l));
    p.ts_ns = 1;
    p.caplen = p.wirelen = 4;
    p.data = payload;
    l.flags = CS_L_IP | CS_L_L4;
    l.ip_version = 4;
    l.ip_proto = 17;
    l.src[0] = l.dst[0] = 10;
    l.src[3] = 1;
    l.dst[3] = 2;
    l.sport = 5555;
    l.dport = 4000;
    l.payload_len = 4;
    cs_analyzer_packet(a, &p, &l, CS_PKTREF(1, 24));
    cs_analyzer_finish(a);
    cs_analyzer_free(a);
    assert_int_equal(g_echo_msgs, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists_and_lookups),
        cmocka_unit_test(test_cli_help_names_it),
        cmocka_unit_test(test_analyzer_runs_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
