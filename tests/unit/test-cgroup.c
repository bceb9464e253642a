/*
 * test-cgroup.c — the container's cgroups on the real host: the limits land in the files the
 * kernel enforces (in whichever hierarchy applied them), the kernel then enforces them (a child
 * touching twice its memory limit is OOM-killed and reported as such, a fork loop stops below
 * the pids limit), a process added is listed in every cgroup, and destroy kills what is left and
 * removes every directory, sub-cgroups included. Needs root and a writable cgroup hierarchy.
 *
 * Hosts differ (pure v2, hybrid v1 + unified, pure v1; controllers delegated or not; swap
 * accounted or not): each case first finds out, here and independently of cgroup.c (from
 * /proc/self/cgroup and the conventional mount points), whether the host offers what it needs,
 * and skips with the precise reason when it does not. What the host offers must then work.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tap-skip.h"

#include "../../src/lib/runtime/runtime-internal.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define MiB (1024 * 1024)

static bool is_cgroup2(const char *path)
{
        struct statfs sf;
        return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

static bool is_cgroup1(const char *path)
{
        struct statfs sf;
        return statfs(path, &sf) == 0 && sf.f_type == CGROUP_SUPER_MAGIC;
}

/* True when the list `list`, separated by any of `seps`, holds the word `w`. */
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

static char *join(const char *dir, const char *file)
{
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, file ? file : "") > 0);
        return p;
}

static bool exists(const char *dir, const char *file)
{
        char *p = join(dir, file);
        struct stat st;
        bool ok = stat(p, &st) == 0;
        free(p);
        return ok;
}

/* The first line of dir/file, or "" when it cannot be read (into the caller's buffer). */
static const char *read_line_into(const char *dir, const char *file, char *buf, size_t len)
{
        buf[0] = 0;
        if (!dir || !*dir)
                return buf;
        char *p = join(dir, file);
        FILE *f = fopen(p, "re");
        free(p);
        if (!f)
                return buf;
        if (!fgets(buf, (int)len, f))
                buf[0] = 0;
        fclose(f);
        buf[strcspn(buf, "\n")] = 0;
        return buf;
}

static const char *read_line(const char *dir, const char *file)
{
        static char buf[4096];
        return read_line_into(dir, file, buf, sizeof buf);
}

/* ---- what the host offers, found without cgroup.c ---- */

enum { V1_MEMORY, V1_PIDS, V1_CPU };
static const char *const v1_name[] = {"memory", "pids", "cpu"};

/* The caller's own cgroup in the unified hierarchy and in the v1 hierarchy of each controller,
 * at the conventional mount points (cgroup2 at /sys/fs/cgroup or /sys/fs/cgroup/unified, v1 at
 * /sys/fs/cgroup/<controllers>), as /proc/self/cgroup names it; "" where there is none. */
struct host {
        char v2[2048];
        bool v2_root; /* the caller sits in the root of the unified hierarchy */
        char v1[3][2048];
};

static void host_find(struct host *h)
{
        memset(h, 0, sizeof *h);
        FILE *f = fopen("/proc/self/cgroup", "re");
        assert_non_null(f);
        char line[4096];
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c1 = *c2 = 0;
                const char *ctls = c1 + 1, *path = c2 + 1;
                bool top = !strcmp(path, "/");
                if (top)
                        path = "";
                if (!strcmp(line, "0") && !*ctls) {
                        const char *base = is_cgroup2("/sys/fs/cgroup") ? "/sys/fs/cgroup"
                                           : is_cgroup2("/sys/fs/cgroup/unified")
                                                   ? "/sys/fs/cgroup/unified"
                                                   : NULL;
                        if (base) {
                                snprintf(h->v2, sizeof h->v2, "%s%s", base, path);
                                h->v2_root = top;
                        }
                        continue;
                }
                /* a hierarchy that is not mounted where convention puts it is not used */
                char mnt[1024];
                snprintf(mnt, sizeof mnt, "/sys/fs/cgroup/%s", ctls);
                if (!is_cgroup1(mnt))
                        continue;
                for (int c = 0; c < 3; c++)
                        if (has_word(ctls, v1_name[c], ","))
                                snprintf(h->v1[c], sizeof h->v1[c], "%s%s", mnt, path);
        }
        fclose(f);
}

static const char *root_missing(void)
{
        static char why[2200];
        if (geteuid() != 0)
                return "needs root (creates cgroups)";
        struct host h;
        host_find(&h);
        const char *dir = *h.v2 ? h.v2 : NULL;
        for (int c = 0; !dir && c < 3; c++)
                if (*h.v1[c])
                        dir = h.v1[c];
        if (!dir)
                return "no cgroup hierarchy here: neither cgroup2 at /sys/fs/cgroup or "
                       "/sys/fs/cgroup/unified nor a v1 memory, pids or cpu hierarchy in "
                       "/proc/self/cgroup";
        if (access(dir, W_OK) != 0) {
                snprintf(why, sizeof why, "the caller's cgroup %s is not writable: %s", dir,
                         strerror(errno));
                return why;
        }
        return NULL;
}

#define REQUIRE_ROOT()                                                                             \
        do {                                                                                       \
                const char *why_ = root_missing();                                                 \
                if (why_)                                                                          \
                        UNIT_SKIP("%s", why_);                                                     \
        } while (0)

/* NULL when a limit of controller `c` can be applied here (the unified hierarchy offers it to
 * the caller's children, or a v1 hierarchy of it is mounted and writable), else why not. */
static const char *ctl_missing(int c)
{
        static char why[4][2600];
        char *w = why[c];
        struct host h;
        host_find(&h);
        const char *name = v1_name[c];
        char avail[1024], sub[1024], procs[64];
        const char *v2_why = "no unified hierarchy";
        char v2_buf[2300];
        if (*h.v2) {
                read_line_into(h.v2, "cgroup.controllers", avail, sizeof avail);
                read_line_into(h.v2, "cgroup.subtree_control", sub, sizeof sub);
                read_line_into(h.v2, "cgroup.procs", procs, sizeof procs);
                if (has_word(avail, name, " ")) {
                        /* enabling it for children needs a cgroup without processes (or the
                         * root): the "no internal processes" rule */
                        if (h.v2_root || has_word(sub, name, " ") || !*procs)
                                return NULL;
                        snprintf(v2_buf, sizeof v2_buf,
                                 "%s cannot be enabled in %s/cgroup.subtree_control (the cgroup "
                                 "holds processes and is not the root)",
                                 name, h.v2);
                } else {
                        snprintf(v2_buf, sizeof v2_buf, "%s not in %s/cgroup.controllers", name,
                                 h.v2);
                }
                v2_why = v2_buf;
        }
        if (!*h.v1[c]) {
                snprintf(w, sizeof why[c],
                         "no %s controller for the caller: v2: %s; v1: no %s "
                         "hierarchy",
                         name, v2_why, name);
                return w;
        }
        if (access(h.v1[c], W_OK) != 0) {
                snprintf(w, sizeof why[c], "the v1 %s cgroup %s is not writable: %s", name, h.v1[c],
                         strerror(errno));
                return w;
        }
        if (c == V1_CPU && !exists(h.v1[c], "cpu.cfs_quota_us")) {
                snprintf(w, sizeof why[c],
                         "no CFS bandwidth control in this kernel "
                         "(CONFIG_CFS_BANDWIDTH): %s has no cpu.cfs_quota_us",
                         h.v1[c]);
                return w;
        }
        return NULL;
}

#define REQUIRE_CTL(c)                                                                             \
        do {                                                                                       \
                const char *why_ = ctl_missing(c);                                                 \
                if (why_)                                                                          \
                        UNIT_SKIP("%s", why_);                                                     \
        } while (0)

/* True when the kernel has swap space in use: a memory limit then only pushes the excess to swap
 * unless the memory cgroup can limit swap too. */
static bool swap_on(void)
{
        FILE *f = fopen("/proc/swaps", "re");
        if (!f)
                return false;
        char line[512];
        int n = 0;
        while (fgets(line, sizeof line, f))
                n++;
        fclose(f);
        return n > 1; /* a header line, then one line per swap area */
}

/* ---- the container's directories ---- */

struct dirs {
        char *v2;     /* unified hierarchy, NULL when not mounted */
        char *v1[3];  /* memory, pids, cpu */
        char *all[8]; /* every candidate, for the existence checks */
        int n;
};

static void dirs_find(struct dirs *d, const char *id)
{
        memset(d, 0, sizeof *d);
        struct host h;
        host_find(&h);
        char *p = NULL;
        if (*h.v2) {
                assert_true(asprintf(&p, "%s/lana-img-%s", h.v2, id) > 0);
                d->v2 = d->all[d->n++] = p;
        }
        for (int c = 0; c < 3; c++) {
                if (!*h.v1[c])
                        continue;
                assert_true(asprintf(&p, "%s/lana-img-%s", h.v1[c], id) > 0);
                d->v1[c] = d->all[d->n++] = p;
        }
}

static void dirs_free(struct dirs *d)
{
        for (int i = 0; i < d->n; i++)
                free(d->all[i]);
}

static bool procs_has(const char *dir, pid_t pid)
{
        char line[64];
        char *p = join(dir, "cgroup.procs");
        FILE *f = fopen(p, "re");
        free(p);
        if (!f)
                return false;
        bool found = false;
        while (!found && fgets(line, sizeof line, f))
                found = atoi(line) == pid;
        fclose(f);
        return found;
}

/* ---- fixture: whatever a failing test leaves (children, cgroups) is cleaned up here ---- */

struct fx {
        struct cgroup *cg;
        struct dirs d;
        char id[64];
        pid_t kids[4];
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof *f);
        *state = f;
        return f ? 0 : -1;
}

static void reap_all(int timeout_ms)
{
        for (int t = 0; t < timeout_ms;) {
                int st;
                pid_t p = waitpid(-1, &st, WNOHANG);
                if (p < 0)
                        return; /* ECHILD: nothing left */
                if (p == 0) {
                        struct timespec ts = {0, 1000000};
                        nanosleep(&ts, NULL);
                        t++;
                }
        }
}

static int teardown(void **state)
{
        struct fx *f = *state;
        for (size_t i = 0; i < sizeof f->kids / sizeof *f->kids; i++)
                if (f->kids[i] > 0) {
                        kill(f->kids[i], SIGKILL);
                        waitpid(f->kids[i], NULL, 0);
                }
        cgroup_destroy(f->cg);
        reap_all(1000);
        dirs_free(&f->d);
        free(f);
        return 0;
}

static void create(struct fx *f, const char *what, const struct cgroup_limits *lim)
{
        snprintf(f->id, sizeof f->id, "t%d-%s", (int)getpid(), what);
        struct lana_error *e = NULL;
        int r = cgroup_create(f->id, lim, &f->cg, &e);
        if (r < 0)
                fail_msg("cgroup_create: %s", e ? e->msg : strerror(-r));
        assert_non_null(f->cg);
        dirs_find(&f->d, f->id);
}

static void destroy(struct fx *f)
{
        cgroup_destroy(f->cg);
        f->cg = NULL;
}

static void check_gone(const struct dirs *d)
{
        for (int i = 0; i < d->n; i++)
                if (exists(d->all[i], NULL))
                        fail_msg("%s left behind", d->all[i]);
}

/* ---- children ---- */

/* A child that waits for a byte on a pipe, then runs fn (which never returns). */
struct gated {
        pid_t pid;
        int go;
};

static struct gated spawn_gated(struct fx *f, void (*fn)(int arg), int arg)
{
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[1]);
                char c;
                if (read(p[0], &c, 1) != 1)
                        _exit(120);
                close(p[0]);
                fn(arg);
                _exit(121);
        }
        close(p[0]);
        for (size_t i = 0; i < sizeof f->kids / sizeof *f->kids; i++)
                if (f->kids[i] <= 0) {
                        f->kids[i] = pid;
                        break;
                }
        return (struct gated){.pid = pid, .go = p[1]};
}

static void release(struct gated *g)
{
        assert_int_equal(write(g->go, "g", 1), 1);
        close(g->go);
        g->go = -1;
}

/* waitpid with a deadline: a child that does not die must fail the test, not hang it. */
static int wait_for(struct fx *f, struct gated *g, int timeout_ms)
{
        if (g->go >= 0)
                close(g->go);
        g->go = -1;
        for (int t = 0; t < timeout_ms; t++) {
                int st;
                pid_t r = waitpid(g->pid, &st, WNOHANG);
                if (r == g->pid) {
                        for (size_t i = 0; i < sizeof f->kids / sizeof *f->kids; i++)
                                if (f->kids[i] == g->pid)
                                        f->kids[i] = 0;
                        return st;
                }
                assert_true(r == 0);
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
        }
        fail_msg("child %d still alive after %d ms", (int)g->pid, timeout_ms);
        return -1;
}

static void child_pause(int arg)
{
        for (;;)
                pause();
}

static void child_eat(int mib)
{
        size_t n = (size_t)mib * MiB;
        volatile char *p = malloc(n);
        if (!p)
                _exit(2);
        for (size_t i = 0; i < n; i += 4096)
                p[i] = 1;
        _exit(0);
}

/* Forks until refused; exits with the number of successful forks (the children pause). */
static void child_fork_loop(int max)
{
        int n = 0;
        for (; n < max; n++) {
                pid_t pid = fork();
                if (pid == 0) {
                        for (;;)
                                pause();
                }
                if (pid < 0) {
                        if (errno != EAGAIN)
                                _exit(200);
                        break;
                }
        }
        _exit(n);
}

/* ---- tests ---- */

static void test_invalid_id(void **state)
{
        struct cgroup_limits lim = {.memory_bytes = 32 * MiB};
        const char *bad[] = {"",
                             "a/b",
                             "..",
                             ".",
                             "a b",
                             "a.b",
                             "x\n",
                             "\xc3\xa9t\xc3\xa9",
                             "lana:1",
                             "0123456789012345678901234567890123456789012345678901234"
                             "5678901234" /* 65 */};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                struct cgroup *cg = NULL;
                struct lana_error *e = NULL;
                assert_int_equal(cgroup_create(bad[i], &lim, &cg, &e), -EINVAL);
                assert_null(cg);
                assert_non_null(e);
                assert_non_null(strstr(e->msg, "invalid container id"));
                lana_error_free(e);
        }
        struct cgroup *cg = NULL;
        assert_int_equal(cgroup_create(NULL, &lim, &cg, NULL), -EINVAL);
        struct cgroup_limits neg = {.pids = -1};
        assert_int_equal(cgroup_create("ok", &neg, &cg, NULL), -EINVAL);
        assert_null(cg);
        cgroup_destroy(NULL);
}

static void test_limits_and_membership(void **state)
{
        REQUIRE_ROOT();
        REQUIRE_CTL(V1_MEMORY);
        REQUIRE_CTL(V1_PIDS);
        REQUIRE_CTL(V1_CPU);
        struct fx *f = *state;
        struct cgroup_limits lim = {.memory_bytes = 32 * MiB,
                                    .pids = 20,
                                    .cpu_quota_us = 50000,
                                    .cpu_period_us = 100000};
        create(f, "limits", &lim);
        struct dirs *d = &f->d;

        /* memory: v2 memory.max, or v1 memory.limit_in_bytes (+ memsw) — exactly one */
        bool mem_v2 = !strcmp(read_line(d->v2, "memory.max"), "33554432");
        bool mem_v1 = !strcmp(read_line(d->v1[V1_MEMORY], "memory.limit_in_bytes"), "33554432");
        assert_true(mem_v2 != mem_v1);
        if (mem_v2 && exists(d->v2, "memory.swap.max"))
                assert_string_equal(read_line(d->v2, "memory.swap.max"), "0");
        if (mem_v1 && exists(d->v1[V1_MEMORY], "memory.memsw.limit_in_bytes"))
                assert_string_equal(read_line(d->v1[V1_MEMORY], "memory.memsw.limit_in_bytes"),
                                    "33554432");

        bool pids_v2 = !strcmp(read_line(d->v2, "pids.max"), "20");
        bool pids_v1 = !strcmp(read_line(d->v1[V1_PIDS], "pids.max"), "20");
        assert_true(pids_v2 != pids_v1);

        bool cpu_v2 = !strcmp(read_line(d->v2, "cpu.max"), "50000 100000");
        bool cpu_v1 = !strcmp(read_line(d->v1[V1_CPU], "cpu.cfs_quota_us"), "50000") &&
                      !strcmp(read_line(d->v1[V1_CPU], "cpu.cfs_period_us"), "100000");
        assert_true(cpu_v2 != cpu_v1);
        fprintf(stderr, "# memory: %s, pids: %s, cpu: %s\n", mem_v2 ? "v2" : "v1",
                pids_v2 ? "v2" : "v1", cpu_v2 ? "v2" : "v1");

        /* the unified hierarchy always gets one, for tracking; v1 only where a limit went */
        if (d->v2)
                assert_true(exists(d->v2, NULL));
        if (d->v1[V1_MEMORY])
                assert_true(exists(d->v1[V1_MEMORY], NULL) == mem_v1);
        if (d->v1[V1_PIDS])
                assert_true(exists(d->v1[V1_PIDS], NULL) == pids_v1);

        struct gated g = spawn_gated(f, child_pause, 0);
        assert_int_equal(cgroup_add_pid(f->cg, g.pid, false, NULL), 0);
        int created = 0;
        for (int i = 0; i < d->n; i++) {
                if (!exists(d->all[i], NULL))
                        continue;
                created++;
                if (!procs_has(d->all[i], g.pid))
                        fail_msg("pid %d not in %s/cgroup.procs", (int)g.pid, d->all[i]);
        }
        assert_true(created >= 1);
        assert_false(cgroup_oom_killed(f->cg));

        /* a pid that does not exist: the error names the file and the value */
        struct lana_error *e = NULL;
        assert_true(cgroup_add_pid(f->cg, 999999999, false, &e) < 0);
        assert_non_null(e);
        assert_non_null(strstr(e->msg, "999999999"));
        assert_non_null(strstr(e->msg, "cgroup.procs"));
        lana_error_free(e);

        kill(g.pid, SIGKILL);
        wait_for(f, &g, 2000);
        destroy(f);
        check_gone(d);
}

static void test_oom(void **state)
{
        REQUIRE_ROOT();
        struct fx *f = *state;
        REQUIRE_CTL(V1_MEMORY);
        struct cgroup_limits lim = {.memory_bytes = 32 * MiB};
        create(f, "oom", &lim);
        /* with swap that the cgroup cannot limit, the excess is swapped out, not OOM-killed */
        struct dirs *d = &f->d;
        bool mem_v2 = !strcmp(read_line(d->v2, "memory.max"), "33554432");
        const char *swap_file = mem_v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes";
        const char *mem_dir = mem_v2 ? d->v2 : d->v1[V1_MEMORY];
        if (swap_on() && !exists(mem_dir, swap_file))
                UNIT_SKIP("swap is on and %s has no %s (swap accounting is off): a child over the "
                          "memory limit is swapped out, never OOM-killed",
                          mem_dir, swap_file);

        /* below the limit: lives, and nothing is reported */
        struct gated g = spawn_gated(f, child_eat, 8);
        assert_int_equal(cgroup_add_pid(f->cg, g.pid, false, NULL), 0);
        release(&g);
        int st = wait_for(f, &g, 5000);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_false(cgroup_oom_killed(f->cg));

        g = spawn_gated(f, child_eat, 64);
        assert_int_equal(cgroup_add_pid(f->cg, g.pid, false, NULL), 0);
        release(&g);
        st = wait_for(f, &g, 5000);
        if (!WIFSIGNALED(st))
                fail_msg("child touching 64 MiB under a 32 MiB limit exited with %d",
                         WEXITSTATUS(st));
        assert_int_equal(WTERMSIG(st), SIGKILL);
        assert_true(cgroup_oom_killed(f->cg));

        destroy(f);
        check_gone(&f->d);
}

static void test_pids_limit(void **state)
{
        REQUIRE_ROOT();
        struct fx *f = *state;
        REQUIRE_CTL(V1_PIDS);
        struct cgroup_limits lim = {.pids = 20};
        create(f, "pids", &lim);

        struct gated g = spawn_gated(f, child_fork_loop, 40);
        assert_int_equal(cgroup_add_pid(f->cg, g.pid, false, NULL), 0);
        release(&g);
        int st = wait_for(f, &g, 5000);
        assert_true(WIFEXITED(st));
        int forks = WEXITSTATUS(st);
        assert_int_not_equal(forks, 200); /* refused with something else than EAGAIN */
        /* the forking child is one of the 20 */
        assert_int_equal(forks, 19);

        /* the 19 grandchildren (ours, as subreaper) are killed by destroy */
        destroy(f);
        int reaped = 0;
        for (int t = 0; t < 2000 && reaped < forks;) {
                pid_t p = waitpid(-1, &st, WNOHANG);
                assert_true(p >= 0);
                if (p == 0) {
                        struct timespec ts = {0, 1000000};
                        nanosleep(&ts, NULL);
                        t++;
                        continue;
                }
                assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
                reaped++;
        }
        assert_int_equal(reaped, forks);
        check_gone(&f->d);
}

static void test_destroy_kills_leftovers(void **state)
{
        REQUIRE_ROOT();
        struct fx *f = *state;
        REQUIRE_CTL(V1_MEMORY);
        REQUIRE_CTL(V1_PIDS);
        struct cgroup_limits lim = {.memory_bytes = 64 * MiB, .pids = 50};
        create(f, "kill", &lim);
        struct dirs *d = &f->d;
        int created = 0;
        for (int i = 0; i < d->n; i++)
                created += exists(d->all[i], NULL);
        assert_true(created >= 1);

        struct gated a = spawn_gated(f, child_pause, 0);
        struct gated b = spawn_gated(f, child_pause, 0);
        assert_int_equal(cgroup_add_pid(f->cg, a.pid, false, NULL), 0);
        assert_int_equal(cgroup_add_pid(f->cg, b.pid, false, NULL), 0);
        /* b in sub-cgroups the "container" made itself, in every hierarchy: still killed,
         * still removed */
        char sub[8][2048];
        int nsub = 0;
        for (int i = 0; i < d->n; i++) {
                if (!exists(d->all[i], NULL))
                        continue;
                snprintf(sub[nsub], sizeof sub[nsub], "%s/inner", d->all[i]);
                assert_int_equal(mkdir(sub[nsub], 0755), 0);
                char val[32];
                snprintf(val, sizeof val, "%d", (int)b.pid);
                char *p = join(sub[nsub], "cgroup.procs");
                int fd = open(p, O_WRONLY | O_CLOEXEC);
                free(p);
                assert_true(fd >= 0);
                assert_int_equal(write(fd, val, strlen(val)), (ssize_t)strlen(val));
                close(fd);
                assert_true(procs_has(sub[nsub], b.pid));
                assert_false(procs_has(d->all[i], b.pid));
                nsub++;
        }

        destroy(f);
        int st = wait_for(f, &a, 1000);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        st = wait_for(f, &b, 1000);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        for (int i = 0; i < nsub; i++)
                assert_false(exists(sub[i], NULL));
        check_gone(d);
}

static void test_same_id_twice(void **state)
{
        REQUIRE_ROOT();
        struct fx *f = *state;
        REQUIRE_CTL(V1_PIDS);
        struct cgroup_limits lim = {.pids = 10};
        create(f, "twice", &lim);
        struct cgroup *cg2 = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(cgroup_create(f->id, &lim, &cg2, &e), -EEXIST);
        assert_null(cg2);
        assert_non_null(strstr(e->msg, "lana-img-"));
        lana_error_free(e);
        /* the failed attempt removed nothing of the first */
        int left = 0;
        for (int i = 0; i < f->d.n; i++)
                left += exists(f->d.all[i], NULL);
        assert_true(left >= 1);
        if (f->d.v2)
                assert_true(exists(f->d.v2, NULL));
        destroy(f);
        check_gone(&f->d);
}

/* A limit no hierarchy can take is an error naming it, and what was already created for the
 * other limits is removed. The v1 pids hierarchy is hidden by unmounting it in a private mount
 * namespace of a child (never propagated: / is made private first). */
static void test_unsupported_limit(void **state)
{
        REQUIRE_ROOT();
        struct fx *f = *state;
        REQUIRE_CTL(V1_MEMORY);
        if (!is_cgroup1("/sys/fs/cgroup/pids"))
                UNIT_SKIP("no v1 pids hierarchy at /sys/fs/cgroup/pids to hide");
        struct host h;
        host_find(&h);
        if (*h.v2 && has_word(read_line(h.v2, "cgroup.controllers"), "pids", " "))
                UNIT_SKIP("the unified hierarchy offers pids too (%s/cgroup.controllers): hiding "
                          "the v1 hierarchy would not make the limit inapplicable",
                          h.v2);
        snprintf(f->id, sizeof f->id, "t%d-nopids", (int)getpid());
        struct gated g = {.go = -1};
        g.pid = fork();
        assert_true(g.pid >= 0);
        if (g.pid == 0) {
                if (unshare(CLONE_NEWNS) < 0)
                        _exit(10);
                if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        _exit(11);
                if (umount2("/sys/fs/cgroup/pids", MNT_DETACH) < 0)
                        _exit(12);
                struct cgroup_limits lim = {.memory_bytes = 32 * MiB, .pids = 20};
                struct cgroup *cg = NULL;
                struct lana_error *e = NULL;
                int r = cgroup_create(f->id, &lim, &cg, &e);
                fprintf(stderr, "# %s\n", e ? e->msg : "(no error)");
                if (r != -ENOTSUP || cg)
                        _exit(20);
                if (!strstr(e->msg, "pids limit of 20"))
                        _exit(21);
                _exit(0);
        }
        f->kids[0] = g.pid;
        int st = wait_for(f, &g, 5000);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        dirs_find(&f->d, f->id);
        check_gone(&f->d);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_id),
        T(test_limits_and_membership),
        T(test_oom),
        T(test_pids_limit),
        T(test_destroy_kills_leftovers),
        T(test_same_id_twice),
        T(test_unsupported_limit),
};

static int run(void)
{
        /* the pids test's grandchildren are reparented to us so we can see how they died */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        return cmocka_run_group_tests(tests, NULL, NULL);
}

int main(void)
{
        return unit_run_fixing_skips(run);
}
