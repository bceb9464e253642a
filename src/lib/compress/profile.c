/*
 * profile.c — the compression profile: algorithm, level and block size, and the versioned string
 * recorded in each layer's annotations so that a library upgrade that changes output bytes is
 * visible in the manifest rather than a silent digest drift.
 */
#include <errno.h>
#include <string.h>

#include <libdeflate.h>
#include <zstd.h>

#include "lana/compress.h"
#include "alloc.h"
#include "compress-internal.h"

_public_ int lana_compression_parse(const char *s, enum lana_compression *ret,
                                    struct lana_error **err)
{
        if (!strcmp(s, "gzip"))
                *ret = LANA_COMPRESSION_GZIP;
        else if (!strcmp(s, "zstd"))
                *ret = LANA_COMPRESSION_ZSTD;
        else if (!strcmp(s, "none"))
                *ret = LANA_COMPRESSION_NONE;
        else
                return lana_error_set(err, -EINVAL, "compression '%s': expected gzip, zstd or none",
                                      s);
        return 0;
}

_public_ const char *lana_compression_name(enum lana_compression c)
{
        switch (c) {
        case LANA_COMPRESSION_GZIP:
                return "gzip";
        case LANA_COMPRESSION_ZSTD:
                return "zstd";
        default:
                return "none";
        }
}

_public_ const char *lana_compression_media_suffix(enum lana_compression c)
{
        switch (c) {
        case LANA_COMPRESSION_GZIP:
                return "+gzip";
        case LANA_COMPRESSION_ZSTD:
                return "+zstd";
        default:
                return "";
        }
}

_public_ void lana_compress_profile_default(enum lana_compression algo,
                                            struct lana_compress_profile *ret)
{
        *ret = (struct lana_compress_profile){.algo = algo};
        if (algo == LANA_COMPRESSION_GZIP) {
                ret->level = 5; /* libdeflate 5 gives gzip -6's ratio (see docs/performance.md) */
                ret->block_size = LANA_GZIP_BLOCK_SIZE;
        } else if (algo == LANA_COMPRESSION_ZSTD) {
                ret->level = 3;
        }
}

_public_ int lana_compress_profile_validate(const struct lana_compress_profile *p,
                                            struct lana_error **err)
{
        if (p->algo == LANA_COMPRESSION_GZIP && (p->level < 1 || p->level > 12))
                return lana_error_set(err, -EINVAL, "gzip level %d: expected 1..12", p->level);
        if (p->algo == LANA_COMPRESSION_ZSTD && (p->level < 1 || p->level > ZSTD_maxCLevel()))
                return lana_error_set(err, -EINVAL, "zstd level %d: expected 1..%d", p->level,
                                      ZSTD_maxCLevel());
        return 0;
}

_public_ char *lana_compress_profile_string(const struct lana_compress_profile *p)
{
        switch (p->algo) {
        case LANA_COMPRESSION_GZIP:
                return xasprintf(
                        "lana-gzip/3 libdeflate-%s level=%d block=%zu stored-if-incompressible",
                        LIBDEFLATE_VERSION_STRING, p->level, p->block_size);
        case LANA_COMPRESSION_ZSTD:
                return xasprintf("lana-zstd/2 libzstd-%s level=%d mt job=4194304 checksum",
                                 ZSTD_versionString(), p->level);
        default:
                return xstrdup("none");
        }
}

/* Pass-through stage used for uncompressed layers so the chain has the same shape. */
static int pass_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err)
{
        return lana_writer_write(w->next, buf, len, err);
}

static const struct lana_writer_type pass_writer_type = {
        .name = "none",
        .write = pass_write,
};

_public_ int lana_compress_writer_new(const struct lana_compress_profile *p, unsigned jobs,
                                      struct lana_writer *next, struct lana_writer **ret,
                                      struct lana_error **err)
{
        int r = lana_compress_profile_validate(p, err);
        if (r < 0)
                return r;
        if (jobs < 1)
                jobs = 1;
        switch (p->algo) {
        case LANA_COMPRESSION_GZIP:
                return gzip_writer_new(p, jobs, next, ret, err);
        case LANA_COMPRESSION_ZSTD:
                return zstd_writer_new(p, jobs, next, ret, err);
        default: {
                struct lana_writer *w = xnew(struct lana_writer, 1);
                w->type = &pass_writer_type;
                w->next = next;
                *ret = w;
                return 0;
        }
        }
}
