/*
 * cgroup.c — the container's cgroups: creation below the caller's own cgroup, memory/pids/cpu
 * limits, membership, OOM detection and teardown.
 *
 * The layout is read from /proc/self/mountinfo (cgroup2 at /sys/fs/cgroup: pure v2; cgroup2 at
 * /sys/fs/cgroup/unified next to v1 hierarchies: hybrid; v1 only) and the caller's place in
 * each hierarchy from /proc/self/cgroup. Each limit goes to v2 when the unified hierarchy offers
 * its controller in the parent's cgroup.controllers, otherwise to the v1 hierarchy of that
 * controller; a limit neither can apply is -ENOTSUP naming the limit, never silently dropped.
 * The container's cgroup is always created in the unified hierarchy when one is mounted, so that
 * every container process can be found (and killed) even when all limits live in v1.
 *
 * The "no internal processes" rule of v2: controllers can only be enabled in the parent's
 * cgroup.subtree_control when the parent holds no processes itself (or is the root). When that
 * write fails with EBUSY we do NOT move the parent's processes into a leaf: they belong to
 * whoever set up the caller's cgroup (a login session, a service), and the leaf could never be
 * removed again while the caller lives in it. The limit then falls back to v1 and, if v1 cannot
 * take it either, the error says why (run lana-img in a delegated cgroup without processes, e.g.
 * a systemd unit with Delegate=yes whose main process moved itself to a leaf). Controllers we
 * enable in the parent's subtree_control stay enabled: other containers may rely on them, and
 * enabling is idempotent. We never touch cgroups above the caller's own.
 *
 * Teardown must not leave directories behind: every process found in cgroup.procs of the
 * container's cgroups (and of any sub-cgroup the container made) is sent SIGKILL (plus
 * cgroup.kill on v2), until they are all gone or ~2 s have passed; then the directories are
 * removed depth-first, retrying while the kernel still reports EBUSY.
 */
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lana/runtime.h"
#include "alloc.h"
#include "fs-util.h"
#include "runtime-internal.h"

#define CG_PREFIX "lana-img-"
#define CG_ID_MAX 64
#define CG_FILE_MAX (4u << 20)          /* mountinfo, cgroup.procs: kernel-made but unbounded */
#define CG_KILL_TIMEOUT_NS 2000000000LL /* waiting for processes to die */
#define CG_POLL_NS 10000000L
#define CG_RMDIR_TRIES 50
#define CG_MAX_DEPTH 32 /* sub-cgroups the container may have made */
#define CG_MAX_DIRS 4   /* unified + memory, pids, cpu v1 hierarchies */
#define CPU_PERIOD_DEFAULT 100000

enum ctl { CTL_MEMORY, CTL_PIDS, CTL_CPU, CTL_MAX };
static const char *const ctl_name[CTL_MAX] = {"memory", "pids", "cpu"};

enum layout { LAYOUT_NONE, LAYOUT_V1, LAYOUT_HYBRID, LAYOUT_V2 };
static const char *const layout_name[] = {"no cgroup hierarchy mounted", "cgroup v1 only",
                                          "hybrid cgroup v1/v2", "pure cgroup v2"};

/* One directory we created: "<parent>/lana-img-<id>" in one hierarchy. */
struct cg_dir {
        char *path;  /* absolute, for messages */
        char *mount; /* mount point of its hierarchy, to share a dir between co-mounted v1 ctls */
        int pfd;     /* parent directory */
        int dfd;     /* the cgroup itself */
        bool v2;
};

struct cgroup {
        char *name; /* "lana-img-<id>" */
        struct cg_dir dirs[CG_MAX_DIRS];
        size_t n_dirs;
        int limit_dir[CTL_MAX]; /* index in dirs of the dir applying each limit, -1: none */
};

/* What the host offers: mount points and the caller's cgroup in each hierarchy. */
struct cg_host {
        enum layout layout;
        char *v2_mount, *v2_root, *v2_path;
        char *v1_mount[CTL_MAX], *v1_root[CTL_MAX], *v1_path[CTL_MAX];
};

static void cg_host_release(struct cg_host *h)
{
        free(h->v2_mount);
        free(h->v2_root);
        free(h->v2_path);
        for (int c = 0; c < CTL_MAX; c++) {
                free(h->v1_mount[c]);
                free(h->v1_root[c]);
                free(h->v1_path[c]);
        }
}

static int64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ns(long ns)
{
        struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static bool id_valid(const char *id)
{
        if (!id)
                return false;
        size_t n = strlen(id);
        if (n < 1 || n > CG_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isascii((unsigned char)id[i]) ||
                    !(isalnum((unsigned char)id[i]) || id[i] == '_' || id[i] == '-'))
                        return false;
        return true;
}

/* True when the space/comma/newline separated list `list` holds the word `w`. */
static bool has_word(const char *list, const char *w, const char *seps)
{
        size_t wl = strlen(w);
        for (const char *p = list; *p;) {
                size_t n = strcspn(p, seps);
                if (n == wl && !memcmp(p, w, wl))
                        return true;
                p += n;
                p += strspn(p, seps);
        }
        return false;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *unescape_octal(const char *s, size_t n)
{
        char *out = xmalloc(n + 1), *o = out;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
                    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
                        *o++ = (char)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 |
                                      (s[i + 3] - '0'));
                        i += 3;
                } else {
                        *o++ = s[i];
                }
        }
        *o = 0;
        return out;
}

/* Prefer the conventional mount points when a hierarchy is mounted more than once. */
static bool better_mount(const char *have, const char *cand, const char *want)
{
        if (!have)
                return true;
        return strcmp(have, want) != 0 && !strcmp(cand, want);
}

static void set_str(char **slot, char *v)
{
        free(*slot);
        *slot = v;
}

static int parse_mountinfo(struct cg_host *h, struct lana_error **err)
{
        _cleanup_free_ char *buf = NULL;
        int r = read_file_at(AT_FDCWD, "/proc/self/mountinfo", CG_FILE_MAX, &buf, NULL, err);
        if (r < 0)
                return lana_error_wrap(err, r, "cgroup");
        for (char *line = buf, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
                const char *f[5];
                size_t fl[5];
                char *p = line;
                int nf = 0;
                for (; nf < 5 && *p; nf++) {
                        f[nf] = p;
                        fl[nf] = strcspn(p, " ");
                        p += fl[nf];
                        p += strspn(p, " ");
                }
                char *sep = strstr(p, "- ");
                if (nf < 5 || !sep || (sep != p && sep[-1] != ' '))
                        continue;
                char *fstype = sep + 2;
                size_t tl = strcspn(fstype, " ");
                char *source = fstype + tl + strspn(fstype + tl, " ");
                char *super = source + strcspn(source, " ");
                super += strspn(super, " ");
                bool v2 = tl == 7 && !memcmp(fstype, "cgroup2", 7);
                bool v1 = tl == 6 && !memcmp(fstype, "cgroup", 6);
                if (!v1 && !v2)
                        continue;
                _cleanup_free_ char *mnt = unescape_octal(f[4], fl[4]);
                _cleanup_free_ char *root = unescape_octal(f[3], fl[3]);
                if (v2) {
                        /* pure v2 puts it at /sys/fs/cgroup, hybrid at .../unified */
                        bool take = !h->v2_mount || (strcmp(h->v2_mount, "/sys/fs/cgroup") &&
                                                     (!strcmp(mnt, "/sys/fs/cgroup") ||
                                                      !strcmp(mnt, "/sys/fs/cgroup/unified")));
                        if (take) {
                                set_str(&h->v2_mount, TAKE_PTR(mnt));
                                set_str(&h->v2_root, TAKE_PTR(root));
                        }
                        continue;
                }
                for (int c = 0; c < CTL_MAX; c++) {
                        if (!has_word(super, ctl_name[c], ","))
                                continue;
                        _cleanup_free_ char *want = xasprintf("/sys/fs/cgroup/%s", ctl_name[c]);
                        if (!better_mount(h->v1_mount[c], mnt, want))
                                continue;
                        set_str(&h->v1_mount[c], xstrdup(mnt));
                        set_str(&h->v1_root[c], xstrdup(root));
                }
        }
        bool any_v1 = h->v1_mount[CTL_MEMORY] || h->v1_mount[CTL_PIDS] || h->v1_mount[CTL_CPU];
        if (h->v2_mount && !strcmp(h->v2_mount, "/sys/fs/cgroup"))
                h->layout = LAYOUT_V2;
        else if (h->v2_mount && any_v1)
                h->layout = LAYOUT_HYBRID;
        else if (any_v1)
                h->layout = LAYOUT_V1;
        else if (h->v2_mount)
                h->layout = LAYOUT_V2; /* cgroup2 mounted somewhere unusual, nothing else */
        else
                h->layout = LAYOUT_NONE;
        return 0;
}

static int parse_proc_cgroup(struct cg_host *h, struct lana_error **err)
{
        _cleanup_free_ char *buf = NULL;
        int r = read_file_at(AT_FDCWD, "/proc/self/cgroup", CG_FILE_MAX, &buf, NULL, err);
        if (r < 0)
                return lana_error_wrap(err, r, "cgroup");
        /* hierarchy-id:controller,list:/path — "0::/path" is the unified hierarchy */
        for (char *line = buf, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                char *c1 = strchr(line, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2 || c2[1] != '/')
                        continue;
                *c1 = *c2 = 0;
                const char *ctls = c1 + 1, *path = c2 + 1;
                if (!strcmp(line, "0") && !*ctls) {
                        set_str(&h->v2_path, xstrdup(path));
                        continue;
                }
                for (int c = 0; c < CTL_MAX; c++)
                        if (has_word(ctls, ctl_name[c], ","))
                                set_str(&h->v1_path[c], xstrdup(path));
        }
        return 0;
}

/* The directory of the caller's cgroup: the mount point plus the path from /proc/self/cgroup
 * relative to the mount's root (a bind mount of a sub-cgroup has root != "/"). */
static char *parent_dir(const char *mount, const char *root, const char *path)
{
        size_t rl = strlen(root);
        const char *rel = path;
        if (strcmp(root, "/") && !strncmp(path, root, rl) && (path[rl] == '/' || !path[rl]))
                rel = path + rl;
        while (*rel == '/')
                rel++;
        return *rel ? xasprintf("%s/%s", mount, rel) : xstrdup(mount);
}

/* One write() of the whole value, as cgroup files expect. */
static int write_value(int dfd, const char *dir, const char *file, const char *value,
                       struct lana_error **err)
{
        _cleanup_close_ int fd = openat(dfd, file, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return lana_error_setsys(err, negative_errno(), "cgroup: write %s to %s/%s", value,
                                         dir, file);
        size_t len = strlen(value);
        ssize_t n;
        do
                n = write(fd, value, len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return lana_error_setsys(err, negative_errno(), "cgroup: write %s to %s/%s", value,
                                         dir, file);
        if ((size_t)n != len)
                return lana_error_set(err, -EIO, "cgroup: write %s to %s/%s: short write", value,
                                      dir, file);
        return 0;
}

static bool file_exists_at(int dfd, const char *file)
{
        return faccessat(dfd, file, F_OK, 0) == 0;
}

/* Finds "key N" in a flat-keyed file (memory.events, memory.oom_control). */
static bool read_key(int dfd, const char *file, const char *key, int64_t *ret)
{
        _cleanup_free_ char *buf = NULL;
        if (read_file_at(dfd, file, CG_FILE_MAX, &buf, NULL, NULL) < 0)
                return false;
        size_t kl = strlen(key);
        for (const char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                if (!strncmp(l, key, kl) && l[kl] == ' ') {
                        *ret = strtoll(l + kl + 1, NULL, 10);
                        return true;
                }
        }
        return false;
}

static void cg_dir_release(struct cg_dir *d)
{
        closep(&d->pfd);
        closep(&d->dfd);
        free(d->path);
        free(d->mount);
}

/* Creates <parent>/<name>. An existing directory is an error: it may belong to a running
 * container with the same id, and we would remove it on destroy. */
static int cg_mkdir(struct cgroup *cg, const char *mount, const char *parent, bool v2,
                    struct lana_error **err)
{
        assert(cg->n_dirs < CG_MAX_DIRS);
        _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
                return lana_error_setsys(err, negative_errno(), "cgroup: open %s", parent);
        _cleanup_free_ char *path = xasprintf("%s/%s", parent, cg->name);
        if (mkdirat(pfd, cg->name, 0755) < 0)
                return lana_error_setsys(err, negative_errno(), "cgroup: create %s", path);
        int dfd = openat(pfd, cg->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
                int r = negative_errno();
                unlinkat(pfd, cg->name, AT_REMOVEDIR);
                return lana_error_setsys(err, r, "cgroup: open %s", path);
        }
        struct cg_dir *d = &cg->dirs[cg->n_dirs];
        *d = (struct cg_dir){.path = TAKE_PTR(path),
                             .mount = xstrdup(mount),
                             .pfd = TAKE_FD(pfd),
                             .dfd = dfd,
                             .v2 = v2};
        return (int)cg->n_dirs++;
}

/* Makes `c` available to the children of the caller's v2 cgroup. Returns 0, or a negative errno
 * with *reason saying why not (the caller then tries v1). */
static int v2_enable(int pfd, const char *parent, const char *avail, enum ctl c, char **reason)
{
        if (!has_word(avail, ctl_name[c], " \n")) {
                *reason = xasprintf("%s not in %s/cgroup.controllers", ctl_name[c], parent);
                return -ENOTSUP;
        }
        _cleanup_free_ char *sub = NULL;
        if (read_file_at(pfd, "cgroup.subtree_control", CG_FILE_MAX, &sub, NULL, NULL) >= 0 &&
            has_word(sub, ctl_name[c], " \n"))
                return 0;
        _cleanup_free_ char *val = xasprintf("+%s", ctl_name[c]);
        _cleanup_(lana_error_freep) struct lana_error *e = NULL;
        int r = write_value(pfd, parent, "cgroup.subtree_control", val, &e);
        if (r == -EBUSY)
                *reason = xasprintf("%s cannot be enabled in %s/cgroup.subtree_control: that "
                                    "cgroup holds processes and is not the root (cgroup v2 \"no "
                                    "internal processes\" rule)",
                                    ctl_name[c], parent);
        else if (r < 0)
                *reason = xstrdup(e->msg);
        return r;
}

static int apply_v2(struct cg_dir *d, enum ctl c, const struct cgroup_limits *lim,
                    struct lana_error **err)
{
        char val[64];
        int r;
        switch (c) {
        case CTL_MEMORY:
                snprintf(val, sizeof val, "%" PRId64, lim->memory_bytes);
                r = write_value(d->dfd, d->path, "memory.max", val, err);
                /* without this the "limit" only pushes the excess to swap */
                if (r >= 0 && file_exists_at(d->dfd, "memory.swap.max"))
                        r = write_value(d->dfd, d->path, "memory.swap.max", "0", err);
                return r;
        case CTL_PIDS:
                snprintf(val, sizeof val, "%" PRId64, lim->pids);
                return write_value(d->dfd, d->path, "pids.max", val, err);
        case CTL_CPU:
                snprintf(val, sizeof val, "%" PRId64 " %" PRId64, lim->cpu_quota_us,
                         lim->cpu_period_us);
                return write_value(d->dfd, d->path, "cpu.max", val, err);
        default:
                abort();
        }
}

static int apply_v1(struct cg_dir *d, enum ctl c, const struct cgroup_limits *lim,
                    struct lana_error **err)
{
        char val[32];
        int r;
        switch (c) {
        case CTL_MEMORY:
                snprintf(val, sizeof val, "%" PRId64, lim->memory_bytes);
                /* memory first: memsw may never be below it, and both start unlimited */
                r = write_value(d->dfd, d->path, "memory.limit_in_bytes", val, err);
                if (r >= 0 && file_exists_at(d->dfd, "memory.memsw.limit_in_bytes"))
                        r = write_value(d->dfd, d->path, "memory.memsw.limit_in_bytes", val, err);
                return r;
        case CTL_PIDS:
                snprintf(val, sizeof val, "%" PRId64, lim->pids);
                return write_value(d->dfd, d->path, "pids.max", val, err);
        case CTL_CPU:
                snprintf(val, sizeof val, "%" PRId64, lim->cpu_period_us);
                r = write_value(d->dfd, d->path, "cpu.cfs_period_us", val, err);
                if (r < 0)
                        return r;
                snprintf(val, sizeof val, "%" PRId64, lim->cpu_quota_us);
                return write_value(d->dfd, d->path, "cpu.cfs_quota_us", val, err);
        default:
                abort();
        }
}

static char *describe_limit(enum ctl c, const struct cgroup_limits *lim)
{
        switch (c) {
        case CTL_MEMORY:
                return xasprintf("memory limit of %" PRId64 " bytes", lim->memory_bytes);
        case CTL_PIDS:
                return xasprintf("pids limit of %" PRId64, lim->pids);
        case CTL_CPU:
                return xasprintf("cpu limit of %" PRId64 "/%" PRId64 " us", lim->cpu_quota_us,
                                 lim->cpu_period_us);
        default:
                abort();
        }
}

/* A control file the kernel does not have (cpu.cfs_quota_us without CFS bandwidth control, ...)
 * means the limit cannot be applied here: -ENOTSUP naming it, like a missing controller. */
static int missing_file(int r, enum ctl c, const struct cgroup_limits *lim, struct lana_error **err)
{
        if (r != -ENOENT)
                return r;
        _cleanup_free_ char *what = describe_limit(c, lim);
        return lana_error_set(err, -ENOTSUP, "cgroup: %s: not supported by this kernel (%s)", what,
                              err && *err ? (*err)->msg : "control file missing");
}

static void reasons_free(char *(*why)[CTL_MAX])
{
        for (int c = 0; c < CTL_MAX; c++)
                free((*why)[c]);
}

static void cgroup_destroyp(struct cgroup **cg)
{
        cgroup_destroy(*cg);
}

int cgroup_create(const char *id, const struct cgroup_limits *lim_in, struct cgroup **ret,
                  struct lana_error **err)
{
        assert(ret);
        if (!id_valid(id))
                return lana_error_set(err, -EINVAL,
                                      "cgroup: invalid container id \"%s\" (want 1-%d of "
                                      "[a-zA-Z0-9_-])",
                                      id ? id : "(null)", CG_ID_MAX);
        struct cgroup_limits lim = lim_in ? *lim_in : (struct cgroup_limits){0};
        if (lim.memory_bytes < 0 || lim.pids < 0 || lim.cpu_quota_us < 0 || lim.cpu_period_us < 0)
                return lana_error_set(err, -EINVAL, "cgroup: negative limit");
        if (lim.cpu_quota_us > 0 && lim.cpu_period_us == 0)
                lim.cpu_period_us = CPU_PERIOD_DEFAULT;
        bool need[CTL_MAX] = {lim.memory_bytes > 0, lim.pids > 0, lim.cpu_quota_us > 0};

        _cleanup_(cg_host_release) struct cg_host h = {0};
        int r = parse_mountinfo(&h, err);
        if (r >= 0)
                r = parse_proc_cgroup(&h, err);
        if (r < 0)
                return r;

        _cleanup_(cgroup_destroyp) struct cgroup *cg = xnew(struct cgroup, 1);
        cg->name = xasprintf(CG_PREFIX "%s", id);
        for (int c = 0; c < CTL_MAX; c++)
                cg->limit_dir[c] = -1;
        _cleanup_(reasons_free) char *why[CTL_MAX] = {NULL};

        if (h.v2_mount && h.v2_path) {
                _cleanup_free_ char *parent = parent_dir(h.v2_mount, h.v2_root, h.v2_path);
                _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pfd < 0)
                        return lana_error_setsys(err, negative_errno(), "cgroup: open %s", parent);
                _cleanup_free_ char *avail = NULL;
                if (read_file_at(pfd, "cgroup.controllers", CG_FILE_MAX, &avail, NULL, NULL) < 0)
                        avail = xstrdup("");
                bool use[CTL_MAX] = {false};
                for (int c = 0; c < CTL_MAX; c++)
                        if (need[c])
                                use[c] = v2_enable(pfd, parent, avail, c, &why[c]) >= 0;
                int i = cg_mkdir(cg, h.v2_mount, parent, true, err);
                if (i < 0)
                        return i;
                for (int c = 0; c < CTL_MAX; c++) {
                        if (!use[c])
                                continue;
                        r = apply_v2(&cg->dirs[i], c, &lim, err);
                        if (r < 0)
                                return missing_file(r, c, &lim, err);
                        cg->limit_dir[c] = i;
                }
        } else if (h.v2_mount) {
                for (int c = 0; c < CTL_MAX; c++)
                        why[c] = xasprintf("no unified entry in /proc/self/cgroup");
        }

        for (int c = 0; c < CTL_MAX; c++) {
                if (!need[c] || cg->limit_dir[c] >= 0)
                        continue;
                if (!h.v1_mount[c] || !h.v1_path[c]) {
                        _cleanup_free_ char *what = describe_limit(c, &lim);
                        return lana_error_set(err, -ENOTSUP,
                                              "cgroup: %s cannot be applied on this host (%s): "
                                              "v2: %s; v1: no %s hierarchy",
                                              what, layout_name[h.layout],
                                              why[c] ? why[c] : "no unified hierarchy",
                                              ctl_name[c]);
                }
                int i = -1;
                for (size_t k = 0; k < cg->n_dirs; k++)
                        if (!cg->dirs[k].v2 && !strcmp(cg->dirs[k].mount, h.v1_mount[c]))
                                i = (int)k; /* co-mounted controllers share one directory */
                if (i < 0) {
                        _cleanup_free_ char *parent =
                                parent_dir(h.v1_mount[c], h.v1_root[c], h.v1_path[c]);
                        i = cg_mkdir(cg, h.v1_mount[c], parent, false, err);
                        if (i < 0)
                                return i;
                }
                r = apply_v1(&cg->dirs[i], c, &lim, err);
                if (r < 0)
                        return missing_file(r, c, &lim, err);
                cg->limit_dir[c] = i;
        }
        *ret = TAKE_PTR(cg);
        return 0;
}

int cgroup_v2_fd(struct cgroup *cg)
{
        for (size_t i = 0; cg && i < cg->n_dirs; i++)
                if (cg->dirs[i].v2)
                        return cg->dirs[i].dfd;
        return -1;
}

int cgroup_add_pid(struct cgroup *cg, pid_t pid, bool skip_v2, struct lana_error **err)
{
        assert(cg);
        if (pid <= 0)
                return lana_error_set(err, -EINVAL, "cgroup: invalid pid %d", (int)pid);
        char val[32];
        snprintf(val, sizeof val, "%d", (int)pid);
        for (size_t i = 0; i < cg->n_dirs; i++) {
                if (skip_v2 && cg->dirs[i].v2)
                        continue;
                int r = write_value(cg->dirs[i].dfd, cg->dirs[i].path, "cgroup.procs", val, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

bool cgroup_oom_killed(struct cgroup *cg)
{
        if (!cg)
                return false;
        int64_t n = 0;
        int i = cg->limit_dir[CTL_MEMORY];
        if (i < 0) {
                /* no memory limit: only v2 may still count OOM kills (a parent's limit) */
                for (size_t k = 0; k < cg->n_dirs; k++)
                        if (cg->dirs[k].v2 &&
                            read_key(cg->dirs[k].dfd, "memory.events", "oom_kill", &n))
                                return n > 0;
                return false;
        }
        const struct cg_dir *d = &cg->dirs[i];
        if (d->v2)
                return read_key(d->dfd, "memory.events", "oom_kill", &n) && n > 0;
        /* v1: "oom_kill N" exists since 4.13; before that, under_oom or the weaker failcnt
         * (the limit was hit, which with memsw set usually means the OOM killer ran; newer
         * kernels leave failcnt at 0 even after an OOM kill, hence oom_kill first) */
        if (read_key(d->dfd, "memory.oom_control", "oom_kill", &n))
                return n > 0;
        if (read_key(d->dfd, "memory.oom_control", "under_oom", &n) && n > 0)
                return true;
        static const char *const failcnt[] = {"memory.failcnt", "memory.memsw.failcnt"};
        for (size_t k = 0; k < ELEMENTSOF(failcnt); k++) {
                _cleanup_free_ char *buf = NULL;
                if (read_file_at(d->dfd, failcnt[k], CG_FILE_MAX, &buf, NULL, NULL) >= 0 &&
                    strtoll(buf, NULL, 10) > 0)
                        return true;
        }
        return false;
}

/* SIGKILLs every process of the cgroup at dfd and of its sub-cgroups; returns how many were
 * still listed. */
static size_t kill_tree(int dfd, bool v2, int depth)
{
        size_t live = 0;
        if (v2 && depth == 0 && file_exists_at(dfd, "cgroup.kill"))
                (void)write_value(dfd, "", "cgroup.kill", "1", NULL); /* whole subtree, 5.14+ */
        _cleanup_free_ char *procs = NULL;
        if (read_file_at(dfd, "cgroup.procs", CG_FILE_MAX, &procs, NULL, NULL) >= 0) {
                pid_t self = getpid();
                for (char *p = procs, *end; *p; p = end) {
                        long pid = strtol(p, &end, 10);
                        if (end == p)
                                break;
                        /* never ourselves, if someone put the caller in there */
                        if (pid > 0 && pid != self) {
                                live++;
                                kill((pid_t)pid, SIGKILL);
                        }
                }
        }
        if (depth >= CG_MAX_DEPTH)
                return live;
        int dup_fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *dir = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        if (!dir) {
                closep(&dup_fd);
                return live;
        }
        for (struct dirent *de; (de = readdir(dir));) {
                if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                _cleanup_close_ int sub =
                        openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub >= 0)
                        live += kill_tree(sub, v2, depth + 1);
        }
        closedir(dir);
        return live;
}

/* rmdir pfd/name after its sub-cgroups, retrying while the kernel still reports it busy. */
static void rmdir_tree(int pfd, const char *name, int depth)
{
        if (depth < CG_MAX_DEPTH) {
                int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
                if (!dir)
                        closep(&dfd);
                for (struct dirent *de; dir && (de = readdir(dir));)
                        if (de->d_type == DT_DIR && strcmp(de->d_name, ".") &&
                            strcmp(de->d_name, ".."))
                                rmdir_tree(dirfd(dir), de->d_name, depth + 1);
                if (dir)
                        closedir(dir);
        }
        for (int t = 0; t < CG_RMDIR_TRIES; t++) {
                if (unlinkat(pfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
                        return;
                if (errno != EBUSY && errno != EINTR)
                        return;
                sleep_ns(CG_POLL_NS);
        }
}

void cgroup_destroy(struct cgroup *cg)
{
        if (!cg)
                return;
        /* the common case: the container's processes are gone and it made no sub-cgroups, so
         * the directories go at once; whatever is left (a busy or non-empty cgroup) is killed
         * and removed below */
        size_t left = 0;
        for (size_t i = 0; i < cg->n_dirs; i++) {
                if (cg->dirs[i].dfd >= 0 &&
                    (unlinkat(cg->dirs[i].pfd, cg->name, AT_REMOVEDIR) == 0 || errno == ENOENT)) {
                        closep(&cg->dirs[i].dfd);
                        cg_dir_release(&cg->dirs[i]);
                } else {
                        cg->dirs[left++] = cg->dirs[i];
                }
        }
        cg->n_dirs = left;
        int64_t deadline = now_ns() + CG_KILL_TIMEOUT_NS;
        for (;;) {
                size_t live = 0;
                for (size_t i = 0; i < cg->n_dirs; i++)
                        live += kill_tree(cg->dirs[i].dfd, cg->dirs[i].v2, 0);
                if (!live || now_ns() >= deadline)
                        break;
                sleep_ns(CG_POLL_NS);
        }
        for (size_t i = 0; i < cg->n_dirs; i++) {
                closep(&cg->dirs[i].dfd);
                cg->dirs[i].dfd = -1;
                rmdir_tree(cg->dirs[i].pfd, cg->name, 0);
                cg_dir_release(&cg->dirs[i]);
        }
        free(cg->name);
        free(cg);
}

char **cgroup_paths(const struct cgroup *cg)
{
        char **v = xnew(char *, cg->n_dirs + 1);
        for (size_t i = 0; i < cg->n_dirs; i++)
                v[i] = xstrdup(cg->dirs[i].path);
        return v;
}

_public_ int lana_cgroup_remove(const char *path, const char *id, struct lana_error **err)
{
        _cleanup_free_ char *name = xasprintf(CG_PREFIX "%s", id ? id : "");
        const char *slash = strrchr(path, '/');
        /* the path comes from a record: only ever a container's own cgroup below the cgroup
         * file systems, named after it */
        if (!id_valid(id) || strncmp(path, "/sys/fs/cgroup/", 15) != 0 || strstr(path, "/../") ||
            strstr(path, "/./") || !slash || strcmp(slash + 1, name) != 0)
                return lana_error_set(err, -EINVAL, "not a cgroup of container %s: %s",
                                      id ? id : "(null)", path);
        _cleanup_free_ char *parent = xstrndup(path, (size_t)(slash - path));
        _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
                return errno == ENOENT ? 0
                                       : lana_error_setsys(err, -errno, "cgroup: open %s", parent);
        int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0
                                       : lana_error_setsys(err, -errno, "cgroup: open %s", path);
        /* the teardown a running lana-img would have done, on a cgroup of one directory */
        struct cgroup *cg = xnew(struct cgroup, 1);
        cg->name = TAKE_PTR(name);
        cg->dirs[0] = (struct cg_dir){.path = xstrdup(path),
                                      .pfd = fcntl(pfd, F_DUPFD_CLOEXEC, 3),
                                      .dfd = dfd,
                                      .v2 = file_exists_at(dfd, "cgroup.controllers")};
        cg->n_dirs = 1;
        _cleanup_free_ char *base = xstrdup(slash + 1);
        cgroup_destroy(cg);
        if (faccessat(pfd, base, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return lana_error_set(err, -EBUSY, "cgroup %s: still busy", path);
        return 0;
}

_public_ char **lana_cgroup_candidates(const char *id)
{
        _cleanup_(cg_host_release) struct cg_host h = {0};
        char **v = xnew(char *, CTL_MAX + 2);
        size_t n = 0;
        if (!id_valid(id) || parse_mountinfo(&h, NULL) < 0 || parse_proc_cgroup(&h, NULL) < 0)
                return v;
        if (h.v2_mount && h.v2_path) {
                _cleanup_free_ char *parent = parent_dir(h.v2_mount, h.v2_root, h.v2_path);
                v[n++] = xasprintf("%s/" CG_PREFIX "%s", parent, id);
        }
        for (int c = 0; c < CTL_MAX; c++) {
                if (!h.v1_mount[c] || !h.v1_path[c])
                        continue;
                _cleanup_free_ char *parent = parent_dir(h.v1_mount[c], h.v1_root[c], h.v1_path[c]);
                _cleanup_free_ char *path = xasprintf("%s/" CG_PREFIX "%s", parent, id);
                bool seen = false; /* co-mounted controllers share one hierarchy */
                for (size_t k = 0; k < n; k++)
                        seen = seen || !strcmp(v[k], path);
                if (!seen)
                        v[n++] = TAKE_PTR(path);
        }
        return v;
}
