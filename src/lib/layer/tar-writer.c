/*
 * tar-writer.c — the deterministic tar stage, built on libarchive's restricted-pax writer.
 *
 * Determinism comes from three choices: every header field is set explicitly from the plan, the
 * archive is unblocked (no padding to 10 KiB records, so the end is always two 512-byte zero
 * blocks), and libarchive's charset conversion runs under a fixed thread-local C.UTF-8 locale so
 * the process's LANG/LC_ALL can never change how a name is encoded.
 *
 * File contents are streamed in 1 MiB reads straight into the writer chain; nothing is held per
 * layer beyond one read buffer.
 */
#include <errno.h>
#include <stdbool.h>
#include <locale.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "lana/layer.h"
#include "alloc.h"

#define READ_CHUNK ((size_t)1 << 20)

struct lana_tar_writer {
        struct archive *a;
        struct lana_writer *next;
        struct lana_error *cb_err; /* error raised inside the write callback */
        locale_t loc;
        char *buf;
        bool finished;
        bool discard; /* freeing an unfinished archive: swallow what libarchive flushes */
};

static la_ssize_t tar_cb_write(struct archive *a, void *data, const void *buf, size_t len)
{
        (void)a;
        struct lana_tar_writer *t = data;
        if (t->discard)
                return (la_ssize_t)len;
        if (lana_writer_write(t->next, buf, len, &t->cb_err) < 0)
                return -1;
        return (la_ssize_t)len;
}

static int tar_fail(struct lana_tar_writer *t, const char *what, struct lana_error **err)
{
        if (t->cb_err) {
                if (err) {
                        lana_error_free(*err);
                        *err = TAKE_PTR(t->cb_err);
                        return (*err)->code;
                }
                int code = t->cb_err->code;
                t->cb_err = lana_error_free(t->cb_err);
                return code;
        }
        return lana_error_set(err, -EIO, "tar: %s: %s", what, archive_error_string(t->a));
}

/* Runs libarchive calls under the fixed locale, restoring the caller's afterwards. */
#define WITH_LOCALE(t)                                                                             \
        for (locale_t _old = uselocale((t)->loc), *_once = &_old; _once;                           \
             uselocale(_old), _once = NULL)

_public_ int lana_tar_writer_new(struct lana_writer *next, struct lana_tar_writer **ret,
                                 struct lana_error **err)
{
        struct lana_tar_writer *t = xnew(struct lana_tar_writer, 1);
        t->next = next;
        t->loc = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
        if (!t->loc)
                t->loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        if (!t->loc) {
                free(t);
                return lana_error_setsys(err, negative_errno(), "tar: create locale");
        }
        t->a = archive_write_new();
        if (!t->a)
                abort();
        int r = ARCHIVE_OK;
        WITH_LOCALE(t)
        {
                if (archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
                    archive_write_set_bytes_per_block(t->a, 0) != ARCHIVE_OK ||
                    archive_write_open2(t->a, t, NULL, tar_cb_write, NULL, NULL) != ARCHIVE_OK)
                        r = ARCHIVE_FATAL;
        }
        if (r != ARCHIVE_OK) {
                int q = tar_fail(t, "open", err);
                lana_tar_writer_free(t);
                return q;
        }
        t->buf = xmalloc(READ_CHUNK + 1); /* + 1: see lana_tar_writer_add() */
        *ret = t;
        return 0;
}

static int tar_header(struct lana_tar_writer *t, const struct lana_tar_entry *e,
                      struct lana_error **err)
{
        struct archive_entry *ae = archive_entry_new();
        if (!ae)
                abort();
        int r = 0;
        WITH_LOCALE(t)
        {
                archive_entry_set_pathname_utf8(ae, e->path);
                switch (e->type) {
                case LANA_TAR_FILE:
                        archive_entry_set_filetype(ae, AE_IFREG);
                        archive_entry_set_size(ae, (la_int64_t)e->size);
                        break;
                case LANA_TAR_DIR:
                        archive_entry_set_filetype(ae, AE_IFDIR);
                        archive_entry_set_size(ae, 0);
                        break;
                case LANA_TAR_SYMLINK:
                        archive_entry_set_filetype(ae, AE_IFLNK);
                        archive_entry_set_size(ae, 0);
                        archive_entry_set_symlink_utf8(ae, e->link);
                        break;
                }
                archive_entry_set_perm(ae, e->mode & 07777);
                archive_entry_set_uid(ae, e->uid);
                archive_entry_set_gid(ae, e->gid);
                archive_entry_set_mtime(ae, e->mtime, 0);
                if (archive_write_header(t->a, ae) != ARCHIVE_OK)
                        r = -1;
        }
        archive_entry_free(ae);
        if (r < 0)
                return tar_fail(t, e->path, err);
        return 0;
}

static int tar_data(struct lana_tar_writer *t, const char *path, const void *buf, size_t len,
                    struct lana_error **err)
{
        la_ssize_t n;
        WITH_LOCALE(t) n = archive_write_data(t->a, buf, len);
        if (n < 0 || (size_t)n != len)
                return tar_fail(t, path, err);
        return 0;
}

_public_ int lana_tar_writer_add(struct lana_tar_writer *t, const struct lana_tar_entry *e,
                                 int data_fd, struct lana_error **err)
{
        int r = tar_header(t, e, err);
        if (r < 0 || e->type != LANA_TAR_FILE)
                return r;
        /* The last read asks for one byte more than is left: getting it means the file grew.
         * A file that fits in one chunk (most of them) is thus read, and checked, in one call. */
        uint64_t left = e->size;
        for (;;) {
                size_t want = left < READ_CHUNK ? (size_t)left + 1 : READ_CHUNK;
                ssize_t n = read(data_fd, t->buf, want);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return lana_error_setsys(err, -errno, "read %s", e->path);
                }
                if ((uint64_t)n > left)
                        return lana_error_set(err, -EIO, "%s: file grew while being read", e->path);
                if (n == 0 && left > 0)
                        return lana_error_set(err, -EIO, "%s: file shrank while being read",
                                              e->path);
                if (n == 0)
                        return 0;
                r = tar_data(t, e->path, t->buf, (size_t)n, err);
                if (r < 0)
                        return r;
                left -= (uint64_t)n;
                /* a short read that ends exactly at the size: the end of the file was seen */
                if (left == 0 && (size_t)n < want)
                        return 0;
        }
}

_public_ int lana_tar_writer_add_data(struct lana_tar_writer *t, const struct lana_tar_entry *e,
                                      const void *data, struct lana_error **err)
{
        int r = tar_header(t, e, err);
        if (r < 0 || e->type != LANA_TAR_FILE || e->size == 0)
                return r;
        return tar_data(t, e->path, data, (size_t)e->size, err);
}

_public_ int lana_tar_writer_finish(struct lana_tar_writer *t, struct lana_error **err)
{
        int r;
        WITH_LOCALE(t) r = archive_write_close(t->a);
        if (r != ARCHIVE_OK)
                return tar_fail(t, "finish", err);
        t->finished = true;
        return 0;
}

_public_ struct lana_tar_writer *lana_tar_writer_free(struct lana_tar_writer *t)
{
        if (!t)
                return NULL;
        if (t->a) {
                /* An unfinished archive must not flush a trailer into a half-written stream;
                 * closing normally (bytes discarded) lets libarchive free all it holds. */
                t->discard = !t->finished;
                WITH_LOCALE(t) archive_write_free(t->a);
        }
        if (t->loc)
                freelocale(t->loc);
        lana_error_free(t->cb_err);
        free(t->buf);
        free(t);
        return NULL;
}
