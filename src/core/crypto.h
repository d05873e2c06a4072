/* crypto: the few primitives synchub needs, on OpenSSL 3: HMAC-SHA256 (EVP_MAC), SHA-256, base64, constant-time
 * comparison and a random seed. No key management here: callers pass key bytes they borrowed from the config. */
#ifndef SYNCHUB_CRYPTO_H
#define SYNCHUB_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_SHA256_B64_LEN 44 /* base64 of 32 bytes, with its one "=" */

/* HMAC-SHA256 of data under key into out[32]. 0, or -1 if OpenSSL fails. Thread-safe. */
int crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                       unsigned char out[CRYPTO_SHA256_LEN]);

/* SHA-256 of data into out[32]. 0 or -1. Thread-safe. */
int crypto_sha256(const void *data, size_t len, unsigned char out[CRYPTO_SHA256_LEN]);

/* Lower-case hex of bytes into out (2*len+1 bytes). */
void crypto_hex(const unsigned char *bytes, size_t len, char *out);

/* Standard base64 (with padding) of in into out (4*ceil(len/3)+1 bytes). Returns the text length. */
size_t crypto_base64_encode(const void *in, size_t len, char *out);

/* Decode standard base64 text (padding required, no whitespace) into out, which holds cap bytes. Returns the
 * decoded length, or -1 if the text is not valid base64 or would not fit in cap (nothing is written then): the
 * caller's buffer is never overrun whatever the sender put in the text. */
int crypto_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap);

/* Constant-time equality of two byte strings of the same length (CRYPTO_memcmp). Lengths differing → false. */
bool crypto_equal(const void *a, size_t alen, const void *b, size_t blen);

/* 64 random bits from the kernel, for seeding per-thread jitter generators (never for ids). */
uint64_t crypto_random_u64(void);

#endif
