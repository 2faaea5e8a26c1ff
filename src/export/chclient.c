/*
 * chclient.c - ClickHouse over HTTP with libcurl (see chclient.h).
 *
 *   statement:  POST BASE?database=DB            body: the SQL
 *               (CREATE DATABASE: database=default, DB may not exist yet)
 *   insert:     POST BASE?database=DB&query=INSERT INTO DB.T FORMAT JSONEachRow
 *                    &input_format_skip_unknown_fields=1      body: the rows
 *
 * A reply with status 200 is success; anything else is a failure whose
 * reason is the reply body's first line (ClickHouse's exception text) or
 * curl's error. libcurl's global state is initialised once, thread-safely.
 *
 * TLS: libcurl verifies the peer and the host name (set explicitly, not
 * left to its defaults), against CURLOPT_CAINFO when a CA file is given.
 * A failed handshake or verification is told apart from other transport
 * errors (tls_failure) and reported as "TLS: <curl's reason>" with the CAs
 * it was checked against.
 *
 * Invariants: the reply buffer is reset for every request and always
 * NUL-terminated; a password never appears in an error message ("shown"
 * is the URL without it); verification is never turned off.
 */
#include "export/chclient.h"

#include "core/alloc.h"
#include "core/error.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 2000L
#define REQUEST_TIMEOUT_MS 60000L
#define REASON_MAX 300

struct cs_ch {
    cs_ch_target t;
    char ca_file[CS_CH_URL_MAX]; /* "" : the system's CAs */
    CURL *curl;
    char *reply;
    size_t reply_len, reply_cap;
    char curl_err[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- targets ---------------------------------------------------------------- */

static int db_name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= CS_CH_DB_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z')))
            return 0;
    return 1;
}

/* "shown": "base" with the password of its userinfo (if any) replaced by "***". */
static void hide_password(const char *base, const char *host_start, char *shown, size_t cap)
{
    const char *at = memchr(host_start, '@', strcspn(host_start, "/"));
    const char *colon;

    if (at == NULL || (colon = memchr(host_start, ':', (size_t)(at - host_start))) == NULL) {
        snprintf(shown, cap, "%s", base);
        return;
    }
    snprintf(shown, cap, "%.*s:***%s", (int)(colon - base), base, at);
}

int cs_ch_parse_target(const char *url, cs_ch_target *t)
{
    const char *host, *slash, *db;
    size_t n;

    memset(t, 0, sizeof(*t));
    if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else
        return cs_error_set(CS_EINVAL, "'%s': a ClickHouse URL starts with http:// or https://",
                            url);
    slash = strchr(host, '/');
    if (slash == NULL || slash == host)
        return cs_error_set(CS_EINVAL, "'%s': give the database: http://HOST:8123/DB", url);
    db = slash + 1;
    n = strlen(db);
    if (n > 0 && db[n - 1] == '/')
        n--;
    if (!db_name_ok(db, n))
        return cs_error_set(CS_EINVAL, "'%s': the database name must be letters, digits or _", url);
    if ((size_t)(slash - url) + 2 > sizeof(t->base))
        return cs_error_set(CS_EINVAL, "'%s': URL too long", url);
    snprintf(t->base, sizeof(t->base), "%.*s/", (int)(slash - url), url);
    memcpy(t->db, db, n);
    hide_password(t->base, t->base + (host - url), t->shown, sizeof(t->shown));
    return 0;
}

/* ---- requests --------------------------------------------------------------- */

static size_t on_reply(char *p, size_t size, size_t nmemb, void *ud)
{
    cs_ch *c = ud;
    size_t n = size * nmemb;

    if (c->reply_len + n + 1 > c->reply_cap) {
        size_t cap = c->reply_cap ? c->reply_cap : 4096;
        char *nr;

        while (cap < c->reply_len + n + 1)
            cap *= 2;
        if ((nr = cs_realloc(c->reply, cap)) == NULL)
            return 0; /* curl fails the transfer */
        c->reply = nr;
        c->reply_cap = cap;
    }
    memcpy(c->reply + c->reply_len, p, n);
    c->reply_len += n;
    c->reply[c->reply_len] = '\0';
    return n;
}

/* "ca_file" must be readable and "t" https; 0 or the error naming it. */
static int check_ca_file(const cs_ch_target *t, const char *ca_file)
{
    int fd;

    if (strncmp(t->base, "https://", 8) != 0)
        return cs_error_set(CS_EINVAL,
                            "--tls-ca %s: ClickHouse at %s is plain http://, there is no "
                            "certificate to verify (give an https:// URL)",
                            ca_file, t->shown);
    if (strlen(ca_file) >= CS_CH_URL_MAX)
        return cs_error_set(CS_EINVAL, "--tls-ca %s: path too long", ca_file);
    if ((fd = open(ca_file, O_RDONLY | O_CLOEXEC)) < 0)
        return cs_error_set(cs_error_from_errno(errno), "--tls-ca %s: %s", ca_file,
                            strerror(errno));
    close(fd);
    return 0;
}

static void set_options(cs_ch *c)
{
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file[0])
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_file);
}

int cs_ch_open(const cs_ch_target *t, const char *ca_file, cs_ch **out)
{
    cs_ch *c;
    int rc;

    *out = NULL;
    if (ca_file != NULL && (rc = check_ca_file(t, ca_file)) < 0)
        return rc;
    pthread_once(&curl_once, curl_init_once);
    if ((c = cs_calloc(1, sizeof(*c))) == NULL)
        return CS_ENOMEM;
    c->t = *t;
    if (ca_file != NULL)
        snprintf(c->ca_file, sizeof(c->ca_file), "%s", ca_file);
    if ((c->curl = curl_easy_init()) == NULL) {
        cs_free(c);
        return cs_error_set(CS_ENOMEM, "libcurl: cannot make a handle");
    }
    set_options(c);
    *out = c;
    return 0;
}

void cs_ch_close(cs_ch *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    cs_free(c->reply);
    cs_free(c);
}

/* The first line of the reply, at most REASON_MAX bytes, into "buf". */
static const char *reply_reason(const cs_ch *c, char *buf, size_t cap)
{
    size_t n = c->reply ? strcspn(c->reply, "\n") : 0;

    if (n > REASON_MAX)
        n = REASON_MAX;
    snprintf(buf, cap, "%.*s", (int)n, c->reply ? c->reply : "");
    return buf;
}

/* 1 if "cc" is a failed TLS handshake or certificate check. */
static int tls_failure(CURLcode cc)
{
    return cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION ||
           cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
           cc == CURLE_SSL_CIPHER || cc == CURLE_SSL_ISSUER_ERROR ||
           cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH || cc == CURLE_SSL_CRL_BADFILE;
}

/* POSTs "body" to BASE?"query" (in the target's database unless "no_db"):
 * 0 on status 200, else CS_EIO with a reason. */
static int post(cs_ch *c, int no_db, const char *query, const char *body, size_t len)
{
    char url[CS_CH_URL_MAX + 512], reason[REASON_MAX + 1];
    long status = 0;
    CURLcode cc;

    snprintf(url, sizeof(url), "%s?database=%s%s", c->t.base, no_db ? "default" : c->t.db, query);
    c->reply_len = 0;
    if (c->reply)
        c->reply[0] = '\0';
    c->curl_err[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    cc = curl_easy_perform(c->curl);
    if (cc != CURLE_OK && tls_failure(cc))
        return cs_error_set(CS_EIO, "ClickHouse at %s: TLS: %s (certificate checked against %s%s)",
                            c->t.shown, c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc),
                            c->ca_file[0] ? "--tls-ca " : "the system's CAs", c->ca_file);
    if (cc != CURLE_OK)
        return cs_error_set(CS_EIO, "ClickHouse at %s: %s", c->t.shown,
                            c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return cs_error_set(CS_EIO, "ClickHouse at %s: HTTP %ld: %s", c->t.shown, status,
                            reply_reason(c, reason, sizeof(reason)));
    return 0;
}

int cs_ch_exec(cs_ch *c, const char *sql)
{
    return post(c, 0, "", sql, strlen(sql));
}

int cs_ch_create_db(cs_ch *c)
{
    char sql[CS_CH_DB_MAX + 64];

    snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS %s", c->t.db);
    return post(c, 1, "", sql, strlen(sql));
}

int cs_ch_insert(cs_ch *c, const char *table, const char *rows, size_t len)
{
    char query[256];

    snprintf(query, sizeof(query),
             "&input_format_skip_unknown_fields=1&query=INSERT%%20INTO%%20%s.%s%%20FORMAT%%"
             "20JSONEachRow",
             c->t.db, table);
    return post(c, 0, query, rows, len);
}

int cs_ch_query(cs_ch *c, const char *sql, char **out, size_t *len)
{
    int rc = post(c, 0, "&output_format_json_quote_64bit_integers=0", sql, strlen(sql));

    *out = NULL;
    *len = 0;
    if (rc < 0)
        return rc;
    if ((*out = cs_malloc(c->reply_len + 1)) == NULL)
        return CS_ENOMEM;
    memcpy(*out, c->reply ? c->reply : "", c->reply_len);
    (*out)[c->reply_len] = '\0';
    *len = c->reply_len;
    return 0;
}
