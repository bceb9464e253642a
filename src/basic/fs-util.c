/*
 * fs-util.c — the filesystem primitives that make the store crash-safe. Every publish goes
 * through a temp file in the destination directory so that a reader never sees a partial file
 * and a crash never leaves one under its final name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "fs-util.h"

int write_full(int fd, const void *buf, size_t len)
{
        const char *p = buf;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

ssize_t read_full(int fd, void *buf, size_t len)
{
        char *p = buf;
        size_t got = 0;
        while (got < len) {
                ssize_t n = read(fd, p + got, len - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        return (ssize_t)got;
}

int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
                 struct lana_error **err)
{
        _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return lana_error_setsys(err, -errno, "%s", path);
        struct lana_buf b;
        lana_buf_init(&b, max);
        char chunk[65536];
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof chunk);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        lana_buf_release(&b);
                        return lana_error_setsys(err, r, "read %s", path);
                }
                if (n == 0)
                        break;
                if (lana_buf_append(&b, chunk, (size_t)n) < 0) {
                        lana_buf_release(&b);
                        return lana_error_set(err, -E2BIG, "%s: larger than %zu bytes", path, max);
                }
        }
        *ret = lana_buf_steal(&b, ret_len);
        return 0;
}

int open_tmpfile_at(int dirfd, const char *prefix, char **ret_name, struct lana_error **err)
{
        for (int attempt = 0; attempt < 64; attempt++) {
                unsigned char rnd[6];
                if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
                        return lana_error_setsys(err, negative_errno(), "getrandom");
                char *name = xasprintf(".%s.tmp-%02x%02x%02x%02x%02x%02x", prefix, rnd[0], rnd[1],
                                       rnd[2], rnd[3], rnd[4], rnd[5]);
                int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                                0644);
                if (fd >= 0) {
                        *ret_name = name;
                        return fd;
                }
                int r = -errno;
                free(name);
                if (r != -EEXIST)
                        return lana_error_setsys(err, r, "create temporary file for %s", prefix);
        }
        return lana_error_set(err, -EEXIST, "create temporary file for %s: no free name", prefix);
}

int fsync_dirfd(int dirfd)
{
        if (fsync(dirfd) < 0 && errno != EINVAL)
                return -errno;
        return 0;
}

static int write_file_replace(int dirfd, const char *name, const void *data, size_t len,
                              mode_t mode, bool durable, struct lana_error **err)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = open_tmpfile_at(dirfd, name, &tmp, err);
        if (fd < 0)
                return fd;
        int r = write_full(fd, data, len);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r >= 0 && durable && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(dirfd, tmp, 0);
                return lana_error_setsys(err, r, "write %s", name);
        }
        if (!durable)
                return 0;
        r = fsync_dirfd(dirfd);
        if (r < 0)
                return lana_error_setsys(err, r, "sync directory of %s", name);
        return 0;
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                         struct lana_error **err)
{
        return write_file_replace(dirfd, name, data, len, mode, true, err);
}

int write_file_volatile_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                           struct lana_error **err)
{
        return write_file_replace(dirfd, name, data, len, mode, false, err);
}

char *path_simplify(const char *path, bool drop_dot)
{
        _cleanup_free_ char *copy = xstrdup(path);
        char *out = xmalloc(strlen(path) + 1);
        size_t len = 0;
        char *save = NULL;
        for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                if (drop_dot && !strcmp(t, "."))
                        continue;
                if (!strcmp(t, ".") || !strcmp(t, "..")) {
                        free(out);
                        return NULL;
                }
                if (len)
                        out[len++] = '/';
                size_t n = strlen(t);
                memcpy(out + len, t, n);
                len += n;
        }
        out[len] = '\0';
        return out;
}

static int exists_as_dir(int dirfd, const char *path)
{
        struct stat st;
        if (fstatat(dirfd, path, &st, 0) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return 0;
        errno = ENOTDIR; /* for callers that report errno */
        return -ENOTDIR;
}

/* Tries the whole path first and walks up only on ENOENT: the common case, a parent that
 * exists, costs one mkdirat() instead of one mkdirat() and one fstatat() per component. */
int mkdir_p_at(int dirfd, const char *path, mode_t mode)
{
        if (!*path)
                return 0;
        if (mkdirat(dirfd, path, mode) == 0)
                return 0;
        if (errno == EEXIST)
                return exists_as_dir(dirfd, path);
        if (errno != ENOENT)
                return -errno;
        _cleanup_free_ char *parent = xstrdup(path);
        size_t n = strlen(parent);
        while (n > 1 && parent[n - 1] == '/')
                n--;
        while (n > 0 && parent[n - 1] != '/')
                n--;
        while (n > 1 && parent[n - 1] == '/')
                n--;
        if (n == 0 || (n == 1 && parent[0] == '/'))
                return -ENOENT; /* no parent left to make: the start itself is missing */
        parent[n] = '\0';
        int r = mkdir_p_at(dirfd, parent, mode);
        if (r < 0)
                return r;
        if (mkdirat(dirfd, path, mode) == 0)
                return 0;
        return errno == EEXIST ? exists_as_dir(dirfd, path) : -errno;
}

static int rm_rf_children(int fd)
{
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                int q = rm_rf_at(dirfd(d), de->d_name);
                if (q < 0 && r == 0)
                        r = q;
        }
        closedir(d);
        return r;
}

int rm_rf_at(int dirfd, const char *path)
{
        struct stat st;
        if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode)) {
                int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return -errno;
                int r = rm_rf_children(fd);
                if (unlinkat(dirfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
                        return r < 0 ? r : -errno;
                return r;
        }
        if (unlinkat(dirfd, path, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int open_parent_dir(const char *path, bool create, char **ret_name)
{
        _cleanup_free_ char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        const char *name = slash ? slash + 1 : dir;
        if (!*name)
                return -EINVAL;
        _cleanup_free_ char *base = xstrdup(name);
        const char *d = ".";
        if (slash) {
                *slash = '\0';
                d = *dir ? dir : "/";
        }
        if (create) {
                int r = mkdir_p_at(AT_FDCWD, d, 0700);
                if (r < 0)
                        return r;
        }
        int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_name = TAKE_PTR(base);
        return fd;
}

int copy_fd(int in, int out)
{
        char buf[1 << 16];
        for (;;) {
                ssize_t n = read(in, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return 0;
                int r = write_full(out, buf, (size_t)n);
                if (r < 0)
                        return r;
        }
}

static int cmp_int(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;
        return (x > y) - (x < y);
}

static int close_span(unsigned first, unsigned last)
{
        if (first > last)
                return 0;
        if (syscall(SYS_close_range, first, last, 0) == 0)
                return 0;
        if (errno != ENOSYS && errno != EPERM)
                return -errno;
        /* No close_range (before 5.9, or a filter that refuses it): every number up to the
         * descriptor limit, which is what bounds the table. */
        struct rlimit rl;
        unsigned top = MIN(last, 1u << 20); /* the kernel's default nr_open */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
            rl.rlim_max - 1 < top)
                top = (unsigned)(rl.rlim_max - 1);
        for (unsigned fd = first; fd <= top && fd >= first; fd++)
                (void)close((int)fd);
        return 0;
}

int close_all_fds_except(const int *keep, size_t n)
{
        int sorted[16];
        size_t m = 0;
        assert(n <= ELEMENTSOF(sorted));
        for (size_t i = 0; i < n; i++)
                if (keep[i] >= 3)
                        sorted[m++] = keep[i];
        qsort(sorted, m, sizeof *sorted, cmp_int);
        unsigned next = 3;
        for (size_t i = 0; i < m; i++) {
                if ((unsigned)sorted[i] < next)
                        continue; /* listed twice */
                int r = close_span(next, (unsigned)sorted[i] - 1);
                if (r < 0)
                        return r;
                next = (unsigned)sorted[i] + 1;
        }
        return close_span(next, ~0U);
}
