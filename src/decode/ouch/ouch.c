/*
 * ouch.c - decoder of Nasdaq OUCH 4.2 and OUCH 5.0 order-entry messages, a
 * payload decoder (src/decode/decoder.h): SoupBinTCP hands parse() exactly
 * one message, the payload of one Unsequenced Data packet (in.dir 0, client
 * -> venue, "inbound") or Sequenced Data packet (in.dir 1, "outbound").
 * parse() consumes it whole and emits one message at [0, in.len).
 *
 * Wire format (Nasdaq OUCH 4.2 and 5.0 specifications; all integers
 * big-endian unsigned, alpha left-justified and space-padded):
 *
 *   +------+----------------------------------+---------------------------+
 *   | type | fixed fields (table per version) | 5.0 only, some types:     |
 *   | 1 B  |                                  | AppLen (2) + appendages   |
 *   +------+----------------------------------+---------------------------+
 *   appendage: Length (1, counts tag + value) | Tag (1) | value
 *
 *   4.2: the order is the 14-byte Order Token; prices 4 bytes, 4 implied
 *        decimals. 5.0: the order is UserRefNum (4 bytes); prices 8 bytes.
 *
 * Version: `ouch.version=4.2|5.0` fixes it. Otherwise each message is
 * matched against both tables by its type and length (4.2 Enter Order is 49
 * bytes, or 48 in older 4.x; 5.0 Enter Order is 47 + its AppLen...): the
 * first version that fits alone sticks for the connection and is tried
 * first from then on. A message that fits neither is emitted with
 * CS_MSG_BAD_LENGTH (and no pairing); an unknown type with
 * CS_MSG_MALFORMED, type "unknown".
 *
 * Message out: type = a readable name ("enter_order", "accepted"...);
 * fields: packet_type (the type letter), then every field of the table in
 * wire order (alpha trimmed of padding, integers in decimal, prices with
 * four decimals), then each 5.0 appendage as "app.<tag>" (printable
 * values as text, others as a big-endian integer in decimal, or hex when
 * longer than 8 bytes). A truncated appendage list sets CS_MSG_MALFORMED.
 *
 * Pairing (pair "ouch", scope the connection); <order> = the 4.2 token
 * without padding or the 5.0 UserRefNum in decimal:
 *   Enter Order    request, key = match = "O:<order>"
 *   Replace Order  request, key "U:<existing order>", match "O:<new order>"
 *   Cancel Order   request, key = match = "X:<order>"
 *   Accepted       answers O:<order>; lifecycle, more follows unless its
 *                  order state is D (dead)
 *   Rejected       answers O:<order>, ends it; error "rejected: <reason>"
 *   Replaced       answers O:<new> (the Replace request's match), closes
 *                  O:<previous>: the old order's lifecycle ends, the new
 *                  one goes on in the Replace request's entry
 *   Canceled       with a Cancel request pending for the order (this
 *                  connection, the decoder remembers up to
 *                  CS__OUCH_CANCELS): answers X:<order>, and a full cancel
 *                  (requested size 0) closes O:<order>. Without one it is a
 *                  lifecycle event of O:<order> (canceled by the venue)
 *   Cancel Reject  with a Cancel pending: answers X:<order>, error "cancel
 *                  rejected"; else a lifecycle event
 *   Executed, AIQ Canceled, Broken Trade, Trade/Price Correction, Cancel
 *   Pending, Priority Update, Modified, Restated: lifecycle events of
 *                  O:<order> (attached to its measurement, never orphans)
 *   Modify Order, Account Query (Response), System Event: no pairing.
 *
 * State and ownership: per connection, the sticky version, the pending
 * cancels, and scratch for the texts and fields of the message being
 * emitted (valid during cs_decode_emit() only). Alpha fields point into
 * in.data. Threading: one state per connection, one thread at a time.
 */
#include "decode/ouch/ouch.h"

#include "core/alloc.h"
#include "core/cursor.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CS__OUCH_MAX_FIELDS 64
#define CS__OUCH_TEXT 28    /* a u64 in decimal, a price, a short hex */
#define CS__OUCH_CANCELS 64 /* pending cancel requests remembered */
#define CS__OUCH_ORDER_MAX 16

/* How a field's bytes read. */
enum { F_ALPHA, F_CHAR, F_UINT, F_PRICE };

typedef struct cs__ouch_field {
    const char *name;
    uint8_t off, len, kind;
} cs__ouch_field;

/* What a message is for pairing. */
enum {
    K_NONE,
    K_ENTER,
    K_REPLACE_REQ,
    K_CANCEL_REQ,
    K_ACCEPTED,
    K_REJECTED,
    K_REPLACED,
    K_CANCELED,
    K_CANCEL_REJECT,
    K_EVENT,
};

typedef struct cs__ouch_def {
    char type;
    uint8_t dir;      /* 0 inbound (client), 1 outbound (venue) */
    uint8_t kind;     /* K_* */
    uint8_t len;      /* fixed length with the type byte (5.0: up to AppLen's end) */
    uint8_t alt_len;  /* an older 4.x length also accepted (0: none) */
    uint8_t app_off;  /* 5.0: offset of AppLen (0: no appendages) */
    uint8_t ord_off;  /* the order this message is about (the new one of a replace) */
    uint8_t prev_off; /* replace: the order replaced (0: none) */
    const char *name;
    const cs__ouch_field *fields;
} cs__ouch_def;

#define FEND                                                                                       \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/* ---- OUCH 4.2 ---------------------------------------------------------- */

static const cs__ouch_field o42_enter[] = {
    {"order_token", 1, 14, F_ALPHA},  {"side", 15, 1, F_CHAR},
    {"shares", 16, 4, F_UINT},        {"stock", 20, 8, F_ALPHA},
    {"price", 28, 4, F_PRICE},        {"tif", 32, 4, F_UINT},
    {"firm", 36, 4, F_ALPHA},         {"display", 40, 1, F_CHAR},
    {"capacity", 41, 1, F_CHAR},      {"iso", 42, 1, F_CHAR},
    {"min_qty", 43, 4, F_UINT},       {"cross_type", 47, 1, F_CHAR},
    {"customer_type", 48, 1, F_CHAR}, FEND};
static const cs__ouch_field o42_replace[] = {{"existing_order_token", 1, 14, F_ALPHA},
                                             {"replacement_order_token", 15, 14, F_ALPHA},
                                             {"shares", 29, 4, F_UINT},
                                             {"price", 33, 4, F_PRICE},
                                             {"tif", 37, 4, F_UINT},
                                             {"display", 41, 1, F_CHAR},
                                             {"iso", 42, 1, F_CHAR},
                                             {"min_qty", 43, 4, F_UINT},
                                             FEND};
static const cs__ouch_field o42_cancel[] = {
    {"order_token", 1, 14, F_ALPHA}, {"shares", 15, 4, F_UINT}, FEND};
static const cs__ouch_field o42_modify[] = {
    {"order_token", 1, 14, F_ALPHA}, {"side", 15, 1, F_CHAR}, {"shares", 16, 4, F_UINT}, FEND};
static const cs__ouch_field o42_system[] = {
    {"timestamp", 1, 8, F_UINT}, {"event_code", 9, 1, F_CHAR}, FEND};
/* Accepted; Replaced is the same up to order_state, then previous token. */
#define O42_ACCEPTED_COMMON                                                                        \
    {"timestamp", 1, 8, F_UINT}, {"side", 23, 1, F_CHAR}, {"shares", 24, 4, F_UINT},               \
        {"stock", 28, 8, F_ALPHA}, {"price", 36, 4, F_PRICE}, {"tif", 40, 4, F_UINT},              \
        {"firm", 44, 4, F_ALPHA}, {"display", 48, 1, F_CHAR}, {"order_ref_num", 49, 8, F_UINT},    \
        {"capacity", 57, 1, F_CHAR}, {"iso", 58, 1, F_CHAR}, {"min_qty", 59, 4, F_UINT},           \
        {"cross_type", 63, 1, F_CHAR},                                                             \
    {                                                                                              \
        "order_state", 64, 1, F_CHAR                                                               \
    }
static const cs__ouch_field o42_accepted[] = {
    {"order_token", 9, 14, F_ALPHA}, O42_ACCEPTED_COMMON, {"bbo_weight", 65, 1, F_CHAR}, FEND};
static const cs__ouch_field o42_replaced[] = {{"replacement_order_token", 9, 14, F_ALPHA},
                                              O42_ACCEPTED_COMMON,
                                              {"previous_order_token", 65, 14, F_ALPHA},
                                              {"bbo_weight", 79, 1, F_CHAR},
                                              FEND};
#define O42_OUT_HEAD                                                                               \
    {"timestamp", 1, 8, F_UINT},                                                                   \
    {                                                                                              \
        "order_token", 9, 14, F_ALPHA                                                              \
    }
static const cs__ouch_field o42_canceled[] = {
    O42_OUT_HEAD, {"decrement_shares", 23, 4, F_UINT}, {"reason", 27, 1, F_CHAR}, FEND};
static const cs__ouch_field o42_aiq[] = {O42_OUT_HEAD,
                                         {"decrement_shares", 23, 4, F_UINT},
                                         {"reason", 27, 1, F_CHAR},
                                         {"qty_prevented", 28, 4, F_UINT},
                                         {"execution_price", 32, 4, F_PRICE},
                                         {"liquidity_flag", 36, 1, F_CHAR},
                                         FEND};
#define O42_EXECUTED_COMMON                                                                        \
    O42_OUT_HEAD, {"executed_shares", 23, 4, F_UINT}, {"execution_price", 27, 4, F_PRICE},         \
        {"liquidity_flag", 31, 1, F_CHAR},                                                         \
    {                                                                                              \
        "match_number", 32, 8, F_UINT                                                              \
    }
static const cs__ouch_field o42_executed[] = {O42_EXECUTED_COMMON, FEND};
static const cs__ouch_field o42_exec_ref[] = {O42_EXECUTED_COMMON,
                                              {"reference_price", 40, 4, F_PRICE},
                                              {"reference_price_type", 44, 1, F_CHAR},
                                              FEND};
static const cs__ouch_field o42_correction[] = {
    O42_EXECUTED_COMMON, {"reason", 40, 1, F_CHAR}, FEND};
static const cs__ouch_field o42_broken[] = {
    O42_OUT_HEAD, {"match_number", 23, 8, F_UINT}, {"reason", 31, 1, F_CHAR}, FEND};
static const cs__ouch_field o42_rejected[] = {O42_OUT_HEAD, {"reason", 23, 1, F_CHAR}, FEND};
static const cs__ouch_field o42_token_only[] = {O42_OUT_HEAD, FEND};
static const cs__ouch_field o42_priority[] = {O42_OUT_HEAD,
                                              {"price", 23, 4, F_PRICE},
                                              {"display", 27, 1, F_CHAR},
                                              {"order_ref_num", 28, 8, F_UINT},
                                              FEND};
static const cs__ouch_field o42_modified[] = {
    O42_OUT_HEAD, {"side", 23, 1, F_CHAR}, {"shares", 24, 4, F_UINT}, FEND};
static const cs__ouch_field o42_price_corr[] = {O42_OUT_HEAD,
                                                {"match_number", 23, 8, F_UINT},
                                                {"new_execution_price", 31, 4, F_PRICE},
                                                {"reason", 35, 1, F_CHAR},
                                                FEND};

static const cs__ouch_def cs__ouch42[] = {
    {'O', 0, K_ENTER, 49, 48, 0, 1, 0, "enter_order", o42_enter},
    {'U', 0, K_REPLACE_REQ, 47, 0, 0, 15, 1, "replace_order", o42_replace},
    {'X', 0, K_CANCEL_REQ, 19, 0, 0, 1, 0, "cancel_order", o42_cancel},
    {'M', 0, K_NONE, 20, 0, 0, 1, 0, "modify_order", o42_modify},
    {'S', 1, K_NONE, 10, 0, 0, 0, 0, "system_event", o42_system},
    {'A', 1, K_ACCEPTED, 66, 65, 0, 9, 0, "accepted", o42_accepted},
    {'U', 1, K_REPLACED, 80, 79, 0, 9, 65, "replaced", o42_replaced},
    {'C', 1, K_CANCELED, 28, 0, 0, 9, 0, "canceled", o42_canceled},
    {'D', 1, K_EVENT, 37, 0, 0, 9, 0, "aiq_canceled", o42_aiq},
    {'E', 1, K_EVENT, 40, 0, 0, 9, 0, "executed", o42_executed},
    {'B', 1, K_EVENT, 32, 0, 0, 9, 0, "broken_trade", o42_broken},
    {'G', 1, K_EVENT, 45, 0, 0, 9, 0, "executed_ref_price", o42_exec_ref},
    {'F', 1, K_EVENT, 41, 0, 0, 9, 0, "trade_correction", o42_correction},
    {'J', 1, K_REJECTED, 24, 0, 0, 9, 0, "rejected", o42_rejected},
    {'P', 1, K_EVENT, 23, 0, 0, 9, 0, "cancel_pending", o42_token_only},
    {'I', 1, K_CANCEL_REJECT, 23, 0, 0, 9, 0, "cancel_reject", o42_token_only},
    {'T', 1, K_EVENT, 36, 0, 0, 9, 0, "priority_update", o42_priority},
    {'M', 1, K_EVENT, 28, 0, 0, 9, 0, "modified", o42_modified},
    {'K', 1, K_EVENT, 36, 0, 0, 9, 0, "price_correction", o42_price_corr},
};

/* ---- OUCH 5.0 ---------------------------------------------------------- */

static const cs__ouch_field o50_enter[] = {
    {"user_ref_num", 1, 4, F_UINT}, {"side", 5, 1, F_CHAR},         {"quantity", 6, 4, F_UINT},
    {"symbol", 10, 8, F_ALPHA},     {"price", 18, 8, F_PRICE},      {"tif", 26, 1, F_CHAR},
    {"display", 27, 1, F_CHAR},     {"capacity", 28, 1, F_CHAR},    {"iso", 29, 1, F_CHAR},
    {"cross_type", 30, 1, F_CHAR},  {"cl_ord_id", 31, 14, F_ALPHA}, FEND};
static const cs__ouch_field o50_replace[] = {{"orig_user_ref_num", 1, 4, F_UINT},
                                             {"user_ref_num", 5, 4, F_UINT},
                                             {"quantity", 9, 4, F_UINT},
                                             {"price", 13, 8, F_PRICE},
                                             {"tif", 21, 1, F_CHAR},
                                             {"display", 22, 1, F_CHAR},
                                             {"iso", 23, 1, F_CHAR},
                                             {"cl_ord_id", 24, 14, F_ALPHA},
                                             FEND};
static const cs__ouch_field o50_cancel[] = {
    {"user_ref_num", 1, 4, F_UINT}, {"quantity", 5, 4, F_UINT}, FEND};
static const cs__ouch_field o50_modify[] = {
    {"user_ref_num", 1, 4, F_UINT}, {"side", 5, 1, F_CHAR}, {"quantity", 6, 4, F_UINT}, FEND};
static const cs__ouch_field o50_none[] = {FEND};
#define O50_OUT_HEAD                                                                               \
    {"timestamp", 1, 8, F_UINT},                                                                   \
    {                                                                                              \
        "user_ref_num", 9, 4, F_UINT                                                               \
    }
static const cs__ouch_field o50_accepted[] = {O50_OUT_HEAD,
                                              {"side", 13, 1, F_CHAR},
                                              {"quantity", 14, 4, F_UINT},
                                              {"symbol", 18, 8, F_ALPHA},
                                              {"price", 26, 8, F_PRICE},
                                              {"tif", 34, 1, F_CHAR},
                                              {"display", 35, 1, F_CHAR},
                                              {"order_ref_num", 36, 8, F_UINT},
                                              {"capacity", 44, 1, F_CHAR},
                                              {"iso", 45, 1, F_CHAR},
                                              {"cross_type", 46, 1, F_CHAR},
                                              {"order_state", 47, 1, F_CHAR},
                                              {"cl_ord_id", 48, 14, F_ALPHA},
                                              FEND};
static const cs__ouch_field o50_replaced[] = {
    {"timestamp", 1, 8, F_UINT},     {"orig_user_ref_num", 9, 4, F_UINT},
    {"user_ref_num", 13, 4, F_UINT}, {"side", 17, 1, F_CHAR},
    {"quantity", 18, 4, F_UINT},     {"symbol", 22, 8, F_ALPHA},
    {"price", 30, 8, F_PRICE},       {"tif", 38, 1, F_CHAR},
    {"display", 39, 1, F_CHAR},      {"order_ref_num", 40, 8, F_UINT},
    {"capacity", 48, 1, F_CHAR},     {"iso", 49, 1, F_CHAR},
    {"cross_type", 50, 1, F_CHAR},   {"order_state", 51, 1, F_CHAR},
    {"cl_ord_id", 52, 14, F_ALPHA},  FEND};
static const cs__ouch_field o50_canceled[] = {
    O50_OUT_HEAD, {"quantity", 13, 4, F_UINT}, {"reason", 17, 1, F_CHAR}, FEND};
static const cs__ouch_field o50_aiq[] = {O50_OUT_HEAD,
                                         {"decrement_qty", 13, 4, F_UINT},
                                         {"reason", 17, 1, F_CHAR},
                                         {"qty_prevented", 18, 4, F_UINT},
                                         {"execution_price", 22, 8, F_PRICE},
                                         {"liquidity_flag", 30, 1, F_CHAR},
                                         FEND};
static const cs__ouch_field o50_executed[] = {O50_OUT_HEAD,
                                              {"quantity", 13, 4, F_UINT},
                                              {"price", 17, 8, F_PRICE},
                                              {"liquidity_flag", 25, 1, F_CHAR},
                                              {"match_number", 26, 8, F_UINT},
                                              FEND};
static const cs__ouch_field o50_broken[] = {O50_OUT_HEAD,
                                            {"match_number", 13, 8, F_UINT},
                                            {"reason", 21, 1, F_CHAR},
                                            {"cl_ord_id", 22, 14, F_ALPHA},
                                            FEND};
static const cs__ouch_field o50_correction[] = {O50_OUT_HEAD,
                                                {"quantity", 13, 4, F_UINT},
                                                {"price", 17, 8, F_PRICE},
                                                {"liquidity_flag", 25, 1, F_CHAR},
                                                {"match_number", 26, 8, F_UINT},
                                                {"reason", 34, 1, F_CHAR},
                                                {"cl_ord_id", 35, 14, F_ALPHA},
                                                FEND};
static const cs__ouch_field o50_rejected[] = {
    O50_OUT_HEAD, {"reason", 13, 2, F_UINT}, {"cl_ord_id", 15, 14, F_ALPHA}, FEND};
static const cs__ouch_field o50_ref_only[] = {O50_OUT_HEAD, FEND};
static const cs__ouch_field o50_priority[] = {O50_OUT_HEAD,
                                              {"price", 13, 8, F_PRICE},
                                              {"display", 21, 1, F_CHAR},
                                              {"order_ref_num", 22, 8, F_UINT},
                                              FEND};
static const cs__ouch_field o50_modified[] = {
    O50_OUT_HEAD, {"side", 13, 1, F_CHAR}, {"quantity", 14, 4, F_UINT}, FEND};
static const cs__ouch_field o50_restated[] = {O50_OUT_HEAD, {"reason", 13, 1, F_CHAR}, FEND};
static const cs__ouch_field o50_query_resp[] = {
    {"timestamp", 1, 8, F_UINT}, {"next_user_ref_num", 9, 4, F_UINT}, FEND};

static const cs__ouch_def cs__ouch50[] = {
    {'O', 0, K_ENTER, 47, 0, 45, 1, 0, "enter_order", o50_enter},
    {'U', 0, K_REPLACE_REQ, 40, 0, 38, 5, 1, "replace_order", o50_replace},
    {'X', 0, K_CANCEL_REQ, 9, 0, 0, 1, 0, "cancel_order", o50_cancel},
    {'M', 0, K_NONE, 10, 0, 0, 1, 0, "modify_order", o50_modify},
    {'Q', 0, K_NONE, 1, 0, 0, 0, 0, "account_query", o50_none},
    {'S', 1, K_NONE, 10, 0, 0, 0, 0, "system_event", o42_system},
    {'A', 1, K_ACCEPTED, 64, 0, 62, 9, 0, "accepted", o50_accepted},
    {'U', 1, K_REPLACED, 68, 0, 66, 13, 9, "replaced", o50_replaced},
    {'C', 1, K_CANCELED, 18, 0, 0, 9, 0, "canceled", o50_canceled},
    {'D', 1, K_EVENT, 31, 0, 0, 9, 0, "aiq_canceled", o50_aiq},
    {'E', 1, K_EVENT, 36, 0, 34, 9, 0, "executed", o50_executed},
    {'B', 1, K_EVENT, 36, 0, 0, 9, 0, "broken_trade", o50_broken},
    {'F', 1, K_EVENT, 49, 0, 0, 9, 0, "trade_correction", o50_correction},
    {'J', 1, K_REJECTED, 29, 0, 0, 9, 0, "rejected", o50_rejected},
    {'P', 1, K_EVENT, 13, 0, 0, 9, 0, "cancel_pending", o50_ref_only},
    {'I', 1, K_CANCEL_REJECT, 13, 0, 0, 9, 0, "cancel_reject", o50_ref_only},
    {'T', 1, K_EVENT, 30, 0, 0, 9, 0, "priority_update", o50_priority},
    {'M', 1, K_EVENT, 18, 0, 0, 9, 0, "modified", o50_modified},
    {'R', 1, K_EVENT, 16, 0, 14, 9, 0, "restated", o50_restated},
    {'Q', 1, K_NONE, 13, 0, 0, 0, 0, "account_query_response", o50_query_resp},
};

#define CS__OUCH_N(t) (sizeof(t) / sizeof((t)[0]))

enum { V_UNKNOWN = 0, V_42 = 42, V_50 = 50 };

typedef struct cs__ouch_cancel {
    char order[CS__OUCH_ORDER_MAX];
    uint8_t len;
    uint8_t used;
    uint8_t full; /* requested size 0: the order ends */
} cs__ouch_cancel;

typedef struct cs__ouch_state {
    int version; /* V_*: fixed by option or found (sticky) */
    int forced;  /* set by ouch.version: never guessed */
    cs__ouch_cancel cancels[CS__OUCH_CANCELS];
    size_t cancel_next;
    /* scratch of the message being emitted */
    char key[CS__OUCH_ORDER_MAX + 2], match[CS__OUCH_ORDER_MAX + 2], closes[CS__OUCH_ORDER_MAX + 2];
    char error[48];
    char text[CS__OUCH_MAX_FIELDS][CS__OUCH_TEXT];
    char app_name[CS__OUCH_MAX_FIELDS][12]; /* "app.<tag>" */
    cs_kv fields[CS__OUCH_MAX_FIELDS];
} cs__ouch_state;

/* ---- framing by the tables ----------------------------------------------- */

static const cs__ouch_def *cs__ouch_lookup(const cs__ouch_def *t, size_t n, char type, uint8_t dir)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].type == type && t[i].dir == dir)
            return &t[i];
    return NULL;
}

/* True if a message of "len" bytes at "p" has the length "d" says. */
static bool cs__ouch_fits(const cs__ouch_def *d, const uint8_t *p, size_t len)
{
    if (d->app_off == 0)
        return len == d->len || (d->alt_len != 0 && len == d->alt_len);
    return len >= d->len && len == (size_t)d->len + cs_rd_be16(p + d->app_off);
}

static const cs__ouch_def *cs__ouch_def_of(int version, char type, uint8_t dir)
{
    return version == V_42 ? cs__ouch_lookup(cs__ouch42, CS__OUCH_N(cs__ouch42), type, dir)
                           : cs__ouch_lookup(cs__ouch50, CS__OUCH_N(cs__ouch50), type, dir);
}

/*
 * The table entry of the message p[0..len) and its version: the state's
 * version if fixed or known and it fits; else the one version that fits
 * (which then sticks). "*known" says whether the type exists in a version
 * that may be used. NULL if it fits none.
 */
static const cs__ouch_def *cs__ouch_classify(cs__ouch_state *st, const uint8_t *p, size_t len,
                                             uint8_t dir, bool *known)
{
    const cs__ouch_def *d42 = NULL, *d50 = NULL;
    bool fit42, fit50;

    if (!st->forced || st->version == V_42)
        d42 = cs__ouch_def_of(V_42, (char)p[0], dir);
    if (!st->forced || st->version == V_50)
        d50 = cs__ouch_def_of(V_50, (char)p[0], dir);
    *known = d42 != NULL || d50 != NULL;
    fit42 = d42 != NULL && cs__ouch_fits(d42, p, len);
    fit50 = d50 != NULL && cs__ouch_fits(d50, p, len);
    if (fit42 && (!fit50 || st->version == V_42))
        return d42;
    if (fit50 && (!fit42 || st->version == V_50))
        return d50;
    if (fit42 && fit50)
        return d42; /* both fit and nothing decided yet: the fixed-length table */
    return NULL;
}

static void cs__ouch_learn(cs__ouch_state *st, const cs__ouch_def *d, const uint8_t *p, size_t len,
                           uint8_t dir)
{
    bool both;

    if (st->version != V_UNKNOWN)
        return;
    both = d >= cs__ouch42 && d < cs__ouch42 + CS__OUCH_N(cs__ouch42)
               ? cs__ouch_def_of(V_50, (char)p[0], dir) != NULL &&
                     cs__ouch_fits(cs__ouch_def_of(V_50, (char)p[0], dir), p, len)
               : cs__ouch_def_of(V_42, (char)p[0], dir) != NULL &&
                     cs__ouch_fits(cs__ouch_def_of(V_42, (char)p[0], dir), p, len);
    if (!both)
        st->version = d >= cs__ouch42 && d < cs__ouch42 + CS__OUCH_N(cs__ouch42) ? V_42 : V_50;
}

/* ---- field text ---------------------------------------------------------- */

static cs_str cs__ouch_alpha(const uint8_t *p, size_t n)
{
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\0'))
        n--;
    return (cs_str){(const char *)p, n};
}

static uint64_t cs__ouch_uint(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* The text of field "f" of message "p" into "buf" (or pointing into p). */
static cs_str cs__ouch_field_text(const cs__ouch_field *f, const uint8_t *p, char *buf)
{
    uint64_t v;
    int w;

    switch (f->kind) {
    case F_ALPHA:
        return cs__ouch_alpha(p + f->off, f->len);
    case F_CHAR:
        return (cs_str){(const char *)p + f->off, 1};
    case F_PRICE:
        v = cs__ouch_uint(p + f->off, f->len);
        w = snprintf(buf, CS__OUCH_TEXT, "%llu.%04llu", (unsigned long long)(v / 10000),
                     (unsigned long long)(v % 10000));
        return (cs_str){buf, (size_t)w};
    default:
        v = cs__ouch_uint(p + f->off, f->len);
        w = snprintf(buf, CS__OUCH_TEXT, "%llu", (unsigned long long)v);
        return (cs_str){buf, (size_t)w};
    }
}

static bool cs__ouch_printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return false;
    return n > 0;
}

/* An appendage value: text if printable, else an integer, else hex. */
static cs_str cs__ouch_app_value(const uint8_t *p, size_t n, char *buf)
{
    size_t w = 0;

    if (cs__ouch_printable(p, n))
        return (cs_str){(const char *)p, n};
    if (n <= 8)
        return (cs_str){buf, (size_t)snprintf(buf, CS__OUCH_TEXT, "%llu",
                                              (unsigned long long)cs__ouch_uint(p, n))};
    for (size_t i = 0; i < n && w + 3 < CS__OUCH_TEXT; i++)
        w += (size_t)snprintf(buf + w, CS__OUCH_TEXT - w, "%02x", p[i]);
    return (cs_str){buf, w};
}

/* Appends field "name" = "val" to the message; false when full. */
static bool cs__ouch_add(cs__ouch_state *st, cs_msg_out *m, const char *name, size_t name_len,
                         cs_str val)
{
    if (m->n_fields >= CS__OUCH_MAX_FIELDS)
        return false;
    st->fields[m->n_fields].name = (cs_str){name, name_len};
    st->fields[m->n_fields].val = val;
    m->n_fields++;
    return true;
}

/*
 * Appendages of a 5.0 message at p[from..len): Length(1) | Tag(1) | value,
 * Length counting tag and value. Each becomes "app.<tag>" (the name text in
 * the state's scratch, after the value's). CS_MSG_MALFORMED if one runs
 * past the end.
 */
static void cs__ouch_appendages(cs__ouch_state *st, cs_msg_out *m, const uint8_t *p, size_t len,
                                size_t from)
{
    size_t off = from;

    while (off < len && m->n_fields < CS__OUCH_MAX_FIELDS) {
        size_t n = p[off];
        char *name = st->app_name[m->n_fields], *val = st->text[m->n_fields];
        int w;

        if (n == 0 || off + 1 + n > len) {
            m->flags |= CS_MSG_MALFORMED;
            return;
        }
        w = snprintf(name, sizeof(st->app_name[0]), "app.%u", (unsigned)p[off + 1]);
        cs__ouch_add(st, m, name, (size_t)w, cs__ouch_app_value(p + off + 2, n - 1, val));
        off += 1 + n;
    }
}

static void cs__ouch_fields(cs__ouch_state *st, cs_msg_out *m, const cs__ouch_def *d,
                            const uint8_t *p, size_t len)
{
    cs__ouch_add(st, m, "packet_type", 11, (cs_str){(const char *)p, 1});
    for (const cs__ouch_field *f = d->fields; f->name != NULL; f++) {
        if ((size_t)f->off + f->len > len)
            break; /* the shorter older 4.x form */
        cs__ouch_add(st, m, f->name, strlen(f->name),
                     cs__ouch_field_text(f, p, st->text[m->n_fields]));
    }
    if (d->app_off != 0)
        cs__ouch_appendages(st, m, p, len, (size_t)d->app_off + 2);
}

/* ---- pairing --------------------------------------------------------------- */

/* The order at "off": 4.2 token without padding, 5.0 UserRefNum in decimal. */
static size_t cs__ouch_order(const cs__ouch_def *d, const uint8_t *p, size_t off, char *out)
{
    bool v42 = d >= cs__ouch42 && d < cs__ouch42 + CS__OUCH_N(cs__ouch42);

    if (v42) {
        cs_str t = cs__ouch_alpha(p + off, 14);
        memcpy(out, t.p, t.len);
        return t.len;
    }
    return (size_t)snprintf(out, CS__OUCH_ORDER_MAX, "%lu", (unsigned long)cs_rd_be32(p + off));
}

/* "<prefix>:<order>" into "buf"; returns it. */
static cs_str cs__ouch_ref(char *buf, char prefix, const char *order, size_t n)
{
    buf[0] = prefix;
    buf[1] = ':';
    memcpy(buf + 2, order, n);
    return (cs_str){buf, n + 2};
}

static cs__ouch_cancel *cs__ouch_cancel_find(cs__ouch_state *st, const char *order, size_t n)
{
    for (size_t i = 0; i < CS__OUCH_CANCELS; i++) {
        cs__ouch_cancel *c = &st->cancels[i];
        if (c->used && c->len == n && memcmp(c->order, order, n) == 0)
            return c;
    }
    return NULL;
}

static void cs__ouch_cancel_add(cs__ouch_state *st, const char *order, size_t n, bool full)
{
    cs__ouch_cancel *c = cs__ouch_cancel_find(st, order, n);

    if (c == NULL) {
        c = &st->cancels[st->cancel_next];
        st->cancel_next = (st->cancel_next + 1) % CS__OUCH_CANCELS;
    }
    memcpy(c->order, order, n);
    c->len = (uint8_t)n;
    c->used = 1;
    c->full = full;
}

/* A lifecycle event of O:<order>; "more" unless it ends the order. */
static void cs__ouch_event(cs__ouch_state *st, cs_msg_out *m, const char *order, size_t n,
                           bool more)
{
    m->role = CS_ROLE_RESP;
    m->match = cs__ouch_ref(st->match, 'O', order, n);
    m->flags |= CS_MSG_LIFECYCLE | (more ? CS_MSG_MORE : 0);
}

/* The order state field of an Accepted / Replaced says D (dead). */
static bool cs__ouch_dead(const cs_msg_out *m)
{
    for (size_t i = 0; i < m->n_fields; i++)
        if (m->fields[i].name.len == 11 && memcmp(m->fields[i].name.p, "order_state", 11) == 0)
            return m->fields[i].val.len == 1 && m->fields[i].val.p[0] == 'D';
    return false;
}

static void cs__ouch_reject_reason(cs__ouch_state *st, cs_msg_out *m)
{
    for (size_t i = 0; i < m->n_fields; i++) {
        if (m->fields[i].name.len == 6 && memcmp(m->fields[i].name.p, "reason", 6) == 0) {
            int w = snprintf(st->error, sizeof(st->error), "rejected: %.*s",
                             (int)(m->fields[i].val.len < 16 ? m->fields[i].val.len : 16),
                             m->fields[i].val.p);
            m->error = (cs_str){st->error, (size_t)w};
        }
    }
}

/* The symbol of an Enter Order (4.2 "stock", 5.0 "symbol"), empty if its
 * bytes are not all there. */
static cs_str cs__ouch_symbol(const cs__ouch_def *d, const uint8_t *p, size_t len)
{
    for (const cs__ouch_field *f = d->fields; f->name != NULL; f++)
        if ((strcmp(f->name, "stock") == 0 || strcmp(f->name, "symbol") == 0) &&
            (size_t)f->off + f->len <= len)
            return cs__ouch_alpha(p + f->off, f->len);
    return (cs_str){"", 0};
}

/* Role, pair, key, match, closes and error of message "d" at p. */
static void cs__ouch_pairing(cs__ouch_state *st, cs_msg_out *m, const cs__ouch_def *d,
                             const uint8_t *p, size_t len)
{
    char ord[CS__OUCH_ORDER_MAX], prev[CS__OUCH_ORDER_MAX];
    size_t n, np = 0;
    cs__ouch_cancel *c;

    if (d->kind == K_NONE)
        return;
    n = cs__ouch_order(d, p, d->ord_off, ord);
    if (d->prev_off != 0)
        np = cs__ouch_order(d, p, d->prev_off, prev);
    m->pair = "ouch";
    switch (d->kind) {
    case K_ENTER:
        m->role = CS_ROLE_REQ;
        m->key = m->match = cs__ouch_ref(st->key, 'O', ord, n);
        m->instrument = cs__ouch_symbol(d, p, len);
        if (m->instrument.len > 0)
            m->flags |= CS_MSG_NEW_ORDER; /* tick-to-trade ends here */
        break;
    case K_REPLACE_REQ:
        m->role = CS_ROLE_REQ;
        m->key = cs__ouch_ref(st->key, 'U', prev, np);
        m->match = cs__ouch_ref(st->match, 'O', ord, n);
        break;
    case K_CANCEL_REQ:
        m->role = CS_ROLE_REQ;
        m->key = m->match = cs__ouch_ref(st->key, 'X', ord, n);
        cs__ouch_cancel_add(st, ord, n, len >= (size_t)d->len && cs_rd_be32(p + d->len - 4) == 0);
        break;
    case K_ACCEPTED:
        cs__ouch_event(st, m, ord, n, !cs__ouch_dead(m));
        break;
    case K_REJECTED:
        cs__ouch_event(st, m, ord, n, false);
        cs__ouch_reject_reason(st, m);
        break;
    case K_REPLACED:
        cs__ouch_event(st, m, ord, n, !cs__ouch_dead(m));
        m->closes = cs__ouch_ref(st->closes, 'O', prev, np);
        break;
    case K_CANCELED:
    case K_CANCEL_REJECT:
        if ((c = cs__ouch_cancel_find(st, ord, n)) == NULL) {
            cs__ouch_event(st, m, ord, n, true); /* unsolicited: by the venue */
            break;
        }
        m->role = CS_ROLE_RESP;
        m->match = cs__ouch_ref(st->match, 'X', ord, n);
        if (d->kind == K_CANCELED && c->full)
            m->closes = cs__ouch_ref(st->closes, 'O', ord, n);
        if (d->kind == K_CANCEL_REJECT)
            m->error = (cs_str){"cancel rejected", 15};
        c->used = 0;
        break;
    default:
        cs__ouch_event(st, m, ord, n, true);
        break;
    }
}

/* ---- the decoder ----------------------------------------------------------- */

static size_t cs__ouch_parse(void *state, cs_decode_ctx *ctx, cs_decode_input *in)
{
    cs__ouch_state *st = state;
    uint8_t dir = in->dir & 1;
    const cs__ouch_def *d;
    cs_msg_out m;
    bool known;

    in->needed = 0;
    if (in->len == 0)
        return 0;
    memset(&m, 0, sizeof(m));
    m.len = in->len;
    m.fields = st->fields;
    d = cs__ouch_classify(st, in->data, in->len, dir, &known);
    if (d == NULL) {
        m.type = known ? (cs_str){"bad_length", 10} : (cs_str){"unknown", 7};
        m.flags = known ? CS_MSG_BAD_LENGTH : CS_MSG_MALFORMED;
        cs__ouch_add(st, &m, "packet_type", 11, (cs_str){(const char *)in->data, 1});
        cs_decode_emit(ctx, &m);
        return in->len;
    }
    cs__ouch_learn(st, d, in->data, in->len, dir);
    m.type = (cs_str){d->name, strlen(d->name)};
    cs__ouch_fields(st, &m, d, in->data, in->len);
    cs__ouch_pairing(st, &m, d, in->data, in->len);
    cs_decode_emit(ctx, &m);
    return in->len;
}

static void cs__ouch_gap(void *state, uint8_t dir)
{
    (void)state;
    (void)dir; /* one message per call: nothing partial to forget */
}

static void *cs__ouch_state_new(const cs_endpoints *flow, const cs_decoder_opts *opts)
{
    cs__ouch_state *st = cs_calloc(1, sizeof(*st));
    const char *v = cs_decoder_opt_get(opts, "version");

    (void)flow;
    if (st == NULL)
        return NULL;
    if (v != NULL && (strcmp(v, "4.2") == 0 || strcmp(v, "4") == 0))
        st->version = V_42;
    else if (v != NULL && (strcmp(v, "5.0") == 0 || strcmp(v, "5") == 0))
        st->version = V_50;
    st->forced = st->version != V_UNKNOWN;
    return st;
}

static void cs__ouch_state_free(void *state)
{
    cs_free(state);
}

static cs_probe cs__ouch_probe(const uint8_t *data, size_t len, uint8_t dir)
{
    (void)data;
    (void)len;
    (void)dir;
    return CS_PROBE_NO; /* a payload decoder: never a flow's own */
}

static const char *const cs__ouch_pairs[] = {"ouch", NULL};
static const char *const cs__ouch_options[] = {"version", NULL};

const cs_decoder cs_decoder_ouch = {
    .name = "ouch",
    .transports = 0,
    .ports = NULL,
    .probe = cs__ouch_probe,
    .options = cs__ouch_options,
    .pairs = cs__ouch_pairs,
    .state_new = cs__ouch_state_new,
    .state_free = cs__ouch_state_free,
    .parse = cs__ouch_parse,
    .gap = cs__ouch_gap,
};
