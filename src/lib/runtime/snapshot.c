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

/* Fills a fresh snapshot directory (its fd and path). */
typedef int (*snapshot_fill_fn)(int dirfd, const char *tmp, void *userdata,
                                struct lana_error **err);

/* Returns $ROOT/snapshots/<name>, making it first when missing: filled by `fill` in a temp
 * directory beside it, synced, and published by rename, so the directory is complete or absent;
 * two processes racing for it both succeed (the loser drops its copy). */
static int snapshot_make(struct lana_store *s, const char *name, const char *tmp_tag,
                         snapshot_fill_fn fill, void *userdata, char **ret_path,
                         struct lana_error **err)
{
        _cleanup_free_ char *dir = xasprintf("%s/snapshots", lana_store_root(s));
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
                *ret_path = TAKE_PTR(path);
                return 0;
        }
        int r = mkdir_p_at(AT_FDCWD, dir, 0700);
        if (r < 0)
                return lana_error_setsys(err, r, "create %s", dir);
        _cleanup_free_ char *tmp = xasprintf("%s/.tmp-%s-XXXXXX", dir, tmp_tag);
        if (!mkdtemp(tmp))
                return lana_error_setsys(err, -errno, "create %s", tmp);
        /* the snapshot root itself is the image's "/" */
        (void)chmod(tmp, 0755);
        _cleanup_close_ int tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tfd < 0)
                r = lana_error_setsys(err, -errno, "%s", tmp);
        else
                r = fill(tfd, tmp, userdata, err);
        if (r >= 0 && syncfs(tfd) < 0)
                r = lana_error_setsys(err, -errno, "sync %s", tmp);
        if (r >= 0 && rename(tmp, path) < 0 && errno != EEXIST && errno != ENOTEMPTY)
                r = lana_error_setsys(err, -errno, "publish snapshot %s", path);
        rm_rf_at(AT_FDCWD, tmp); /* gone after a rename; our copy when another won the race */
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(path);
        return 0;
}

struct layer_fill {
        struct lana_layout *l;
        json_t *desc;
        const struct lana_digest *diff_id;
};

static int fill_layer(int dirfd, const char *tmp, void *userdata, struct lana_error **err)
{
        (void)tmp;
        const struct layer_fill *f = userdata;
        struct lana_digest d;
        int r = lana_descriptor_parse(f->desc, NULL, &d, NULL, err);
        if (r < 0)
                return r;
        /* the size is checked as pull checks it; the unpacker checks the diff_id */
        _cleanup_close_ int blob = -1;
        r = lana_layout_open_desc(f->l, f->desc, &blob, err);
        if (r < 0)
                return r;
        bool root = geteuid() == 0;
        struct lana_unpack_options o = {
                .chown = root, .allow_devices = root, .xattr_whiteouts = !root};
        r = lana_layer_unpack(blob, dirfd, f->diff_id, &o, NULL, err);
        return r < 0 ? lana_error_wrap(err, r, "unpack layer %s", d.str) : 0;
}

_public_ int lana_snapshot_get(struct lana_store *s, struct lana_layout *l, json_t *desc,
                               const struct lana_digest *diff_id, char **ret_path,
                               struct lana_error **err)
{
        char tag[13];
        snprintf(tag, sizeof tag, "%.12s", diff_id->hex);
        struct layer_fill f = {.l = l, .desc = desc, .diff_id = diff_id};
        return snapshot_make(s, diff_id->hex, tag, fill_layer, &f, ret_path, err);
}

/* The mount points every container needs, as the bottom overlay layer: an image without /proc,
 * /dev or /sys (a scratch image with one binary) would otherwise have them made in the
 * container's upper directory, three directories created and removed per run. Docker's "init
 * layer" plays the same part. The image's own layers sit above it and win. */
static const char *const skeleton_dirs[] = {"dev", "proc", "sys"};

static int fill_skeleton(int dirfd, const char *tmp, void *userdata, struct lana_error **err)
{
        (void)userdata;
        for (size_t i = 0; i < ELEMENTSOF(skeleton_dirs); i++)
                if (mkdirat(dirfd, skeleton_dirs[i], 0755) < 0)
                        return lana_error_setsys(err, -errno, "create %s/%s", tmp,
                                                 skeleton_dirs[i]);
        return 0;
}

_public_ int lana_snapshot_skeleton(struct lana_store *s, char **ret_path, struct lana_error **err)
{
        return snapshot_make(s, "skeleton", "skeleton", fill_skeleton, NULL, ret_path, err);
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
