/*
 * lana/digest.h — SHA-256 content digests ("sha256:<64 hex>") and the hashing writer.
 *
 * Hashing goes through OpenSSL's EVP interface so the SHA-NI / ARMv8 crypto paths are used where
 * the CPU has them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lana/error.h"
#include "lana/writer.h"

#define LANA_DIGEST_RAW 32

struct lana_digest {
        unsigned char raw[LANA_DIGEST_RAW];
        char hex[2 * LANA_DIGEST_RAW + 1];     /* lowercase hex */
        char str[7 + 2 * LANA_DIGEST_RAW + 1]; /* "sha256:" + hex */
};

/* Parses "sha256:<64 lowercase hex>". Other algorithms and malformed strings fail with -EINVAL. */
int lana_digest_parse(const char *s, struct lana_digest *ret, struct lana_error **err);
/* Fills hex/str from raw. */
void lana_digest_from_raw(struct lana_digest *d, const unsigned char raw[LANA_DIGEST_RAW]);
bool lana_digest_equal(const struct lana_digest *a, const struct lana_digest *b);
/* One-shot digest of a buffer. */
void lana_digest_buffer(const void *data, size_t len, struct lana_digest *ret);
/* Digest of an fd's remaining bytes; ret_size receives the byte count. */
int lana_digest_fd(int fd, struct lana_digest *ret, uint64_t *ret_size, struct lana_error **err);

struct lana_sha256;
struct lana_sha256 *lana_sha256_new(void);
void lana_sha256_update(struct lana_sha256 *h, const void *data, size_t len);
void lana_sha256_final(struct lana_sha256 *h, struct lana_digest *ret);
struct lana_sha256 *lana_sha256_free(struct lana_sha256 *h);

/* A writer that hashes everything it sees and forwards it to `next` (may be NULL). After
 * lana_writer_close(), lana_hash_writer_digest() returns the digest. */
struct lana_writer *lana_hash_writer_new(struct lana_writer *next);
const struct lana_digest *lana_hash_writer_digest(struct lana_writer *w);
