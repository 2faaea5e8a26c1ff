/*
 * fanout.c - parallel GETs to sensors with libcurl's multi interface (see
 * fanout.h).
 *
 *   one easy handle per sensor asked ─► curl_multi_perform / poll until
 *   all ended ─► per handle: HTTP status, or curl's reason
 *
 * Every handle has the same overall timeout (the deadline) and a connect
 * timeout of at most a second, so the call returns by the deadline
 * whatever the sensors do - except a download (streaming), which must
 * start by the deadline and may then last while bytes keep coming. No signals are used
 * (CURLOPT_NOSIGNAL), as the hub answers from many threads. A memory body grows by doubling and is
 * always NUL-terminated.
 */
#include "hub/fanout.h"

#include "core/error.h"
#include "core/timefmt.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CONNECT_TIMEOUT_MAX_MS 1000

typedef struct transfer {
    cs_hub_fetch *f;
    const char *want_header;
    size_t cap;
    int oom, late;         /* late: a download without a first byte by the deadline */
    int64_t first_byte_by; /* CLOCK_MONOTONIC ns (streaming) */
    char err[CURL_ERROR_SIZE];
} transfer;

/* A download's progress: one that sent no byte by the deadline is aborted
 * (a hung sensor accepts the connection and says nothing). */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    transfer *t = ud;

    (void)dltotal, (void)ultotal, (void)ulnow;
    if (dlnow > 0 || t->f->len > 0 || cs_mono_ns() < t->first_byte_by)
        return 0;
    t->late = 1;
    return 1;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;

    if (t->f->sink)
        return fwrite(data, 1, len, t->f->sink) == len ? len : 0;
    if (t->f->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        char *b;

        while (cap < t->f->len + len + 1)
            cap *= 2;
        if ((b = realloc(t->f->body, cap)) == NULL) {
            t->oom = 1;
            return 0;
        }
        t->f->body = b;
        t->cap = cap;
    }
    memcpy(t->f->body + t->f->len, data, len);
    t->f->len += len;
    t->f->body[t->f->len] = '\0';
    return len;
}

/* Keeps the value of the header asked for ("Name: value\r\n"). */
static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n, name = t->want_header ? strlen(t->want_header) : 0;

    if (name && len > name + 1 && strncasecmp(data, t->want_header, name) == 0 &&
        data[name] == ':') {
        const char *v = data + name + 1;
        size_t vl = len - name - 1;

        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        if (vl >= sizeof(t->f->header))
            vl = sizeof(t->f->header) - 1;
        memcpy(t->f->header, v, vl);
        t->f->header[vl] = '\0';
    }
    return len;
}

static CURL *easy_for(const cs_hub_fanout_cfg *cfg, const cs_hub_peer *p, const char *path,
                      transfer *t, struct curl_slist **hdrs)
{
    char url[CS_HUB_URL_MAX * 2];
    CURL *e = curl_easy_init();
    long connect_ms =
        cfg->deadline_ms < CONNECT_TIMEOUT_MAX_MS ? (long)cfg->deadline_ms : CONNECT_TIMEOUT_MAX_MS;

    if (e == NULL)
        return NULL;
    snprintf(url, sizeof(url), "%s%s", p->base, path);
    if (p->auth[0])
        *hdrs = curl_slist_append(NULL, p->auth);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (cfg->streaming) {
        t->first_byte_by = cs_mono_ns() + cfg->deadline_ms * 1000000;
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, t);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)CS_HUB_STALL_S);
    } else {
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->deadline_ms);
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->err);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (*hdrs)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs);
    if (cfg->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    return e;
}

/* Runs every transfer of "m" to its end (each bounded by its timeout). */
static void run_all(CURLM *m)
{
    int running = 1;

    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running && curl_multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK)
            break;
    }
}

static void collect(CURLM *m)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
        transfer *t = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (msg->data.result == CURLE_OK && !t->oom) {
            t->f->ok = 1;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &t->f->status);
        } else {
            snprintf(t->f->why, sizeof(t->f->why), "%s",
                     t->oom      ? "out of memory"
                     : t->late   ? "no first byte by the deadline (timed out)"
                     : t->err[0] ? t->err
                                 : curl_easy_strerror(msg->data.result));
        }
    }
}

int cs_hub_fanout(const cs_hub_fanout_cfg *cfg, const cs_hub_peer *peers, int n, const int *use,
                  const char *path, cs_hub_fetch *out)
{
    transfer t[CS_HUB_SENSORS_MAX];
    CURL *e[CS_HUB_SENSORS_MAX] = {0};
    struct curl_slist *hdrs[CS_HUB_SENSORS_MAX] = {0};
    CURLM *m = curl_multi_init();
    int rc = 0;

    if (m == NULL || n > CS_HUB_SENSORS_MAX) {
        curl_multi_cleanup(m);
        return m == NULL ? CS_ENOMEM : cs_error_set(CS_EINVAL, "too many sensors");
    }
    for (int i = 0; i < n; i++) {
        FILE *sink = out[i].sink;

        memset(&out[i], 0, sizeof(out[i]));
        out[i].sink = sink;
        memset(&t[i], 0, sizeof(t[i]));
        t[i].f = &out[i];
        t[i].want_header = cfg->want_header;
        snprintf(out[i].why, sizeof(out[i].why), "not asked");
        if (use && !use[i])
            continue;
        out[i].why[0] = '\0';
        if ((e[i] = easy_for(cfg, &peers[i], path, &t[i], &hdrs[i])) == NULL ||
            curl_multi_add_handle(m, e[i]) != CURLM_OK) {
            rc = CS_ENOMEM;
            break;
        }
    }
    if (rc == 0) {
        run_all(m);
        collect(m);
    }
    for (int i = 0; i < n; i++) {
        if (e[i]) {
            curl_multi_remove_handle(m, e[i]);
            curl_easy_cleanup(e[i]);
        }
        curl_slist_free_all(hdrs[i]);
        if (!out[i].ok && !out[i].why[0])
            snprintf(out[i].why, sizeof(out[i].why), "no answer by the deadline");
    }
    curl_multi_cleanup(m);
    return rc;
}

void cs_hub_fetch_free(cs_hub_fetch *f, int n)
{
    for (int i = 0; i < n; i++) {
        free(f[i].body);
        f[i].body = NULL;
    }
}
