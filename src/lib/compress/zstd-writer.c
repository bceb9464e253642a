/*
 * zstd-writer.c — zstd stage using libzstd's multithreaded streaming mode.
 *
 * We always set nbWorkers >= 1: in that mode the frame layout depends on the fixed job size and
 * parameters, not on the number of workers, so `--jobs 1` and `--jobs 8` give identical bytes.
 * The content checksum is on so decoders verify what they unpack.
 */
#include <errno.h>

#include <zstd.h>

#include "alloc.h"
#include "compress-internal.h"

/* Fixed job size: part of the output format (recorded in the profile), and with the worker cap it
 * bounds memory: each worker holds about two jobs of input and output. The output does not depend
 * on the number of workers, so capping them never changes bytes. */
#define ZSTD_JOB_SIZE (4 << 20)
#define ZSTD_MAX_WORKERS 4u

struct zstd_writer {
        struct lana_writer base;
        ZSTD_CCtx *cctx;
        void *out;
        size_t out_cap;
};

static int zstd_pump(struct zstd_writer *z, ZSTD_inBuffer *in, ZSTD_EndDirective mode,
                     struct lana_error **err)
{
        for (;;) {
                ZSTD_outBuffer out = {z->out, z->out_cap, 0};
                size_t rem = ZSTD_compressStream2(z->cctx, &out, in, mode);
                if (ZSTD_isError(rem))
                        return lana_error_set(err, -EIO, "zstd: %s", ZSTD_getErrorName(rem));
                if (out.pos > 0) {
                        int r = lana_writer_write(z->base.next, z->out, out.pos, err);
                        if (r < 0)
                                return r;
                }
                if (mode == ZSTD_e_continue ? in->pos == in->size : rem == 0)
                        return 0;
        }
}

static int zstd_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err)
{
        ZSTD_inBuffer in = {buf, len, 0};
        return zstd_pump((struct zstd_writer *)w, &in, ZSTD_e_continue, err);
}

static int zstd_close(struct lana_writer *w, struct lana_error **err)
{
        ZSTD_inBuffer in = {NULL, 0, 0};
        return zstd_pump((struct zstd_writer *)w, &in, ZSTD_e_end, err);
}

static void zstd_free(struct lana_writer *w)
{
        struct zstd_writer *z = (struct zstd_writer *)w;
        ZSTD_freeCCtx(z->cctx);
        free(z->out);
        free(z);
}

static const struct lana_writer_type zstd_writer_type = {
        .name = "zstd",
        .write = zstd_write,
        .close = zstd_close,
        .free = zstd_free,
};

int zstd_writer_new(const struct lana_compress_profile *p, unsigned jobs, struct lana_writer *next,
                    struct lana_writer **ret, struct lana_error **err)
{
        struct zstd_writer *z = xnew(struct zstd_writer, 1);
        z->base.type = &zstd_writer_type;
        z->base.next = next;
        z->cctx = ZSTD_createCCtx();
        if (!z->cctx)
                abort();
        z->out_cap = ZSTD_CStreamOutSize();
        z->out = xmalloc(z->out_cap);
        size_t e;
        if (ZSTD_isError(e = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, p->level)) ||
            ZSTD_isError(e = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1)) ||
            ZSTD_isError(e = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 0)) ||
            ZSTD_isError(e = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_jobSize, ZSTD_JOB_SIZE)) ||
            ZSTD_isError(e = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_nbWorkers,
                                                    (int)MIN(jobs, ZSTD_MAX_WORKERS)))) {
                zstd_free(&z->base);
                return lana_error_set(err, -ENOTSUP, "zstd: %s (multithreading required)",
                                      ZSTD_getErrorName(e));
        }
        *ret = &z->base;
        return 0;
}
