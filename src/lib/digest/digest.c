/*
 * digest.c — SHA-256 via OpenSSL EVP, digest parsing/formatting, and the hashing writer stage.
 * This is on the hot path twice per layer (diff_id and blob digest), so updates go straight to
 * EVP with no intermediate copies.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <nettle/sha2.h>

#include "lana/digest.h"
#include "alloc.h"

struct lana_sha256 {
        EVP_MD_CTX *ctx;
};

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

/* Plain SHA-256 needs no configuration: skip reading openssl.cnf (a file read and a parse on
 * every start, and a way for the environment to swap the provider under us) and the legacy
 * tables of every cipher and digest name (~0.3 ms of a `run`), and fetch the implementation
 * once instead of on every EVP_DigestInit_ex(). */
static void sha256_init_once(void)
{
        if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
                                        OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
                                NULL) != 1)
                abort();
        sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (!sha256_md)
                abort();
}

_public_ struct lana_sha256 *lana_sha256_new(void)
{
        pthread_once(&sha256_once, sha256_init_once);
        struct lana_sha256 *h = xnew(struct lana_sha256, 1);
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, sha256_md, NULL) != 1)
                abort();
        return h;
}

_public_ void lana_sha256_update(struct lana_sha256 *h, const void *data, size_t len)
{
        if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
                abort();
}

_public_ void lana_sha256_final(struct lana_sha256 *h, struct lana_digest *ret)
{
        unsigned char raw[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (EVP_DigestFinal_ex(h->ctx, raw, &n) != 1 || n != LANA_DIGEST_RAW)
                abort();
        lana_digest_from_raw(ret, raw);
}

_public_ struct lana_sha256 *lana_sha256_free(struct lana_sha256 *h)
{
        if (!h)
                return NULL;
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
}

_public_ void lana_digest_from_raw(struct lana_digest *d, const unsigned char raw[LANA_DIGEST_RAW])
{
        static const char hexd[] = "0123456789abcdef";
        memcpy(d->raw, raw, LANA_DIGEST_RAW);
        for (int i = 0; i < LANA_DIGEST_RAW; i++) {
                d->hex[2 * i] = hexd[raw[i] >> 4];
                d->hex[2 * i + 1] = hexd[raw[i] & 15];
        }
        d->hex[2 * LANA_DIGEST_RAW] = '\0';
        memcpy(d->str, "sha256:", 7);
        memcpy(d->str + 7, d->hex, sizeof d->hex);
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

_public_ int lana_digest_parse(const char *s, struct lana_digest *ret, struct lana_error **err)
{
        if (!s || strncmp(s, "sha256:", 7) != 0)
                return lana_error_set(err, -EINVAL, "digest '%s': only sha256 is supported",
                                      s ? s : "");
        const char *h = s + 7;
        if (strlen(h) != 2 * LANA_DIGEST_RAW)
                return lana_error_set(err, -EINVAL, "digest '%s': expected 64 hex digits", s);
        unsigned char raw[LANA_DIGEST_RAW];
        for (int i = 0; i < LANA_DIGEST_RAW; i++) {
                int a = hexval(h[2 * i]), b = hexval(h[2 * i + 1]);
                if (a < 0 || b < 0)
                        return lana_error_set(err, -EINVAL,
                                              "digest '%s': not lowercase hexadecimal", s);
                raw[i] = (unsigned char)(a << 4 | b);
        }
        lana_digest_from_raw(ret, raw);
        return 0;
}

_public_ bool lana_digest_equal(const struct lana_digest *a, const struct lana_digest *b)
{
        return memcmp(a->raw, b->raw, LANA_DIGEST_RAW) == 0;
}

/* One-shot digests are of small things (manifests, configs, index files, cache keys). OpenSSL
 * spends a few hundred microseconds setting up its default provider before its first hash, the
 * largest single item of a `lana-img run` that needs no stream hashed; nettle's SHA-256 (which
 * libarchive brings along anyway) needs no set-up. The streams (layers, blobs) stay on EVP. */
_public_ void lana_digest_buffer(const void *data, size_t len, struct lana_digest *ret)
{
        struct sha256_ctx c;
        unsigned char raw[SHA256_DIGEST_SIZE];
        sha256_init(&c);
        sha256_update(&c, len, data);
        sha256_digest(&c, sizeof raw, raw);
        lana_digest_from_raw(ret, raw);
}

_public_ int lana_digest_fd(int fd, struct lana_digest *ret, uint64_t *ret_size,
                            struct lana_error **err)
{
        const size_t bufsz = 1 << 20;
        _cleanup_free_ char *buf = xmalloc(bufsz);
        struct lana_sha256 *h = lana_sha256_new();
        uint64_t total = 0;
        for (;;) {
                ssize_t n = read(fd, buf, bufsz);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        lana_sha256_free(h);
                        return lana_error_setsys(err, r, "read");
                }
                if (n == 0)
                        break;
                lana_sha256_update(h, buf, (size_t)n);
                total += (uint64_t)n;
        }
        lana_sha256_final(h, ret);
        lana_sha256_free(h);
        if (ret_size)
                *ret_size = total;
        return 0;
}

struct hash_writer {
        struct lana_writer base;
        struct lana_sha256 *h;
        struct lana_digest digest;
};

static int hash_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err)
{
        struct hash_writer *hw = (struct hash_writer *)w;
        lana_sha256_update(hw->h, buf, len);
        return w->next ? lana_writer_write(w->next, buf, len, err) : 0;
}

static int hash_write_swap(struct lana_writer *w, void **buf, size_t len, size_t cap,
                           struct lana_error **err)
{
        struct hash_writer *hw = (struct hash_writer *)w;
        lana_sha256_update(hw->h, *buf, len);
        return w->next ? lana_writer_write_swap(w->next, buf, len, cap, err) : 0;
}

static int hash_close(struct lana_writer *w, struct lana_error **err)
{
        (void)err;
        struct hash_writer *hw = (struct hash_writer *)w;
        lana_sha256_final(hw->h, &hw->digest);
        return 0;
}

static void hash_free(struct lana_writer *w)
{
        struct hash_writer *hw = (struct hash_writer *)w;
        lana_sha256_free(hw->h);
        free(hw);
}

static const struct lana_writer_type hash_writer_type = {
        .name = "sha256",
        .write = hash_write,
        .write_swap = hash_write_swap,
        .close = hash_close,
        .free = hash_free,
};

_public_ struct lana_writer *lana_hash_writer_new(struct lana_writer *next)
{
        struct hash_writer *hw = xnew(struct hash_writer, 1);
        hw->base.type = &hash_writer_type;
        hw->base.next = next;
        hw->h = lana_sha256_new();
        return &hw->base;
}

_public_ const struct lana_digest *lana_hash_writer_digest(struct lana_writer *w)
{
        return &((struct hash_writer *)w)->digest;
}
