/*
 * test_itch.c - unit tests of the ITCH 5.0 library and payload decoder
 * (src/decode/itch/itch.c).
 *
 * Each message is built by hand from the table of the TotalView-ITCH 5.0
 * specification (type, stock locate @1, tracking number @3, 6-byte
 * timestamp @5, the type's fields at their offsets) and decoded; the test
 * checks the type, the flags and the fields rendered as "name=val|...":
 * every type with its exact length, prices with 4 and 8 decimals, the
 * symbol maps (locate from R, order reference from A / F, renamed by U,
 * removed by D, so E C X D U carry "stock"), the order table growing,
 * deleting and filling up, bad lengths and unknown types, and the
 * registry's payload decoder emitting proto "itch", alone and behind
 * SoupBinTCP (soupbintcp.payload=itch).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "decode/itch/itch.h"
#include "decode/soupbintcp/soupbintcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building messages ------------------------------------------------------ */

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void put_alpha(uint8_t *p, const char *s, size_t n)
{
    memset(p, ' ', n);
    memcpy(p, s, strlen(s) < n ? strlen(s) : n);
}

/* The common header of an ITCH message of "type" into m (zeroed to len). */
static size_t header(uint8_t *m, char type, uint16_t locate, uint16_t tracking, uint64_t ts)
{
    size_t len = cs_itch_type_len((uint8_t)type);

    memset(m, 0, 64);
    m[0] = (uint8_t)type;
    put_be(m + 1, locate, 2);
    put_be(m + 3, tracking, 2);
    put_be(m + 5, ts, 6);
    return len;
}

static char rendered[2048];

/* Decodes m[0, len) and renders its fields; returns cs_itch_decode's. */
static int decode(cs_itch *st, const uint8_t *m, size_t len, cs_itch_out *out)
{
    size_t off = 0;
    int rc;

    out->n_fields = 0;
    out->text_used = 0;
    rc = cs_itch_decode(st, m, len, out);
    rendered[0] = '\0';
    for (size_t i = 0; i < out->n_fields; i++) {
        int w = snprintf(rendered + off, sizeof(rendered) - off, "%.*s=%.*s|",
                         (int)out->fields[i].name.len, out->fields[i].name.p,
                         (int)out->fields[i].val.len, out->fields[i].val.p);
        assert_true(w > 0 && (size_t)w < sizeof(rendered) - off);
        off += (size_t)w;
    }
    return rc;
}

static int setup(void **state)
{
    *state = cs_itch_new(0);
    return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    cs_itch_free(*state);
    return 0;
}

static cs_itch_out out;

#define HDR "stock_locate=7|tracking_number=2|timestamp=34200000000123|"
#define TS 34200000000123ULL

/* The fast decimal writer against printf, at every digit-count edge (10^k - 1,
 * 10^k, 10^k + 1) and at both ends; it writes nothing past 20 bytes. */
static void test_u64_text(void **state)
{
    uint64_t v[64];
    size_t n_v = 0;
    uint64_t p = 1;
    char got[32], want[24];

    (void)state;
    v[n_v++] = 0;
    for (int k = 1; k <= 19; k++) {
        p *= 10;
        v[n_v++] = p - 1;
        v[n_v++] = p;
        v[n_v++] = p + 1;
    }
    v[n_v++] = 34200000000123ULL;
    v[n_v++] = 18446744073709551615ULL;
    for (size_t i = 0; i < n_v; i++) {
        size_t n;

        memset(got, '#', sizeof(got));
        n = cs_itch_u64_text(got, v[i]);
        for (size_t j = 20; j < sizeof(got); j++)
            assert_int_equal(got[j], '#');
        got[n] = '\0';
        snprintf(want, sizeof(want), "%llu", (unsigned long long)v[i]);
        assert_string_equal(got, want);
    }
}

/* ---- every type ------------------------------------------------------------- */

static void test_type_lengths(void **state)
{
    static const char types[] = "SRHYLVWKJhAFECXDUPQBINO";
    static const uint8_t lens[] = {12, 39, 25, 20, 26, 35, 12, 28, 35, 21, 36, 40,
                                   31, 36, 23, 19, 35, 44, 40, 19, 50, 20, 48};

    (void)state;
    for (size_t i = 0; i < sizeof(lens); i++)
        assert_int_equal(cs_itch_type_len((uint8_t)types[i]), lens[i]);
    assert_int_equal(cs_itch_type_len('Z'), 0);
    assert_int_equal(cs_itch_type_len('a'), 0);
}

static void expect(cs_itch *st, const uint8_t *m, size_t len, const char *type, const char *fields)
{
    assert_int_equal(decode(st, m, len, &out), 0);
    assert_int_equal(out.flags, 0);
    assert_int_equal(out.type.len, strlen(type));
    assert_memory_equal(out.type.p, type, strlen(type));
    assert_string_equal(rendered, fields);
}

/* Prices against printf, 4 decimals (A, the whole 32-bit range) and 8
 * (V, 64-bit), at every digit-count edge of both parts. */
static void test_price_text(void **state)
{
    cs_itch *st = *state;
    uint8_t m[64];
    char want[512];
    uint64_t p = 1;

    for (int k = 0; k <= 19; k++, p *= 10) {
        const uint64_t edges[] = {p - 1, p, p + 1};

        for (size_t e = 0; e < 3; e++) {
            uint64_t v = edges[e];
            size_t n = header(m, 'V', 7, 2, TS);

            put_be(m + 11, v, 8);
            put_be(m + 19, v / 3, 8);
            put_be(m + 27, UINT64_MAX - v, 8);
            snprintf(want, sizeof(want),
                     HDR "level_1=%llu.%08llu|level_2=%llu.%08llu|"
                         "level_3=%llu.%08llu|",
                     (unsigned long long)(v / 100000000), (unsigned long long)(v % 100000000),
                     (unsigned long long)(v / 3 / 100000000),
                     (unsigned long long)(v / 3 % 100000000),
                     (unsigned long long)((UINT64_MAX - v) / 100000000),
                     (unsigned long long)((UINT64_MAX - v) % 100000000));
            expect(st, m, n, "V", want);
            if (v > UINT32_MAX)
                continue;
            n = header(m, 'K', 7, 2, TS);
            put_alpha(m + 11, "AAPL", 8);
            put_be(m + 19, 0, 4);
            m[23] = 'A';
            put_be(m + 24, v, 4);
            snprintf(want, sizeof(want),
                     HDR "stock=AAPL|ipo_quotation_release_time=0|"
                         "ipo_quotation_release_qualifier=A|ipo_price=%llu.%04llu|",
                     (unsigned long long)(v / 10000), (unsigned long long)(v % 10000));
            expect(st, m, n, "K", want);
        }
    }
}

/* 8-byte alpha fields lose trailing spaces and NULs only: every length,
 * inner spaces and NULs kept, bytes of 0x80 and above kept. */
static void test_alpha_trim(void **state)
{
    static const struct {
        const char raw[9];
        size_t len; /* of the trimmed value, a prefix of raw */
    } cases[] = {{"        ", 0},   {"\0\0\0\0\0\0\0\0", 0}, {"A       ", 1},
                 {"AB CD   ", 5},   {"ABCDEFGH", 8},         {"ABCDEFG ", 7},
                 {" A \0 \0  ", 2}, {"A\0B     ", 3},        {"\xa0\x80      ", 2},
                 {"       Z", 8}};
    cs_itch *st = *state;
    uint8_t m[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = header(m, 'Y', 7, 2, TS);

        memcpy(m + 11, cases[i].raw, 8);
        m[19] = 'N';
        assert_int_equal(decode(st, m, n, &out), 0);
        assert_int_equal(out.n_fields, 5);
        assert_int_equal(out.fields[3].val.len, cases[i].len);
        assert_memory_equal(out.fields[3].val.p, cases[i].raw, cases[i].len);
    }
}

static void test_system_types(void **state)
{
    cs_itch *st = *state;
    uint8_t m[64];
    size_t n;

    n = header(m, 'S', 7, 2, TS);
    m[11] = 'O';
    expect(st, m, n, "S", HDR "event_code=O|");

    n = header(m, 'V', 7, 2, TS);
    put_be(m + 11, 123456789012ULL, 8);
    put_be(m + 19, 5, 8);
    put_be(m + 27, 100000000ULL, 8);
    expect(st, m, n, "V", HDR "level_1=1234.56789012|level_2=0.00000005|level_3=1.00000000|");

    n = header(m, 'W', 7, 2, TS);
    m[11] = '1';
    expect(st, m, n, "W", HDR "breached_level=1|");

    n = header(m, 'B', 7, 2, TS);
    put_be(m + 11, 99, 8);
    expect(st, m, n, "B", HDR "match_number=99|");
}

static void test_stock_types(void **state)
{
    cs_itch *st = *state;
    uint8_t m[64];
    size_t n;

    n = header(m, 'R', 7, 2, TS);
    put_alpha(m + 11, "AAPL", 8);
    m[19] = 'Q';
    m[20] = 'N';
    put_be(m + 21, 100, 4);
    m[25] = 'N';
    m[26] = 'C';
    put_alpha(m + 27, "Z", 2);
    m[29] = 'P';
    m[30] = 'N';
    m[31] = ' ';
    m[32] = '1';
    m[33] = 'N';
    put_be(m + 34, 2, 4);
    m[38] = 'N';
    expect(st, m, n, "R",
           HDR "stock=AAPL|market_category=Q|financial_status_indicator=N|round_lot_size=100|"
               "round_lots_only=N|issue_classification=C|issue_sub_type=Z|authenticity=P|"
               "short_sale_threshold_indicator=N|ipo_flag= |luld_reference_price_tier=1|"
               "etp_flag=N|etp_leverage_factor=2|inverse_indicator=N|");

    n = header(m, 'H', 7, 2, TS);
    put_alpha(m + 11, "AAPL", 8);
    m[19] = 'T';
    m[20] = ' ';
    put_alpha(m + 21, "MWC1", 4);
    expect(st, m, n, "H", HDR "stock=AAPL|trading_state=T|reserved= |reason_code=MWC1|");

    n = header(m, 'Y', 7, 2, TS);
    put_alpha(m + 11, "AAPL", 8);
    m[19] = '1';
    expect(st, m, n, "Y", HDR "stock=AAPL|reg_sho_action=1|");

    n = header(m, 'L', 7, 2, TS);
    put_alpha(m + 11, "GSCO", 4);
    put_alpha(m + 15, "AAPL", 8);
    m[23] = 'Y';
    m[24] = 'N';
    m[25] = 'A';
    expect(st, m, n, "L",
           HDR "mpid=GSCO|stock=AAPL|primary_market_maker=Y|market_maker_mode=N|"
               "market_participant_state=A|");

    n = header(m, 'K', 7, 2, TS);
    put_alpha(m + 11, "NEWCO", 8);
    put_be(m + 19, 36000, 4);
    m[23] = 'A';
    put_be(m + 24, 215000, 4);
    expect(st, m, n, "K",
           HDR "stock=NEWCO|ipo_quotation_release_time=36000|ipo_quotation_release_qualifier=A|"
               "ipo_price=21.5000|");

    n = header(m, 'J', 7, 2, TS);
    put_alpha(m + 11, "AAPL", 8);
    put_be(m + 19, 1500000, 4);
    put_be(m + 23, 1650000, 4);
    put_be(m + 27, 1350000, 4);
    put_be(m + 31, 3, 4);
    expect(st, m, n, "J",
           HDR "stock=AAPL|auction_collar_reference_price=150.0000|"
               "upper_auction_collar_price=165.0000|lower_auction_collar_price=135.0000|"
               "auction_collar_extension=3|");

    n = header(m, 'h', 7, 2, TS);
    put_alpha(m + 11, "AAPL", 8);
    m[19] = 'Q';
    m[20] = 'H';
    expect(st, m, n, "h", HDR "stock=AAPL|market_code=Q|operational_halt_action=H|");

    n = header(m, 'N', 7, 2, TS);
    put_alpha(m + 11, "AAPL", 8);
    m[19] = 'B';
    expect(st, m, n, "N", HDR "stock=AAPL|interest_flag=B|");
}

static void test_trade_types(void **state)
{
    cs_itch *st = *state;
    uint8_t m[64];
    size_t n;

    n = header(m, 'P', 7, 2, TS);
    put_be(m + 11, 0, 8);
    m[19] = 'B';
    put_be(m + 20, 300, 4);
    put_alpha(m + 24, "AAPL", 8);
    put_be(m + 32, 1502500, 4);
    put_be(m + 36, 77, 8);
    expect(st, m, n, "P",
           HDR "order_reference_number=0|buy_sell_indicator=B|shares=300|stock=AAPL|"
               "price=150.2500|match_number=77|");

    n = header(m, 'Q', 7, 2, TS);
    put_be(m + 11, 5000000000ULL, 8);
    put_alpha(m + 19, "AAPL", 8);
    put_be(m + 27, 1500001, 4);
    put_be(m + 31, 78, 8);
    m[39] = 'O';
    expect(st, m, n, "Q",
           HDR "cross_shares=5000000000|stock=AAPL|cross_price=150.0001|match_number=78|"
               "cross_type=O|");

    n = header(m, 'I', 7, 2, TS);
    put_be(m + 11, 1000, 8);
    put_be(m + 19, 200, 8);
    m[27] = 'B';
    put_alpha(m + 28, "AAPL", 8);
    put_be(m + 36, 1490000, 4);
    put_be(m + 40, 1495000, 4);
    put_be(m + 44, 1500000, 4);
    m[48] = 'O';
    m[49] = 'L';
    expect(st, m, n, "I",
           HDR "paired_shares=1000|imbalance_shares=200|imbalance_direction=B|stock=AAPL|"
               "far_price=149.0000|near_price=149.5000|current_reference_price=150.0000|"
               "cross_type=O|price_variation_indicator=L|");

    n = header(m, 'O', 7, 2, TS);
    put_alpha(m + 11, "DLCO", 8);
    m[19] = 'Y';
    put_be(m + 20, 100000, 4);
    put_be(m + 24, 200000, 4);
    put_be(m + 28, 150000, 4);
    put_be(m + 32, 36000000000000ULL, 8);
    put_be(m + 40, 140000, 4);
    put_be(m + 44, 160000, 4);
    expect(st, m, n, "O",
           HDR "stock=DLCO|open_eligibility_status=Y|minimum_allowable_price=10.0000|"
               "maximum_allowable_price=20.0000|near_execution_price=15.0000|"
               "near_execution_time=36000000000000|lower_price_range_collar=14.0000|"
               "upper_price_range_collar=16.0000|");
}

/* ---- orders and the symbol maps --------------------------------------------- */

static size_t add_order(uint8_t *m, char type, uint16_t locate, uint64_t ref, const char *stock)
{
    size_t n = header(m, type, locate, 2, TS);

    put_be(m + 11, ref, 8);
    m[19] = 'S';
    put_be(m + 20, 100, 4);
    put_alpha(m + 24, stock, 8);
    put_be(m + 32, 1000100, 4);
    if (type == 'F')
        put_alpha(m + 36, "MPID", 4);
    return n;
}

static void test_order_lifecycle(void **state)
{
    cs_itch *st = *state;
    uint8_t m[64];
    size_t n;
    cs_itch_stats s;

    n = header(m, 'R', 7, 2, TS);
    put_alpha(m + 11, "MSFT", 8);
    assert_int_equal(decode(st, m, n, &out), 0);
    assert_non_null(strstr(rendered, "|stock=MSFT|"));

    n = add_order(m, 'A', 7, 1001, "MSFT");
    expect(st, m, n, "A",
           HDR "order_reference_number=1001|buy_sell_indicator=S|shares=100|stock=MSFT|"
               "price=100.0100|");
    n = add_order(m, 'F', 7, 1002, "MSFT");
    expect(st, m, n, "F",
           HDR "order_reference_number=1002|buy_sell_indicator=S|shares=100|stock=MSFT|"
               "price=100.0100|attribution=MPID|");
    cs_itch_stats_get(st, &s);
    assert_int_equal(s.orders_live, 2);

    /* E on an order whose message carries another locate: the order's wins */
    n = header(m, 'E', 9, 2, TS);
    put_be(m + 11, 1001, 8);
    put_be(m + 19, 40, 4);
    put_be(m + 23, 500, 8);
    expect(st, m, n, "E",
           "stock_locate=9|tracking_number=2|timestamp=34200000000123|"
           "order_reference_number=1001|executed_shares=40|match_number=500|stock=MSFT|");

    n = header(m, 'C', 7, 2, TS);
    put_be(m + 11, 1002, 8);
    put_be(m + 19, 10, 4);
    put_be(m + 23, 501, 8);
    m[31] = 'Y';
    put_be(m + 32, 999900, 4);
    expect(st, m, n, "C",
           HDR "order_reference_number=1002|executed_shares=10|match_number=501|printable=Y|"
               "execution_price=99.9900|stock=MSFT|");

    n = header(m, 'X', 7, 2, TS);
    put_be(m + 11, 1002, 8);
    put_be(m + 19, 5, 4);
    expect(st, m, n, "X", HDR "order_reference_number=1002|canceled_shares=5|stock=MSFT|");

    /* U renames 1001 to 2001 */
    n = header(m, 'U', 9, 2, TS);
    put_be(m + 11, 1001, 8);
    put_be(m + 19, 2001, 8);
    put_be(m + 27, 60, 4);
    put_be(m + 31, 1000200, 4);
    expect(st, m, n, "U",
           "stock_locate=9|tracking_number=2|timestamp=34200000000123|"
           "original_order_reference_number=1001|new_order_reference_number=2001|shares=60|"
           "price=100.0200|stock=MSFT|");
    cs_itch_stats_get(st, &s);
    assert_int_equal(s.orders_live, 2);

    /* the old reference is gone: an event on it under locate 9 has no stock */
    n = header(m, 'D', 9, 2, TS);
    put_be(m + 11, 1001, 8);
    expect(st, m, n, "D",
           "stock_locate=9|tracking_number=2|timestamp=34200000000123|"
           "order_reference_number=1001|");
    /* the new one is known */
    n = header(m, 'D', 9, 2, TS);
    put_be(m + 11, 2001, 8);
    expect(st, m, n, "D",
           "stock_locate=9|tracking_number=2|timestamp=34200000000123|"
           "order_reference_number=2001|stock=MSFT|");
    cs_itch_stats_get(st, &s);
    assert_int_equal(s.orders_live, 1);
    /* after D, 2001 is forgotten */
    n = header(m, 'E', 9, 2, TS);
    put_be(m + 11, 2001, 8);
    expect(st, m, n, "E",
           "stock_locate=9|tracking_number=2|timestamp=34200000000123|"
           "order_reference_number=2001|executed_shares=0|match_number=0|");

    /* an unknown reference falls back to the locate's symbol */
    n = header(m, 'X', 7, 2, TS);
    put_be(m + 11, 424242, 8);
    expect(st, m, n, "X", HDR "order_reference_number=424242|canceled_shares=0|stock=MSFT|");

    cs_itch_reset(st);
    cs_itch_stats_get(st, &s);
    assert_int_equal(s.orders_live, 0);
    expect(st, m, n, "X", HDR "order_reference_number=424242|canceled_shares=0|");
}

static void test_symbol_from_add_without_directory(void **state)
{
    cs_itch *st = *state;
    uint8_t m[64];
    size_t n;

    n = add_order(m, 'A', 33, 5, "IBM");
    assert_int_equal(decode(st, m, n, &out), 0);
    n = header(m, 'X', 33, 2, TS);
    put_be(m + 11, 6, 8); /* not an order seen: the locate's symbol */
    assert_int_equal(decode(st, m, n, &out), 0);
    assert_non_null(strstr(rendered, "|stock=IBM|"));
}

static void test_many_orders_grow_and_delete(void **state)
{
    cs_itch *st = *state;
    uint8_t m[64];
    cs_itch_stats s;
    size_t n;

    for (uint64_t ref = 1; ref <= 20000; ref++) {
        n = add_order(m, 'A', (uint16_t)(ref % 50), ref * 7919, ref % 2 ? "ODD" : "EVEN");
        assert_int_equal(decode(st, m, n, &out), 0);
    }
    cs_itch_stats_get(st, &s);
    assert_int_equal(s.orders_live, 20000);
    /* delete the odd ones, then every even one still resolves */
    for (uint64_t ref = 1; ref <= 20000; ref += 2) {
        n = header(m, 'D', 0, 0, 0);
        put_be(m + 11, ref * 7919, 8);
        assert_int_equal(decode(st, m, n, &out), 0);
    }
    cs_itch_stats_get(st, &s);
    assert_int_equal(s.orders_live, 10000);
    for (uint64_t ref = 2; ref <= 20000; ref += 2) {
        n = header(m, 'E', 999, 0, 0);
        put_be(m + 11, ref * 7919, 8);
        assert_int_equal(decode(st, m, n, &out), 0);
        assert_non_null(strstr(rendered, "|stock=EVEN|"));
    }
}

/* A reset forgets every order at once (the table's epoch moves on); after
 * 70,000 resets, past the 16-bit epoch's wrap, an order added since the
 * last reset resolves and one added before it does not. */
static void test_resets_past_epoch_wrap(void **state)
{
    cs_itch *st = *state;
    uint8_t m[64];
    cs_itch_stats s;
    size_t n;

    for (uint32_t r = 0; r < 70000; r++) {
        n = add_order(m, 'A', 3, 1000 + r % 2, "OLD");
        assert_int_equal(decode(st, m, n, &out), 0);
        cs_itch_reset(st);
        cs_itch_stats_get(st, &s);
        assert_int_equal(s.orders_live, 0);
    }
    n = add_order(m, 'A', 4, 1001, "NEW");
    assert_int_equal(decode(st, m, n, &out), 0);
    n = header(m, 'E', 999, 0, 0);
    put_be(m + 11, 1001, 8);
    assert_int_equal(decode(st, m, n, &out), 0);
    assert_non_null(strstr(rendered, "|stock=NEW|"));
    put_be(m + 11, 1000, 8);
    assert_int_equal(decode(st, m, n, &out), 0);
    assert_null(strstr(rendered, "|stock="));
}

static void test_table_full(void **state)
{
    cs_itch *st = cs_itch_new(3);
    uint8_t m[64];
    cs_itch_stats s;
    size_t n;

    (void)state;
    assert_non_null(st);
    for (uint64_t ref = 1; ref <= 5; ref++) {
        n = add_order(m, 'A', (uint16_t)ref, ref, "FULL");
        assert_int_equal(decode(st, m, n, &out), 0);
    }
    cs_itch_stats_get(st, &s);
    assert_int_equal(s.orders_live, 3);
    assert_int_equal(s.orders_full, 2);
    cs_itch_free(st);
}

/* Out of memory: no state, or a state that decodes without its symbols. */
static void test_out_of_memory(void **state)
{
    cs_itch *st;
    uint8_t m[64];
    cs_itch_stats s;
    size_t n;

    (void)state;
    for (long k = 0; k < 2; k++) {
        cs_alloc_fail_after(k);
        assert_null(cs_itch_new(0));
    }
    cs_alloc_fail_after(-1);
    st = cs_itch_new(0);
    assert_non_null(st);
    cs_alloc_fail_after(0); /* the symbol table */
    n = header(m, 'R', 7, 2, TS);
    put_alpha(m + 11, "LOST", 8);
    assert_int_equal(decode(st, m, n, &out), 0);
    cs_alloc_fail_after(-1);
    cs_itch_stats_get(st, &s);
    assert_int_equal(s.symbols_lost, 1);
    n = header(m, 'X', 7, 2, TS);
    assert_int_equal(decode(st, m, n, &out), 0);
    assert_null(strstr(rendered, "stock="));
    n = header(m, 'R', 7, 2, TS);
    put_alpha(m + 11, "BACK", 8);
    assert_int_equal(decode(st, m, n, &out), 0);
    n = header(m, 'X', 7, 2, TS);
    assert_int_equal(decode(st, m, n, &out), 0);
    assert_non_null(strstr(rendered, "|stock=BACK|"));
    cs_itch_free(st);
}

/* ---- bad input ---------------------------------------------------------------- */

static void test_bad_length(void **state)
{
    cs_itch *st = *state;
    uint8_t m[64];
    cs_itch_stats s;
    size_t n = add_order(m, 'A', 7, 77, "BAD");

    assert_int_equal(decode(st, m, n - 1, &out), CS_ECORRUPT);
    assert_int_equal(out.flags, CS_MSG_MALFORMED);
    assert_memory_equal(out.type.p, "A", 1);
    /* the fields that fit: price (32:4) does not */
    assert_string_equal(rendered, HDR "order_reference_number=77|buy_sell_indicator=S|"
                                      "shares=100|stock=BAD|");
    cs_itch_stats_get(st, &s);
    assert_int_equal(s.bad_lengths, 1);
    assert_int_equal(s.orders_live, 0); /* maps untouched */

    assert_int_equal(decode(st, m, 2, &out), CS_ECORRUPT);
    assert_string_equal(rendered, "");
    m[36] = 0;
    assert_int_equal(decode(st, m, n + 1, &out), CS_ECORRUPT);
    cs_itch_stats_get(st, &s);
    assert_int_equal(s.bad_lengths, 3);
    assert_int_equal(s.orders_live, 0);
}

static void test_unknown_type(void **state)
{
    cs_itch *st = *state;
    uint8_t m[64];
    cs_itch_stats s;

    memset(m, 0, sizeof(m));
    m[0] = 'z';
    assert_int_equal(decode(st, m, 30, &out), CS_ECORRUPT);
    assert_int_equal(out.flags, CS_MSG_MALFORMED);
    assert_int_equal(out.type.len, 7);
    assert_memory_equal(out.type.p, "unknown", 7);
    assert_int_equal(decode(st, m, 0, &out), CS_ECORRUPT);
    cs_itch_stats_get(st, &s);
    assert_int_equal(s.unknown_types, 2);
    assert_int_equal(s.messages, 2);
}

static void test_prefix_fields_kept(void **state)
{
    cs_itch *st = *state;
    uint8_t m[64];
    size_t n = header(m, 'S', 7, 2, TS);

    out.n_fields = 1;
    out.text_used = 0;
    out.fields[0] = (cs_kv){{"seq", 3}, {"5", 1}};
    m[11] = 'C';
    assert_int_equal(cs_itch_decode(st, m, n, &out), 0);
    assert_int_equal(out.n_fields, 5);
    assert_memory_equal(out.fields[0].name.p, "seq", 3);
    assert_memory_equal(out.fields[1].name.p, "stock_locate", 12);
}

/* ---- the payload decoder ------------------------------------------------------ */

struct cs_decode_ctx {
    const cs_decode_ops *ops;
    int n;
    char type[8], proto[8];
    uint32_t flags;
    size_t start, len, n_fields;
};

static void rec(cs_decode_ctx *ctx, const cs_msg_out *m)
{
    ctx->n++;
    snprintf(ctx->type, sizeof(ctx->type), "%.*s", (int)m->type.len, m->type.p);
    snprintf(ctx->proto, sizeof(ctx->proto), "%s", m->proto ? m->proto : "(null)");
    ctx->flags = m->flags;
    ctx->start = m->start;
    ctx->len = m->len;
    ctx->n_fields = m->n_fields;
}

static const cs_decode_ops rec_ops = {.emit = rec};

static void test_payload_decoder(void **state)
{
    static const cs_endpoints flow;
    static const cs_decoder_opts opts;
    cs_decode_ctx ctx = {.ops = &rec_ops};
    uint8_t m[64];
    size_t n = add_order(m, 'F', 1, 1, "X");
    cs_decode_input in = {.dir = 1, .flags = CS_IN_DATAGRAM, .data = m, .len = n};
    void *s = cs_decoder_itch.state_new(&flow, &opts);

    (void)state;
    assert_non_null(s);
    assert_int_equal(cs_decoder_itch.transports, 0);
    assert_int_equal(cs_decoder_itch.probe(m, n, 0), CS_PROBE_NO);
    assert_int_equal(cs_decoder_itch.parse(s, &ctx, &in), n);
    assert_int_equal(ctx.n, 1);
    assert_string_equal(ctx.type, "F");
    assert_string_equal(ctx.proto, "itch");
    assert_int_equal(ctx.start, 0);
    assert_int_equal(ctx.len, n);
    assert_int_equal(ctx.n_fields, 9);
    in.len = n - 3;
    assert_int_equal(cs_decoder_itch.parse(s, &ctx, &in), n - 3);
    assert_int_equal(ctx.flags, CS_MSG_MALFORMED);
    cs_decoder_itch.state_free(s);
}

/* SoupBinTCP with payload=itch hands each Sequenced Data packet to it. */
static void test_behind_soupbintcp(void **state)
{
    static const cs_endpoints flow;
    static cs_decoder_optset set;
    cs_decoder_opts opts = {&set, &cs_decoder_soupbintcp};
    cs_decode_ctx ctx = {.ops = &rec_ops};
    uint8_t pkt[80];
    size_t n = add_order(pkt + 3, 'A', 1, 9, "SOUP");
    cs_decode_input in = {.dir = 1, .data = pkt, .len = n + 3};
    void *s;

    (void)state;
    memset(&set, 0, sizeof(set));
    assert_int_equal(cs_decoder_optset_add(&set, "soupbintcp.payload=itch"), 0);
    s = cs_decoder_soupbintcp.state_new(&flow, &opts);
    assert_non_null(s);
    put_be(pkt, n + 1, 2);
    pkt[2] = 'S';
    assert_int_equal(cs_decoder_soupbintcp.parse(s, &ctx, &in), n + 3);
    assert_int_equal(ctx.n, 1);
    assert_string_equal(ctx.type, "A");
    assert_string_equal(ctx.proto, "itch");
    assert_int_equal(ctx.flags, CS_MSG_TICK); /* well formed, about an instrument */
    cs_decoder_soupbintcp.state_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_lengths),
        cmocka_unit_test(test_u64_text),
        cmocka_unit_test_setup_teardown(test_price_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alpha_trim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_system_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stock_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trade_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symbol_from_add_without_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_orders_grow_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resets_past_epoch_wrap, setup, teardown),
        cmocka_unit_test(test_table_full),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test_setup_teardown(test_bad_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix_fields_kept, setup, teardown),
        cmocka_unit_test(test_payload_decoder),
        cmocka_unit_test(test_behind_soupbintcp),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
