/*
 * unpack.c — the safe layer reader: turns a (compressed) layer blob into a snapshot directory.
 *
 * Two libarchive readers are chained: the outer one only decompresses (format "raw"), the inner
 * one parses tar from the bytes the outer produces, and everything in between is hashed so the
 * diff_id is verified on the same pass. Every entry is placed with fd-relative calls under the
 * snapshot root: parents are walked one component at a time with O_NOFOLLOW (a symlink in the
 * way refuses the entry), ".." and absolute paths are confined, hardlink targets are resolved
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) and must be regular files.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lana/layer.h"
#include "alloc.h"
#include "fs-util.h"

#define MAX_PATH_LEN 4096
#define MAX_DEPTH 256
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

struct unpack {
        struct archive *outer, *inner;
        struct lana_sha256 *h;
        uint64_t bytes, max_bytes;
        bool too_big;
        int root;
        const struct lana_unpack_options *o;
        struct lana_unpack_stats st;
        const char *outer_buf;
};

static la_ssize_t inner_read(struct archive *a, void *ud, const void **buf)
{
        (void)a;
        struct unpack *u = ud;
        const void *block;
        size_t size;
        la_int64_t off;
        int r = archive_read_data_block(u->outer, &block, &size, &off);
        if (r == ARCHIVE_EOF)
                return 0;
        if (r != ARCHIVE_OK) {
                archive_set_error(a, EIO, "%s", archive_error_string(u->outer));
                return -1;
        }
        u->bytes += size;
        if (u->bytes > u->max_bytes) {
                u->too_big = true;
                archive_set_error(a, EFBIG, "layer larger than the limit");
                return -1;
        }
        lana_sha256_update(u->h, block, size);
        *buf = block;
        return (la_ssize_t)size;
}

/* Normalises an entry path: strips "./" and leading "/", rejects ".." and empty components.
 * Returns NULL for the root itself or an invalid path. */
static char *clean_path(const char *in, bool *ret_invalid)
{
        *ret_invalid = false;
        if (strlen(in) > MAX_PATH_LEN) {
                *ret_invalid = true;
                return NULL;
        }
        char *out = path_simplify(in, true);
        if (!out) {
                *ret_invalid = true;
                return NULL;
        }
        if (!*out) {
                free(out);
                return NULL;
        }
        return out;
}

/* Opens (creating as needed) the directory `path` under root without following any symlink.
 * A symlink or non-directory in the way fails with -ENOTDIR/-ELOOP. */
static int open_dir_beneath(int root, const char *path, bool create)
{
        int fd = fcntl(root, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        if (!*path)
                return fd;
        _cleanup_free_ char *copy = xstrdup(path);
        char *save = NULL;
        int depth = 0;
        for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                if (++depth > MAX_DEPTH) {
                        close(fd);
                        return -ELOOP;
                }
                int next = openat(fd, t, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0 && errno == ENOENT && create) {
                        if (mkdirat(fd, t, 0755) < 0 && errno != EEXIST) {
                                int r = -errno;
                                close(fd);
                                return r;
                        }
                        next = openat(fd, t, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                int r = -errno;
                close(fd);
                if (next < 0)
                        return r == -ELOOP || r == -ENOTDIR ? -ENOTDIR : r;
                fd = next;
        }
        return fd;
}

static void split(const char *path, char **ret_dir, const char **ret_base)
{
        const char *slash = strrchr(path, '/');
        *ret_dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
        *ret_base = slash ? slash + 1 : path;
}

/* Removes whatever is at parent/name (a directory recursively), unless it is a directory and
 * `keep_dir` is set. */
static int clear_slot(int parent, const char *name, bool keep_dir)
{
        struct stat st;
        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode) && keep_dir)
                return 1;
        return rm_rf_at(parent, name);
}

static int set_owner_mode_time(struct unpack *u, int parent, const char *name,
                               struct archive_entry *ae, bool is_link)
{
        if (u->o->chown && fchownat(parent, name, (uid_t)archive_entry_uid(ae),
                                    (gid_t)archive_entry_gid(ae), AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!is_link && fchmodat(parent, name, archive_entry_perm(ae) & 07777, 0) < 0)
                return -errno;
        struct timespec ts[2] = {
                {.tv_sec = archive_entry_mtime(ae), .tv_nsec = 0},
                {.tv_sec = archive_entry_mtime(ae), .tv_nsec = 0},
        };
        (void)utimensat(parent, name, ts, AT_SYMLINK_NOFOLLOW);
        return 0;
}

/* Copies the entry's data into parent/name. A stream that ends or breaks inside the data (a
 * truncated or corrupt layer) is -EBADMSG with libarchive's reason in *ret_why; a failed write
 * is the write's errno. */
static int write_file(struct unpack *u, int parent, const char *name, struct archive_entry *ae,
                      const char **ret_why)
{
        int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        const void *buf;
        size_t size;
        la_int64_t off;
        int r = 0, ar;
        while ((ar = archive_read_data_block(u->inner, &buf, &size, &off)) == ARCHIVE_OK) {
                ssize_t n = pwrite(fd, buf, size, off);
                if (n < 0 || (size_t)n != size) {
                        r = n < 0 ? -errno : -EIO;
                        break;
                }
        }
        if (r >= 0 && ar != ARCHIVE_EOF) {
                const char *why = archive_error_string(u->inner);
                *ret_why = why && *why ? why : "the data ends early";
                r = u->too_big ? -EFBIG : -EBADMSG;
        }
        if (r >= 0 && ftruncate(fd, archive_entry_size(ae)) < 0)
                r = -errno;
        close(fd);
        return r;
}

static int place_hardlink(struct unpack *u, int parent, const char *name, const char *target)
{
        bool invalid;
        _cleanup_free_ char *t = clean_path(target, &invalid);
        if (!t)
                return -EXDEV;
        struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                          RESOLVE_NO_MAGICLINKS};
        int tfd = (int)syscall(SYS_openat2, u->root, t, &how, sizeof how);
        if (tfd < 0)
                return errno == EXDEV || errno == ELOOP ? -EXDEV : -errno;
        struct stat st;
        int r = 0;
        if (fstat(tfd, &st) < 0)
                r = -errno;
        else if (!S_ISREG(st.st_mode))
                r = -EXDEV;
        if (r >= 0) {
                char proc[64];
                snprintf(proc, sizeof proc, "/proc/self/fd/%d", tfd);
                if (linkat(AT_FDCWD, proc, parent, name, AT_SYMLINK_FOLLOW) < 0)
                        r = -errno;
        }
        close(tfd);
        return r;
}

static int whiteout(struct unpack *u, int parent, const char *name)
{
        u->st.whiteouts++;
        if (u->o->xattr_whiteouts) {
                /* rootless overlay (userxattr): an empty file marked as a whiteout */
                int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                0000);
                if (fd < 0)
                        return -errno;
                int r = fsetxattr(fd, "user.overlay.whiteout", "y", 1, 0) < 0 ? -errno : 0;
                close(fd);
                if (r >= 0 && fsetxattr(parent, "user.overlay.whiteouts", "y", 1, 0) < 0)
                        r = -errno;
                return r;
        }
        if (mknodat(parent, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
                return -errno;
        return 0;
}

static int opaque(struct unpack *u, int dirfd)
{
        const char *attr = u->o->xattr_whiteouts ? "user.overlay.opaque" : "trusted.overlay.opaque";
        if (fsetxattr(dirfd, attr, "y", 1, 0) < 0)
                return -errno;
        return 0;
}

static int place_entry(struct unpack *u, struct archive_entry *ae, struct lana_error **err)
{
        const char *raw = archive_entry_pathname(ae);
        bool invalid;
        _cleanup_free_ char *path = clean_path(raw ? raw : "", &invalid);
        if (invalid)
                return lana_error_set(err, -EINVAL, "layer entry '%.200s%s': %s", raw,
                                      strlen(raw) > 200 ? "..." : "",
                                      strlen(raw) > MAX_PATH_LEN ? "path too long"
                                                                 : "path escapes the layer");
        if (!path)
                return 0; /* the root itself */
        _cleanup_free_ char *dir = NULL;
        const char *base;
        split(path, &dir, &base);
        _cleanup_close_ int parent = open_dir_beneath(u->root, dir, true);
        if (parent < 0)
                return lana_error_set(err, -EINVAL, "layer entry '%s': %s", raw,
                                      parent == -ENOTDIR ? "a parent is a symlink or a file"
                                                         : strerror(-parent));
        if (!strcmp(base, WH_OPAQUE)) {
                int r = opaque(u, parent);
                return r < 0 ? lana_error_setsys(err, r, "layer entry '%s': opaque", raw) : 0;
        }
        if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX))) {
                const char *victim = base + strlen(WH_PREFIX);
                if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
                        return lana_error_set(err, -EINVAL, "layer entry '%s': bad whiteout", raw);
                int r = clear_slot(parent, victim, false);
                if (r >= 0)
                        r = whiteout(u, parent, victim);
                return r < 0 ? lana_error_setsys(err, r, "layer entry '%s': whiteout", raw) : 0;
        }
        mode_t type = archive_entry_filetype(ae);
        const char *hl = archive_entry_hardlink(ae);
        int r = clear_slot(parent, base, type == AE_IFDIR && !hl);
        if (r < 0)
                return lana_error_setsys(err, r, "layer entry '%s'", raw);
        bool is_link = false;
        if (hl) {
                r = place_hardlink(u, parent, base, hl);
                if (r == -EXDEV)
                        return lana_error_set(err, -EINVAL,
                                              "layer entry '%s': hardlink to '%s' "
                                              "leaves the layer or is not a regular file",
                                              raw, hl);
                if (r == -ENOENT || r == -ENOTDIR)
                        return lana_error_set(err, -EINVAL,
                                              "layer entry '%s': hardlink to '%s', which no "
                                              "earlier entry of the layer made",
                                              raw, hl);
                return r < 0 ? lana_error_setsys(err, r, "layer entry '%s': hardlink to '%s'", raw,
                                                 hl)
                             : 0;
        }
        switch (type) {
        case AE_IFREG: {
                const char *why = NULL;
                r = write_file(u, parent, base, ae, &why);
                if (why)
                        return lana_error_set(err, r == -EFBIG ? -EFBIG : -EINVAL,
                                              "layer entry '%s': %s (a truncated or corrupt layer)",
                                              raw, why);
                break;
        }
        case AE_IFDIR:
                if (r == 0 && mkdirat(parent, base, 0755) < 0)
                        r = -errno;
                else
                        r = 0;
                break;
        case AE_IFLNK: {
                const char *target = archive_entry_symlink(ae);
                if (!target || strlen(target) > MAX_PATH_LEN)
                        return lana_error_set(err, -EINVAL, "layer entry '%s': bad symlink", raw);
                r = symlinkat(target, parent, base) < 0 ? -errno : 0;
                is_link = true;
                break;
        }
        case AE_IFIFO:
                r = mkfifoat(parent, base, 0600) < 0 ? -errno : 0;
                break;
        case AE_IFCHR:
        case AE_IFBLK:
                if (!u->o->allow_devices) {
                        u->st.skipped_devices++;
                        return 0;
                }
                r = mknodat(parent, base, type | 0600, archive_entry_rdev(ae)) < 0 ? -errno : 0;
                break;
        default:
                u->st.skipped_devices++;
                return 0;
        }
        if (r >= 0)
                r = set_owner_mode_time(u, parent, base, ae, is_link);
        if (r < 0)
                return lana_error_setsys(err, r, "layer entry '%s'", raw);
        u->st.entries++;
        return 0;
}

_public_ int lana_layer_unpack(int blob_fd, int dirfd, const struct lana_digest *diff_id,
                               const struct lana_unpack_options *o,
                               struct lana_unpack_stats *ret_stats, struct lana_error **err)
{
        static const struct lana_unpack_options defaults = {0};
        struct unpack u = {.root = dirfd, .o = o ? o : &defaults};
        u.max_bytes = u.o->max_bytes ? u.o->max_bytes : (uint64_t)64 << 30;
        uint64_t max_entries = u.o->max_entries ? u.o->max_entries : (uint64_t)4 << 20;
        u.h = lana_sha256_new();
        u.outer = archive_read_new();
        u.inner = archive_read_new();
        /* OCI layers are tar, tar+gzip or tar+zstd: no other decompressor is exposed to blobs */
        archive_read_support_filter_gzip(u.outer);
        archive_read_support_filter_zstd(u.outer);
        archive_read_support_format_raw(u.outer);
        archive_read_support_format_tar(u.inner);
        archive_read_support_format_gnutar(u.inner);
        int r = 0;
        struct archive_entry *ae;
        _cleanup_free_ char *last = NULL; /* the last entry read, to say where a layer breaks */
        if (archive_read_open_fd(u.outer, blob_fd, 1 << 20) != ARCHIVE_OK ||
            archive_read_next_header(u.outer, &ae) != ARCHIVE_OK)
                r = lana_error_set(err, -EINVAL, "layer: %s", archive_error_string(u.outer));
        if (r >= 0 && archive_read_open(u.inner, &u, NULL, inner_read, NULL) != ARCHIVE_OK)
                r = lana_error_set(err, -EINVAL, "layer: %s", archive_error_string(u.inner));
        while (r >= 0) {
                int ar = archive_read_next_header(u.inner, &ae);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
                        r = lana_error_set(err, u.too_big ? -EFBIG : -EINVAL, "layer: %s%s%s%s",
                                           last ? "after entry '" : "", last ? last : "",
                                           last ? "': " : "", archive_error_string(u.inner));
                        break;
                }
                free(last);
                last = xstrdup(archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "");
                if (u.st.entries + u.st.whiteouts + u.st.skipped_devices >= max_entries) {
                        r = lana_error_set(err, -EFBIG, "layer: more than %ju entries",
                                           (uintmax_t)max_entries);
                        break;
                }
                r = place_entry(&u, ae, err);
        }
        /* hash whatever follows the end-of-archive marker too: the diff_id covers it all */
        if (r >= 0) {
                const void *b;
                size_t n;
                la_int64_t off;
                while (archive_read_data_block(u.outer, &b, &n, &off) == ARCHIVE_OK) {
                        lana_sha256_update(u.h, b, n);
                        u.bytes += n;
                }
        }
        struct lana_digest got;
        lana_sha256_final(u.h, &got);
        if (r >= 0 && diff_id && !lana_digest_equal(&got, diff_id))
                r = lana_error_set(err, -EBADMSG,
                                   "layer: uncompressed content hashes to %s, "
                                   "diff_id says %s",
                                   got.str, diff_id->str);
        u.st.bytes = u.bytes;
        if (ret_stats)
                *ret_stats = u.st;
        archive_read_free(u.inner);
        archive_read_free(u.outer);
        lana_sha256_free(u.h);
        return r;
}
