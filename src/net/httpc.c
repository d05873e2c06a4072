/* httpc: libcurl easy interface, one handle per thread so connections are reused (keep-alive) without locking.
 * Response headers are not collected here: libcurl already keeps those of the last transfer in the handle, and
 * httpc_response_header reads one of them from there (curl_easy_header) and copies it into the caller's buffer,
 * so a request costs no extra allocation and a caller asks only for the headers it needs. */
#include "net/httpc.h"

#include "core/clock.h"
#include "core/log.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* curl_easy_header left its experimental state in 7.84.0; older libcurl would fail at link time with a less
 * helpful message. */
#if LIBCURL_VERSION_NUM < 0x075400
#error "httpc needs libcurl 7.84.0 or later (curl_easy_header)"
#endif

struct httpc {
    CURL *h;
    int64_t timeout_ms;
    bool answered;  /* the last request got an HTTP answer, so the handle's headers are that answer's */
    char errbuf[CURL_ERROR_SIZE];
};

int httpc_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

httpc_t *httpc_new(int64_t timeout_ms)
{
    httpc_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->h = curl_easy_init();
    if (!c->h) {
        free(c);
        return NULL;
    }
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    return c;
}

void httpc_free(httpc_t *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->h);
    free(c);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    buf_t *b = ud;
    if (buf_append(b, ptr, size * nmemb) < 0)
        return 0;
    return size * nmemb;
}

/* "https://host:port/path?x" → "/path" for debug lines: a query string may carry a token, so it is left out. */
static void path_of(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    size_t len = p ? strcspn(p, "?#") : 0;
    if (len >= n)
        len = n - 1;
    if (len)
        memcpy(out, p, len);
    out[len] = '\0';
}

/* "https://host:port/path?x" → "host:port" for messages; never the query or credentials. */
static void host_of(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at && (!slash || at < slash))
        p = at + 1;
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len >= n)
        len = n - 1;
    memcpy(out, p, len);
    out[len] = '\0';
}

int httpc_request(httpc_t *c, const char *method, const char *url, const char *const *headers, const char *body,
                  size_t body_len, int flags, long *status, buf_t *resp, err_t *err)
{
    CURL *h = c->h;
    struct curl_slist *hl = NULL;
    for (const char *const *hp = headers; hp && *hp; hp++)
        hl = curl_slist_append(hl, *hp);
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
    buf_reset(resp);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->timeout_ms < 10000 ? c->timeout_ms : 10000));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "synchub/" SYNCHUB_VERSION);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (flags & HTTPC_FRESH)
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    c->errbuf[0] = '\0';
    c->answered = false;
    int64_t t0 = clock_now_ms();
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hl);
    if (log_enabled(LOG_LVL_DEBUG)) {
        /* host and path only: headers (tokens, API keys) and bodies (customer data) never go to the log */
        char host[256], path[256], st[16] = "", ms[24];
        host_of(url, host, sizeof(host));
        path_of(url, path, sizeof(path));
        long code = 0;
        if (rc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        snprintf(st, sizeof(st), "%ld", code);
        snprintf(ms, sizeof(ms), "%lld", (long long)(clock_now_ms() - t0));
        log_kv(LOG_LVL_DEBUG, "httpc", "http request", "method", method, "host", host, "path", path, "status",
               rc == CURLE_OK ? st : NULL, "transport_error", rc == CURLE_OK ? NULL : curl_easy_strerror(rc),
               "ms", ms, NULL);
    }
    if (rc != CURLE_OK) {
        char host[256];
        host_of(url, host, sizeof(host));
        const char *code = rc == CURLE_OPERATION_TIMEDOUT ? "http.timeout"
                           : (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) ? "http.connect"
                                                                                                : "http.io";
        err_set(err, ERR_TRANSIENT, code, "request to %s failed: %s", host,
                c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CONNECT_ERROR) {
            err->cls = ERR_CONFIGURATION;
            err_hint(err, "the TLS certificate of %s could not be verified; fix the certificate or the CA bundle "
                          "(verification stays on)", host);
        }
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    c->answered = true;
    return 0;
}

int httpc_response_header(httpc_t *c, const char *name, char *out, size_t n)
{
    struct curl_header *hd = NULL;
    if (n)
        out[0] = '\0';
    /* After a transport failure the handle may still hold headers of a partial answer, or of an earlier one:
     * neither belongs to a request the caller saw answered. */
    if (!c->answered || n == 0)
        return -1;
    /* request -1: the last request of the transfer (httpc follows no redirects, so the only one). */
    if (curl_easy_header(c->h, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK || !hd || !hd->value)
        return -1;
    size_t len = strlen(hd->value); /* libcurl has already stripped surrounding whitespace */
    if (len >= n)
        return -1;
    memcpy(out, hd->value, len + 1);
    return 0;
}
