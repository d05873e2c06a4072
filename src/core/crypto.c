/* crypto: OpenSSL 3 wrappers. Every function is safe from any thread: the only shared state is the SHA-256 and
 * HMAC implementations, fetched once (fetch_algorithms) and only read after; contexts are per call. */
#include "core/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* SHA-256 and HMAC-SHA256, fetched once. Naming an algorithm per call (EVP_sha256(), EVP_MAC_fetch, or
 * EVP_MAC_init's "digest" parameter) makes OpenSSL 3 look the implementation up again under its store's lock every
 * time, on every ack (issue 18: the job id's digest 0.29 -> 0.12 us). The HMAC template has its digest set and no
 * key; each call works on a copy of it. NULL if the provider lacks them. Kept for the life of the process. */
static EVP_MD *sha256_impl;
static EVP_MAC_CTX *hmac_template;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void)
{
    sha256_impl = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context keeps its own reference */
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("digest", digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (ctx && !EVP_MAC_CTX_set_params(ctx, params)) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    hmac_template = ctx;
}

static const EVP_MD *sha256_md(void)
{
    pthread_once(&fetch_once, fetch_algorithms);
    return sha256_impl;
}

int crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                       unsigned char out[CRYPTO_SHA256_LEN])
{
    pthread_once(&fetch_once, fetch_algorithms);
    EVP_MAC_CTX *ctx = hmac_template ? EVP_MAC_CTX_dup(hmac_template) : NULL;
    size_t outlen = 0;
    /* EVP_MAC_init refuses a zero-length key pointer of NULL; an empty key is legal HMAC, pass "" then. */
    int ok = ctx && EVP_MAC_init(ctx, keylen ? key : (const void *)"", keylen, NULL) &&
             EVP_MAC_update(ctx, data, len) && EVP_MAC_final(ctx, out, &outlen, CRYPTO_SHA256_LEN) &&
             outlen == CRYPTO_SHA256_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : -1;
}

int crypto_sha256(const void *data, size_t len, unsigned char out[CRYPTO_SHA256_LEN])
{
    unsigned int n = 0;
    const EVP_MD *md = sha256_md();
    if (!md || !EVP_Digest(data, len, out, &n, md, NULL) || n != CRYPTO_SHA256_LEN)
        return -1;
    return 0;
}

void crypto_hex(const unsigned char *bytes, size_t len, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hx[bytes[i] >> 4];
        out[2 * i + 1] = hx[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

size_t crypto_base64_encode(const void *in, size_t len, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

int crypto_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    if (len == 0 || len % 4 != 0 || len > 1u << 20)
        return -1;
    /* EVP_DecodeBlock accepts leading/trailing whitespace and counts padding as zero bytes: reject the former by
     * checking the alphabet ourselves, and subtract the padding afterwards. */
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                     c == '/';
        if (c == '=' && i >= len - 2) {
            pad++;
            continue;
        }
        if (!alpha || pad)
            return -1;
    }
    /* EVP_DecodeBlock writes 3 bytes per 4 characters, padding included: decode into a scratch buffer of that
     * size and copy only what fits, so a long text can never write past out (issue 13, item 1). */
    size_t full = len / 4 * 3;
    if (full - pad > cap)
        return -1;
    unsigned char small[96];
    unsigned char *tmp = full <= sizeof(small) ? small : malloc(full);
    if (!tmp)
        return -1;
    int n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
    int rc = -1;
    if (n >= 0 && (size_t)n == full) {
        rc = n - (int)pad;
        memcpy(out, tmp, (size_t)rc);
    }
    OPENSSL_cleanse(tmp, full);
    if (tmp != small)
        free(tmp);
    return rc;
}

bool crypto_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

uint64_t crypto_random_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&v; /* only seeds jitter; never a security boundary */
    return v;
}
