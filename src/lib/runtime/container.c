/*
 * container.c — starting a container. The order follows crun's and is written down in
 * docs/runtime.md:
 *
 *   parent: sealed memfd copy of the static lana-init for --init; the seccomp filter compiled
 *           (the default one cached); cgroups created with limits; socketpair;
 *           clone(NEWPID|NEWNS|NEWUTS|NEWIPC[|NEWNET]); child put in the cgroups; "go" sent;
 *           then the parent reads the child's report: "X" then EOF means exec succeeded, EOF
 *           without "X" that the child died, a message that it failed (code + one line).
 *   child:  cgroup namespace (after placement, so the container's cgroup is its root); mount
 *           propagation private; overlay (or bind) rootfs, nodev; /proc; /dev as a nodev
 *           tmpfs with the host's standard device nodes bind-mounted in, /dev/pts (newinstance),
 *           /dev/shm, /dev/mqueue; /sys read-only; binds and tmpfs mounts, every target
 *           resolved in the new root with openat2(RESOLVE_IN_ROOT) and mounted through its fd;
 *           masked and read-only paths; pivot_root and detach the old root; read-only root;
 *           hostname; loopback up; rlimits; user and groups resolved from the image; the pty;
 *           (seccomp here when no_new_privs is off: loading needs CAP_SYS_ADMIN); capability
 *           bounding set, setgroups/setresgid/setresuid keeping caps, capset; no_new_privs;
 *           chdir and check; every fd >= 3 close-on-exec; seccomp (last, with no_new_privs);
 *           "X" reported; exec (or fexecve of the sealed init).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <termios.h>
#include <unistd.h>

#include "lana/runtime.h"
#include "alloc.h"
#include "buf.h"
#include "fs-util.h"
#include "runtime-internal.h"
#include "test-hook.h"

#define STACK_SIZE (256 * 1024)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct lana_container {
        pid_t pid;
        int pty;
        int report;      /* our end of the report socket while the container is created */
        char *exec_fifo; /* the fifo its process waits on until started, or NULL */
        struct cgroup *cg;
        int status;
        bool waited;
};

struct child_args {
        const struct lana_container_spec *s;
        int sock;
        int init_fd;        /* sealed memfd of the static init, or -1 */
        const void *filter; /* compiled seccomp BPF, or NULL for none */
        size_t filter_len;
        int fifo_fd; /* O_PATH fd of the exec fifo (create then start), or -1 */
};

/* ---- reporting from the child ---- */

static _noreturn_ void child_fail(int sock, int code, const char *fmt, ...) _printf_(3, 4);
static _noreturn_ void child_fail(int sock, int code, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof msg - 8, fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        char buf[1100];
        int len = snprintf(buf, sizeof buf, "%d %s", code, msg);
        (void)!write(sock, buf, (size_t)MIN(len, (int)sizeof buf - 1));
        _exit(code);
}

#define CHECK(cond, ...)                                                                           \
        do {                                                                                       \
                if (!(cond))                                                                       \
                        child_fail(a->sock, LANA_EXIT_RUNTIME, __VA_ARGS__);                       \
        } while (0)

/* ---- in-root path handling ---- */

static int open_in_root(int root, const char *path, int flags)
{
        struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
        return fd < 0 ? -errno : fd;
}

/* Makes sure `path` exists in the root as a directory (or as a file when !dir), creating
 * missing components; every step resolves in-root so symlinks cannot lead outside. Returns an
 * O_PATH fd of the target. */
static int ensure_in_root(int root, const char *path, bool dir)
{
        int fd = open_in_root(root, path, O_PATH);
        if (fd >= 0)
                return fd;
        if (fd != -ENOENT)
                return fd;
        _cleanup_free_ char *copy = xstrdup(path);
        char *slash = strrchr(copy, '/');
        const char *name = slash ? slash + 1 : copy;
        _cleanup_close_ int parent = -1;
        if (slash && slash != copy) {
                *slash = '\0';
                parent = ensure_in_root(root, copy, true);
        } else {
                parent = fcntl(root, F_DUPFD_CLOEXEC, 3);
        }
        if (parent < 0)
                return parent;
        if (dir) {
                if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
                        return -errno;
        } else {
                int f = openat(parent, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (f < 0 && errno != EEXIST)
                        return -errno;
                if (f >= 0)
                        close(f);
        }
        return open_in_root(root, path, O_PATH);
}

static const char *fd_path(int fd, char buf[64])
{
        snprintf(buf, 64, "/proc/self/fd/%d", fd);
        return buf;
}

/* Mounts onto root-relative `dest` through an fd, so the target is exactly what was resolved. */
static int mount_in_root(int root, const char *source, const char *dest, const char *fstype,
                         unsigned long flags, const char *data, bool dir)
{
        int fd = ensure_in_root(root, dest, dir);
        if (fd < 0)
                return fd;
        char p[64];
        int r = mount(source, fd_path(fd, p), fstype, flags, data) < 0 ? -errno : 0;
        close(fd);
        return r;
}

/* Sets attributes on a mount and every mount below it (MS_REMOUNT would miss submounts). */
static int setattr_recursive(int fd, uint64_t set)
{
        struct mount_attr attr = {.attr_set = set};
        if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) <
            0)
                return -errno;
        return 0;
}

static int remount_ro_in_root(int root, const char *dest)
{
        int fd = open_in_root(root, dest, O_PATH);
        if (fd < 0)
                return fd == -ENOENT ? 0 : fd;
        char p[64];
        int r = 0;
        /* a bind of the path onto itself makes it a mount we can restrict on its own */
        if (mount(fd_path(fd, p), fd_path(fd, p), NULL, MS_BIND | MS_REC, NULL) < 0)
                r = -errno;
        close(fd);
        if (r < 0)
                return r;
        fd = open_in_root(root, dest, O_PATH);
        if (fd < 0)
                return fd;
        r = setattr_recursive(fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                          MOUNT_ATTR_NOEXEC);
        close(fd);
        return r;
}

/* ---- the standard mounts ---- */

static const char *const masked_paths[] = {
        "/proc/asound",
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};

static void setup_dev(struct child_args *a, int root)
{
        int r = mount_in_root(root, "tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV,
                              "mode=755,size=65536k", true);
        CHECK(r >= 0, "mount /dev: %s", strerror(-r));
        _cleanup_close_ int dev = open_in_root(root, "/dev", O_RDONLY | O_DIRECTORY);
        CHECK(dev >= 0, "open /dev: %s", strerror(-dev));
        for (size_t i = 0; i < ELEMENTSOF(devices); i++) {
                /* bind the host's node: usable although /dev itself is nodev, and mknod'd
                 * nodes in the container are not */
                int f = openat(dev, devices[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
                CHECK(f >= 0, "create /dev/%s: %s", devices[i], strerror(errno));
                close(f);
                char host[64], p[64];
                snprintf(host, sizeof host, "/dev/%s", devices[i]);
                int t = openat(dev, devices[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
                CHECK(t >= 0, "open /dev/%s: %s", devices[i], strerror(errno));
                /* /dev/null must really be the null device: masking relies on it */
                struct stat st;
                CHECK(stat(host, &st) == 0 && S_ISCHR(st.st_mode), "host %s is not a device", host);
                CHECK(mount(host, fd_path(t, p), NULL, MS_BIND, NULL) == 0, "bind /dev/%s: %s",
                      devices[i], strerror(errno));
                close(t);
        }
        static const char *const links[][2] = {
                {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
                {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
                {"pts/ptmx", "ptmx"},
        };
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                CHECK(symlinkat(links[i][0], dev, links[i][1]) == 0, "symlink /dev/%s: %s",
                      links[i][1], strerror(errno));
        r = mount_in_root(root, "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                          "newinstance,ptmxmode=0666,mode=0620,gid=5", true);
        CHECK(r >= 0, "mount /dev/pts: %s", strerror(-r));
        r = mount_in_root(root, "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV,
                          "mode=1777,size=65536k", true);
        CHECK(r >= 0, "mount /dev/shm: %s", strerror(-r));
        r = mount_in_root(root, "mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV,
                          NULL, true);
        CHECK(r >= 0, "mount /dev/mqueue: %s", strerror(-r));
}

static void mask_paths(struct child_args *a, int root)
{
        char p[64];
        for (size_t i = 0; i < ELEMENTSOF(masked_paths); i++) {
                int fd = open_in_root(root, masked_paths[i], O_PATH | O_NOFOLLOW);
                if (fd == -ENOENT)
                        continue;
                CHECK(fd >= 0, "mask %s: %s", masked_paths[i], strerror(-fd));
                struct stat st;
                CHECK(fstat(fd, &st) == 0, "mask %s: %s", masked_paths[i], strerror(errno));
                int r;
                if (S_ISDIR(st.st_mode)) {
                        r = mount("tmpfs", fd_path(fd, p), "tmpfs",
                                  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0");
                } else {
                        /* the container's /dev/null, checked to be the null device */
                        _cleanup_close_ int null = open_in_root(root, "/dev/null", O_PATH);
                        struct stat ns;
                        CHECK(null >= 0 && fstat(null, &ns) == 0 && S_ISCHR(ns.st_mode) &&
                                      major(ns.st_rdev) == 1 && minor(ns.st_rdev) == 3,
                              "mask %s: /dev/null is not the null device", masked_paths[i]);
                        char q[64];
                        r = mount(fd_path(null, q), fd_path(fd, p), NULL, MS_BIND, NULL);
                }
                CHECK(r == 0, "mask %s: %s", masked_paths[i], strerror(errno));
                close(fd);
        }
        for (size_t i = 0; i < ELEMENTSOF(readonly_paths); i++) {
                int r = remount_ro_in_root(root, readonly_paths[i]);
                CHECK(r >= 0, "read-only %s: %s", readonly_paths[i], strerror(-r));
        }
}

static void loopback_up(void)
{
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return;
        struct ifreq ifr = {0};
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
        if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
                ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
                (void)ioctl(s, SIOCSIFFLAGS, &ifr);
        }
        close(s);
}

/* ---- user resolution (inside the new root, after pivot_root) ---- */

static bool parse_id(const char *s, unsigned long *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (!*s || *end || errno || v > 0xfffffffeUL)
                return false;
        *ret = v;
        return true;
}

/* An entry of an /etc/passwd- or /etc/group-style file. */
struct db_entry {
        unsigned long id;
        unsigned long gid; /* passwd: the primary group */
        char name[256];
        char home[512]; /* passwd: the home directory ("" if none) */
};

/* Opens the image's `path` for reading, resolved in the container's root: a symlink in the
 * image cannot lead to a host file, nor a /proc magic link to one of our descriptors. */
static FILE *fopen_in_root(int root, const char *path)
{
        int fd = open_in_root(root, path, O_RDONLY | O_NOCTTY);
        if (fd < 0)
                return NULL;
        FILE *f = fdopen(fd, "re");
        if (!f)
                close(fd);
        return f;
}

/* Looks NAME (or a numeric id) up in an /etc/passwd- or /etc/group-style file, in one pass. */
static bool lookup_db(int root, const char *file, const char *name, struct db_entry *ret)
{
        FILE *f = fopen_in_root(root, file);
        if (!f)
                return false;
        char line[4096];
        bool found = false;
        unsigned long want;
        bool numeric = parse_id(name, &want);
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = '\0';
                char *fields[7] = {0};
                char *p = line;
                for (int i = 0; i < 7 && p; i++)
                        fields[i] = strsep(&p, ":");
                unsigned long id;
                if (!fields[2] || !parse_id(fields[2], &id))
                        continue;
                if (numeric ? id != want : strcmp(fields[0], name) != 0)
                        continue;
                *ret = (struct db_entry){.id = id};
                if (fields[3])
                        parse_id(fields[3], &ret->gid);
                snprintf(ret->name, sizeof ret->name, "%s", fields[0]);
                if (fields[5])
                        snprintf(ret->home, sizeof ret->home, "%s", fields[5]);
                found = true;
                break;
        }
        fclose(f);
        return found;
}

/* Supplementary groups of `user` from /etc/group. */
static size_t member_groups(int root, const char *user, gid_t *out, size_t max)
{
        FILE *f = fopen_in_root(root, "/etc/group");
        if (!f)
                return 0;
        char line[8192];
        size_t n = 0;
        while (n < max && fgets(line, sizeof line, f)) {
                char *p = line;
                char *name = strsep(&p, ":");
                (void)name;
                strsep(&p, ":");
                char *gid = strsep(&p, ":");
                char *members = strsep(&p, "\n");
                unsigned long g;
                if (!gid || !members || !parse_id(gid, &g))
                        continue;
                for (char *m = strtok(members, ","); m; m = strtok(NULL, ","))
                        if (!strcmp(m, user)) {
                                out[n++] = (gid_t)g;
                                break;
                        }
        }
        fclose(f);
        return n;
}

static void resolve_user(struct child_args *a, int root, uid_t *uid, gid_t *gid, gid_t *groups,
                         size_t *ngroups, char *home, size_t home_len)
{
        const char *spec = a->s->user;
        *uid = 0;
        *gid = 0;
        *ngroups = 0;
        snprintf(home, home_len, "/root");
        if (!spec || !*spec)
                return;
        char u[256], g[256] = "";
        const char *colon = strchr(spec, ':');
        snprintf(u, sizeof u, "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
        if (colon)
                snprintf(g, sizeof g, "%s", colon + 1);
        unsigned long id;
        struct db_entry pw;
        if (lookup_db(root, "/etc/passwd", u, &pw)) {
                *uid = (uid_t)pw.id;
                *gid = (gid_t)pw.gid;
                if (pw.home[0])
                        snprintf(home, home_len, "%s", pw.home);
                *ngroups = member_groups(root, pw.name, groups, 64);
        } else if (parse_id(u, &id)) {
                *uid = (uid_t)id;
        } else {
                child_fail(a->sock, LANA_EXIT_RUNTIME,
                           "user '%s' not found in the image's /etc/passwd", u);
        }
        if (*g) {
                unsigned long gg;
                struct db_entry gr;
                if (lookup_db(root, "/etc/group", g, &gr))
                        *gid = (gid_t)gr.id;
                else if (parse_id(g, &gg))
                        *gid = (gid_t)gg;
                else
                        child_fail(a->sock, LANA_EXIT_RUNTIME,
                                   "group '%s' not found in the image's /etc/group", g);
        }
}

/* ---- capabilities ---- */

/* The capabilities we hold ourselves: a container can never get more (the host may withhold
 * some, e.g. CAP_SYS_RESOURCE; "ALL" means all of ours). */
static uint64_t known_caps(void)
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2] = {0};
        if (syscall(SYS_capget, &h, d) < 0)
                return ~0ull;
        return (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
}

static int capset_raw(uint64_t eff, uint64_t perm, uint64_t inh)
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2] = {
                {(uint32_t)eff, (uint32_t)perm, (uint32_t)inh},
                {(uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32)},
        };
        return (int)syscall(SYS_capset, &h, d);
}

static void drop_privileges(struct child_args *a, uid_t uid, gid_t gid, gid_t *groups,
                            size_t ngroups)
{
        uint64_t caps = a->s->caps & known_caps();
        /* 1. bounding set */
        for (int c = 0; c <= 63; c++) {
                if (caps & (1ull << c))
                        continue;
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
                        if (errno == EINVAL)
                                break; /* past the kernel's last capability */
                        child_fail(a->sock, LANA_EXIT_RUNTIME, "drop capability %d: %s", c,
                                   strerror(errno));
                }
        }
        /* 2. identity, keeping the permitted set across the uid change */
        CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0, "keepcaps: %s", strerror(errno));
        CHECK(setgroups(ngroups, groups) == 0, "setgroups: %s", strerror(errno));
        CHECK(setresgid(gid, gid, gid) == 0, "setgid %u: %s", gid, strerror(errno));
        CHECK(setresuid(uid, uid, uid) == 0, "setuid %u: %s", uid, strerror(errno));
        CHECK(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == 0, "keepcaps: %s", strerror(errno));
        /* 3. effective = permitted = the set; nothing inheritable; no ambient */
        CHECK(capset_raw(caps, caps, 0) == 0, "capset: %s", strerror(errno));
        (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

/* ---- exec ---- */

static const char *env_get(char **env, const char *name)
{
        size_t n = strlen(name);
        for (size_t i = 0; env && env[i]; i++)
                if (!strncmp(env[i], name, n) && env[i][n] == '=')
                        return env[i] + n + 1;
        return NULL;
}

static _noreturn_ void exec_program(struct child_args *a, char **env)
{
        char **argv = a->s->argv;
        if (!argv || !argv[0])
                child_fail(a->sock, LANA_EXIT_RUNTIME, "no command to run");
        if (a->init_fd >= 0) {
                size_t n = 0;
                while (argv[n])
                        n++;
                char **iargv = xnew(char *, n + 3);
                iargv[0] = (char *)"lana-init";
                iargv[1] = (char *)"--";
                for (size_t i = 0; i < n; i++)
                        iargv[i + 2] = argv[i];
                fexecve(a->init_fd, iargv, env);
                child_fail(a->sock, LANA_EXIT_RUNTIME, "exec init: %s", strerror(errno));
        }
        if (strchr(argv[0], '/')) {
                execve(argv[0], argv, env);
                int e = errno;
                child_fail(a->sock, e == ENOENT ? LANA_EXIT_NOT_FOUND : LANA_EXIT_NOT_EXECUTABLE,
                           "exec %s: %s", argv[0], strerror(e));
        }
        const char *path = env_get(env, "PATH");
        _cleanup_free_ char *copy = xstrdup(path ? path : DEFAULT_PATH);
        int seen = ENOENT;
        char *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                char full[4096];
                snprintf(full, sizeof full, "%s/%s", *d ? d : ".", argv[0]);
                execve(full, argv, env);
                if (errno != ENOENT && errno != ENOTDIR)
                        seen = errno;
        }
        child_fail(a->sock, seen == ENOENT ? LANA_EXIT_NOT_FOUND : LANA_EXIT_NOT_EXECUTABLE,
                   "exec %s: %s", argv[0],
                   seen == ENOENT ? "executable file not found in $PATH" : strerror(seen));
}

static void load_seccomp(struct child_args *a)
{
        if (!a->filter)
                return;
        struct lana_error *e = NULL;
        if (seccomp_load_bpf(a->filter, a->filter_len, &e) < 0)
                child_fail(a->sock, LANA_EXIT_RUNTIME, "%s", e ? e->msg : "seccomp: failed");
}

/* Mounts the overlay of `lowers` (top first) with `upper` and `work` on `target`. The lower
 * directories are named by descriptor, from /proc/self/fd as the working directory ("12:13:..."),
 * so that the option string stays within the kernel's one page whatever the store's path:
 * about 5 bytes a layer instead of the length of its path (overlayfs itself stacks at most 500).
 * With `volatile_upper` the "volatile" option is tried first (Linux 5.10+: no sync of the upper
 * file system when the container exits; refused with EINVAL before). Returns 0 or -errno. */
static int mount_overlay(char **lowers, const char *upper, const char *work, const char *target,
                         bool volatile_upper)
{
        size_t n = 0;
        while (lowers[n])
                n++;
        _cleanup_free_ int *fds = xnew(int, n);
        struct lana_buf opts;
        lana_buf_init(&opts, 4095);
        int r = lana_buf_append(&opts, "lowerdir=", 9);
        size_t opened = 0;
        for (; r >= 0 && opened < n; opened++) {
                fds[opened] = open(lowers[opened], O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (fds[opened] < 0) {
                        r = -errno;
                        break;
                }
                char name[16];
                int len = snprintf(name, sizeof name, "%s%d", opened ? ":" : "", fds[opened]);
                r = lana_buf_append(&opts, name, (size_t)len);
        }
        _cleanup_free_ char *tail = xasprintf(",upperdir=%s,workdir=%s", upper, work);
        if (r >= 0)
                r = lana_buf_append(&opts, tail, strlen(tail));
        _cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (r >= 0 && (cwd < 0 || chdir("/proc/self/fd") < 0))
                r = -errno;
        if (r >= 0) {
                int mr = -1;
                if (volatile_upper) {
                        _cleanup_free_ char *v = xasprintf("%s,volatile", opts.data);
                        mr = strlen(v) < 4096 ? mount("overlay", target, "overlay", MS_NODEV, v)
                                              : -1;
                }
                if (mr < 0)
                        mr = mount("overlay", target, "overlay", MS_NODEV, opts.data);
                r = mr < 0 ? -errno : 0;
                (void)fchdir(cwd);
        }
        for (size_t i = 0; i < opened; i++)
                close(fds[i]);
        lana_buf_release(&opts);
        return r;
}

/* Created: the process is complete but for the exec, and waits until some process opens the exec
 * fifo for reading (lana_container_start, from any process). Opening it for writing blocks until
 * then; the byte written tells the starter that this process, not a stale writer, was there. */
static void wait_for_start(struct child_args *a)
{
        char p[64];
        int fd = open(fd_path(a->fifo_fd, p), O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0, "exec fifo: %s", strerror(errno));
        CHECK(write(fd, "0", 1) == 1, "exec fifo: %s", strerror(errno));
        close(fd);
        close(a->fifo_fd);
}

/* The process must now sit in the directory it resolved, and that directory must be reachable
 * from its root: the kernel's getcwd reports a directory outside the root as "(unreachable)..."
 * (glibc turns that into ENOENT), so a success that starts with '/' proves it is inside. */
static void verify_cwd(struct child_args *a, const char *cwd, int cwd_fd)
{
        struct stat want, got;
        CHECK(fstat(cwd_fd, &want) == 0 && stat(".", &got) == 0, "working directory %s: %s", cwd,
              strerror(errno));
        CHECK(want.st_dev == got.st_dev && want.st_ino == got.st_ino,
              "working directory %s: not the directory that was resolved", cwd);
        char buf[4096];
        CHECK(getcwd(buf, sizeof buf) && buf[0] == '/',
              "working directory %s: outside the container's root", cwd);
}

static int child_main(void *arg)
{
        struct child_args *a = arg;
        const struct lana_container_spec *s = a->s;
        char go;
        if (read(a->sock, &go, 1) != 1)
                _exit(LANA_EXIT_RUNTIME);
        /* Nothing of the host that lana-img had open (store, layout, cgroup and state
         * directories, whatever a front end holds) is needed from here on: close it all now,
         * whatever the code path that ran before, so no later step can reach the host through
         * an inherited descriptor (/proc/self/fd/N). Kept: stdio, the report socket, the init. */
        const int passed[] = {a->sock, a->init_fd, a->fifo_fd};
        int cr = close_all_fds_except(passed, ELEMENTSOF(passed));
        CHECK(cr >= 0, "close inherited descriptors: %s", strerror(-cr));
        CHECK(unshare(CLONE_NEWCGROUP) == 0, "cgroup namespace: %s", strerror(errno));
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        /* the program starts with default signal handling, whatever lana-img had set */
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void)signal(sig, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

        CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "make mounts private: %s",
              strerror(errno));
        /* rootfs */
        if (s->lowerdirs && s->lowerdirs[0]) {
                const char *no_overlay = getenv("LANA_IMG_NO_OVERLAY");
                bool use_overlay = !(no_overlay && *no_overlay == '1');
                int mr = -ENODEV;
                if (use_overlay)
                        mr = mount_overlay(s->lowerdirs, s->upperdir, s->workdir, s->rootfs,
                                           s->volatile_upper);
                CHECK(mr != -E2BIG, "too many layers for one overlay mount");
                if (mr < 0) {
                        /* no overlayfs here: a private copy of the layers in the upper dir */
                        struct lana_error *e = NULL;
                        if (rootfs_copy(s->lowerdirs, s->upperdir, &e) < 0)
                                child_fail(a->sock, LANA_EXIT_RUNTIME,
                                           "overlayfs unavailable and %s",
                                           e ? e->msg : "copy failed");
                        CHECK(mount(s->upperdir, s->rootfs, NULL, MS_BIND | MS_REC, NULL) == 0,
                              "bind copied rootfs: %s", strerror(errno));
                        CHECK(mount(NULL, s->rootfs, NULL, MS_BIND | MS_REMOUNT | MS_NODEV, NULL) ==
                                      0,
                              "nodev rootfs: %s", strerror(errno));
                }
        } else {
                CHECK(mount(s->rootfs, s->rootfs, NULL, MS_BIND | MS_REC, NULL) == 0,
                      "bind rootfs: %s", strerror(errno));
        }
        int root = open(s->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(root >= 0, "open rootfs: %s", strerror(errno));

        int r = mount_in_root(root, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
                              true);
        CHECK(r >= 0, "mount /proc: %s", strerror(-r));
        setup_dev(a, root);
        if (s->net_host)
                r = mount_in_root(root, "/sys", "/sys", NULL, MS_BIND | MS_REC, NULL, true);
        else
                r = mount_in_root(root, "sysfs", "/sys", "sysfs",
                                  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, true);
        CHECK(r >= 0, "mount /sys: %s", strerror(-r));
        if (s->net_host) {
                int sys = open_in_root(root, "/sys", O_PATH);
                CHECK(sys >= 0, "open /sys: %s", strerror(-sys));
                r = setattr_recursive(sys, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                                   MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
                CHECK(r >= 0, "read-only /sys: %s", strerror(-r));
                close(sys);
        }
        for (size_t i = 0; i < s->nbinds; i++) {
                const struct lana_bind *b = &s->binds[i];
                struct stat st;
                CHECK(stat(b->source, &st) == 0, "bind %s: %s", b->source, strerror(errno));
                int src = open(b->source, O_PATH | O_CLOEXEC);
                CHECK(src >= 0, "bind %s: %s", b->source, strerror(errno));
                char p[64];
                r = mount_in_root(root, fd_path(src, p), b->destination, NULL, MS_BIND | MS_REC,
                                  NULL, S_ISDIR(st.st_mode));
                CHECK(r >= 0, "bind %s on %s: %s", b->source, b->destination, strerror(-r));
                close(src);
                /* device nodes and setuid bits on a host directory give the container nothing:
                 * nodev and nosuid on the bind and everything below it (and read-only there
                 * too with :ro) */
                int t = open_in_root(root, b->destination, O_PATH);
                CHECK(t >= 0, "bind %s: %s", b->destination, strerror(-t));
                r = setattr_recursive(t, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID |
                                                 (b->readonly ? MOUNT_ATTR_RDONLY : 0));
                CHECK(r >= 0, "restrict bind %s: %s", b->destination, strerror(-r));
                close(t);
        }
        for (size_t i = 0; i < s->ntmpfs; i++) {
                r = mount_in_root(root, "tmpfs", s->tmpfs[i].destination, "tmpfs",
                                  MS_NOSUID | MS_NODEV, s->tmpfs[i].options, true);
                CHECK(r >= 0, "tmpfs %s: %s", s->tmpfs[i].destination, strerror(-r));
        }
        mask_paths(a, root);

        /* pivot_root into the new root and detach the old one */
        CHECK(fchdir(root) == 0, "chdir rootfs: %s", strerror(errno));
        CHECK(syscall(SYS_pivot_root, ".", ".") == 0, "pivot_root: %s", strerror(errno));
        CHECK(umount2(".", MNT_DETACH) == 0, "detach old root: %s", strerror(errno));
        CHECK(chdir("/") == 0, "chdir /: %s", strerror(errno));
        close(root);
        /* the container's root from here on: every path read on the container's behalf
         * resolves beneath it */
        root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(root >= 0, "open new root: %s", strerror(errno));
        if (s->readonly_rootfs)
                CHECK(mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV, NULL) ==
                              0,
                      "read-only rootfs: %s", strerror(errno));
        if (s->hostname)
                CHECK(sethostname(s->hostname, strlen(s->hostname)) == 0, "hostname: %s",
                      strerror(errno));
        if (!s->net_host)
                loopback_up();
        /* rlimits: as many open files as the host allows us (no CAP_SYS_RESOURCE here) */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)1048576);
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }

        uid_t uid;
        gid_t gid, groups[64];
        size_t ngroups;
        char home[512];
        resolve_user(a, root, &uid, &gid, groups, &ngroups, home, sizeof home);

        /* environment: the image's plus HOME and HOSTNAME defaults */
        size_t ne = 0;
        while (s->env && s->env[ne])
                ne++;
        char **env = xnew(char *, ne + 4);
        for (size_t i = 0; i < ne; i++)
                env[i] = s->env[i];
        if (!env_get(env, "PATH"))
                env[ne++] = (char *)"PATH=" DEFAULT_PATH;
        if (!env_get(env, "HOME"))
                env[ne++] = xasprintf("HOME=%s", home);
        if (!env_get(env, "HOSTNAME") && s->hostname)
                env[ne++] = xasprintf("HOSTNAME=%s", s->hostname);
        env[ne] = NULL;

        if (s->terminal) {
                int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
                CHECK(m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0, "pty: %s", strerror(errno));
                char name[64];
                CHECK(ptsname_r(m, name, sizeof name) == 0, "pty: %s", strerror(errno));
                int sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
                CHECK(sl >= 0, "pty %s: %s", name, strerror(errno));
                /* hand the master to the parent */
                char c = 'P';
                struct iovec iov = {&c, 1};
                char cbuf[CMSG_SPACE(sizeof(int))] = {0};
                struct msghdr mh = {.msg_iov = &iov,
                                    .msg_iovlen = 1,
                                    .msg_control = cbuf,
                                    .msg_controllen = sizeof cbuf};
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &m, sizeof(int));
                CHECK(sendmsg(a->sock, &mh, 0) == 1, "send pty: %s", strerror(errno));
                close(m);
                CHECK(setsid() >= 0, "setsid: %s", strerror(errno));
                CHECK(ioctl(sl, TIOCSCTTY, 0) == 0, "controlling tty: %s", strerror(errno));
                (void)fchown(sl, uid, 5);
                dup2(sl, 0);
                dup2(sl, 1);
                dup2(sl, 2);
                if (sl > 2)
                        close(sl);
        }

        /* The working directory, resolved in the container's root: ".." stops at the root and
         * symlinks resolve beneath it; a magic link (/proc/self/fd/N, /proc/1/cwd...) is refused
         * outright. It is entered by descriptor after the identity change (fchdir checks the
         * program's own search permission on it). */
        const char *cwd = s->cwd && *s->cwd ? s->cwd : "/";
        int cwd_fd = open_in_root(root, cwd, O_PATH | O_DIRECTORY);
        if (cwd_fd < 0)
                child_fail(a->sock, LANA_EXIT_RUNTIME, "working directory %s: %s", cwd,
                           cwd_fd == -ELOOP ? "resolves through a /proc magic link or too "
                                              "many symlinks"
                                            : strerror(-cwd_fd));
        close(root);
        /* Second sweep, before anything runs with the program's identity: what remains is
         * stdio, the report socket, the init and the working directory. */
        const int remaining[] = {a->sock, a->init_fd, a->fifo_fd, cwd_fd};
        cr = close_all_fds_except(remaining, ELEMENTSOF(remaining));
        CHECK(cr >= 0, "close descriptors: %s", strerror(-cr));

        /* without no_new_privs the filter needs CAP_SYS_ADMIN to load: load it while we still
         * have it (it allows the identity and capability calls that follow) */
        if (!s->no_new_privs)
                load_seccomp(a);
        drop_privileges(a, uid, gid, groups, ngroups);
        if (s->no_new_privs)
                CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs: %s",
                      strerror(errno));
        /* cwd after the identity change, so permissions are the program's own */
        if (fchdir(cwd_fd) < 0)
                child_fail(a->sock, LANA_EXIT_RUNTIME, "working directory %s: %s", cwd,
                           strerror(errno));
        verify_cwd(a, cwd, cwd_fd);
        close(cwd_fd);
        /* every inherited fd but 0-2 is closed at exec (the report socket included) */
        (void)syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
        if (s->no_new_privs)
                load_seccomp(a);
        /* the last word before exec: what follows is EOF (exec done) or an exec error */
        CHECK(write(a->sock, "X", 1) == 1, "report: %s", strerror(errno));
        if (a->fifo_fd >= 0)
                wait_for_start(a);
        exec_program(a, env);
}

/* Where the static init lives: $LANA_IMG_INIT, next to our own binary, or the install path. */
static char *init_path(void)
{
        const char *env = getenv("LANA_IMG_INIT");
        if (env && *env)
                return xstrdup(env);
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
                self[n] = '\0';
                char *slash = strrchr(self, '/');
                if (slash) {
                        *slash = '\0';
                        char *p = xasprintf("%s/lana-init", self);
                        if (access(p, X_OK) == 0)
                                return p;
                        free(p);
                }
        }
        return xstrdup(LANA_LIBEXECDIR "/lana-init");
}

/* A sealed, in-memory copy of the static init: what --init execs inside the container, so the
 * container never gets a handle on a host binary. */
static int sealed_init(struct lana_error **err)
{
        _cleanup_free_ char *path = init_path();
        _cleanup_close_ int src = open(path, O_RDONLY | O_CLOEXEC);
        if (src < 0)
                return lana_error_setsys(err, -errno, "--init: %s", path);
        int m = memfd_create("lana-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (m < 0)
                return lana_error_setsys(err, -errno, "memfd_create");
        int r = copy_fd(src, m);
        if (r >= 0 &&
            fcntl(m, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
                r = -errno;
        if (r < 0) {
                close(m);
                return lana_error_setsys(err, r, "seal init copy");
        }
        return m;
}

/* Compiles the container's seccomp filter before it starts. The default profile's program only
 * depends on the capability set, the libseccomp build and the kernel, so it is cached on disk
 * (under spec->seccomp_cache) and later starts skip libseccomp's compilation entirely. */
static int compile_filter(const struct lana_container_spec *s, struct lana_buf *out,
                          struct lana_error **err)
{
        if (s->seccomp == LANA_SECCOMP_UNCONFINED)
                return 0;
        if (s->seccomp == LANA_SECCOMP_FILE)
                return seccomp_compile_file(s->seccomp_file, s->caps, out, err);
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dfd = -1;
        if (s->seccomp_cache) {
                struct utsname u;
                uname(&u);
                _cleanup_free_ char *key =
                        xasprintf("lana-seccomp/2 %016jx %s %s %s %s", (uintmax_t)s->caps,
                                  u.release, u.machine, LANA_VERSION, __DATE__ " " __TIME__);
                struct lana_digest d;
                lana_digest_buffer(key, strlen(key), &d);
                name = xasprintf("%s.bpf", d.hex);
                if (mkdir_p_at(AT_FDCWD, s->seccomp_cache, 0700) >= 0)
                        dfd = open(s->seccomp_cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                char *data = NULL;
                size_t len = 0;
                if (dfd >= 0 && read_file_at(dfd, name, 1 << 20, &data, &len, NULL) >= 0 &&
                    len > 0 && len % 8 == 0) {
                        int r = lana_buf_append(out, data, len);
                        free(data);
                        if (r >= 0)
                                return 0;
                        lana_buf_release(out);
                } else {
                        free(data);
                }
        }
        int r = seccomp_compile_default(s->caps, out, err);
        if (r >= 0 && dfd >= 0)
                (void)write_file_atomic_at(dfd, name, out->data, out->len, 0600, NULL);
        return r;
}

/* Reads the child's report until exec (EOF after "X"), or, with `until_created`, until "X": the
 * process is then created and waits on its exec fifo; a later call with `ready` set reads the
 * rest (EOF: exec happened; a message: exec failed). */
static int receive_report(int sock, bool until_created, bool ready, int *ret_pty,
                          struct lana_error **err)
{
        if (ret_pty)
                *ret_pty = -1;
        for (;;) {
                char buf[1200];
                char cbuf[CMSG_SPACE(sizeof(int))];
                struct iovec iov = {buf, sizeof buf - 1};
                struct msghdr mh = {.msg_iov = &iov,
                                    .msg_iovlen = 1,
                                    .msg_control = cbuf,
                                    .msg_controllen = sizeof cbuf};
                ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        /* EOF after "X": exec happened; before it: the child died */
                        if (ready)
                                return 0;
                        return lana_error_set(err, -EIO,
                                              ready ? "the container's first process died "
                                                      "before its program ran"
                                                    : "the container's first process died "
                                                      "while setting up");
                }
                if (n == 1 && buf[0] == 'X') {
                        if (until_created)
                                return 0;
                        ready = true;
                        continue;
                }
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                if (cm && cm->cmsg_type == SCM_RIGHTS && n == 1 && buf[0] == 'P') {
                        int pty;
                        memcpy(&pty, CMSG_DATA(cm), sizeof(int));
                        if (ret_pty)
                                *ret_pty = pty;
                        else
                                close(pty);
                        continue;
                }
                buf[n] = '\0';
                char *sp = strchr(buf, ' ');
                int code = atoi(buf);
                const char *msg = sp ? sp + 1 : buf;
                if (code == LANA_EXIT_NOT_FOUND)
                        return lana_error_set_kind(err, LANA_ERR_NO_PROGRAM, -ENOENT, "%s", msg);
                if (code == LANA_EXIT_NOT_EXECUTABLE)
                        return lana_error_set_kind(err, LANA_ERR_NOT_EXECUTABLE, -EACCES, "%s",
                                                   msg);
                return lana_error_set(err, -EIO, "%s", msg);
        }
}

_public_ int lana_container_create(const struct lana_container_spec *s, struct lana_container **ret,
                                   struct lana_error **err)
{
        struct lana_container *c = xnew(struct lana_container, 1);
        c->pty = -1;
        c->report = -1;
        int init_fd = -1;
        int r = 0;
        _cleanup_close_ int fifo_fd = -1;
        if (s->exec_fifo) {
                /* made before anything else, so a failure here costs nothing */
                if (mkfifo(s->exec_fifo, 0600) < 0) {
                        r = lana_error_setsys(err, -errno, "exec fifo %s", s->exec_fifo);
                        free(c);
                        return r;
                }
                c->exec_fifo = xstrdup(s->exec_fifo);
                fifo_fd = open(s->exec_fifo, O_PATH | O_CLOEXEC);
                if (fifo_fd < 0) {
                        r = lana_error_setsys(err, -errno, "exec fifo %s", s->exec_fifo);
                        lana_container_free(c);
                        return r;
                }
        }
        if (s->init) {
                init_fd = sealed_init(err);
                if (init_fd < 0) {
                        lana_container_free(c);
                        return init_fd;
                }
        }
        struct lana_buf filter;
        lana_buf_init(&filter, 1 << 20);
        r = compile_filter(s, &filter, err);
        if (r < 0) {
                closep(&init_fd);
                lana_container_free(c);
                return r;
        }
        struct cgroup_limits lim = {.memory_bytes = s->memory_bytes,
                                    .pids = s->pids_limit,
                                    .cpu_quota_us = s->cpu_quota_us,
                                    .cpu_period_us = s->cpu_period_us};
        r = cgroup_create(s->id, &lim, &c->cg, err);
        if (r >= 0)
                test_stop_point("container-cgroups");
        int sp[2] = {-1, -1};
        if (r >= 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                r = lana_error_setsys(err, -errno, "socketpair");
        char *stack = NULL;
        if (r >= 0) {
                stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
                if (stack == MAP_FAILED) {
                        stack = NULL;
                        r = lana_error_setsys(err, -errno, "allocate stack");
                }
        }
        if (r >= 0) {
                struct child_args a = {.s = s,
                                       .sock = sp[1],
                                       .init_fd = init_fd,
                                       .filter = filter.len ? filter.data : NULL,
                                       .filter_len = filter.len,
                                       .fifo_fd = fifo_fd};
                /* the cgroup namespace comes after the cgroup placement (in the child), so the
                 * container sees its own cgroup as its root */
                int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
                if (!s->net_host)
                        flags |= CLONE_NEWNET;
                /* born in its v2 cgroup (clone3 CLONE_INTO_CGROUP): moving a running process
                 * between cgroups waits for an RCU grace period, being born there does not */
                bool born_in_cgroup = false;
                int v2 = cgroup_v2_fd(c->cg);
                if (v2 >= 0) {
                        struct clone_args ca = {.flags = (uint64_t)flags | CLONE_INTO_CGROUP,
                                                .exit_signal = SIGCHLD,
                                                .cgroup = (uint64_t)v2};
                        pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
                        if (pid == 0)
                                _exit(child_main(&a)); /* like fork: a copy of our stack */
                        if (pid > 0) {
                                c->pid = pid;
                                born_in_cgroup = true;
                        }
                }
                if (!born_in_cgroup) {
                        c->pid = clone(child_main, stack + STACK_SIZE, flags | SIGCHLD, &a);
                        if (c->pid < 0)
                                r = lana_error_setsys(err, -errno, "clone");
                }
                closep(&sp[1]);
                /* the child has its own copy of the address space: our stack is ours again */
                if (r >= 0)
                        r = cgroup_add_pid(c->cg, c->pid, born_in_cgroup, err);
                if (r >= 0 && write(sp[0], "g", 1) != 1)
                        r = lana_error_setsys(err, -errno, "start container");
                if (r >= 0)
                        r = receive_report(sp[0], c->exec_fifo != NULL, false, &c->pty, err);
                /* created and waiting on the fifo: the rest of its report comes after start */
                if (r >= 0 && c->exec_fifo)
                        c->report = TAKE_FD(sp[0]);
                if (r < 0 && c->pid > 0) {
                        kill(c->pid, SIGKILL);
                        int st;
                        while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
                                ;
                        c->waited = true;
                }
        }
        if (stack)
                munmap(stack, STACK_SIZE);
        closep(&sp[0]);
        closep(&sp[1]);
        closep(&init_fd);
        lana_buf_release(&filter);
        if (r < 0) {
                lana_container_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* Opens the exec fifo for reading and takes the byte the waiting process writes: it execs right
 * after. The open does not block (a process that died before it reached the fifo would leave it
 * without a writer for ever); instead it polls, and gives up when `pid` no longer carries
 * `pid_start`. The fifo is removed once used, so a container is started once. */
static int release_fifo(const char *path, pid_t pid, uint64_t pid_start, struct lana_error **err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? lana_error_set_kind(err, LANA_ERR_CONFLICT, -EALREADY,
                                                             "the container was started already")
                                       : lana_error_setsys(err, -errno, "exec fifo %s", path);
        for (;;) {
                char b;
                ssize_t n = read(fd, &b, 1);
                if (n == 1)
                        break;
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return lana_error_setsys(err, -errno, "exec fifo %s", path);
                if (lana_pid_start_time(pid) != pid_start || pid_start == 0)
                        return lana_error_set(err, -ESRCH,
                                              "the container's process is gone; it cannot be "
                                              "started");
                struct pollfd p = {fd, POLLIN, 0};
                (void)poll(&p, 1, 20);
        }
        (void)unlink(path);
        return 0;
}

_public_ int lana_container_start(struct lana_container *c, struct lana_error **err)
{
        if (!c->exec_fifo || c->report < 0)
                return lana_error_set_kind(err, LANA_ERR_CONFLICT, -EALREADY,
                                           "the container was started already");
        int r = release_fifo(c->exec_fifo, c->pid, lana_pid_start_time(c->pid), err);
        if (r >= 0)
                r = receive_report(c->report, false, true, NULL, err);
        closep(&c->report);
        return r;
}

_public_ int lana_container_start_record(const struct lana_record *rec, struct lana_error **err)
{
        if (lana_record_status(rec) != LANA_CONTAINER_CREATED)
                return lana_error_set_kind(err, LANA_ERR_CONFLICT, -EALREADY,
                                           "container %s is %s, not created", rec->id,
                                           lana_container_status_name(lana_record_status(rec)));
        _cleanup_free_ char *fifo = lana_record_path(rec->id, "exec.fifo");
        return release_fifo(fifo, rec->pid, rec->pid_start, err);
}

_public_ char **lana_container_cgroups(const struct lana_container *c)
{
        return cgroup_paths(c->cg);
}

_public_ pid_t lana_container_pid(const struct lana_container *c)
{
        return c->pid;
}

_public_ int lana_container_pty(const struct lana_container *c)
{
        return c->pty;
}

_public_ int lana_container_wait(struct lana_container *c, bool *ret_oom, struct lana_error **err)
{
        if (!c->waited) {
                int st;
                while (waitpid(c->pid, &st, 0) < 0) {
                        if (errno != EINTR)
                                return lana_error_setsys(err, -errno, "wait for container");
                }
                c->waited = true;
                c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        if (ret_oom)
                *ret_oom = cgroup_oom_killed(c->cg);
        return c->status;
}

_public_ int lana_container_kill(struct lana_container *c, int sig)
{
        if (c->waited)
                return -ESRCH;
        return kill(c->pid, sig) < 0 ? -errno : 0;
}

_public_ struct lana_container *lana_container_free(struct lana_container *c)
{
        if (!c)
                return NULL;
        if (c->pid > 0 && !c->waited) {
                kill(c->pid, SIGKILL);
                int st;
                while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
                        ;
        }
        cgroup_destroy(c->cg);
        closep(&c->pty);
        closep(&c->report);
        if (c->exec_fifo)
                (void)unlink(c->exec_fifo);
        free(c->exec_fifo);
        free(c);
        return NULL;
}
