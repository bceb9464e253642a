/*
 * plan.c — from spec to plan: placeholder expansion, walking sources, deciding every header
 * field, implicit parent directories, duplicate detection, ELF machine checks and sorting.
 *
 * Determinism starts here: host metadata that varies between machines (mtime, owner, umask-shaped
 * modes, inode and readdir order) is never copied; modes come from the spec or from the one bit
 * we keep (is anything executable), and entries are sorted bytewise so parents precede children.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "build-internal.h"
#include "fs-util.h"
#include "utf8.h"

#define MAX_ENTRIES_PER_LAYER (1u << 22)
#define MAX_DEPTH 128

int plan_expand(const char *in, const struct lana_platform *p, char **ret)
{
        static const char *names[] = {"os",     "arch", "variant", "rust_target", "rust_target_gnu",
                                      "go_arch"};
        const char *vals[] = {p->os,
                              p->arch,
                              p->variant,
                              lana_platform_rust_target(p, false),
                              lana_platform_rust_target(p, true),
                              p->arch};
        size_t cap = strlen(in) + 1, len = 0;
        char *out = xmalloc(cap);
        for (const char *s = in; *s;) {
                if (*s == '{') {
                        const char *end = strchr(s, '}');
                        size_t i = ELEMENTSOF(names);
                        if (end)
                                for (i = 0; i < ELEMENTSOF(names); i++)
                                        if (strlen(names[i]) == (size_t)(end - s - 1) &&
                                            !strncmp(s + 1, names[i], (size_t)(end - s - 1)))
                                                break;
                        if (i == ELEMENTSOF(names)) {
                                free(out);
                                *ret = NULL;
                                return -EINVAL;
                        }
                        size_t vl = strlen(vals[i]);
                        cap += vl;
                        out = xrealloc(out, cap);
                        memcpy(out + len, vals[i], vl);
                        len += vl;
                        s = end + 1;
                        continue;
                }
                out[len++] = *s++;
        }
        out[len] = '\0';
        *ret = out;
        return 0;
}

static struct plan_entry *layer_add(struct plan_layer *l)
{
        if (l->n == l->cap) {
                l->cap = l->cap ? 2 * l->cap : 64;
                l->e = xrealloc(l->e, l->cap * sizeof *l->e);
        }
        struct plan_entry *e = &l->e[l->n++];
        *e = (struct plan_entry){0};
        return e;
}

static void entry_release(struct plan_entry *e)
{
        free(e->path);
        free(e->link);
        free(e->host);
        free(e->origin);
}

void plan_layer_release(struct plan_layer *l)
{
        for (size_t i = 0; i < l->n; i++)
                entry_release(&l->e[i]);
        free(l->e);
        free(l->name);
        json_decref(l->hit_desc);
        *l = (struct plan_layer){0};
}

struct plan *plan_free(struct plan *p)
{
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_layers; i++)
                plan_layer_release(&p->layers[i]);
        free(p->layers);
        free(p);
        return NULL;
}

struct walk {
        const struct lana_platform *platform;
        const struct lana_spec_file *f;
        const char *origin;
        struct plan_layer *layer;
        struct lana_error **err;
        /* rootfs skeleton mode: no spec file, fixed policy */
        bool skeleton;
};

static mode_t default_mode(const struct walk *w, const struct stat *st)
{
        if (w->f && w->f->has_mode && S_ISREG(st->st_mode))
                return w->f->mode;
        if (S_ISDIR(st->st_mode))
                return 0755;
        return (st->st_mode & 0111) ? 0755 : 0644;
}

/* Adds the host object at host (already lstat'ed) as image path `path`. */
static int add_object(struct walk *w, int dirfd, const char *name, const char *host,
                      const char *path, const struct stat *st)
{
        if (!utf8_valid(path, strlen(path)))
                return lana_error_set(w->err, -EINVAL, "%s: %s: file name is not valid UTF-8",
                                      w->origin, host);
        if (w->layer->n >= MAX_ENTRIES_PER_LAYER)
                return lana_error_set(w->err, -E2BIG, "%s: more than %u entries in one layer",
                                      w->origin, MAX_ENTRIES_PER_LAYER);
        struct plan_entry e = {
                .path = xstrdup(path),
                .mode = default_mode(w, st),
                .uid = w->f && w->f->has_uid ? w->f->uid : 0,
                .gid = w->f && w->f->has_gid ? w->f->gid : 0,
                .origin = xstrdup(w->origin),
        };
        if (S_ISREG(st->st_mode)) {
                e.type = LANA_TAR_FILE;
                e.size = (uint64_t)st->st_size;
                e.host = xstrdup(host);
                e.dev = st->st_dev;
                e.ino = st->st_ino;
                e.mtime = st->st_mtim;
                e.ctime = st->st_ctim;
                /* readability and the ELF machine: plan_check_machines(), over the whole plan */
        } else if (S_ISDIR(st->st_mode)) {
                e.type = LANA_TAR_DIR;
        } else if (S_ISLNK(st->st_mode)) {
                char buf[PATH_MAX];
                ssize_t n = readlinkat(dirfd, name, buf, sizeof buf - 1);
                if (n < 0) {
                        entry_release(&e);
                        return lana_error_setsys(w->err, -errno, "%s: readlink %s", w->origin,
                                                 host);
                }
                buf[n] = '\0';
                if (!utf8_valid(buf, (size_t)n)) {
                        entry_release(&e);
                        return lana_error_set(w->err, -EINVAL,
                                              "%s: %s: symlink target is not valid UTF-8",
                                              w->origin, host);
                }
                e.type = LANA_TAR_SYMLINK;
                e.link = xstrdup(buf);
                e.mode = 0777;
        } else {
                const char *kind = S_ISSOCK(st->st_mode)   ? "a socket"
                                   : S_ISFIFO(st->st_mode) ? "a FIFO"
                                                           : "a device node";
                entry_release(&e);
                return lana_error_set(w->err, -EINVAL,
                                      "%s: %s is %s, which cannot go into an "
                                      "image",
                                      w->origin, host, kind);
        }
        if (w->skeleton) {
                /* the base skeleton's fixed policy (git keeps neither modes nor empty dirs) */
                static const struct {
                        const char *path;
                        mode_t mode;
                        uint32_t id;
                } policy[] = {
                        {"tmp", 01777, 0},
                        {"root", 0700, 0},
                        {"home/nonroot", 0700, 65532},
                };
                if (e.type == LANA_TAR_FILE)
                        e.mode = (st->st_mode & 0111) ? 0755 : 0644;
                for (size_t i = 0; i < ELEMENTSOF(policy); i++)
                        if (!strcmp(e.path, policy[i].path)) {
                                e.mode = policy[i].mode;
                                e.uid = e.gid = policy[i].id;
                        }
        }
        *layer_add(w->layer) = e;
        return 0;
}

static int walk_dir(struct walk *w, int dirfd, const char *host, const char *path, int depth)
{
        if (depth > MAX_DEPTH)
                return lana_error_set(w->err, -ELOOP, "%s: %s: nested deeper than %d", w->origin,
                                      host, MAX_DEPTH);
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                closep(&fd);
                return lana_error_setsys(w->err, -errno, "%s: %s", w->origin, host);
        }
        int r = 0;
        struct dirent *de;
        while (r >= 0 && (de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (w->skeleton && !strcmp(de->d_name, ".gitkeep"))
                        continue;
                struct stat st;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = lana_error_setsys(w->err, -errno, "%s: %s/%s", w->origin, host,
                                              de->d_name);
                        break;
                }
                _cleanup_free_ char *h = xasprintf("%s/%s", host, de->d_name);
                _cleanup_free_ char *p =
                        *path ? xasprintf("%s/%s", path, de->d_name) : xstrdup(de->d_name);
                r = add_object(w, dirfd, de->d_name, h, p, &st);
                if (r >= 0 && S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = openat(
                                dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                        if (sub < 0)
                                r = lana_error_setsys(w->err, -errno, "%s: %s", w->origin, h);
                        else
                                r = walk_dir(w, sub, h, p, depth + 1);
                }
        }
        closedir(d);
        return r;
}

static int plan_file(const struct lana_spec *s, const struct lana_spec_file *f, size_t li,
                     size_t fi, const struct lana_platform *p, struct plan_layer *layer,
                     struct lana_error **err)
{
        _cleanup_free_ char *origin =
                xasprintf("%s:%d: layers[%zu].files[%zu]", s->path, f->line, li, fi);
        _cleanup_free_ char *src = NULL;
        if (plan_expand(f->src, p, &src) < 0)
                return lana_error_set(err, -EINVAL,
                                      "%s.src: '%s' has an unknown placeholder "
                                      "(known: {os} {arch} {variant} {rust_target} "
                                      "{rust_target_gnu} {go_arch})",
                                      origin, f->src);
        _cleanup_free_ char *dst = NULL;
        if (plan_expand(f->dst, p, &dst) < 0)
                return lana_error_set(err, -EINVAL, "%s.dst: '%s' has an unknown placeholder",
                                      origin, f->dst);
        _cleanup_free_ char *host = src[0] == '/' ? xstrdup(src) : xasprintf("%s/%s", s->dir, src);
        size_t hl = strlen(host);
        while (hl > 1 && host[hl - 1] == '/')
                host[--hl] = '\0';
        struct stat st;
        if (lstat(host, &st) < 0) {
                int e = errno;
                return lana_error_set(err, -EINVAL, "%s.src: %s: %s", origin, src, strerror(e));
        }
        _cleanup_free_ char *ipath = path_simplify(dst, false);
        if (!ipath)
                return lana_error_set(err, -EINVAL, "%s.dst: '%s' contains '.' or '..'", origin,
                                      f->dst);
        bool dst_is_dir = dst[strlen(dst) - 1] == '/';
        struct walk w = {.platform = p, .f = f, .origin = origin, .layer = layer, .err = err};
        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int dfd = open(host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return lana_error_setsys(err, -errno, "%s.src: %s", origin, src);
                if (*ipath) {
                        _cleanup_free_ char *parent = xstrdup(host);
                        char *sl = strrchr(parent, '/');
                        int pfd = -1;
                        if (sl) {
                                *sl = '\0';
                                pfd = open(*parent ? parent : "/",
                                           O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        }
                        int r = pfd < 0 ? lana_error_setsys(err, -errno, "%s.src: %s", origin, src)
                                        : add_object(&w, pfd, sl + 1, host, ipath, &st);
                        closep(&pfd);
                        if (r < 0)
                                return r;
                }
                return walk_dir(&w, dfd, host, ipath, 0);
        }
        if (!*ipath)
                return lana_error_set(err, -EINVAL, "%s.dst: a file cannot be the root '/'",
                                      origin);
        if (dst_is_dir) {
                const char *base = strrchr(host, '/');
                char *joined = xasprintf("%s/%s", ipath, base ? base + 1 : host);
                free(ipath);
                ipath = joined;
        }
        _cleanup_free_ char *parent = xstrdup(host);
        char *sl = strrchr(parent, '/');
        *sl = '\0';
        _cleanup_close_ int pfd = open(*parent ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
                return lana_error_setsys(err, -errno, "%s.src: %s", origin, src);
        return add_object(&w, pfd, sl + 1, host, ipath, &st);
}

static int cmp_entry(const void *a, const void *b)
{
        const struct plan_entry *x = a, *y = b;
        int c = strcmp(x->path, y->path);
        if (c)
                return c;
        /* explicit before implicit, then first declared (stable by origin) */
        if (x->implicit != y->implicit)
                return x->implicit ? 1 : -1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The directory paths a layer already has, explicit or implicit: an open-addressing set of
 * borrowed strings, so each parent directory is added once rather than once per file below it
 * (a tree of 20,000 files otherwise sorted five times as many entries). */
struct dir_set {
        const char **slot;
        size_t cap, n;
};

static uint64_t path_hash(const char *s, size_t len)
{
        uint64_t h = 1469598103934665603u; /* FNV-1a */
        for (size_t i = 0; i < len; i++)
                h = (h ^ (unsigned char)s[i]) * 1099511628211u;
        return h;
}

/* Adds the first len bytes of s (s itself must outlive the set); false if already there. */
static bool dir_set_add(struct dir_set *d, const char *s, size_t len)
{
        if (2 * (d->n + 1) > d->cap) {
                struct dir_set big = {.cap = d->cap ? 2 * d->cap : 256};
                big.slot = xnew(const char *, big.cap);
                for (size_t i = 0; i < d->cap; i++)
                        if (d->slot[i])
                                dir_set_add(&big, d->slot[i], strlen(d->slot[i]));
                free(d->slot);
                *d = big;
        }
        for (size_t i = path_hash(s, len) & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
                if (!d->slot[i]) {
                        d->slot[i] = s;
                        d->n++;
                        return true;
                }
                if (strlen(d->slot[i]) == len && !memcmp(d->slot[i], s, len))
                        return false;
        }
}

/* Adds implicit parents, sorts, merges duplicate directories, rejects other duplicates. */
static int layer_finalize(struct plan_layer *l, struct lana_error **err)
{
        size_t n0 = l->n;
        struct dir_set dirs = {0};
        /* explicit directories need no implicit twin (other explicit types do: a file where a
         * directory is needed must still meet one, to be reported) */
        for (size_t i = 0; i < n0; i++)
                if (l->e[i].type == LANA_TAR_DIR)
                        dir_set_add(&dirs, l->e[i].path, strlen(l->e[i].path));
        for (size_t i = 0; i < n0; i++) {
                /* parents, deepest first, until one is known (its own parents are then too) */
                const char *path = l->e[i].path;
                for (const char *end = strrchr(path, '/'); end;
                     end = memrchr(path, '/', (size_t)(end - path))) {
                        char *parent = xstrndup(path, (size_t)(end - path));
                        if (!dir_set_add(&dirs, parent, strlen(parent))) {
                                free(parent);
                                break;
                        }
                        struct plan_entry *e = layer_add(l);
                        e->path = parent;
                        e->type = LANA_TAR_DIR;
                        e->mode = 0755;
                        e->implicit = true;
                }
        }
        free(dirs.slot);
        /* qsort is not stable: declaration order is the tie-break */
        for (size_t i = 0; i < l->n; i++)
                l->e[i].seq = i;
        qsort(l->e, l->n, sizeof *l->e, cmp_entry);
        size_t out = 0;
        for (size_t i = 0; i < l->n; i++) {
                struct plan_entry *e = &l->e[i];
                if (out > 0 && !strcmp(l->e[out - 1].path, e->path)) {
                        struct plan_entry *prev = &l->e[out - 1];
                        if (prev->type == LANA_TAR_DIR && e->type == LANA_TAR_DIR) {
                                entry_release(e);
                                continue;
                        }
                        int r = lana_error_set(
                                err, -EINVAL, "%s: destination /%s is already used by %s",
                                e->origin ? e->origin : "(implicit directory)", e->path,
                                prev->origin ? prev->origin : "a directory");
                        /* release the rest so the layer is consistent for the caller */
                        for (size_t j = i; j < l->n; j++)
                                entry_release(&l->e[j]);
                        l->n = out;
                        return r;
                }
                l->e[out++] = *e;
        }
        l->n = out;
        return 0;
}

int plan_platform(const struct lana_spec *s, const struct lana_platform *p, struct plan **ret,
                  struct lana_error **err)
{
        struct plan *pl = xnew(struct plan, 1);
        pl->platform = *p;
        pl->layers = xnew(struct plan_layer, s->n_layers);
        int r = 0;
        for (size_t i = 0; r >= 0 && i < s->n_layers; i++) {
                struct plan_layer *l = &pl->layers[i];
                pl->n_layers++;
                l->name = xstrdup(s->layers[i].name);
                for (size_t j = 0; r >= 0 && j < s->layers[i].n_files; j++)
                        r = plan_file(s, &s->layers[i].files[j], i, j, p, l, err);
                if (r >= 0)
                        r = layer_finalize(l, err);
        }
        /* the same destination in two layers is a mistake too (directories aside) */
        for (size_t i = 0; r >= 0 && i < pl->n_layers; i++)
                for (size_t j = i + 1; r >= 0 && j < pl->n_layers; j++) {
                        struct plan_layer *a = &pl->layers[i], *b = &pl->layers[j];
                        size_t x = 0, y = 0;
                        while (x < a->n && y < b->n) {
                                int c = strcmp(a->e[x].path, b->e[y].path);
                                if (c < 0) {
                                        x++;
                                } else if (c > 0) {
                                        y++;
                                } else {
                                        if (a->e[x].type != LANA_TAR_DIR ||
                                            b->e[y].type != LANA_TAR_DIR) {
                                                r = lana_error_set(
                                                        err, -EINVAL,
                                                        "%s: destination /%s is already used by "
                                                        "%s",
                                                        b->e[y].origin ? b->e[y].origin
                                                                       : "(implicit directory)",
                                                        b->e[y].path,
                                                        a->e[x].origin ? a->e[x].origin
                                                                       : "a directory");
                                                break;
                                        }
                                        x++;
                                        y++;
                                }
                        }
                }
        if (r < 0) {
                plan_free(pl);
                return r;
        }
        *ret = pl;
        return 0;
}

int plan_rootfs_layer(const char *rootfs_dir, struct plan_layer *ret, struct lana_error **err)
{
        *ret = (struct plan_layer){.name = xstrdup("rootfs")};
        _cleanup_close_ int dfd = open(rootfs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                plan_layer_release(ret);
                return lana_error_setsys(err, -errno, "base rootfs %s", rootfs_dir);
        }
        _cleanup_free_ char *origin = xasprintf("base rootfs %s", rootfs_dir);
        struct walk w = {.origin = origin, .layer = ret, .err = err, .skeleton = true};
        struct lana_platform any = {.os = "linux"};
        w.platform = &any;
        int r = walk_dir(&w, dfd, rootfs_dir, "", 0);
        if (r >= 0)
                r = layer_finalize(ret, err);
        if (r < 0)
                plan_layer_release(ret);
        return r;
}
