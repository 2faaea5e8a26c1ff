/*
 * itch.c - Nasdaq TotalView-ITCH 5.0 message parsing (a library the
 * transports call, MoldUDP64 and SoupBinTCP) and the payload decoder
 * `itch` of the registry (no transports of its own: a transport hands
 * parse() exactly one message and parse() emits it with proto "itch").
 *
 * Wire format (TotalView-ITCH 5.0 specification; big-endian unsigned,
 * alpha left-justified and space-padded): every message starts with
 *   Type(1) @0 | Stock Locate(2) @1 | Tracking Number(2) @3 | Timestamp(6) @5
 * and has the fixed length of its type (cs__itch_defs below: S R H Y L V W
 * K J h A F E C X D U P Q B I N O).
 *
 * Fields out, in wire order: stock_locate, tracking_number, timestamp
 * (ns since midnight, decimal), then the type's fields with the spec's
 * names: alpha trimmed of spaces (stock, mpid...), one-byte codes as the
 * character, integers in decimal, prices as decimal text with 4 implied
 * decimals (8 for the MWCB levels of V). Order events (E C X D U) get a
 * last field "stock": the symbol of the order reference (from its A / F),
 * or of the stock locate (from R, A, F) if the reference is unknown; none
 * if neither is known.
 *
 * Instrument state (how it works): stock locate -> 8-byte symbol and its
 * length without padding (trimmed once, when set), a flat array of 65536
 * entries (allocated at the first symbol: a stream that
 * carries no R/A/F costs nothing) filled by R (and A/F when R was not
 * seen; out of memory: counted in symbols_lost); order
 * reference -> stock locate, an open-addressing table (linear probing,
 * backward-shift deletion) filled by A/F, renamed by U, emptied by D. It
 * starts small and doubles until it holds "max_orders" (load <= 1/2): no
 * allocation per message beyond those doublings; when full, new orders
 * are counted in orders_full and not remembered. A slot is in use while
 * its epoch equals the table's; a reset (a new session) moves the epoch
 * on instead of clearing the table, and clears it only when the 16-bit
 * epoch wraps. Numbers are written by hand, without division: two digits
 * per multiply (see cs__itch_put_fixed).
 *
 * Bad input: a message whose length differs from its type's is flagged
 * CS_MSG_MALFORMED (fields that fit are reported, the maps are untouched);
 * an unknown type is type "unknown", flagged, counted, skipped whole.
 * Never reads past the message's length.
 * Threading: one cs_itch per stream, one thread at a time.
 */
#include "decode/itch/itch.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char cs_itch_proto[] = "itch";

#define CS__ITCH_HDR 11
#define CS__ITCH_SYMBOL 8
#define CS__ITCH_LOCATES 65536u
#define CS__ITCH_TABLE_MIN 1024u
#define CS__ITCH_ORDERS_DEFAULT (1u << 20)

/* Field kinds; the numeric ones (F_UINT, F_PRICE4, F_PRICE8) are 4 or 8 bytes. */
enum { F_ALPHA, F_CHAR, F_UINT, F_PRICE4, F_PRICE8 };

/* What a message does to the order table. */
enum { K_NONE, K_DIRECTORY, K_ADD, K_EVENT, K_DELETE, K_REPLACE };

typedef struct cs__itch_field {
    const char *name;
    uint8_t off, len, kind, name_len;
} cs__itch_field;

typedef struct cs__itch_def {
    char type;
    uint8_t len;
    uint8_t kind;
    const cs__itch_field *fields;
} cs__itch_def;

#define FEND                                                                                       \
    {                                                                                              \
        NULL, 0, 0, 0, 0                                                                           \
    }

static const cs__itch_field f_S[] = {{"event_code", 11, 1, F_CHAR, 10}, FEND};
static const cs__itch_field f_R[] = {{"stock", 11, 8, F_ALPHA, 5},
                                     {"market_category", 19, 1, F_CHAR, 15},
                                     {"financial_status_indicator", 20, 1, F_CHAR, 26},
                                     {"round_lot_size", 21, 4, F_UINT, 14},
                                     {"round_lots_only", 25, 1, F_CHAR, 15},
                                     {"issue_classification", 26, 1, F_CHAR, 20},
                                     {"issue_sub_type", 27, 2, F_ALPHA, 14},
                                     {"authenticity", 29, 1, F_CHAR, 12},
                                     {"short_sale_threshold_indicator", 30, 1, F_CHAR, 30},
                                     {"ipo_flag", 31, 1, F_CHAR, 8},
                                     {"luld_reference_price_tier", 32, 1, F_CHAR, 25},
                                     {"etp_flag", 33, 1, F_CHAR, 8},
                                     {"etp_leverage_factor", 34, 4, F_UINT, 19},
                                     {"inverse_indicator", 38, 1, F_CHAR, 17},
                                     FEND};
static const cs__itch_field f_H[] = {{"stock", 11, 8, F_ALPHA, 5},
                                     {"trading_state", 19, 1, F_CHAR, 13},
                                     {"reserved", 20, 1, F_CHAR, 8},
                                     {"reason_code", 21, 4, F_ALPHA, 11},
                                     FEND};
static const cs__itch_field f_Y[] = {
    {"stock", 11, 8, F_ALPHA, 5}, {"reg_sho_action", 19, 1, F_CHAR, 14}, FEND};
static const cs__itch_field f_L[] = {{"mpid", 11, 4, F_ALPHA, 4},
                                     {"stock", 15, 8, F_ALPHA, 5},
                                     {"primary_market_maker", 23, 1, F_CHAR, 20},
                                     {"market_maker_mode", 24, 1, F_CHAR, 17},
                                     {"market_participant_state", 25, 1, F_CHAR, 24},
                                     FEND};
static const cs__itch_field f_V[] = {{"level_1", 11, 8, F_PRICE8, 7},
                                     {"level_2", 19, 8, F_PRICE8, 7},
                                     {"level_3", 27, 8, F_PRICE8, 7},
                                     FEND};
static const cs__itch_field f_W[] = {{"breached_level", 11, 1, F_CHAR, 14}, FEND};
static const cs__itch_field f_K[] = {{"stock", 11, 8, F_ALPHA, 5},
                                     {"ipo_quotation_release_time", 19, 4, F_UINT, 26},
                                     {"ipo_quotation_release_qualifier", 23, 1, F_CHAR, 31},
                                     {"ipo_price", 24, 4, F_PRICE4, 9},
                                     FEND};
static const cs__itch_field f_J[] = {{"stock", 11, 8, F_ALPHA, 5},
                                     {"auction_collar_reference_price", 19, 4, F_PRICE4, 30},
                                     {"upper_auction_collar_price", 23, 4, F_PRICE4, 26},
                                     {"lower_auction_collar_price", 27, 4, F_PRICE4, 26},
                                     {"auction_collar_extension", 31, 4, F_UINT, 24},
                                     FEND};
static const cs__itch_field f_h[] = {{"stock", 11, 8, F_ALPHA, 5},
                                     {"market_code", 19, 1, F_CHAR, 11},
                                     {"operational_halt_action", 20, 1, F_CHAR, 23},
                                     FEND};
static const cs__itch_field f_A[] = {{"order_reference_number", 11, 8, F_UINT, 22},
                                     {"buy_sell_indicator", 19, 1, F_CHAR, 18},
                                     {"shares", 20, 4, F_UINT, 6},
                                     {"stock", 24, 8, F_ALPHA, 5},
                                     {"price", 32, 4, F_PRICE4, 5},
                                     FEND};
static const cs__itch_field f_F[] = {{"order_reference_number", 11, 8, F_UINT, 22},
                                     {"buy_sell_indicator", 19, 1, F_CHAR, 18},
                                     {"shares", 20, 4, F_UINT, 6},
                                     {"stock", 24, 8, F_ALPHA, 5},
                                     {"price", 32, 4, F_PRICE4, 5},
                                     {"attribution", 36, 4, F_ALPHA, 11},
                                     FEND};
static const cs__itch_field f_E[] = {{"order_reference_number", 11, 8, F_UINT, 22},
                                     {"executed_shares", 19, 4, F_UINT, 15},
                                     {"match_number", 23, 8, F_UINT, 12},
                                     FEND};
static const cs__itch_field f_C[] = {
    {"order_reference_number", 11, 8, F_UINT, 22}, {"executed_shares", 19, 4, F_UINT, 15},
    {"match_number", 23, 8, F_UINT, 12},           {"printable", 31, 1, F_CHAR, 9},
    {"execution_price", 32, 4, F_PRICE4, 15},      FEND};
static const cs__itch_field f_X[] = {
    {"order_reference_number", 11, 8, F_UINT, 22}, {"canceled_shares", 19, 4, F_UINT, 15}, FEND};
static const cs__itch_field f_D[] = {{"order_reference_number", 11, 8, F_UINT, 22}, FEND};
static const cs__itch_field f_U[] = {{"original_order_reference_number", 11, 8, F_UINT, 31},
                                     {"new_order_reference_number", 19, 8, F_UINT, 26},
                                     {"shares", 27, 4, F_UINT, 6},
                                     {"price", 31, 4, F_PRICE4, 5},
                                     FEND};
static const cs__itch_field f_P[] = {{"order_reference_number", 11, 8, F_UINT, 22},
                                     {"buy_sell_indicator", 19, 1, F_CHAR, 18},
                                     {"shares", 20, 4, F_UINT, 6},
                                     {"stock", 24, 8, F_ALPHA, 5},
                                     {"price", 32, 4, F_PRICE4, 5},
                                     {"match_number", 36, 8, F_UINT, 12},
                                     FEND};
static const cs__itch_field f_Q[] = {
    {"cross_shares", 11, 8, F_UINT, 12},  {"stock", 19, 8, F_ALPHA, 5},
    {"cross_price", 27, 4, F_PRICE4, 11}, {"match_number", 31, 8, F_UINT, 12},
    {"cross_type", 39, 1, F_CHAR, 10},    FEND};
static const cs__itch_field f_B[] = {{"match_number", 11, 8, F_UINT, 12}, FEND};
static const cs__itch_field f_I[] = {{"paired_shares", 11, 8, F_UINT, 13},
                                     {"imbalance_shares", 19, 8, F_UINT, 16},
                                     {"imbalance_direction", 27, 1, F_CHAR, 19},
                                     {"stock", 28, 8, F_ALPHA, 5},
                                     {"far_price", 36, 4, F_PRICE4, 9},
                                     {"near_price", 40, 4, F_PRICE4, 10},
                                     {"current_reference_price", 44, 4, F_PRICE4, 23},
                                     {"cross_type", 48, 1, F_CHAR, 10},
                                     {"price_variation_indicator", 49, 1, F_CHAR, 25},
                                     FEND};
static const cs__itch_field f_N[] = {
    {"stock", 11, 8, F_ALPHA, 5}, {"interest_flag", 19, 1, F_CHAR, 13}, FEND};
static const cs__itch_field f_O[] = {{"stock", 11, 8, F_ALPHA, 5},
                                     {"open_eligibility_status", 19, 1, F_CHAR, 23},
                                     {"minimum_allowable_price", 20, 4, F_PRICE4, 23},
                                     {"maximum_allowable_price", 24, 4, F_PRICE4, 23},
                                     {"near_execution_price", 28, 4, F_PRICE4, 20},
                                     {"near_execution_time", 32, 8, F_UINT, 19},
                                     {"lower_price_range_collar", 40, 4, F_PRICE4, 24},
                                     {"upper_price_range_collar", 44, 4, F_PRICE4, 24},
                                     FEND};

static const cs__itch_def cs__itch_defs[] = {
    {'S', 12, K_NONE, f_S},   {'R', 39, K_DIRECTORY, f_R}, {'H', 25, K_NONE, f_H},
    {'Y', 20, K_NONE, f_Y},   {'L', 26, K_NONE, f_L},      {'V', 35, K_NONE, f_V},
    {'W', 12, K_NONE, f_W},   {'K', 28, K_NONE, f_K},      {'J', 35, K_NONE, f_J},
    {'h', 21, K_NONE, f_h},   {'A', 36, K_ADD, f_A},       {'F', 40, K_ADD, f_F},
    {'E', 31, K_EVENT, f_E},  {'C', 36, K_EVENT, f_C},     {'X', 23, K_EVENT, f_X},
    {'D', 19, K_DELETE, f_D}, {'U', 35, K_REPLACE, f_U},   {'P', 44, K_NONE, f_P},
    {'Q', 40, K_NONE, f_Q},   {'B', 19, K_NONE, f_B},      {'I', 50, K_NONE, f_I},
    {'N', 20, K_NONE, f_N},   {'O', 48, K_NONE, f_O},
};

/* The definition of a type byte, or NULL (a linear search: st->by_type is the fast path). */
static const cs__itch_def *cs__itch_def_of(uint8_t type)
{
    for (size_t i = 0; i < sizeof(cs__itch_defs) / sizeof(cs__itch_defs[0]); i++)
        if ((uint8_t)cs__itch_defs[i].type == type)
            return &cs__itch_defs[i];
    return NULL;
}

typedef struct cs__itch_order {
    uint64_t ref;
    uint16_t locate;
    uint16_t epoch; /* in use while equal to the table's epoch */
} cs__itch_order;

/* A stock locate's symbol as the wire has it, and its length without the
 * padding (computed once, when it is set). */
typedef struct cs__itch_symbol_entry {
    char sym[CS__ITCH_SYMBOL]; /* sym[0] == '\0': unknown */
    uint8_t len;
} cs__itch_symbol_entry;

struct cs_itch {
    cs__itch_symbol_entry *symbols; /* per stock locate; NULL until the first symbol */
    cs__itch_order *orders;         /* open addressing, cap a power of two */
    size_t cap, n, max_orders;
    uint16_t epoch; /* never 0; a reset moves it on, emptying every slot at once */
    const cs__itch_def *by_type[256];
    cs_itch_stats stats;
};

size_t cs_itch_type_len(uint8_t type)
{
    const cs__itch_def *d = cs__itch_def_of(type);

    return d != NULL ? d->len : 0;
}

cs_itch *cs_itch_new(size_t max_orders)
{
    cs_itch *st = cs_calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    st->max_orders = max_orders == 0 ? CS__ITCH_ORDERS_DEFAULT : max_orders;
    if (st->max_orders > CS_ITCH_ORDERS_MAX)
        st->max_orders = CS_ITCH_ORDERS_MAX;
    st->cap = CS__ITCH_TABLE_MIN;
    st->epoch = 1;
    st->orders = cs_calloc(st->cap, sizeof(cs__itch_order));
    if (st->orders == NULL) {
        cs_itch_free(st);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(cs__itch_defs) / sizeof(cs__itch_defs[0]); i++)
        st->by_type[(uint8_t)cs__itch_defs[i].type] = &cs__itch_defs[i];
    return st;
}

void cs_itch_free(cs_itch *st)
{
    if (st == NULL)
        return;
    cs_free(st->symbols);
    cs_free(st->orders);
    cs_free(st);
}

void cs_itch_reset(cs_itch *st)
{
    if (st->symbols != NULL)
        memset(st->symbols, 0, (size_t)CS__ITCH_LOCATES * sizeof(*st->symbols));
    if (++st->epoch == 0) { /* wrapped: slots of old epochs must not read as live */
        memset(st->orders, 0, st->cap * sizeof(cs__itch_order));
        st->epoch = 1;
    }
    st->n = 0;
}

void cs_itch_stats_get(const cs_itch *st, cs_itch_stats *out)
{
    *out = st->stats;
    out->orders_live = st->n;
}

/* ---- the order table ------------------------------------------------------ */

static size_t cs__itch_hash(uint64_t ref, size_t cap)
{
    ref ^= ref >> 33;
    ref *= 0xff51afd7ed558ccdULL;
    ref ^= ref >> 33;
    return (size_t)ref & (cap - 1);
}

/* The slot holding "ref", or the empty slot where it would go. */
static size_t cs__itch_slot(const cs__itch_order *t, size_t cap, uint16_t epoch, uint64_t ref)
{
    size_t i = cs__itch_hash(ref, cap);

    while (t[i].epoch == epoch && t[i].ref != ref)
        i = (i + 1) & (cap - 1);
    return i;
}

/* Doubles the table; false if out of memory (the table stays). */
static bool cs__itch_grow(cs_itch *st)
{
    size_t cap = st->cap * 2;
    cs__itch_order *t = cs_calloc(cap, sizeof(*t));

    if (t == NULL)
        return false;
    for (size_t i = 0; i < st->cap; i++)
        if (st->orders[i].epoch == st->epoch)
            t[cs__itch_slot(t, cap, st->epoch, st->orders[i].ref)] = st->orders[i];
    cs_free(st->orders);
    st->orders = t;
    st->cap = cap;
    return true;
}

static void cs__itch_order_put(cs_itch *st, uint64_t ref, uint16_t locate)
{
    size_t i = cs__itch_slot(st->orders, st->cap, st->epoch, ref);

    if (st->orders[i].epoch != st->epoch) {
        if (st->n >= st->max_orders) {
            st->stats.orders_full++;
            return;
        }
        if ((st->n + 1) * 2 > st->cap) {
            if (!cs__itch_grow(st)) {
                st->stats.orders_full++;
                return;
            }
            i = cs__itch_slot(st->orders, st->cap, st->epoch, ref);
        }
        st->n++;
    }
    st->orders[i] = (cs__itch_order){ref, locate, st->epoch};
}

/* The slot of the live order "ref", or SIZE_MAX if it is not in the table. */
static size_t cs__itch_order_find(const cs_itch *st, uint64_t ref)
{
    size_t i = cs__itch_slot(st->orders, st->cap, st->epoch, ref);

    return st->orders[i].epoch == st->epoch ? i : SIZE_MAX;
}

/* Empties the live slot "i" (from cs__itch_order_find) with backward-shift
 * deletion (no tombstones). */
static void cs__itch_order_del_at(cs_itch *st, size_t i)
{
    size_t mask = st->cap - 1;
    size_t j = i;

    st->n--;
    for (;;) {
        size_t home;

        st->orders[i].epoch = 0;
        do {
            j = (j + 1) & mask;
            if (st->orders[j].epoch != st->epoch)
                return;
            home = cs__itch_hash(st->orders[j].ref, st->cap);
        } while (i <= j ? (i < home && home <= j) : (i < home || home <= j));
        st->orders[i] = st->orders[j];
        i = j;
    }
}

/* ---- rendering ------------------------------------------------------------ */

static cs_str cs__itch_trim(const uint8_t *p, size_t n)
{
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\0'))
        n--;
    return (cs_str){(const char *)p, n};
}

/* A numeric field's value: every F_UINT, F_PRICE4 and F_PRICE8 of the
 * tables is 4 or 8 bytes wide. */
static inline uint64_t cs__itch_num(const uint8_t *p, size_t n)
{
    return n == 8 ? cs_rd_be64(p) : cs_rd_be32(p);
}

/* The 6-byte timestamp of the header. */
static inline uint64_t cs__itch_be48(const uint8_t *p)
{
    return ((uint64_t)cs_rd_be16(p) << 32) | cs_rd_be32(p + 2);
}

/*
 * Decimal text without division (how it works). To write v < 10^(2k+2),
 * whose length the caller knows (branches on v: predicted, unlike a count
 * computed from the digits, they let the next field's text start at once):
 *   1. y = v * ceil(2^48 / 10^(2k)): v / 10^(2k) in fixed point, 48 bits
 *      of fraction; its integer part is the first one or two digits;
 *   2. k times: keep the fraction, multiply it by 100: the integer part is
 *      the next two digits, written from a table of "00" .. "99".
 * Rounding up errs by less than v * 2^-48 < 10^-6 for v < 10^8, so no
 * digit is ever off (checked for every v < 10^8). One multiply per two
 * digits, each depending only on the one before.
 */
static const char cs__itch_digits2[201] = "00010203040506070809101112131415161718192021222324"
                                          "25262728293031323334353637383940414243444546474849"
                                          "50515253545556575859606162636465666768697071727374"
                                          "75767778798081828384858687888990919293949596979899";

#define CS__ITCH_FIX 48
#define CS__ITCH_FIX_MASK ((1ULL << CS__ITCH_FIX) - 1)
#define CS__ITCH_FIX_DIV(d) ((1ULL << CS__ITCH_FIX) / (d) + 1) /* ceil: d is no power of 2 */

/* Writes the digits of y (step 1 above): one leading digit, or two if
 * "two", then "pairs" pairs; returns how many. */
static inline size_t cs__itch_put_fixed(char *p, uint64_t y, unsigned pairs, bool two)
{
    uint32_t top = (uint32_t)(y >> CS__ITCH_FIX);
    size_t n = 1;

    if (two) {
        memcpy(p, cs__itch_digits2 + top * 2, 2);
        n = 2;
    } else
        p[0] = (char)('0' + top);
    for (unsigned i = 0; i < pairs; i++, n += 2) {
        y = (y & CS__ITCH_FIX_MASK) * 100;
        memcpy(p + n, cs__itch_digits2 + (y >> CS__ITCH_FIX) * 2, 2);
    }
    return n;
}

/* Writes v (v < 10^8) at p without leading zeros ("0" for 0); returns its
 * length. */
static size_t cs__itch_put_short(char *p, uint32_t v)
{
    if (v < 100) {
        if (v < 10) {
            p[0] = (char)('0' + v);
            return 1;
        }
        memcpy(p, cs__itch_digits2 + v * 2, 2);
        return 2;
    }
    if (v < 10000)
        return cs__itch_put_fixed(p, v * CS__ITCH_FIX_DIV(100), 1, v >= 1000);
    if (v < 1000000)
        return cs__itch_put_fixed(p, v * CS__ITCH_FIX_DIV(10000), 2, v >= 100000);
    return cs__itch_put_fixed(p, v * CS__ITCH_FIX_DIV(1000000), 3, v >= 10000000);
}

/* Writes the eight digits of v (v < 10^8) at p, leading zeros included. */
static void cs__itch_put8(char *p, uint32_t v)
{
    cs__itch_put_fixed(p, v * CS__ITCH_FIX_DIV(1000000), 3, true);
}

/* Writes the four digits of v (v < 10^4) at p, leading zeros included. */
static void cs__itch_put4(char *p, uint32_t v)
{
    cs__itch_put_fixed(p, v * CS__ITCH_FIX_DIV(100), 1, true);
}

/* Writes v at buf in decimal (1 to 20 bytes, no more); returns its length. */
static inline size_t cs__itch_u64(char *buf, uint64_t v)
{
    uint64_t hi;
    size_t n;

    if (v < 100000000u)
        return cs__itch_put_short(buf, (uint32_t)v);
    hi = v / 100000000u;
    if (hi < 100000000u) /* under 10^16: the high digits, then eight */
        n = cs__itch_put_short(buf, (uint32_t)hi);
    else { /* up to 20 digits: at most four, then eight, then eight */
        n = cs__itch_put_short(buf, (uint32_t)(hi / 100000000u));
        cs__itch_put8(buf + n, (uint32_t)(hi % 100000000u));
        n += 8;
    }
    cs__itch_put8(buf + n, (uint32_t)(v % 100000000u));
    return n + 8;
}

size_t cs_itch_u64_text(char *buf, uint64_t v)
{
    return cs__itch_u64(buf, v);
}

/* Writes the integer "v" in decimal into out's text without snprintf (the
 * hot path); returns it (empty if full). */
static cs_str cs__itch_print(cs_itch_out *out, uint64_t v)
{
    char *p = out->text + out->text_used;
    size_t n;

    if (sizeof(out->text) - out->text_used < 32)
        return (cs_str){p, 0};
    n = cs__itch_u64(p, v);
    out->text_used += n;
    return (cs_str){p, n};
}

/* Writes the price "v" (4 implied decimals, or 8 if "eight") as decimal
 * text into out's text; returns it (empty if full). */
static cs_str cs__itch_print_price(cs_itch_out *out, uint64_t v, bool eight)
{
    char *p = out->text + out->text_used;
    size_t n;

    if (sizeof(out->text) - out->text_used < 32)
        return (cs_str){p, 0};
    if (eight) {
        n = cs__itch_u64(p, v / 100000000u);
        p[n++] = '.';
        cs__itch_put8(p + n, (uint32_t)(v % 100000000u));
        n += 8;
    } else {
        n = cs__itch_u64(p, v / 10000u);
        p[n++] = '.';
        cs__itch_put4(p + n, (uint32_t)(v % 10000u));
        n += 4;
    }
    out->text_used += n;
    return (cs_str){p, n};
}

static void cs__itch_add_n(cs_itch_out *out, const char *name, size_t name_len, cs_str val)
{
    if (out->n_fields >= sizeof(out->fields) / sizeof(out->fields[0]))
        return;
    out->fields[out->n_fields++] = (cs_kv){{name, name_len}, val};
}

/* A field named by a string literal. */
#define cs__itch_add(out, name, val) cs__itch_add_n(out, name, sizeof(name) - 1, val)

static cs_str cs__itch_value(cs_itch_out *out, const uint8_t *p, const cs__itch_field *f)
{
    switch (f->kind) {
    case F_ALPHA:
        return cs__itch_trim(p, f->len);
    case F_CHAR:
        return (cs_str){(const char *)p, 1};
    case F_PRICE4:
        return cs__itch_print_price(out, cs__itch_num(p, f->len), false);
    case F_PRICE8:
        return cs__itch_print_price(out, cs__itch_num(p, f->len), true);
    default:
        return cs__itch_print(out, cs__itch_num(p, f->len));
    }
}

/* The common header and the fields of "fields" that lie within len. */
static void cs__itch_fields(cs_itch_out *out, const uint8_t *msg, size_t len,
                            const cs__itch_field *fields)
{
    if (len >= 3)
        cs__itch_add(out, "stock_locate", cs__itch_print(out, cs_rd_be16(msg + 1)));
    if (len >= 5)
        cs__itch_add(out, "tracking_number", cs__itch_print(out, cs_rd_be16(msg + 3)));
    if (len >= CS__ITCH_HDR)
        cs__itch_add(out, "timestamp", cs__itch_print(out, cs__itch_be48(msg + 5)));
    for (const cs__itch_field *f = fields; f != NULL && f->name != NULL; f++)
        if ((size_t)f->off + f->len <= len)
            cs__itch_add_n(out, f->name, f->name_len, cs__itch_value(out, msg + f->off, f));
}

/* ---- the maps -------------------------------------------------------------- */

static void cs__itch_symbol_set(cs_itch *st, uint16_t locate, const uint8_t *stock, bool force)
{
    if (st->symbols == NULL) /* 576 KiB, only for a stream that carries ITCH */
        st->symbols = cs_calloc(CS__ITCH_LOCATES, sizeof(*st->symbols));
    if (st->symbols == NULL) {
        st->stats.symbols_lost++;
        return;
    }
    if (force || st->symbols[locate].sym[0] == '\0') {
        memcpy(st->symbols[locate].sym, stock, CS__ITCH_SYMBOL);
        st->symbols[locate].len = (uint8_t)cs__itch_trim(stock, CS__ITCH_SYMBOL).len;
    }
}

static cs_str cs__itch_symbol(const cs_itch *st, uint16_t locate)
{
    if (st->symbols == NULL)
        return (cs_str){"", 0};
    return (cs_str){st->symbols[locate].sym, st->symbols[locate].len};
}

/* Updates the maps from a well-formed message; adds "stock" to events. */
static void cs__itch_track(cs_itch *st, const cs__itch_def *d, const uint8_t *msg, cs_itch_out *out)
{
    uint16_t locate = cs_rd_be16(msg + 1);
    size_t slot;
    cs_str sym;

    switch (d->kind) {
    case K_DIRECTORY:
        cs__itch_symbol_set(st, locate, msg + 11, true);
        out->instrument = cs__itch_symbol(st, locate);
        return;
    case K_ADD:
        cs__itch_symbol_set(st, locate, msg + 24, false);
        cs__itch_order_put(st, cs_rd_be64(msg + 11), locate);
        out->instrument = cs__itch_symbol(st, locate);
        return;
    case K_NONE:
        if (locate != 0)
            out->instrument = cs__itch_symbol(st, locate);
        return;
    default:
        break;
    }
    slot = cs__itch_order_find(st, cs_rd_be64(msg + 11)); /* E C X D U: the reference at 11:8 */
    if (slot != SIZE_MAX)
        locate = st->orders[slot].locate;
    sym = cs__itch_symbol(st, locate);
    out->instrument = sym;
    if (sym.len > 0)
        cs__itch_add(out, "stock", sym);
    if (slot == SIZE_MAX || (d->kind != K_DELETE && d->kind != K_REPLACE))
        return;
    cs__itch_order_del_at(st, slot);
    if (d->kind == K_REPLACE)
        cs__itch_order_put(st, cs_rd_be64(msg + 19), locate);
}

void cs_itch_prefetch(const cs_itch *st, const uint8_t *msg, size_t len)
{
    const cs__itch_def *d = len > 0 ? st->by_type[msg[0]] : NULL;

    if (d == NULL || len != d->len || d->kind < K_ADD)
        return;
    __builtin_prefetch(&st->orders[cs__itch_hash(cs_rd_be64(msg + 11), st->cap)]);
    if (d->kind == K_REPLACE) /* the new reference's slot too */
        __builtin_prefetch(&st->orders[cs__itch_hash(cs_rd_be64(msg + 19), st->cap)]);
}

int cs_itch_decode(cs_itch *st, const uint8_t *msg, size_t len, cs_itch_out *out)
{
    const cs__itch_def *d = len > 0 ? st->by_type[msg[0]] : NULL;

    st->stats.messages++;
    out->flags = 0;
    out->instrument = (cs_str){"", 0};
    if (d == NULL) {
        st->stats.unknown_types++;
        out->type = (cs_str){"unknown", 7};
        out->flags = CS_MSG_MALFORMED;
        cs__itch_fields(out, msg, len, NULL);
        return CS_ECORRUPT;
    }
    out->type = (cs_str){(const char *)msg, 1};
    cs__itch_fields(out, msg, len, d->fields);
    if (len != d->len) {
        st->stats.bad_lengths++;
        out->flags = CS_MSG_MALFORMED;
        return CS_ECORRUPT;
    }
    cs__itch_track(st, d, msg, out);
    return 0;
}

/* ---- the payload decoder `itch` ------------------------------------------- */

typedef struct cs__itch_dec {
    cs_itch *itch;
    cs_itch_out out;
} cs__itch_dec;

static void *cs__itch_state_new(const cs_endpoints *flow, const cs_decoder_opts *opts)
{
    cs__itch_dec *s = cs_calloc(1, sizeof(*s));

    (void)flow;
    (void)opts;
    if (s == NULL)
        return NULL;
    s->itch = cs_itch_new(0);
    if (s->itch == NULL) {
        cs_free(s);
        return NULL;
    }
    return s;
}

static void cs__itch_state_free(void *state)
{
    cs__itch_dec *s = state;

    cs_itch_free(s->itch);
    cs_free(s);
}

/* in.data is one whole ITCH message (a transport's block). */
static size_t cs__itch_parse(void *state, cs_decode_ctx *ctx, cs_decode_input *in)
{
    cs__itch_dec *s = state;
    cs_msg_out m;

    if (in->len == 0)
        return 0;
    s->out.n_fields = 0;
    s->out.text_used = 0;
    cs_itch_decode(s->itch, in->data, in->len, &s->out);
    memset(&m, 0, sizeof(m));
    m.type = s->out.type;
    m.start = 0;
    m.len = in->len;
    m.flags = s->out.flags | (s->out.instrument.len > 0 ? CS_MSG_TICK : 0);
    m.instrument = s->out.instrument;
    m.fields = s->out.fields;
    m.n_fields = s->out.n_fields;
    m.proto = cs_itch_proto;
    cs_decode_emit(ctx, &m);
    return in->len;
}

static void cs__itch_gap(void *state, uint8_t dir)
{
    (void)state;
    (void)dir;
}

static cs_probe cs__itch_probe(const uint8_t *data, size_t len, uint8_t dir)
{
    (void)data;
    (void)len;
    (void)dir;
    return CS_PROBE_NO; /* a payload decoder: never a flow's own */
}

/* Its messages are the ticks of tick-to-trade (analytics/t2t.h). */
static const char *const cs__itch_pairs[] = {"t2t", NULL};

const cs_decoder cs_decoder_itch = {
    .name = "itch",
    .transports = 0,
    .ports = NULL,
    .probe = cs__itch_probe,
    .options = NULL,
    .pairs = cs__itch_pairs,
    .state_new = cs__itch_state_new,
    .state_free = cs__itch_state_free,
    .parse = cs__itch_parse,
    .gap = cs__itch_gap,
};
