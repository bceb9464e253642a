/*
 * writer.c — dispatch for the writer chain plus the two trivial sinks (fd and null). Counting of
 * bytes_in happens here so every stage reports its throughput the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>

#include "lana/writer.h"
#include "alloc.h"
#include "fs-util.h"

_public_ int lana_writer_write(struct lana_writer *w, const void *buf, size_t len,
                               struct lana_error **err)
{
        if (w->closed)
                return lana_error_set(err, -EPIPE, "%s: write after close", w->type->name);
        if (len == 0)
                return 0;
        int r = w->type->write(w, buf, len, err);
        /* one writer thread, but progress reports may read it from another: an atomic store
         * (a plain store on x86-64, no lock) keeps that read well defined */
        if (r >= 0)
                __atomic_store_n(&w->bytes_in, w->bytes_in + len, __ATOMIC_RELAXED);
        return r;
}

_public_ int lana_writer_write_swap(struct lana_writer *w, void **buf, size_t len, size_t cap,
                                    struct lana_error **err)
{
        if (!w->type->write_swap || w->closed)
                return lana_writer_write(w, *buf, len, err);
        if (len == 0)
                return 0;
        int r = w->type->write_swap(w, buf, len, cap, err);
        if (r >= 0)
                __atomic_store_n(&w->bytes_in, w->bytes_in + len, __ATOMIC_RELAXED);
        return r;
}

_public_ int lana_writer_close(struct lana_writer *w, struct lana_error **err)
{
        if (w->closed)
                return 0;
        w->closed = 1;
        return w->type->close ? w->type->close(w, err) : 0;
}

_public_ struct lana_writer *lana_writer_free(struct lana_writer *w)
{
        if (!w)
                return NULL;
        if (w->type->free)
                w->type->free(w);
        else
                free(w);
        return NULL;
}

_public_ void lana_writer_freep(struct lana_writer **w)
{
        *w = lana_writer_free(*w);
}

struct fd_writer {
        struct lana_writer base;
        int fd;
        bool writeback;
        uint64_t flushed; /* bytes handed to writeback */
};

/* Starting writeback every few MiB spreads the disk writes over the whole stream, so the final
 * fsync only waits for the last stretch instead of the whole file. */
#define WRITEBACK_STEP ((uint64_t)8 << 20)

static int fd_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err)
{
        struct fd_writer *f = (struct fd_writer *)w;
        int r = write_full(f->fd, buf, len);
        if (r < 0)
                return lana_error_setsys(err, r, "write");
        uint64_t written = w->bytes_in + len; /* bytes_in counts this write once it returns */
        if (f->writeback && written - f->flushed >= WRITEBACK_STEP) {
                /* a hint: an error here (a filesystem without it) only loses the overlap */
                (void)sync_file_range(f->fd, (off64_t)f->flushed, (off64_t)(written - f->flushed),
                                      SYNC_FILE_RANGE_WRITE);
                f->flushed = written;
        }
        return 0;
}

static const struct lana_writer_type fd_writer_type = {
        .name = "file",
        .write = fd_write,
};

_public_ struct lana_writer *lana_fd_writer_new(int fd)
{
        struct fd_writer *f = xnew(struct fd_writer, 1);
        f->base.type = &fd_writer_type;
        f->fd = fd;
        return &f->base;
}

_public_ struct lana_writer *lana_fd_writer_new_writeback(int fd)
{
        struct fd_writer *f = (struct fd_writer *)lana_fd_writer_new(fd);
        f->writeback = true;
        return &f->base;
}

static int null_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err)
{
        (void)w, (void)buf, (void)len, (void)err;
        return 0;
}

static const struct lana_writer_type null_writer_type = {
        .name = "null",
        .write = null_write,
};

_public_ struct lana_writer *lana_null_writer_new(void)
{
        struct lana_writer *w = xnew(struct lana_writer, 1);
        w->type = &null_writer_type;
        return w;
}
