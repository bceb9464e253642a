/*
 * snapshot.c — layers unpacked once per diff_id into $ROOT/snapshots/<hex>, the overlay lower
 * directories of every container using them. Unpacking happens in a temp directory beside the
 * final one and is published by rename, so a snapshot directory is either complete and verified
 * or absent; two processes racing for the same layer both succeed (the loser drops its copy).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lana/layer.h"
#include "lana/runtime.h"
#include "alloc.h"
#include "fs-util.h"

_public_ int lana_snapshot_get(struct lana_store *s, struct lana_layout *l, json_t *desc,
                               const struct lana_digest *diff_id, char **ret_path,
                               struct lana_error **err)
{
        _cleanup_free_ char *dir = xasprintf("%s/snapshots", lana_store_root(s));
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, diff_id->hex);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
                *ret_path = TAKE_PTR(path);
                return 0;
        }
        int r = mkdir_p_at(AT_FDCWD, dir, 0700);
        if (r < 0)
                return lana_error_setsys(err, r, "create %s", dir);
        struct lana_digest d;
        r = lana_descriptor_parse(desc, NULL, &d, NULL, err);
        if (r < 0)
                return r;
        _cleanup_close_ int blob = -1;
        r = lana_layout_open_blob(l, &d, &blob, NULL, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *tmp = xasprintf("%s/.tmp-%.12s-XXXXXX", dir, diff_id->hex);
        if (!mkdtemp(tmp))
                return lana_error_setsys(err, -errno, "create %s", tmp);
        /* the snapshot root itself is the image's "/" */
        (void)chmod(tmp, 0755);
        _cleanup_close_ int tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tfd < 0) {
                r = lana_error_setsys(err, -errno, "%s", tmp);
        } else {
                bool root = geteuid() == 0;
                struct lana_unpack_options o = {
                        .chown = root, .allow_devices = root, .xattr_whiteouts = !root};
                r = lana_layer_unpack(blob, tfd, diff_id, &o, NULL, err);
                if (r < 0)
                        r = lana_error_wrap(err, r, "unpack layer %s", d.str);
        }
        if (r >= 0 && syncfs(tfd) < 0)
                r = lana_error_setsys(err, -errno, "sync %s", tmp);
        if (r >= 0 && rename(tmp, path) < 0) {
                if (errno != EEXIST && errno != ENOTEMPTY)
                        r = lana_error_setsys(err, -errno, "publish snapshot %s", path);
                rm_rf_at(AT_FDCWD, tmp); /* someone else published it first */
        } else if (r < 0) {
                rm_rf_at(AT_FDCWD, tmp);
        }
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(path);
        return 0;
}

/* The mount points every container needs, as the bottom overlay layer: an image without /proc,
 * /dev or /sys (a scratch image with one binary) would otherwise have them made in the
 * container's upper directory, three directories created and removed per run. Docker's "init
 * layer" plays the same part. The image's own layers sit above it and win. */
static const char *const skeleton_dirs[] = {"dev", "proc", "sys"};

_public_ int lana_snapshot_skeleton(struct lana_store *s, char **ret_path, struct lana_error **err)
{
        _cleanup_free_ char *dir = xasprintf("%s/snapshots", lana_store_root(s));
        _cleanup_free_ char *path = xasprintf("%s/skeleton", dir);
        _cleanup_free_ char *last =
                xasprintf("%s/%s", path, skeleton_dirs[ELEMENTSOF(skeleton_dirs) - 1]);
        struct stat st;
        if (stat(last, &st) == 0 && S_ISDIR(st.st_mode)) {
                *ret_path = TAKE_PTR(path);
                return 0;
        }
        int r = mkdir_p_at(AT_FDCWD, dir, 0700);
        if (r < 0)
                return lana_error_setsys(err, r, "create %s", dir);
        _cleanup_free_ char *tmp = xasprintf("%s/.tmp-skeleton-XXXXXX", dir);
        if (!mkdtemp(tmp))
                return lana_error_setsys(err, -errno, "create %s", tmp);
        r = 0;
        if (chmod(tmp, 0755) < 0)
                r = -errno;
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(skeleton_dirs); i++) {
                _cleanup_free_ char *sub = xasprintf("%s/%s", tmp, skeleton_dirs[i]);
                if (mkdir(sub, 0755) < 0)
                        r = -errno;
        }
        if (r >= 0 && rename(tmp, path) < 0 && errno != EEXIST && errno != ENOTEMPTY)
                r = -errno;
        rm_rf_at(AT_FDCWD, tmp); /* gone after a rename; our copy when another won the race */
        if (r < 0)
                return lana_error_setsys(err, r, "create %s", path);
        *ret_path = TAKE_PTR(path);
        return 0;
}

_public_ int lana_snapshot_gc(struct lana_store *s, json_t *keep, struct lana_error **err)
{
        _cleanup_free_ char *dir = xasprintf("%s/snapshots", lana_store_root(s));
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : lana_error_setsys(err, -errno, "%s", dir);
        int removed = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                    !strcmp(de->d_name, "skeleton"))
                        continue;
                if (de->d_name[0] != '.' && json_object_get(keep, de->d_name))
                        continue;
                if (rm_rf_at(dirfd(d), de->d_name) >= 0 && de->d_name[0] != '.')
                        removed++;
        }
        closedir(d);
        return removed;
}
