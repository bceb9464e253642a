/*
 * rootfs-copy.c — the fallback when overlayfs cannot be mounted (a kernel without it, a
 * filesystem it refuses as upper dir): the snapshots are copied, bottom layer first, into the
 * container's own directory, applying each layer's whiteouts (a 0/0 character device or the
 * "overlay.whiteout" xattr removes the path below it; the "overlay.opaque" xattr empties a
 * directory first). Everything is fd-relative and nothing is followed: symlinks are copied as
 * symlinks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "alloc.h"
#include "fs-util.h"
#include "runtime-internal.h"

static bool has_xattr(int dirfd, const char *name, const char *attr)
{
        char path[64], v[4];
        int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return false;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        char full[96];
        snprintf(full, sizeof full, "trusted.%s", attr);
        bool yes = getxattr(path, full, v, sizeof v) > 0;
        snprintf(full, sizeof full, "user.%s", attr);
        yes = yes || getxattr(path, full, v, sizeof v) > 0;
        close(fd);
        return yes;
}

static int copy_entry(int src, int dst, const char *name, const struct stat *st);

static int copy_dir(int src, int dst, int depth)
{
        if (depth > 256)
                return -ELOOP;
        int fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                closep(&fd);
                return -errno;
        }
        int r = 0;
        struct dirent *de;
        while (r >= 0 && (de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                struct stat st;
                if (fstatat(src, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                /* a whiteout removes what lower layers put there */
                if ((S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) ||
                    (S_ISREG(st.st_mode) && st.st_size == 0 &&
                     has_xattr(src, de->d_name, "overlay.whiteout"))) {
                        r = rm_rf_at(dst, de->d_name);
                        continue;
                }
                r = copy_entry(src, dst, de->d_name, &st);
                if (r >= 0 && S_ISDIR(st.st_mode)) {
                        int s2 = openat(src, de->d_name,
                                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        int d2 = openat(dst, de->d_name,
                                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (s2 < 0 || d2 < 0)
                                r = -errno;
                        else
                                r = copy_dir(s2, d2, depth + 1);
                        closep(&s2);
                        closep(&d2);
                }
        }
        closedir(d);
        return r;
}

static int copy_entry(int src, int dst, const char *name, const struct stat *st)
{
        struct stat old;
        bool exists = fstatat(dst, name, &old, AT_SYMLINK_NOFOLLOW) == 0;
        if (S_ISDIR(st->st_mode)) {
                if (exists && !S_ISDIR(old.st_mode) && rm_rf_at(dst, name) < 0)
                        return -errno;
                if (exists && S_ISDIR(old.st_mode) && has_xattr(src, name, "overlay.opaque")) {
                        /* opaque: nothing from below survives */
                        int r = rm_rf_at(dst, name);
                        if (r < 0)
                                return r;
                        exists = false;
                }
                if ((!exists || !S_ISDIR(old.st_mode)) && mkdirat(dst, name, 0700) < 0 &&
                    errno != EEXIST)
                        return -errno;
        } else {
                if (exists && rm_rf_at(dst, name) < 0)
                        return -errno;
                if (S_ISREG(st->st_mode)) {
                        _cleanup_close_ int in =
                                openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                        _cleanup_close_ int out =
                                openat(dst, name,
                                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                        if (in < 0 || out < 0)
                                return -errno;
                        int r = copy_fd(in, out);
                        if (r < 0)
                                return r;
                } else if (S_ISLNK(st->st_mode)) {
                        char target[4096];
                        ssize_t n = readlinkat(src, name, target, sizeof target - 1);
                        if (n < 0)
                                return -errno;
                        target[n] = '\0';
                        if (symlinkat(target, dst, name) < 0)
                                return -errno;
                } else if (mknodat(dst, name, st->st_mode, st->st_rdev) < 0) {
                        return -errno;
                }
        }
        if (fchownat(dst, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM)
                return -errno;
        if (!S_ISLNK(st->st_mode) && fchmodat(dst, name, st->st_mode & 07777, 0) < 0)
                return -errno;
        struct timespec ts[2] = {st->st_atim, st->st_mtim};
        (void)utimensat(dst, name, ts, AT_SYMLINK_NOFOLLOW);
        return 0;
}

int rootfs_copy(char **lowers, const char *dest, struct lana_error **err)
{
        _cleanup_close_ int dst = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dst < 0)
                return lana_error_setsys(err, -errno, "copy rootfs into %s", dest);
        size_t n = 0;
        while (lowers[n])
                n++;
        /* lowers are top first: copy from the bottom up */
        for (size_t i = n; i-- > 0;) {
                _cleanup_close_ int src = open(lowers[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (src < 0)
                        return lana_error_setsys(err, -errno, "copy rootfs: %s", lowers[i]);
                int r = copy_dir(src, dst, 0);
                if (r < 0)
                        return lana_error_setsys(err, r, "copy rootfs: layer %s", lowers[i]);
        }
        return 0;
}
