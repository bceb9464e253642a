/*
 * store.c — the store under --root and the resolution of image names.
 *
 * The store is one OCI layout ($ROOT/oci) plus $ROOT/tmp and $ROOT/gc.lock. Every command that
 * writes holds a shared flock on gc.lock for its whole run; `prune` takes it exclusively, so
 * garbage collection never deletes the fresh, not-yet-referenced blobs of a running build while
 * any number of builds still run side by side.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lana/store.h"
#include "alloc.h"
#include "fs-util.h"
#include "store-internal.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

struct lana_store {
        char *root;
        int lockfd;
        struct lana_layout *layout;
};

_public_ char *lana_store_default_root(void)
{
        const char *env = getenv("LANA_IMG_ROOT");
        if (env && *env)
                return xstrdup(env);
        if (geteuid() == 0)
                return xstrdup("/var/lib/lana-img");
        const char *xdg = getenv("XDG_DATA_HOME");
        if (xdg && *xdg == '/')
                return xasprintf("%s/lana-img", xdg);
        const char *home = getenv("HOME");
        return xasprintf("%s/.local/share/lana-img", home && *home ? home : "/tmp");
}

/* What a directory may hold and still be taken for a store without oci/oci-layout: the names
 * the store makes itself (a store whose first command was killed before it wrote its layout, or
 * whose layout was made last) and a file system's lost+found (a store at a mount point). */
static bool store_own_name(const char *name)
{
        static const char *const names[] = {"oci",       "tmp",        "gc.lock",   "cache",
                                            "snapshots", "containers", "lost+found"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (!strcmp(name, names[i]))
                        return true;
        return false;
}

/* Checks that `root` can be a store: 1 when it holds one (oci/oci-layout), 0 when it is an
 * empty (or half-made) store, -ENOENT (no error set) when it does not exist, and -EINVAL when it
 * is not a
 * directory or a directory with other content, which must not be taken over (or mistaken for
 * an empty store by the read-only commands). */
static int store_check_root(const char *root, struct lana_error **err)
{
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
                return -ENOENT;
        if (fd < 0 && errno == ENOTDIR)
                return lana_error_set(err, -EINVAL, "store %s: not a directory", root);
        if (fd < 0)
                return lana_error_setsys(err, -errno, "store %s", root);
        struct stat st;
        if (fstatat(fd, "oci/oci-layout", &st, 0) == 0)
                return 1;
        _cleanup_(closedirp) DIR *d = fdopendir(fd);
        if (!d)
                return lana_error_setsys(err, -errno, "store %s", root);
        fd = -1; /* the DIR owns it now */
        struct dirent *de;
        while ((errno = 0, de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
                    !store_own_name(de->d_name))
                        return lana_error_set(err, -EINVAL,
                                              "store %s: not a lana-img store (it holds '%s' "
                                              "and no oci/oci-layout); give an empty or new "
                                              "directory",
                                              root, de->d_name);
        if (errno)
                return lana_error_setsys(err, -errno, "store %s", root);
        return 0;
}

static int store_open(const char *root, bool create, struct lana_store **ret,
                      struct lana_error **err)
{
        int r = store_check_root(root, err);
        if (r == -ENOENT && create) {
                r = mkdir_p_at(AT_FDCWD, root, 0700);
                if (r < 0)
                        return lana_error_setsys(err, r, "create store %s", root);
        } else if (r < 0 && r != -ENOENT) {
                return r;
        } else if (r <= 0 && !create) {
                /* an empty store: the read-only commands see no images, and make nothing */
                return lana_error_set(err, -ENOENT, "store %s does not exist", root);
        }
        _cleanup_free_ char *tmp = xasprintf("%s/tmp", root);
        if (create)
                (void)mkdir(tmp, 0700);
        _cleanup_free_ char *lock = xasprintf("%s/gc.lock", root);
        _cleanup_close_ int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lfd < 0 && !create && (errno == EACCES || errno == EROFS || errno == EPERM))
                lfd = open(lock, O_RDONLY | O_CLOEXEC); /* reading a store needs no write */
        if (lfd < 0)
                return lana_error_setsys(err, -errno, "%s", lock);
        while (flock(lfd, LOCK_SH) < 0)
                if (errno != EINTR)
                        return lana_error_setsys(err, -errno, "lock %s", lock);
        _cleanup_free_ char *oci = xasprintf("%s/oci", root);
        struct lana_layout *l = NULL;
        r = lana_layout_open(oci, create, &l, err);
        if (r < 0)
                return lana_error_wrap(err, r, "store %s", root);
        struct lana_store *s = xnew(struct lana_store, 1);
        s->root = xstrdup(root);
        s->lockfd = TAKE_FD(lfd);
        s->layout = l;
        *ret = s;
        return 0;
}

_public_ int lana_store_open(const char *root, struct lana_store **ret, struct lana_error **err)
{
        return store_open(root, true, ret, err);
}

_public_ int lana_store_open_existing(const char *root, struct lana_store **ret,
                                      struct lana_error **err)
{
        return store_open(root, false, ret, err);
}

_public_ struct lana_store *lana_store_free(struct lana_store *s)
{
        if (!s)
                return NULL;
        lana_layout_free(s->layout);
        closep(&s->lockfd);
        free(s->root);
        free(s);
        return NULL;
}

_public_ void lana_store_freep(struct lana_store **s)
{
        *s = lana_store_free(*s);
}

_public_ struct lana_layout *lana_store_layout(struct lana_store *s)
{
        return s->layout;
}

_public_ const char *lana_store_root(struct lana_store *s)
{
        return s->root;
}

/* The caches that hang off blobs or off the machine: registry mount records (cache/blobs/<hex>,
 * which repositories hold a blob) of blobs that are gone, and the compiled seccomp filters
 * (cache/seccomp), which a new kernel or lana-img build leaves stale and any run rebuilds in a
 * few milliseconds. Runs under the exclusive gc lock, so no run is writing a filter. */
static void prune_side_caches(struct lana_store *s)
{
        _cleanup_free_ char *sc = xasprintf("%s/cache/seccomp", s->root);
        (void)rm_rf_at(AT_FDCWD, sc);
        _cleanup_free_ char *mb = xasprintf("%s/cache/blobs", s->root);
        DIR *d = opendir(mb);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *name = xasprintf("sha256:%s", de->d_name);
                struct lana_digest dg;
                if (de->d_name[0] == '.' || lana_digest_parse(name, &dg, NULL) < 0 ||
                    !lana_layout_has_blob(s->layout, &dg))
                        (void)unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
}

/* ---- what prune removes, measured ---- */

/* The inodes with several links counted already: a hardlinked file counts once. */
struct inode_set {
        struct {
                dev_t dev;
                ino_t ino;
        } * v;
        size_t n, cap;
};

static bool inode_set_add(struct inode_set *set, const struct stat *st)
{
        for (size_t i = 0; i < set->n; i++)
                if (set->v[i].dev == st->st_dev && set->v[i].ino == st->st_ino)
                        return false;
        if (set->n == set->cap) {
                set->cap = set->cap ? 2 * set->cap : 16;
                set->v = xrealloc(set->v, set->cap * sizeof *set->v);
        }
        set->v[set->n].dev = st->st_dev;
        set->v[set->n++].ino = st->st_ino;
        return true;
}

/* Adds dirfd/name to *c: a file, or every file of a tree (directories themselves are not
 * counted); sizes are st_size. Symlinks are counted, never followed. */
static void usage_add(int at, const char *name, struct inode_set *seen, struct lana_prune_count *c,
                      int depth)
{
        struct stat st;
        if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return;
        if (!S_ISDIR(st.st_mode)) {
                if (st.st_nlink > 1 && !inode_set_add(seen, &st))
                        return;
                c->n++;
                c->bytes += (uint64_t)st.st_size;
                return;
        }
        if (depth > 1024)
                return;
        int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_(closedirp) DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                closep(&fd);
                return;
        }
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        usage_add(dirfd(d), de->d_name, seen, c, depth + 1);
}

static struct lana_prune_count usage_of(int at, const char *name)
{
        struct inode_set seen = {0};
        struct lana_prune_count c = {0};
        usage_add(at, name, &seen, &c, 0);
        free(seen.v);
        return c;
}

static void count_add(struct lana_prune_count *to, struct lana_prune_count c)
{
        to->n += c.n;
        to->bytes += c.bytes;
}

/* What went from a tree between two measures of it. */
static struct lana_prune_count count_gone(struct lana_prune_count before,
                                          struct lana_prune_count after)
{
        return (struct lana_prune_count){before.n - MIN(after.n, before.n),
                                         before.bytes - MIN(after.bytes, before.bytes)};
}

/* The temporary files of killed writers in blobs/sha256: a build's unfinished blobs and a
 * pull's partial ones (".partial-<hex>"), all named with a leading '.'. They are removed here,
 * before lana_layout_gc() would remove them uncounted, so that the report shows them. */
static void prune_blob_temps(struct lana_layout *l, struct lana_prune_count *c)
{
        int fd = openat(l->blobsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_(closedirp) DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                closep(&fd);
                return;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat st;
                if (de->d_name[0] != '.' || !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                    fstatat(l->blobsfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    S_ISDIR(st.st_mode) || unlinkat(l->blobsfd, de->d_name, 0) < 0)
                        continue;
                c->n++;
                c->bytes += (uint64_t)st.st_size;
        }
}

/* Runs `also` and counts what it removed from $ROOT/snapshots: each top-level entry is measured
 * before, and the ones gone after are snapshots (or, named with a leading '.', the unfinished
 * snapshots of killed runs: temporary files). Every snapshot is measured, kept or not, since
 * which ones go is `also`'s decision. */
static int run_collector(struct lana_store *s,
                         int (*also)(struct lana_store *s, void *ud, struct lana_error **err),
                         void *ud, struct lana_prune_report *rep, struct lana_error **err)
{
        struct entry {
                char *name;
                struct lana_prune_count c;
        } *v = NULL;
        size_t n = 0;
        _cleanup_free_ char *path = xasprintf("%s/snapshots", s->root);
        _cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = dfd >= 0 ? fcntl(dfd, F_DUPFD_CLOEXEC, 3) : -1;
        _cleanup_(closedirp) DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d)
                closep(&fd);
        for (struct dirent *de; d && (de = readdir(d));) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                v = xrealloc(v, (n + 1) * sizeof *v);
                v[n].name = xstrdup(de->d_name);
                v[n++].c = usage_of(dfd, de->d_name);
        }
        int r = also(s, ud, err);
        for (size_t i = 0; i < n; i++) {
                struct stat st;
                if (fstatat(dfd, v[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
                        if (v[i].name[0] == '.') {
                                count_add(&rep->temp, v[i].c);
                        } else {
                                rep->snapshots.n++;
                                rep->snapshots.bytes += v[i].c.bytes;
                        }
                }
                free(v[i].name);
        }
        free(v);
        return r;
}

_public_ int lana_store_prune_report(struct lana_store *s, struct lana_prune_report *ret,
                                     int (*also)(struct lana_store *s, void *ud,
                                                 struct lana_error **err),
                                     void *ud, struct lana_error **err)
{
        struct lana_prune_report rep = {0};
        if (ret)
                *ret = rep;
        while (flock(s->lockfd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return lana_error_setsys(err, -errno, "lock %s/gc.lock", s->root);
        _cleanup_free_ char *cache = xasprintf("%s/cache", s->root);
        struct lana_prune_count cache_before = usage_of(AT_FDCWD, cache);
        prune_blob_temps(s->layout, &rep.temp);
        int r = lana_layout_gc(s->layout, &rep.blobs.n, &rep.blobs.bytes, err);
        /* a cache entry never outlives its blob */
        if (r >= 0) {
                int q = lana_store_cache_gc(s, err);
                if (q < 0)
                        r = q;
                else
                        prune_side_caches(s);
        }
        /* nothing writes to the cache while we hold the lock: what is gone, prune removed */
        rep.cache = count_gone(cache_before, usage_of(AT_FDCWD, cache));
        _cleanup_free_ char *tmp = xasprintf("%s/tmp", s->root);
        /* leftovers of killed commands; nobody else runs while we hold the lock */
        struct lana_prune_count tmp_before = usage_of(AT_FDCWD, tmp);
        (void)rm_rf_at(AT_FDCWD, tmp);
        (void)mkdir(tmp, 0700);
        count_add(&rep.temp, count_gone(tmp_before, usage_of(AT_FDCWD, tmp)));
        if (r >= 0 && also)
                r = run_collector(s, also, ud, &rep, err);
        flock(s->lockfd, LOCK_SH);
        if (ret)
                *ret = rep;
        return r;
}

_public_ int lana_store_prune(struct lana_store *s, uint64_t *ret_blobs, uint64_t *ret_bytes,
                              int (*also)(struct lana_store *s, void *ud, struct lana_error **err),
                              void *ud, struct lana_error **err)
{
        struct lana_prune_report rep = {0};
        int r = lana_store_prune_report(s, &rep, also, ud, err);
        if (ret_blobs)
                *ret_blobs = rep.blobs.n;
        if (ret_bytes)
                *ret_bytes = rep.blobs.bytes;
        return r;
}

/* ---- image names ---- */

/* Splits "DIR[:REF]": a trailing ":x" counts as a ref when x contains no '/'. */
static void split_location(const char *s, char **ret_path, char **ret_ref)
{
        const char *c = strrchr(s, ':');
        if (c && !strchr(c + 1, '/') && c != s) {
                *ret_path = xstrndup(s, (size_t)(c - s));
                *ret_ref = c[1] ? xstrdup(c + 1) : NULL;
        } else {
                *ret_path = xstrdup(s);
                *ret_ref = NULL;
        }
}

static int find_by_digest(struct lana_layout *l, const char *digest, json_t **ret,
                          struct lana_error **err)
{
        json_t *ms = NULL;
        int r = lana_layout_list(l, &ms, err);
        if (r < 0)
                return r;
        size_t i;
        json_t *m;
        json_array_foreach(ms, i, m)
        {
                const char *d = json_string_value(json_object_get(m, "digest"));
                if (d && !strcmp(d, digest)) {
                        *ret = json_deep_copy(m);
                        json_object_del(*ret, "annotations");
                        json_decref(ms);
                        return 0;
                }
        }
        json_decref(ms);
        return lana_error_set(err, -ENOENT, "no image with digest %s", digest);
}

_public_ int lana_image_open(struct lana_store *store, const char *spec, struct lana_image *ret,
                             struct lana_error **err)
{
        *ret = (struct lana_image){.display = xstrdup(spec)};
        int r;
        if (!strncmp(spec, "oci:", 4) || !strncmp(spec, "oci-archive:", 12)) {
                bool archive = spec[3] == '-';
                _cleanup_free_ char *path = NULL;
                split_location(spec + (archive ? 12 : 4), &path, &ret->name);
                if (archive) {
                        const char *tmpbase = getenv("TMPDIR");
                        char *tmpl = xasprintf("%s/lana-img-archive-XXXXXX",
                                               tmpbase && *tmpbase ? tmpbase : "/tmp");
                        if (!mkdtemp(tmpl)) {
                                r = lana_error_setsys(err, -errno, "create temporary directory");
                                free(tmpl);
                                goto fail;
                        }
                        ret->tmpdir = tmpl;
                        r = lana_layout_import_archive(path, tmpl, err);
                        if (r >= 0)
                                r = lana_layout_open(tmpl, false, &ret->layout, err);
                } else {
                        r = lana_layout_open(path, false, &ret->layout, err);
                }
                if (r < 0)
                        goto fail;
                struct lana_error *e = NULL;
                r = lana_layout_resolve(ret->layout, ret->name, &ret->desc, &e);
                if (r < 0) {
                        /* name the user's archive, not our scratch copy of it */
                        if (archive && e) {
                                const char *msg = e->msg;
                                size_t tl = strlen(ret->tmpdir);
                                if (!strncmp(msg, ret->tmpdir, tl))
                                        msg += tl;
                                lana_error_set(err, r, "%s%s", path, msg);
                                lana_error_free(e);
                        } else if (err) {
                                lana_error_free(*err);
                                *err = e;
                        } else {
                                lana_error_free(e);
                        }
                        goto fail;
                }
                return 0;
        }
        /* the name is checked before the store is asked: a malformed name is invalid (exit 3)
         * whether or not a store exists, never "not found" */
        struct lana_reference ref = {0};
        struct lana_digest d;
        bool bare_digest = !strncmp(spec, "sha256:", 7);
        r = bare_digest ? lana_digest_parse(spec, &d, err)
                        : lana_reference_parse(spec, "latest", &ref, err);
        if (r < 0)
                goto fail;
        const char *digest = bare_digest ? spec : ref.digest;
        if (!store) {
                r = lana_error_set(err, -ENOENT, "no image named %s (the store is empty)", spec);
        } else if (digest) {
                r = find_by_digest(lana_store_layout(store), digest, &ret->desc, err);
        } else {
                ret->name = lana_reference_format(&ref);
                r = lana_layout_resolve(lana_store_layout(store), ret->name, &ret->desc, NULL);
                if (r < 0)
                        r = lana_error_set(err, -ENOENT, "no image named %s", spec);
        }
        lana_reference_release(&ref);
        if (r < 0)
                goto fail;
        /* the store's own handle: no second open of the layout */
        ret->layout = lana_store_layout(store);
        ret->layout_borrowed = true;
        return 0;
fail:
        lana_image_release(ret);
        return r;
}

_public_ void lana_image_release(struct lana_image *img)
{
        if (!img->layout_borrowed)
                lana_layout_free(img->layout);
        if (img->tmpdir)
                rm_rf_at(AT_FDCWD, img->tmpdir);
        free(img->tmpdir);
        free(img->name);
        free(img->display);
        json_decref(img->desc);
        *img = (struct lana_image){0};
}
