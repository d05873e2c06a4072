/* store_payload: zstd frames for large job payloads in the SQLite store (see store_payload.h). The write path
 * compresses at level 1: a Shopify order (6.6 KB of JSON) becomes about 1.6 KB, small enough to live in its table
 * page instead of a chain of overflow pages, so each acknowledged webhook puts about a quarter of the bytes into
 * the WAL and, later, the checkpoint. Not here: PostgreSQL, which compresses large values itself (TOAST). */
#include "store/store_payload.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define PAYLOAD_LEVEL 1
#define PAYLOAD_MAX_TEXT (64u << 20)   /* a frame claiming more than this is not one of ours */

struct store_packer {
    ZSTD_CCtx *cctx;
    void *buf;
    size_t cap;
};

store_packer_t *store_packer_new(void)
{
    store_packer_t *p = calloc(1, sizeof(*p));
    if (p && !(p->cctx = ZSTD_createCCtx())) {
        free(p);
        return NULL;
    }
    return p;
}

void store_packer_free(store_packer_t *p)
{
    if (!p)
        return;
    ZSTD_freeCCtx(p->cctx);
    free(p->buf);
    free(p);
}

static int bind_text(sqlite3_stmt *st, int i, const char *payload, size_t len)
{
    return sqlite3_bind_text(st, i, payload, (int)len, SQLITE_TRANSIENT);
}

int store_payload_bind(store_packer_t *p, sqlite3_stmt *st, int i, const char *payload, size_t len)
{
    if (!p || len < STORE_PAYLOAD_MIN)
        return bind_text(st, i, payload, len);
    size_t bound = ZSTD_compressBound(len);
    if (bound > p->cap) {
        void *nb = realloc(p->buf, bound);
        if (!nb)
            return bind_text(st, i, payload, len);
        p->buf = nb;
        p->cap = bound;
    }
    size_t n = ZSTD_compressCCtx(p->cctx, p->buf, p->cap, payload, len, PAYLOAD_LEVEL);
    if (ZSTD_isError(n) || n > len - len / 10)
        return bind_text(st, i, payload, len);
    return sqlite3_bind_blob(st, i, p->buf, (int)n, SQLITE_STATIC);
}

/* A zstd frame's content as malloc'd text; NULL if data is not a frame we wrote or does not decompress. */
static char *unpack(const void *data, size_t n)
{
    unsigned long long size = ZSTD_getFrameContentSize(data, n);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > PAYLOAD_MAX_TEXT)
        return NULL;
    char *out = malloc((size_t)size + 1);
    if (!out)
        return NULL;
    size_t got = ZSTD_decompress(out, (size_t)size, data, n);
    if (ZSTD_isError(got) || got != size) {
        free(out);
        return NULL;
    }
    out[got] = '\0';
    return out;
}

static char *copy(const void *data, size_t n)
{
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, data, n);
        out[n] = '\0';
    }
    return out;
}

static bool is_frame(const void *data, size_t n)
{
    uint32_t magic;
    if (n < 4)
        return false;
    memcpy(&magic, data, 4);
    return magic == ZSTD_MAGICNUMBER;   /* little-endian on disk, as zstd writes it */
}

char *store_payload_column(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_BLOB) {
        const void *data = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        return is_frame(data, n) ? unpack(data, n) : copy(data ? data : "", n);
    }
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? copy(t, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

static void sql_payload(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    const void *data = sqlite3_value_blob(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    if (!is_frame(data, n)) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    char *text = unpack(data, n);
    if (text)
        sqlite3_result_text(ctx, text, -1, free);
    else
        sqlite3_result_null(ctx);
}

int store_payload_register(sqlite3 *db)
{
    return sqlite3_create_function_v2(db, "synchub_payload", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                      sql_payload, NULL, NULL, NULL);
}
