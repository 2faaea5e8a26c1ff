/*
 * test_server.c - the HTTP API end to end: a store built by `capstream
 * ingest` (cs_cmd_ingest, called in this process) of
 * samples/trading-sample.pcap in a temp dir, the server on 127.0.0.1 with an
 * ephemeral port, and a tiny HTTP/1.0 client on plain sockets. Checks
 * status codes, JSON validity (jansson), that a measurement's two messages
 * resolve, that pcap downloads hold the same packets as
 * cs_store_query_pcap, 400s naming each bad parameter (with one message
 * for every bad "limit"), 404/405, path tricks, the bearer token (its
 * scheme in any case), a client that leaves mid-download, Server-Sent
 * Events published through cs_live (and their "events" filter), alerts
 * paged newest first (pages that tile the whole list), the records-not-
 * stored drop counter in /status and /metrics, and the UI's files served
 * from the asset table with their ETag (304) and 404.
 *
 * The asset table is this file's own (cs_webassets below): the library
 * leaves it to the program, and only build/capstream links the generated
 * one, so this test needs neither npm nor the binary.
 */
#include "server/server.h"

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/error.h"
#include "server/prom.h"
#include "server/static.h"
#include "store/metricstore.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#define N_ALERTS 250
#define ALERT_T0 (1767623400LL * CS_NS_PER_SEC)

#define UI_INDEX "<!doctype html><title>capstream test</title>"
#define UI_APP "console.log('capstream test');"

/* The UI's files as static.c serves them (the binary links the generated table). */
const cs_webasset cs_webassets[] = {
    {"/ui/index.html", "text/html; charset=utf-8", "\"index-etag\"",
     (const unsigned char *)UI_INDEX, sizeof(UI_INDEX) - 1},
    {"/ui/app.js", "text/javascript; charset=utf-8", "\"app-etag\"", (const unsigned char *)UI_APP,
     sizeof(UI_APP) - 1},
    {NULL, NULL, NULL, NULL, 0},
};

static char store_dir[256];
static cs_live *live;
static cs_server *srv;
static int port;

typedef struct http_resp {
    int status;
    char *head, *body; /* malloc'ed */
    size_t body_len;
} http_resp;

static int connect_to(const char *ip, int p)
{
    struct sockaddr_in a = {0};
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)p);
    inet_pton(AF_INET, ip, &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Sends raw request "req" (n bytes) and reads the whole reply. */
static int http_raw_at(const char *ip, int p, const char *req, size_t n, http_resp *r)
{
    int fd = connect_to(ip, p);
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap), *sep;
    ssize_t got;

    memset(r, 0, sizeof(*r));
    if (fd < 0)
        return -1;
    send_all(fd, req, n);
    while ((got = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
        len += (size_t)got;
        if (cap - len < 4096)
            buf = realloc(buf, cap *= 2);
    }
    close(fd);
    buf[len] = '\0';
    if ((sep = strstr(buf, "\r\n\r\n")) == NULL || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
        free(buf);
        return -1;
    }
    *sep = '\0';
    r->head = buf;
    r->body = sep + 4;
    r->body_len = len - (size_t)(r->body - buf);
    return 0;
}

static int http_get_auth(const char *ip, int p, const char *path, const char *auth, http_resp *r)
{
    char req[8192];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n%s%s%s\r\n", path,
                     auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
    return http_raw_at(ip, p, req, (size_t)n, r);
}

static int http_get(const char *path, http_resp *r)
{
    return http_get_auth("127.0.0.1", port, path, NULL, r);
}

static void resp_free(http_resp *r)
{
    free(r->head);
}

/* GETs "path", expects "status" and a JSON object; returns it. */
static json_t *get_json(const char *path, int status)
{
    http_resp r;
    json_error_t je;
    json_t *j;

    assert_int_equal(http_get(path, &r), 0);
    if (r.status != status)
        fprintf(stderr, "%s -> %d %s\n", path, r.status, r.body);
    assert_int_equal(r.status, status);
    assert_non_null(strstr(r.head, "application/json"));
    j = json_loadb(r.body, r.body_len, 0, &je);
    if (j == NULL)
        fprintf(stderr, "%s: bad JSON: %s\n", path, je.text);
    assert_non_null(j);
    assert_true(json_is_object(j));
    resp_free(&r);
    return j;
}

/* Packets in a pcap image (-1 if it is not a well-formed pcap). */
static long pcap_count(const unsigned char *p, size_t n)
{
    size_t off = 24;
    long count = 0;

    if (n < 24 || (memcmp(p, "\x4d\x3c\xb2\xa1", 4) != 0 && memcmp(p, "\xd4\xc3\xb2\xa1", 4) != 0))
        return -1;
    while (off + 16 <= n) {
        uint32_t incl = (uint32_t)p[off + 8] | (uint32_t)p[off + 9] << 8 |
                        (uint32_t)p[off + 10] << 16 | (uint32_t)p[off + 11] << 24;
        if (off + 16 + incl > n)
            return -1;
        off += 16 + incl;
        count++;
    }
    return off == n ? count : -1;
}

static uint64_t store_count(const char *filter)
{
    cs_store_opts so = {0};
    cs_store *s;
    cs_query q = {INT64_MIN, INT64_MAX, filter, CS_PCAP_TIME_REFERENCE};
    uint64_t n = 0;

    assert_int_equal(cs_store_open(store_dir, &so, &s), 0);
    assert_int_equal(cs_store_query_pcap(s, &q, -1, &n, NULL), 0);
    cs_store_close(s);
    return n;
}

static void check_heatmap(void);

/* One window of pair:fix with 3 latencies of 37 us and 1 of 5 ms, so the
 * heatmap has two cells far apart. */
static int put_heat_window(cs_metricstore *ms, int64_t start_ns)
{
    static cs_histogram h;
    cs_window w = {0};

    cs_hist_init(&h);
    cs_hist_record_n(&h, 37000, 3);
    cs_hist_record(&h, 5000000);
    w.series.kind = CS_SERIES_PAIR;
    snprintf(w.series.name, sizeof(w.series.name), "fix");
    w.start_ns = start_ns;
    w.dur_ns = CS_NS_PER_SEC;
    w.measurements = 4;
    w.hist = &h;
    return cs_metricstore_put(ms, &w);
}

static int setup(void **state)
{
    char *ingest[] = {"ingest", "-q", "-r", "samples/trading-sample.pcap", "-d", store_dir, NULL};
    cs_server_cfg cfg = {.listen = "127.0.0.1:0", .store_dir = store_dir};
    cs_live_status st = {0};
    cs_metricstore *ms;
    cs_window w = {0};

    snprintf(store_dir, sizeof(store_dir), "/tmp/cs-test-server-XXXXXX");
    if (mkdtemp(store_dir) == NULL)
        return -1;
    strcat(store_dir, "/s");
    if (cs_cmd_ingest(6, ingest) != CS_EXIT_OK)
        return -1;
    /* one metrics window, so /metrics and /series have something */
    if (cs_metricstore_open(store_dir, NULL, &ms) < 0)
        return -1;
    w.series.kind = CS_SERIES_TAP;
    snprintf(w.series.name, sizeof(w.series.name), "0");
    w.start_ns = 1767623400LL * CS_NS_PER_SEC;
    w.dur_ns = CS_NS_PER_SEC;
    w.packets = 6147;
    w.bytes = 1000;
    if (cs_metricstore_put(ms, &w) < 0 || put_heat_window(ms, w.start_ns) < 0)
        return -1;
    /* N_ALERTS alert events, one a second, alternately fired and resolved */
    for (int i = 0; i < N_ALERTS; i++) {
        cs_alert_event ev = {.rule = "r", .text = "pair=fix p99 > 2ms", .metric = CS_AM_P99};

        ev.series = w.series;
        ev.state = i % 2 ? CS_ALERT_RESOLVED : CS_ALERT_FIRED;
        ev.ts_ns = ALERT_T0 + (int64_t)i * CS_NS_PER_SEC;
        ev.from_ns = ev.ts_ns - CS_NS_PER_SEC;
        ev.to_ns = ev.ts_ns;
        ev.value = i;
        if (cs_metricstore_put_alert(ms, &ev) < 0)
            return -1;
    }
    if (cs_metricstore_close(ms) < 0)
        return -1;
    if (cs_live_new(&live) < 0)
        return -1;
    st.version = "test-1";
    st.started_ns = 1;
    st.packets = 77;
    st.kernel_drops = 5;
    st.records_not_stored = 9;
    cs_live_set_status(live, &st);
    if (cs_server_start(&cfg, live, &srv) < 0)
        return -1;
    port = cs_server_port(srv);
    return port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[600];

    cs_server_stop(srv);
    cs_live_free(live);
    store_dir[strlen(store_dir) - 2] = '\0';
    snprintf(cmd, sizeof(cmd), "rm -rf %s", store_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_refuses_open_listen(void **state)
{
    cs_server_cfg cfg = {.listen = "0.0.0.0:0", .store_dir = store_dir};
    cs_server *s = NULL;

    assert_int_equal(cs_server_start(&cfg, live, &s), CS_EPERM);
    assert_non_null(strstr(cs_error_msg(CS_EPERM), "--token-file"));
    cfg.insecure = 1; /* never without a token */
    assert_int_equal(cs_server_check(&cfg), CS_EPERM);
    /* a token off loopback: TLS, or plain HTTP only when told it is fine */
    cfg.insecure = 0;
    cfg.token_file = "/nonexistent/token";
    assert_int_equal(cs_server_check(&cfg), CS_EPERM);
    assert_non_null(strstr(cs_error_msg(CS_EPERM), "--tls-cert"));
    assert_non_null(strstr(cs_error_msg(CS_EPERM), "--insecure"));
    assert_int_equal(cs_server_start(&cfg, live, &s), CS_EPERM);
    cfg.insecure = 1;
    assert_int_equal(cs_server_check(&cfg), 0);
    cfg.insecure = 0;
    cfg.tls_cert = "/nonexistent/cert.pem";
    assert_int_equal(cs_server_check(&cfg), CS_EINVAL); /* no key */
    cfg.tls_key = "/nonexistent/key.pem";
    assert_int_equal(cs_server_check(&cfg), 0);
    cfg = (cs_server_cfg){.listen = "127.0.0.1:0", .token_file = "/nonexistent/token"};
    assert_int_equal(cs_server_check(&cfg), 0); /* loopback: plain HTTP is fine */
    cfg = (cs_server_cfg){.listen = "127.0.0.1:0",
                          .store_dir = store_dir,
                          .tls_cert = "/nonexistent/cert.pem",
                          .tls_key = "/nonexistent/key.pem"};
    assert_int_equal(cs_server_start(&cfg, live, &s), CS_ENOTFOUND);
    assert_non_null(strstr(cs_error_msg(CS_ENOTFOUND), "--tls-cert /nonexistent/cert.pem"));
    cfg = (cs_server_cfg){.listen = "0.0.0.0:0", .store_dir = store_dir};
    cfg.listen = "nonsense";
    assert_int_equal(cs_server_start(&cfg, live, &s), CS_EINVAL);
    cfg.listen = "127.0.0.1:99999";
    assert_int_equal(cs_server_start(&cfg, live, &s), CS_EINVAL);
    assert_int_equal(cs_server_listen_is_loopback("[::1]:80"), 1);
    assert_int_equal(cs_server_listen_is_loopback("127.3.0.1:80"), 1);
    assert_int_equal(cs_server_listen_is_loopback("10.0.0.1:80"), 0);
    assert_int_equal(cs_server_listen_is_loopback("[::]:80"), 0);
}

static void test_status(void **state)
{
    json_t *j = get_json("/api/v1/status", 200);

    assert_string_equal(json_string_value(json_object_get(j, "version")), "test-1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "capture"), "packets")),
                     77);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "drops"), "kernel")), 5);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "drops"), "records_not_stored")), 9);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "store"), "packets")),
                     (json_int_t)store_count(NULL));
    json_decref(j);
}

static void expect_400(const char *path, const char *param);

/* total=1: the number of measurements matching the filters, whatever the
 * page; the same as listing them all, and absent without total=1. */
static void check_list_total(const char *filters, int64_t want)
{
    char path[256];
    json_t *all, *page;
    int64_t n;

    snprintf(path, sizeof(path), "/api/v1/measurements?limit=1000&%s", filters);
    all = get_json(path, 200);
    n = (int64_t)json_array_size(json_object_get(all, "measurements"));
    assert_false(json_is_true(json_object_get(all, "more")));
    assert_null(json_object_get(all, "total"));
    if (want >= 0)
        assert_int_equal(n, want);
    snprintf(path, sizeof(path), "/api/v1/measurements?limit=3&offset=2&total=1&%s", filters);
    page = get_json(path, 200);
    assert_int_equal(json_integer_value(json_object_get(page, "total")), n);
    json_decref(all);
    json_decref(page);
}

static void test_list_totals(void **state)
{
    check_list_total("pair=fix", -1);
    check_list_total("pair=fix&min=100us&sort=latency", -1);
    check_list_total("pair=nosuch", 0);
    expect_400("/api/v1/measurements?total=yes", "total");
}

static void test_measurement_drilldown(void **state)
{
    json_t *list = get_json("/api/v1/measurements?sort=latency&limit=3&min=100us", 200);
    json_t *arr = json_object_get(list, "measurements"), *one;
    char path[256];
    const char *id, *req, *resp;
    int64_t prev = INT64_MAX;

    assert_int_equal(json_array_size(arr), 3);
    assert_true(json_is_true(json_object_get(list, "more")));
    for (size_t i = 0; i < 3; i++) {
        int64_t lat = json_integer_value(json_object_get(json_array_get(arr, i), "latency_ns"));
        assert_true(lat >= 100000 && lat <= prev);
        prev = lat;
    }
    id = json_string_value(json_object_get(json_array_get(arr, 0), "id"));
    req = json_string_value(json_object_get(json_array_get(arr, 0), "req_msg"));
    resp = json_string_value(json_object_get(json_array_get(arr, 0), "resp_msg"));
    snprintf(path, sizeof(path), "/api/v1/measurements/%s", id);
    one = get_json(path, 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(one, "request"), "message"), "id")),
                        req);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(one, "response"), "message"), "id")),
                        resp);
    assert_true(json_array_size(json_object_get(json_object_get(one, "request"), "packets")) >= 1);
    json_decref(one);
    snprintf(path, sizeof(path), "/api/v1/messages/%s", req);
    one = get_json(path, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(one, "message"), "id")),
                        req);
    assert_non_null(json_object_get(json_array_get(json_object_get(one, "packets"), 0), "summary"));
    json_decref(one);
    /* its pcap: request and response packets */
    {
        http_resp r;
        snprintf(path, sizeof(path), "/api/v1/measurements/%s/pcap", id);
        assert_int_equal(http_get(path, &r), 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.head, "attachment"));
        assert_true(pcap_count((unsigned char *)r.body, r.body_len) >= 2);
        resp_free(&r);
    }
    json_decref(list);
}

static void test_lists_and_paging(void **state)
{
    json_t *a = get_json("/api/v1/messages?proto=fix&limit=4", 200);
    json_t *b = get_json("/api/v1/messages?proto=fix&limit=2&offset=2", 200);
    json_t *ma = json_object_get(a, "messages"), *mb = json_object_get(b, "messages");

    assert_int_equal(json_array_size(ma), 4);
    assert_int_equal(json_array_size(mb), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ma, 2), "id")),
                        json_string_value(json_object_get(json_array_get(mb, 0), "id")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(ma, 0), "proto")), "fix");
    json_decref(a);
    json_decref(b);
    a = get_json("/api/v1/series", 200);
    assert_int_equal(json_array_size(json_object_get(a, "series")), 2);
    json_decref(a);
    a = get_json("/api/v1/metrics?series=tap:0&after=1767623400000000000&step=10s", 200);
    assert_int_equal(json_array_size(json_object_get(a, "points")), 1);
    assert_int_equal(json_integer_value(
                         json_object_get(json_array_get(json_object_get(a, "points"), 0), "count")),
                     6147);
    json_decref(a);
    json_decref(get_json("/api/v1/messages/m1.1.9", 404)); /* well-formed, absent */
    check_heatmap();
}

static void expect_400(const char *path, const char *param);

/* heatmap=1: the bucket bounds once, per point the counts of the stored
 * histogram per bucket (3 at 37 us, 1 at 5 ms, none elsewhere). */
static void check_heatmap(void)
{
    json_t *a = get_json("/api/v1/metrics?series=pair:fix&step=10s&heatmap=1", 200);
    json_t *lower = json_object_get(a, "heat_lower_ns");
    json_t *heat = json_object_get(json_array_get(json_object_get(a, "points"), 0), "heat");
    size_t nb = json_array_size(lower);

    assert_true(nb > 10);
    assert_int_equal(json_array_size(heat), nb);
    for (size_t k = 0; k < nb; k++) {
        int64_t lo = json_integer_value(json_array_get(lower, k));
        int64_t hi = k + 1 < nb ? json_integer_value(json_array_get(lower, k + 1)) : INT64_MAX;
        int64_t want = (lo <= 37000 && 37000 < hi) * 3 + (lo <= 5000000 && 5000000 < hi);
        assert_int_equal(json_integer_value(json_array_get(heat, k)), want);
    }
    json_decref(a);
    a = get_json("/api/v1/metrics?series=pair:fix", 200);
    assert_null(json_object_get(a, "heat_lower_ns"));
    assert_null(json_object_get(json_array_get(json_object_get(a, "points"), 0), "heat"));
    json_decref(a);
    expect_400("/api/v1/metrics?series=pair:fix&heatmap=2", "heatmap");
}

/* Checks one alerts page: "want" events, newest first, from value "first"
 * down (values are the write order), "more" and "total" as given. */
static void check_alert_page(const char *path, size_t want, int first, int more, int total)
{
    json_t *a = get_json(path, 200);
    json_t *arr = json_object_get(a, "alerts");

    assert_int_equal(json_array_size(arr), want);
    assert_int_equal(json_integer_value(json_object_get(a, "count")), want);
    assert_int_equal(json_is_true(json_object_get(a, "more")), more);
    assert_int_equal(json_integer_value(json_object_get(a, "total")), total);
    for (size_t i = 0; i < want; i++) {
        json_t *ev = json_array_get(arr, i);

        assert_int_equal(json_integer_value(json_object_get(ev, "value")), first - (int)i);
        assert_int_equal(json_integer_value(json_object_get(ev, "ts_ns")),
                         ALERT_T0 + (int64_t)(first - (int)i) * CS_NS_PER_SEC);
        assert_string_equal(json_string_value(json_object_get(ev, "state")),
                            (first - (int)i) % 2 ? "resolved" : "fired");
    }
    json_decref(a);
}

static void test_alerts_paging(void **state)
{
    char path[256];
    int64_t t10 = ALERT_T0 + 10 * CS_NS_PER_SEC, t20 = ALERT_T0 + 20 * CS_NS_PER_SEC;

    check_alert_page("/api/v1/alerts", 100, N_ALERTS - 1, 1, N_ALERTS);
    check_alert_page("/api/v1/alerts?offset=100", 100, N_ALERTS - 101, 1, N_ALERTS);
    check_alert_page("/api/v1/alerts?offset=200", 50, N_ALERTS - 201, 0, N_ALERTS);
    check_alert_page("/api/v1/alerts?offset=249&limit=5", 1, 0, 0, N_ALERTS);
    check_alert_page("/api/v1/alerts?offset=250", 0, 0, 0, N_ALERTS);
    check_alert_page("/api/v1/alerts?limit=1000", N_ALERTS, N_ALERTS - 1, 0, N_ALERTS);
    check_alert_page("/api/v1/alerts?limit=7&offset=3", 7, N_ALERTS - 4, 1, N_ALERTS);
    snprintf(path, sizeof(path), "/api/v1/alerts?after=%lld&before=%lld&limit=4", (long long)t10,
             (long long)t20);
    check_alert_page(path, 4, 19, 1, 10);
    snprintf(path, sizeof(path), "/api/v1/alerts?after=%lld&before=%lld&limit=4&offset=8",
             (long long)t10, (long long)t20);
    check_alert_page(path, 2, 11, 0, 10);
    expect_400("/api/v1/alerts?limit=1001", "limit");
    expect_400("/api/v1/alerts?offset=x", "offset");
    expect_400("/api/v1/alerts?sort=latency", "sort");
}

static void test_packets_pcap(void **state)
{
    static const char *const filters[] = {"tcp%20port%209878", "udp", NULL};
    static const char *const plain[] = {"tcp port 9878", "udp", NULL};
    char path[256];
    http_resp r;

    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/api/v1/packets%s%s", filters[i] ? "?filter=" : "",
                 filters[i] ? filters[i] : "");
        assert_int_equal(http_get(path, &r), 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.head, "application/vnd.tcpdump.pcap"));
        assert_int_equal(pcap_count((unsigned char *)r.body, r.body_len),
                         (long)store_count(plain[i]));
        resp_free(&r);
    }
}

static void expect_400(const char *path, const char *param)
{
    json_t *j = get_json(path, 400);

    assert_string_equal(json_string_value(json_object_get(j, "param")), param);
    assert_non_null(json_string_value(json_object_get(j, "error")));
    json_decref(j);
}

/* Like expect_400, and the error message is "msg". */
static void expect_400_says(const char *path, const char *param, const char *msg)
{
    json_t *j = get_json(path, 400);

    assert_string_equal(json_string_value(json_object_get(j, "param")), param);
    assert_string_equal(json_string_value(json_object_get(j, "error")), msg);
    json_decref(j);
}

/* Every out-of-range or malformed "limit" gets the same message. */
static void test_limit_message(void **state)
{
    static const char *const bad[] = {"0", "-1", "1001", "x", "1.5", "99999999999999999999999"};
    static const char *const lists[] = {"measurements", "messages", "alerts"};
    char path[128];

    for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(path, sizeof(path), "/api/v1/%s?limit=%s", lists[l], bad[i]);
            expect_400_says(path, "limit", "limit: expected a number from 1 to 1000");
        }
    json_decref(get_json("/api/v1/measurements?limit=1000", 200));
    json_decref(get_json("/api/v1/measurements?limit=1", 200));
}

/* The UI's files come from the asset table: "/" is index.html, a matching
 * If-None-Match is 304 without a body, an unknown file 404. */
static void test_ui_assets(void **state)
{
    static const char inm[] = "GET /ui/app.js HTTP/1.0\r\nIf-None-Match: \"app-etag\"\r\n\r\n";
    http_resp r;

    assert_int_equal(http_get("/", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "text/html"));
    assert_non_null(strstr(r.head, "\"index-etag\""));
    assert_int_equal(r.body_len, strlen(UI_INDEX));
    assert_memory_equal(r.body, UI_INDEX, r.body_len);
    resp_free(&r);
    assert_int_equal(http_get("/ui/app.js", &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, strlen(UI_APP));
    resp_free(&r);
    assert_int_equal(http_raw_at("127.0.0.1", port, inm, strlen(inm), &r), 0);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.body_len, 0);
    resp_free(&r);
    assert_int_equal(http_get("/ui/missing.js", &r), 0);
    assert_int_equal(r.status, 404);
    resp_free(&r);
}

static void test_bad_params(void **state)
{
    expect_400("/api/v1/measurements?after=yesterday", "after");
    expect_400("/api/v1/measurements?before=2026-13-01T00:00:00Z", "before");
    expect_400("/api/v1/measurements?min=fast", "min");
    expect_400("/api/v1/measurements?sort=random", "sort");
    expect_400("/api/v1/measurements?limit=0", "limit");
    expect_400("/api/v1/measurements?limit=100000", "limit");
    expect_400("/api/v1/measurements?offset=-1", "offset");
    expect_400("/api/v1/measurements?pair=", "pair");
    expect_400("/api/v1/measurements?bogus=1", "bogus");
    expect_400("/api/v1/measurements?limit=1&limit=2", "limit");
    expect_400("/api/v1/measurements?after=2&before=1", "after");
    expect_400("/api/v1/messages?proto", "proto");
    expect_400("/api/v1/messages?type=&key=x", "type");
    expect_400("/api/v1/metrics", "series");
    expect_400("/api/v1/metrics?series=pair", "series");
    expect_400("/api/v1/metrics?series=nope:x", "series");
    expect_400("/api/v1/metrics?series=tap:0&step=500ms", "step");
    expect_400("/api/v1/packets?filter=tcp%20portx", "filter");
    expect_400("/api/v1/stream?min_latency=soon", "min_latency");
    expect_400("/api/v1/stream?events=bogus", "events");
    expect_400("/api/v1/stream?events=metrics,,alert", "events");
    expect_400("/api/v1/stream?events=metrics,", "events");
    expect_400("/api/v1/stream?events=", "events");
    expect_400("/api/v1/stream?events=metrics&events=alert", "events");
    expect_400("/api/v1/measurements?events=metrics", "events");
    expect_400("/api/v1/measurements/m1.2.3", "id"); /* a message id */
    expect_400("/api/v1/messages/m1.2", "id");
    expect_400("/api/v1/messages/m1.2.3.4", "id");
    expect_400("/api/v1/status?x=1", "x");
}

static void test_paths_and_methods(void **state)
{
    static const char *const paths[] = {"/ui/../../etc/passwd",
                                        "/api/v1",
                                        "/api/v1/../../etc/passwd",
                                        "/api/v1/%2e%2e/%2e%2e/etc/passwd",
                                        "/api",
                                        "/api/v1/status/",
                                        "/api/v1/messages/m1.2.3/pcapx",
                                        "/etc/passwd",
                                        "/api/v1/stat%00us"};
    char *big = malloc(200000), req[128];
    http_resp r;
    json_t *j;

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        assert_int_equal(http_get(paths[i], &r), 0);
        assert_true(r.status == 404 || r.status == 400);
        resp_free(&r);
    }
    memcpy(big, "GET /api/v1/status?after=", 25);
    memset(big + 25, 'a', 150000);
    memcpy(big + 150025, " HTTP/1.0\r\n\r\n", 14);
    if (http_raw_at("127.0.0.1", port, big, 150025 + 13, &r) == 0) {
        assert_true(r.status >= 400 && r.status < 500);
        resp_free(&r);
    }
    free(big);
    memcpy(req, "GET /api/v1/st\0atus HTTP/1.0\r\n\r\n", 33);
    if (http_raw_at("127.0.0.1", port, req, 33, &r) == 0) {
        assert_true(r.status >= 400 && r.status < 500);
        resp_free(&r);
    }
    snprintf(req, sizeof(req), "POST /api/v1/status HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
    assert_int_equal(http_raw_at("127.0.0.1", port, req, strlen(req), &r), 0);
    assert_int_equal(r.status, 405);
    resp_free(&r);
    j = get_json("/api/v1/status", 200); /* still alive */
    json_decref(j);
}

static void test_token(void **state)
{
    char tok[300];
    FILE *f;
    cs_server_cfg cfg = {.listen = "127.0.0.2:0", .token_file = tok, .store_dir = store_dir};
    cs_server *s;
    http_resp r;
    int p;

    snprintf(tok, sizeof(tok), "%.200s/../token", store_dir);
    assert_non_null(f = fopen(tok, "w"));
    fputs("s3cret-token-123\n", f);
    fclose(f);
    assert_int_equal(cs_server_start(&cfg, live, &s), 0);
    p = cs_server_port(s);
    assert_int_equal(http_get_auth("127.0.0.2", p, "/api/v1/status", NULL, &r), 0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    assert_int_equal(http_get_auth("127.0.0.2", p, "/api/v1/status", "Bearer s3cret-token-12", &r),
                     0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    assert_int_equal(http_get_auth("127.0.0.2", p, "/metrics", "Bearer s3cret-token-1234", &r), 0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    assert_int_equal(http_get_auth("127.0.0.2", p, "/nope", NULL, &r), 0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    assert_int_equal(http_get_auth("127.0.0.2", p, "/api/v1/status", "Bearer s3cret-token-123", &r),
                     0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* the scheme is case-insensitive (RFC 7235 2.1), the token is not */
    assert_int_equal(http_get_auth("127.0.0.2", p, "/api/v1/status", "bearer s3cret-token-123", &r),
                     0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(http_get_auth("127.0.0.2", p, "/api/v1/status", "BEARER s3cret-token-123", &r),
                     0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(http_get_auth("127.0.0.2", p, "/api/v1/status", "bearer S3CRET-TOKEN-123", &r),
                     0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    assert_int_equal(http_get_auth("127.0.0.2", p, "/api/v1/status", "Bearers3cret-token-123", &r),
                     0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    assert_int_equal(http_get_auth("127.0.0.2", p, "/api/v1/status", "Basic s3cret-token-123", &r),
                     0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    cs_server_stop(s);
}

static void test_disconnect_mid_download(void **state)
{
    static const char req[] = "GET /api/v1/packets HTTP/1.0\r\n\r\n";
    char buf[2048];
    json_t *j;

    for (int i = 0; i < 8; i++) {
        int fd = connect_to("127.0.0.1", port);
        assert_true(fd >= 0);
        send_all(fd, req, sizeof(req) - 1);
        assert_true(recv(fd, buf, sizeof(buf), MSG_WAITALL) > 0);
        close(fd);
    }
    j = get_json("/api/v1/status", 200);
    json_decref(j);
    test_packets_pcap(state); /* full downloads still work */
}

static void test_prometheus(void **state)
{
    cs_live_status st;
    char *text;
    size_t len;
    http_resp r;

    cs_live_get_status(live, &st);
    assert_int_equal(cs_prom_render(&st, NULL, &text, &len), 0);
    cs_live_set_prometheus(live, text, len);
    cs_free(text);
    assert_int_equal(http_get("/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "version=0.0.4"));
    assert_non_null(strstr(r.body, "\ncapstream_packets_total 77\n"));
    assert_non_null(strstr(r.body, "capstream_drops_total{kind=\"kernel\"} 5\n"));
    assert_non_null(strstr(r.body, "# TYPE capstream_records_not_stored_total counter\n"
                                   "capstream_records_not_stored_total 9\n"));
    resp_free(&r);
}

/* Reads from "fd" until "needle" shows up in what was read (or timeout). */
static int read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle)
{
    while (strstr(buf, needle) == NULL) {
        ssize_t n = recv(fd, buf + *len, cap - *len - 1, 0);
        if (n <= 0)
            return -1;
        *len += (size_t)n;
        buf[*len] = '\0';
    }
    return 0;
}

/* Sends the stream request "req" and reads up to the stream's opening
 * comment; returns the connected descriptor. */
static int open_stream(const char *req, char *buf, size_t cap, size_t *len)
{
    int fd = connect_to("127.0.0.1", port);

    assert_true(fd >= 0);
    send_all(fd, req, strlen(req));
    assert_int_equal(read_until(fd, buf, cap, len, "live stream"), 0);
    return fd;
}

static void test_sse(void **state)
{
    static const char req[] = "GET /api/v1/stream?min_latency=1ms HTTP/1.0\r\n\r\n";
    static const char slow[] = "{\"id\":\"l1.2.0\",\"latency_ns\":2500000}";
    static const char fast[] = "{\"id\":\"l1.3.0\",\"latency_ns\":5000}";
    char buf[8192] = {0};
    size_t len = 0;
    int fd = open_stream(req, buf, sizeof(buf), &len);

    assert_non_null(strstr(buf, "text/event-stream"));
    cs_live_publish(live, "measurement", fast, strlen(fast));
    cs_live_publish(live, "measurement", slow, strlen(slow));
    cs_live_publish(live, "alert", "{\"rule\":\"r\",\n\"state\":\"fired\"}", 29);
    cs_live_publish(live, "metrics", "{\"series\":\"capture\"}", 20);
    assert_int_equal(read_until(fd, buf, sizeof(buf), &len, "capture\"}\n\n"), 0);
    assert_non_null(strstr(buf, "event: measurement\nid: "));
    assert_non_null(strstr(buf, slow));
    assert_null(strstr(buf, fast));
    assert_non_null(strstr(buf, "data: {\"rule\":\"r\", \"state\":\"fired\"}\n\n"));
    close(fd);
}

/* events=metrics,alert: no measurement event, whatever its latency. */
static void test_sse_events(void **state)
{
    static const char req[] = "GET /api/v1/stream?events=metrics,alert HTTP/1.0\r\n\r\n";
    static const char slow[] = "{\"id\":\"l1.2.0\",\"latency_ns\":2500000}";
    char buf[8192] = {0};
    size_t len = 0;
    int fd = open_stream(req, buf, sizeof(buf), &len);

    cs_live_publish(live, "measurement", slow, strlen(slow));
    cs_live_publish(live, "alert", "{\"rule\":\"q\"}", 12);
    cs_live_publish(live, "measurement", slow, strlen(slow));
    cs_live_publish(live, "metrics", "{\"series\":\"tap:9\"}", 18);
    assert_int_equal(read_until(fd, buf, sizeof(buf), &len, "tap:9\"}\n\n"), 0);
    assert_non_null(strstr(buf, "event: alert\nid: "));
    assert_non_null(strstr(buf, "data: {\"rule\":\"q\"}\n\n"));
    assert_null(strstr(buf, "event: measurement"));
    assert_null(strstr(buf, "l1.2.0"));
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refuses_open_listen),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_list_totals),
        cmocka_unit_test(test_measurement_drilldown),
        cmocka_unit_test(test_lists_and_paging),
        cmocka_unit_test(test_packets_pcap),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_limit_message),
        cmocka_unit_test(test_ui_assets),
        cmocka_unit_test(test_paths_and_methods),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_disconnect_mid_download),
        cmocka_unit_test(test_prometheus),
        cmocka_unit_test(test_sse),
        cmocka_unit_test(test_sse_events),
        cmocka_unit_test(test_alerts_paging),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
