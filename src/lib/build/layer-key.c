/*
 * layer-key.c — cache keys for layers. A key is a SHA-256 over everything that decides a layer's
 * bytes: the key format version, the tar writer version, the compression profile, the timestamp
 * and, for every entry in order, its header fields plus the identity of its content.
 *
 * Two identities exist. The stat key uses (device, inode, size, mtime_ns, ctime_ns) from the
 * lstat the plan already made of each file, so a rebuild where nothing changed reads no file
 * contents and makes no further syscall per file. ctime cannot be set
 * from user space, so `touch -d` games that restore size and mtime after a content change still
 * change the key. The content key hashes the bytes; the builder falls back to it when the stat key
 * misses on a layer built before, so a touched-but-identical file does not force recompression.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "build-internal.h"

#define KEY_VERSION "lana-layer-key/1 lana-tar/1"

static void put_str(struct lana_sha256 *h, const char *s)
{
        lana_sha256_update(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

static void put_fmt(struct lana_sha256 *h, const char *fmt, ...) _printf_(2, 3);
static void put_fmt(struct lana_sha256 *h, const char *fmt, ...)
{
        char buf[256];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        lana_sha256_update(h, buf, (size_t)MIN(n, (int)sizeof buf - 1) + 1);
}

static void put_header(struct lana_sha256 *h, const char *kind, const char *profile, int64_t epoch)
{
        put_str(h, KEY_VERSION);
        put_str(h, kind);
        put_str(h, profile);
        put_fmt(h, "%" PRId64, epoch);
}

static void put_entry(struct lana_sha256 *h, const struct plan_entry *e)
{
        put_str(h, e->path);
        put_fmt(h, "%d %o %" PRIu32 " %" PRIu32 " %" PRIu64, (int)e->type, (unsigned)e->mode,
                e->uid, e->gid, e->size);
        put_str(h, e->link);
}

void layer_stat_key(const struct plan_layer *l, const char *profile, int64_t epoch,
                    struct lana_digest *ret)
{
        struct lana_sha256 *h = lana_sha256_new();
        put_header(h, "stat", profile, epoch);
        for (size_t i = 0; i < l->n; i++) {
                const struct plan_entry *e = &l->e[i];
                put_entry(h, e);
                if (e->type != LANA_TAR_FILE)
                        continue;
                /* the identity the plan read: no second lstat per file */
                put_str(h, e->host);
                put_fmt(h, "%ju %ju %jd %jd.%09ld %jd.%09ld", (uintmax_t)e->dev, (uintmax_t)e->ino,
                        (intmax_t)e->size, (intmax_t)e->mtime.tv_sec, e->mtime.tv_nsec,
                        (intmax_t)e->ctime.tv_sec, e->ctime.tv_nsec);
        }
        lana_sha256_final(h, ret);
        lana_sha256_free(h);
}

int layer_content_key(const struct plan_layer *l, const char *profile, int64_t epoch,
                      struct lana_digest *ret, struct lana_error **err)
{
        struct lana_sha256 *h = lana_sha256_new();
        put_header(h, "content", profile, epoch);
        int r = 0;
        for (size_t i = 0; r >= 0 && i < l->n; i++) {
                const struct plan_entry *e = &l->e[i];
                put_entry(h, e);
                if (e->type != LANA_TAR_FILE)
                        continue;
                _cleanup_close_ int fd = open(e->host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                struct lana_digest d;
                uint64_t size = 0;
                if (fd < 0) {
                        r = lana_error_setsys(err, -errno, "%s: %s", e->origin, e->host);
                        break;
                }
                (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
                r = lana_digest_fd(fd, &d, &size, err);
                if (r >= 0 && size != e->size)
                        r = lana_error_set(err, -EIO, "%s: %s changed during the build", e->origin,
                                           e->host);
                if (r >= 0)
                        put_str(h, d.hex);
        }
        if (r >= 0)
                lana_sha256_final(h, ret);
        lana_sha256_free(h);
        return r;
}

void layer_slot(const char *spec_path, const char *layer, const char *platform,
                struct lana_digest *ret)
{
        struct lana_sha256 *h = lana_sha256_new();
        put_str(h, "lana-layer-slot/1");
        put_str(h, spec_path);
        put_str(h, layer);
        put_str(h, platform);
        lana_sha256_final(h, ret);
        lana_sha256_free(h);
}
