/*
 * test-seccomp.c — the container's syscall filter, checked by what a process under it can and
 * cannot do. Every filter is loaded in a forked child (a filter cannot be removed, and the test
 * process must stay unfiltered); the child runs a list of probes — raw syscalls with harmless
 * arguments — and sends the outcome back through a pipe.
 *
 * Each refused probe uses arguments for which the unfiltered kernel answers something other than
 * EPERM (ENOENT, EFAULT, EINVAL, EBADF...), so an EPERM under the filter comes from the filter.
 * The same probes run once unfiltered as a baseline; where the host itself already answers EPERM
 * (missing capabilities, modules disabled), the test says so instead of pretending to prove it.
 *
 * Covered: Docker's default profile with Docker's default capabilities (exec, fork, posix_spawn
 * through the clone3 ENOSYS fallback, namespaces, mounts, keyring, modules, kexec, bpf, vsock,
 * personality, ptrace), the CAP_SYS_ADMIN additions, no_new_privs left alone, and JSON profiles:
 * actions, errnoRet, args, includes/excludes, unknown names skipped, exec always allowed, and
 * malformed profiles rejected with -EINVAL and a message naming the file and the entry.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "buf.h"
#include "fs-util.h"
#include "lana/error.h"
#include "macro.h"
#include "../../src/lib/runtime/runtime-internal.h"
#include "tap-skip.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

extern char **environ;

#define CAPB(c) (UINT64_C(1) << (c))
/* Docker's default capability set. */
#define DOCKER_CAPS                                                                                \
        (CAPB(CAP_CHOWN) | CAPB(CAP_DAC_OVERRIDE) | CAPB(CAP_FSETID) | CAPB(CAP_FOWNER) |          \
         CAPB(CAP_MKNOD) | CAPB(CAP_NET_RAW) | CAPB(CAP_SETGID) | CAPB(CAP_SETUID) |               \
         CAPB(CAP_SETFCAP) | CAPB(CAP_SETPCAP) | CAPB(CAP_NET_BIND_SERVICE) |                      \
         CAPB(CAP_SYS_CHROOT) | CAPB(CAP_KILL) | CAPB(CAP_AUDIT_WRITE))

#define NOWHERE "/lana-test-seccomp-nonexistent"

/* ---- probes: 0 on success, else the errno (or a value >= 10000 for odd outcomes) ---- */

static int sys_result(long r)
{
        return r < 0 ? errno : 0;
}

static int p_getpid(void)
{
        return sys_result(syscall(SYS_getpid));
}

static int p_open_write(void)
{
        int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return errno;
        int r = sys_result(syscall(SYS_write, fd, "x", 1));
        close(fd);
        return r;
}

static int p_fork_exec_true(void)
{
        pid_t pid = fork();
        if (pid < 0)
                return errno;
        if (pid == 0) {
                char *argv[] = {(char *)"/bin/true", NULL};
                execve("/bin/true", argv, environ);
                _exit(100 + errno);
        }
        int st;
        if (waitpid(pid, &st, 0) < 0)
                return errno;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 10000 + st;
}

/* glibc's posix_spawn tries clone3 first and falls back to clone on ENOSYS. */
static int p_posix_spawn_true(void)
{
        char *argv[] = {(char *)"/bin/true", NULL};
        pid_t pid;
        int r = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
        if (r != 0)
                return r;
        int st;
        if (waitpid(pid, &st, 0) < 0)
                return errno;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 10000 + st;
}

/* A clone3 with no arguments: EINVAL from the kernel, ENOSYS from the filter. */
static int p_clone3(void)
{
        return sys_result(syscall(SYS_clone3, NULL, 0));
}

static int raw_clone(unsigned long flags)
{
        long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
        if (pid < 0)
                return errno;
        if (pid == 0)
                _exit(0);
        waitpid((pid_t)pid, NULL, 0);
        return 0;
}

static int p_clone_plain(void)
{
        return raw_clone(0);
}

static int p_clone_newuser(void)
{
        return raw_clone(CLONE_NEWUSER);
}

static int p_unshare_newns(void)
{
        return sys_result(syscall(SYS_unshare, CLONE_NEWNS));
}

static int p_keyctl(void)
{
        return sys_result(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
}

static int p_add_key(void)
{
        return sys_result(syscall(SYS_add_key, NULL, NULL, NULL, 0, 0));
}

static int p_request_key(void)
{
        return sys_result(syscall(SYS_request_key, NULL, NULL, NULL, 0));
}

static int p_mount(void)
{
        return sys_result(syscall(SYS_mount, "none", NOWHERE, "tmpfs", 0, NULL));
}

static int p_umount2(void)
{
        return sys_result(syscall(SYS_umount2, NOWHERE, 0x80000000));
}

static int p_pivot_root(void)
{
        return sys_result(syscall(SYS_pivot_root, NOWHERE, NOWHERE));
}

static int p_setns(void)
{
        return sys_result(syscall(SYS_setns, -1, 0));
}

static int p_socket_vsock(void)
{
        long fd = syscall(SYS_socket, AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return errno;
        close((int)fd);
        return 0;
}

static int p_socket_unix(void)
{
        long fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return errno;
        close((int)fd);
        return 0;
}

static int p_init_module(void)
{
        return sys_result(syscall(SYS_init_module, NULL, 0, ""));
}

static int p_finit_module(void)
{
        return sys_result(syscall(SYS_finit_module, -1, "", 0));
}

static int p_open_by_handle_at(void)
{
        return sys_result(syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0));
}

static int p_bpf(void)
{
        return sys_result(syscall(SYS_bpf, 9999, NULL, 0));
}

static int p_perf_event_open(void)
{
        return sys_result(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
}

static int p_userfaultfd(void)
{
        return sys_result(syscall(SYS_userfaultfd, 0x7fffffff));
}

/* 1000 segments is over KEXEC_SEGMENT_MAX: EINVAL before anything is loaded. */
static int p_kexec_load(void)
{
        return sys_result(syscall(SYS_kexec_load, 0, 1000, NULL, 0));
}

/* Wrong magic: EINVAL before anything happens. */
static int p_reboot(void)
{
        return sys_result(syscall(SYS_reboot, 0, 0, 0, NULL));
}

static int p_swapon(void)
{
        return sys_result(syscall(SYS_swapon, NOWHERE, 0));
}

static int p_personality_query(void)
{
        return sys_result(syscall(SYS_personality, 0xffffffff));
}

static int p_personality_bsd(void)
{
        long old = syscall(SYS_personality, 0xffffffff);
        int r = sys_result(syscall(SYS_personality, PER_BSD));
        syscall(SYS_personality, old);
        return r;
}

/* No process 0 to trace: ESRCH when ptrace itself is allowed. */
static int p_ptrace(void)
{
        return sys_result(syscall(SYS_ptrace, 3 /* PTRACE_PEEKUSER */, 0, 0, 0));
}

static int p_chroot(void)
{
        return sys_result(syscall(SYS_chroot, NOWHERE));
}

#if defined(__x86_64__)
/* The i386 entry point from a 64-bit process: the filter must cover the x86 architecture too
 * (Docker adds it on amd64), or 32-bit code would get around it. */
static long int80(long nr, long a, long b, long c)
{
        long r;
        __asm__ volatile("int $0x80"
                         : "=a"(r)
                         : "a"(nr), "b"(a), "c"(b), "d"(c)
                         : "memory", "r8", "r9", "r10", "r11");
        return r;
}

static int p_i386_getpid(void)
{
        long r = int80(20 /* i386 getpid */, 0, 0, 0);
        return r < 0 ? (int)-r : 0;
}

static int p_i386_keyctl(void)
{
        long r = int80(288 /* i386 keyctl */, 0, -3, 0);
        return r < 0 ? (int)-r : 0;
}

static int p_i386_unshare(void)
{
        long r = int80(310 /* i386 unshare */, CLONE_NEWNS, 0, 0);
        return r < 0 ? (int)-r : 0;
}
#endif

/* The filter must not have turned no_new_privs on, and must be in force. */
static int status_field(const char *field, const char *want)
{
        char buf[8192];
        int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno;
        ssize_t n = read_full(fd, buf, sizeof buf - 1);
        close(fd);
        if (n < 0)
                return (int)-n;
        buf[n] = '\0';
        const char *p = strstr(buf, field);
        if (!p)
                return 10001;
        p += strlen(field);
        while (*p == ' ' || *p == '\t')
                p++;
        return strncmp(p, want, strlen(want)) == 0 ? 0 : 10002;
}

static int p_seccomp_filter_mode(void)
{
        return status_field("Seccomp:", "2");
}

static int p_nnp_off(void)
{
        return status_field("NoNewPrivs:", "0");
}

static int p_getcwd(void)
{
        char buf[4096];
        return sys_result(syscall(SYS_getcwd, buf, sizeof buf));
}

static int p_dup3_cloexec(void)
{
        long fd = syscall(SYS_dup3, 0, 100, O_CLOEXEC);
        if (fd < 0)
                return errno;
        close((int)fd);
        return 0;
}

static int p_dup3_plain(void)
{
        long fd = syscall(SYS_dup3, 0, 101, 0);
        if (fd < 0)
                return errno;
        close((int)fd);
        return 0;
}

static int p_getppid(void)
{
        return sys_result(syscall(SYS_getppid));
}

static int p_getsid(void)
{
        return sys_result(syscall(SYS_getsid, 0));
}

static int p_getuid(void)
{
        return sys_result(syscall(SYS_getuid));
}

static int p_getgid(void)
{
        return sys_result(syscall(SYS_getgid));
}

static int p_geteuid(void)
{
        return sys_result(syscall(SYS_geteuid));
}

static int p_getegid(void)
{
        return sys_result(syscall(SYS_getegid));
}

static int p_execve_missing(void)
{
        char *argv[] = {(char *)NOWHERE, NULL};
        return sys_result(syscall(SYS_execve, NOWHERE, argv, environ));
}

/* ---- running probes in a child ---- */

#define MAX_PROBES 48
#define ANY_REFUSAL (-2) /* EPERM or EAFNOSUPPORT, never success */

struct probe {
        const char *name;
        int (*fn)(void);
        int want;       /* 0, an errno, or ANY_REFUSAL */
        bool by_filter; /* want is the filter's answer, not the kernel's */
};

/* The filter answers the call itself... */
#define REFUSED(name, fn, err)                                                                     \
        {                                                                                          \
                name, fn, err, true                                                                \
        }
/* ...or lets it through to the kernel, which answers `want`. */
#define PASSES(name, fn, want)                                                                     \
        {                                                                                          \
                name, fn, want, false                                                              \
        }

struct outcome {
        int rc; /* what the load function returned */
        char msg[512];
        int n;
        int res[MAX_PROBES];
        int killed_by; /* the signal that ended the child before it reported, else 0 */
};

enum load_kind { LOAD_NONE, LOAD_DEFAULT, LOAD_FILE };

static bool have_cap(int cap)
{
        struct {
                uint32_t version;
                int pid;
        } hdr = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
        struct {
                uint32_t effective, permitted, inheritable;
        } data[2] = {{0}};
        if (syscall(SYS_capget, &hdr, data) < 0)
                return false;
        return data[cap / 32].effective & (UINT32_C(1) << (cap % 32));
}

static void run_child(enum load_kind kind, const char *path, uint64_t caps,
                      const struct probe *probes, size_t n, struct outcome *out)
{
        int p[2];
        assert_true(n <= MAX_PROBES);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        fflush(stdout);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct outcome o = {0};
                struct lana_error *e = NULL;
                close(p[0]);
                /* cmocka's handlers would turn a fault into a test failure printed by the child
                 * and an exit status of 1; a probe that faults must end the child by its signal,
                 * so that the parent can tell "the kernel killed it" from "it reported". */
                static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT};
                for (size_t i = 0; i < ELEMENTSOF(fatal); i++)
                        signal(fatal[i], SIG_DFL);
                /* Without CAP_SYS_ADMIN the kernel only takes a filter under no_new_privs,
                 * which the runtime would set itself in that case. */
                if (kind != LOAD_NONE && !have_cap(CAP_SYS_ADMIN))
                        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if (kind == LOAD_DEFAULT)
                        o.rc = seccomp_load_default(caps, &e);
                else if (kind == LOAD_FILE)
                        o.rc = seccomp_load_file(path, caps, &e);
                if (e)
                        snprintf(o.msg, sizeof o.msg, "%s", e->msg);
                o.n = (int)n;
                if (o.rc == 0)
                        for (size_t i = 0; i < n; i++)
                                o.res[i] = probes[i].fn();
                /* Only write and exit from here on: some profiles allow little else. */
                syscall(SYS_write, p[1], &o, sizeof o);
                syscall(SYS_exit_group, 0);
        }
        close(p[1]);
        memset(out, 0, sizeof *out);
        ssize_t got = read_full(p[0], out, sizeof *out);
        close(p[0]);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (WIFSIGNALED(st)) {
                /* The caller decides what a death means: "not available here" for a baseline
                 * probe of a kernel feature, a failure for a probe that must work. */
                memset(out, 0, sizeof *out);
                out->killed_by = WTERMSIG(st);
                return;
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fail_msg("probe child exited with status %d", WEXITSTATUS(st));
        assert_int_equal(got, (ssize_t)sizeof *out);
}

static bool matches(int want, int got)
{
        if (want == ANY_REFUSAL)
                return got == EPERM || got == EAFNOSUPPORT;
        return want == got;
}

static const char *describe(int v, char *buf, size_t len)
{
        if (v == 0)
                snprintf(buf, len, "success");
        else if (v == ANY_REFUSAL)
                snprintf(buf, len, "EPERM or EAFNOSUPPORT");
        else if (v >= 10000)
                snprintf(buf, len, "odd outcome %d", v);
        else
                snprintf(buf, len, "%s", strerror(v));
        return buf;
}

/* Loads the filter in a child, runs the probes, and checks each result. A refusal the host
 * itself already gives (the unfiltered baseline) is reported as proving nothing here. Calls
 * that should pass must not get the filter's answer: their unfiltered result is the expectation
 * and differs from every refusal used in these tests. */
static void check_probes(enum load_kind kind, const char *path, uint64_t caps,
                         const struct probe *probes, size_t n)
{
        struct outcome base, o;
        char a[64], b[64], c[64];
        int bad = 0;

        run_child(LOAD_NONE, NULL, 0, probes, n, &base);
        if (base.killed_by)
                fail_msg("the unfiltered probe child was killed by %s", strsignal(base.killed_by));
        run_child(kind, path, caps, probes, n, &o);
        if (o.killed_by)
                fail_msg("the probe child was killed by %s under the filter (a refused call must "
                         "return an error, not kill the process)",
                         strsignal(o.killed_by));
        if (o.rc != 0)
                fail_msg("loading the filter failed: %d %s", o.rc, o.msg);
        for (size_t i = 0; i < n; i++) {
                if (!matches(probes[i].want, o.res[i])) {
                        printf("# %s: want %s, got %s (unfiltered: %s)\n", probes[i].name,
                               describe(probes[i].want, a, sizeof a),
                               describe(o.res[i], b, sizeof b), describe(base.res[i], c, sizeof c));
                        bad++;
                } else if (probes[i].by_filter && matches(probes[i].want, base.res[i])) {
                        printf("# note: %s already gives %s without the filter on this host; "
                               "this check proves nothing here\n",
                               probes[i].name, describe(base.res[i], a, sizeof a));
                }
        }
        if (bad)
                fail_msg("%d probe(s) gave the wrong answer under the filter", bad);
}

/* ---- the default profile ---- */

static void test_default_docker_caps(void **state)
{
        (void)state;
        static const struct probe probes[] = {
                PASSES("seccomp filter in force", p_seccomp_filter_mode, 0),
                PASSES("getpid", p_getpid, 0),
                PASSES("openat+write", p_open_write, 0),
                PASSES("fork+execve /bin/true", p_fork_exec_true, 0),
                PASSES("posix_spawn /bin/true", p_posix_spawn_true, 0),
                PASSES("clone without namespace flags", p_clone_plain, 0),
                PASSES("socket(AF_UNIX)", p_socket_unix, 0),
                PASSES("personality(query)", p_personality_query, 0),
                PASSES("ptrace (allowed on >= 4.8, kernel checks apply)", p_ptrace, ESRCH),
                PASSES("chroot (CAP_SYS_CHROOT held)", p_chroot, ENOENT),
                REFUSED("clone3 -> ENOSYS", p_clone3, ENOSYS),
                REFUSED("keyctl", p_keyctl, EPERM),
                REFUSED("add_key", p_add_key, EPERM),
                REFUSED("request_key", p_request_key, EPERM),
                REFUSED("unshare(CLONE_NEWNS)", p_unshare_newns, EPERM),
                REFUSED("clone(CLONE_NEWUSER)", p_clone_newuser, EPERM),
                REFUSED("mount", p_mount, EPERM),
                REFUSED("umount2", p_umount2, EPERM),
                REFUSED("pivot_root", p_pivot_root, EPERM),
                REFUSED("setns", p_setns, EPERM),
                REFUSED("socket(AF_VSOCK)", p_socket_vsock, ANY_REFUSAL),
                REFUSED("init_module", p_init_module, EPERM),
                REFUSED("finit_module", p_finit_module, EPERM),
                REFUSED("open_by_handle_at", p_open_by_handle_at, EPERM),
                REFUSED("bpf", p_bpf, EPERM),
                REFUSED("perf_event_open", p_perf_event_open, EPERM),
                REFUSED("userfaultfd", p_userfaultfd, EPERM),
                REFUSED("kexec_load", p_kexec_load, EPERM),
                REFUSED("reboot", p_reboot, EPERM),
                REFUSED("swapon", p_swapon, EPERM),
                REFUSED("personality(PER_BSD)", p_personality_bsd, EPERM),
        };
        check_probes(LOAD_DEFAULT, NULL, DOCKER_CAPS, probes, ELEMENTSOF(probes));
}

/* The runtime decides about no_new_privs; loading the filter must not switch it on. Loading
 * without it needs CAP_SYS_ADMIN, which an unprivileged test run does not have. */
static void test_default_leaves_nnp_off(void **state)
{
        (void)state;
        if (!have_cap(CAP_SYS_ADMIN)) {
                printf("# skip: without CAP_SYS_ADMIN a filter can only be loaded under "
                       "no_new_privs\n");
                skip();
        }
        static const struct probe probes[] = {
                PASSES("no_new_privs left off", p_nnp_off, 0),
                PASSES("seccomp filter in force", p_seccomp_filter_mode, 0),
        };
        check_probes(LOAD_DEFAULT, NULL, DOCKER_CAPS, probes, ELEMENTSOF(probes));
}

static void test_default_compat_arch(void **state)
{
        (void)state;
#if defined(__x86_64__)
        struct outcome base;
        static const struct probe host[] = {
                PASSES("i386 getpid", p_i386_getpid, 0),
        };
        /* What the kernel offers is decided by what happens to a child that tries it: some
         * kernels answer ENOSYS (IA32 emulation compiled out), others kill the caller with
         * SIGSEGV (emulation present but the entry disabled, as ia32_emulation=0 or a VM whose
         * kernel faults it). Either way the entry is unusable here, and so unusable to an
         * attacker; with the entry working, every probe below must hold. */
        run_child(LOAD_NONE, NULL, 0, host, ELEMENTSOF(host), &base);
        if (base.killed_by) {
                printf("# skip: the i386 entry (int $0x80) is not usable on this kernel: an "
                       "unfiltered probe was killed by SIG%s\n",
                       sigabbrev_np(base.killed_by));
                skip();
        }
        if (base.res[0] != 0) {
                printf("# skip: the i386 entry (int $0x80) is not usable on this kernel: "
                       "i386 getpid returned %s\n",
                       strerror(base.res[0]));
                skip();
        }
        static const struct probe probes[] = {
                PASSES("i386 getpid", p_i386_getpid, 0),
                REFUSED("i386 keyctl", p_i386_keyctl, EPERM),
                REFUSED("i386 unshare(CLONE_NEWNS)", p_i386_unshare, EPERM),
        };
        check_probes(LOAD_DEFAULT, NULL, DOCKER_CAPS, probes, ELEMENTSOF(probes));
#else
        printf("# skip: the compat-architecture probe is written for x86_64\n");
        skip();
#endif
}

/* A classic-BPF interpreter for the instructions libseccomp emits, so that a compiled program can
 * be asked what it answers for a syscall of any architecture without making the call. An
 * instruction it does not know fails the test rather than guessing. */
static uint32_t bpf_run(const struct sock_filter *ins, size_t n, const struct seccomp_data *d)
{
        uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};
        for (size_t pc = 0; pc < n; pc++) {
                const struct sock_filter *f = &ins[pc];
                uint32_t src = BPF_SRC(f->code) == BPF_X ? x : f->k;
                switch (BPF_CLASS(f->code)) {
                case BPF_LD:
                        if (BPF_MODE(f->code) == BPF_ABS && BPF_SIZE(f->code) == BPF_W &&
                            f->k + 4 <= sizeof *d && f->k % 4 == 0)
                                memcpy(&a, (const char *)d + f->k, 4);
                        else if (BPF_MODE(f->code) == BPF_IMM)
                                a = f->k;
                        else if (BPF_MODE(f->code) == BPF_MEM && f->k < BPF_MEMWORDS)
                                a = mem[f->k];
                        else
                                fail_msg("bpf: unexpected load %#x at %zu", f->code, pc);
                        break;
                case BPF_LDX:
                        if (BPF_MODE(f->code) == BPF_IMM)
                                x = f->k;
                        else if (BPF_MODE(f->code) == BPF_MEM && f->k < BPF_MEMWORDS)
                                x = mem[f->k];
                        else
                                fail_msg("bpf: unexpected ldx %#x at %zu", f->code, pc);
                        break;
                case BPF_ST:
                case BPF_STX:
                        if (f->k >= BPF_MEMWORDS)
                                fail_msg("bpf: store out of range at %zu", pc);
                        mem[f->k] = BPF_CLASS(f->code) == BPF_ST ? a : x;
                        break;
                case BPF_ALU:
                        switch (BPF_OP(f->code)) {
                        case BPF_AND:
                                a &= src;
                                break;
                        case BPF_OR:
                                a |= src;
                                break;
                        case BPF_ADD:
                                a += src;
                                break;
                        case BPF_SUB:
                                a -= src;
                                break;
                        case BPF_RSH:
                                a = src < 32 ? a >> src : 0;
                                break;
                        case BPF_LSH:
                                a = src < 32 ? a << src : 0;
                                break;
                        default:
                                fail_msg("bpf: unexpected alu %#x at %zu", f->code, pc);
                        }
                        break;
                case BPF_JMP: {
                        bool t = false;
                        switch (BPF_OP(f->code)) {
                        case BPF_JA:
                                pc += f->k;
                                continue;
                        case BPF_JEQ:
                                t = a == src;
                                break;
                        case BPF_JGT:
                                t = a > src;
                                break;
                        case BPF_JGE:
                                t = a >= src;
                                break;
                        case BPF_JSET:
                                t = (a & src) != 0;
                                break;
                        default:
                                fail_msg("bpf: unexpected jump %#x at %zu", f->code, pc);
                        }
                        pc += t ? f->jt : f->jf;
                        break;
                }
                case BPF_RET:
                        return BPF_RVAL(f->code) == BPF_A ? a : f->k;
                case BPF_MISC:
                        if (BPF_MISCOP(f->code) == BPF_TAX)
                                x = a;
                        else
                                a = x;
                        break;
                }
        }
        fail_msg("bpf: the program ran off its end");
        return 0;
}

/* The compat architecture is covered whatever the kernel does with the i386 entry: the compiled
 * default program, run by the interpreter above, answers i386 calls as it answers their x86_64
 * twins, and kills the process for an architecture it does not list. Checked on the program
 * itself, so it holds on kernels where int $0x80 cannot be tried; the same program is loaded by
 * test_default_docker_caps and by every container of the runtime tests, so a kernel whose i386
 * entry faults does not disturb the runtime. */
static void test_default_covers_compat_arch(void **state)
{
        (void)state;
#if defined(__x86_64__)
        struct lana_buf bpf;
        struct lana_error *e = NULL;
        lana_buf_init(&bpf, 1 << 20);
        int r = seccomp_compile_default(DOCKER_CAPS, &bpf, &e);
        if (r < 0)
                fail_msg("compiling the default profile: %s", e ? e->msg : "?");
        assert_int_equal(bpf.len % sizeof(struct sock_filter), 0);
        const struct sock_filter *ins = (const struct sock_filter *)bpf.data;
        size_t n = bpf.len / sizeof *ins;
        static const struct {
                const char *what;
                uint32_t arch, nr;
                uint32_t want;
        } cases[] = {
                {"x86_64 getpid", AUDIT_ARCH_X86_64, 39, SECCOMP_RET_ALLOW},
                {"x86_64 keyctl", AUDIT_ARCH_X86_64, 250, SECCOMP_RET_ERRNO | EPERM},
                {"i386 getpid", AUDIT_ARCH_I386, 20, SECCOMP_RET_ALLOW},
                {"i386 keyctl", AUDIT_ARCH_I386, 288, SECCOMP_RET_ERRNO | EPERM},
                {"i386 unshare", AUDIT_ARCH_I386, 310, SECCOMP_RET_ERRNO | EPERM},
                {"x32 getpid", AUDIT_ARCH_X86_64, 0x40000000 | 39, SECCOMP_RET_ALLOW},
                {"x32 keyctl", AUDIT_ARCH_X86_64, 0x40000000 | 250, SECCOMP_RET_ERRNO | EPERM},
        };
        int bad = 0;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct seccomp_data d = {.nr = (int)cases[i].nr, .arch = cases[i].arch};
                uint32_t got = bpf_run(ins, n, &d);
                if (got != cases[i].want) {
                        printf("# %s: want %#x, got %#x\n", cases[i].what, cases[i].want, got);
                        bad++;
                }
        }
        /* An architecture the profile does not list never reaches the kernel's syscall table. */
        struct seccomp_data foreign = {.nr = 39, .arch = AUDIT_ARCH_AARCH64};
        uint32_t got = bpf_run(ins, n, &foreign);
        if ((got & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_KILL_PROCESS &&
            (got & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_KILL_THREAD) {
                printf("# aarch64 getpid: want a kill, got %#x\n", got);
                bad++;
        }
        lana_buf_release(&bpf);
        if (bad)
                fail_msg("%d architecture case(s) answered wrongly", bad);
#else
        printf("# skip: the compat-architecture check is written for x86_64\n");
        skip();
#endif
}

static void test_default_without_chroot_cap(void **state)
{
        (void)state;
        static const struct probe probes[] = {
                REFUSED("chroot without CAP_SYS_CHROOT", p_chroot, EPERM),
                PASSES("getpid", p_getpid, 0),
        };
        check_probes(LOAD_DEFAULT, NULL, DOCKER_CAPS & ~CAPB(CAP_SYS_CHROOT), probes,
                     ELEMENTSOF(probes));
}

static void test_default_sys_admin(void **state)
{
        (void)state;
        struct outcome base;
        static const struct probe host[] = {
                PASSES("unshare(CLONE_NEWNS)", p_unshare_newns, 0),
                PASSES("clone(CLONE_NEWUSER)", p_clone_newuser, 0),
        };
        run_child(LOAD_NONE, NULL, 0, host, ELEMENTSOF(host), &base);
        if (base.res[0] != 0 || base.res[1] != 0) {
                printf("# skip: without a filter this host already answers "
                       "unshare(CLONE_NEWNS): %s, clone(CLONE_NEWUSER): %s\n",
                       strerror(base.res[0]), strerror(base.res[1]));
                skip();
        }
        static const struct probe probes[] = {
                PASSES("unshare(CLONE_NEWNS)", p_unshare_newns, 0),
                PASSES("clone(CLONE_NEWUSER)", p_clone_newuser, 0),
                PASSES("clone3 reaches the kernel", p_clone3, EINVAL),
                PASSES("setns reaches the kernel", p_setns, EBADF),
                PASSES("mount reaches the kernel", p_mount, ENOENT),
                PASSES("bpf reaches the kernel", p_bpf, EINVAL),
                REFUSED("keyctl still refused", p_keyctl, EPERM),
                REFUSED("init_module still refused", p_init_module, EPERM),
                PASSES("fork+execve /bin/true", p_fork_exec_true, 0),
        };
        check_probes(LOAD_DEFAULT, NULL, DOCKER_CAPS | CAPB(CAP_SYS_ADMIN), probes,
                     ELEMENTSOF(probes));
}

static void test_default_bpf_perfmon_caps(void **state)
{
        (void)state;
        static const struct probe probes[] = {
                PASSES("bpf with CAP_BPF", p_bpf, EINVAL),
                PASSES("perf_event_open with CAP_PERFMON", p_perf_event_open, EFAULT),
                REFUSED("unshare still refused", p_unshare_newns, EPERM),
        };
        check_probes(LOAD_DEFAULT, NULL, DOCKER_CAPS | CAPB(CAP_BPF) | CAPB(CAP_PERFMON), probes,
                     ELEMENTSOF(probes));
}

/* ---- JSON profiles ---- */

struct fx {
        char dir[256];
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof *f);
        assert_non_null(f);
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof f->dir, "%s/lana-test-seccomp-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        rm_rf_at(AT_FDCWD, f->dir);
        free(f);
        return 0;
}

static const char *put_profile(struct fx *f, const char *name, const char *json)
{
        static char path[512];
        snprintf(path, sizeof path, "%s/%s", f->dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write_full(fd, json, strlen(json)), 0);
        close(fd);
        return path;
}

static void test_file_allow_with_errno_rule(void **state)
{
        const char *path = put_profile(*state, "getcwd.json",
                                       "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n"
                                       " \"syscalls\": [{\"names\": [\"getcwd\"],\n"
                                       "   \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 95}]}\n");
        static const struct probe probes[] = {
                REFUSED("getcwd", p_getcwd, 95),
                PASSES("getpid", p_getpid, 0),
                PASSES("fork+execve /bin/true", p_fork_exec_true, 0),
        };
        check_probes(LOAD_FILE, path, DOCKER_CAPS, probes, ELEMENTSOF(probes));
}

#if defined(__s390x__) || defined(__s390__)
#define FOREIGN_ARCH "amd64"
#else
#define FOREIGN_ARCH "s390x"
#endif

static const char conditional_profile[] =
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n"
        " \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\",\n"
        "               \"subArchitectures\": [\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"]},\n"
        "              {\"architecture\": \"SCMP_ARCH_AARCH64\",\n"
        "               \"subArchitectures\": [\"SCMP_ARCH_ARM\"]}],\n"
        " \"syscalls\": [\n"
        "  {\"names\": [\"dup3\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 33,\n"
        "   \"args\": [{\"index\": 2, \"value\": 524288, \"op\": \"SCMP_CMP_EQ\"}]},\n"
        "  {\"name\": \"getppid\", \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 34,\n"
        "   \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
        "  {\"names\": [\"getsid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 35,\n"
        "   \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
        "  {\"names\": [\"no_such_syscall_anywhere\", \"getuid\"],\n"
        "   \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 36},\n"
        "  {\"names\": [\"getgid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 37,\n"
        "   \"includes\": {\"minKernel\": \"3.0\"}},\n"
        "  {\"names\": [\"geteuid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 38,\n"
        "   \"includes\": {\"minKernel\": \"999.0\"}},\n"
        "  {\"names\": [\"getegid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 39,\n"
        "   \"includes\": {\"arches\": [\"" FOREIGN_ARCH "\"]}},\n"
        "  {\"names\": [\"execve\"], \"action\": \"SCMP_ACT_ERRNO\"}\n"
        " ]}\n";

static void test_file_conditions(void **state)
{
        const char *path = put_profile(*state, "cond.json", conditional_profile);
        static const struct probe probes[] = {
                REFUSED("dup3 with O_CLOEXEC (matches args)", p_dup3_cloexec, 33),
                PASSES("dup3 without flags", p_dup3_plain, 0),
                PASSES("getppid (includes CAP_SYS_ADMIN, not held)", p_getppid, 0),
                REFUSED("getsid (excludes CAP_SYS_ADMIN, not held)", p_getsid, 35),
                REFUSED("getuid (next to an unknown name)", p_getuid, 36),
                REFUSED("getgid (minKernel 3.0)", p_getgid, 37),
                PASSES("geteuid (minKernel 999.0)", p_geteuid, 0),
                PASSES("getegid (foreign arch only)", p_getegid, 0),
                PASSES("fork+execve /bin/true (exec never refused)", p_fork_exec_true, 0),
        };
        check_probes(LOAD_FILE, path, DOCKER_CAPS, probes, ELEMENTSOF(probes));
}

static void test_file_conditions_with_sys_admin(void **state)
{
        const char *path = put_profile(*state, "cond.json", conditional_profile);
        static const struct probe probes[] = {
                REFUSED("getppid (includes CAP_SYS_ADMIN, held)", p_getppid, 34),
                PASSES("getsid (excludes CAP_SYS_ADMIN, held)", p_getsid, 0),
        };
        check_probes(LOAD_FILE, path, DOCKER_CAPS | CAPB(CAP_SYS_ADMIN), probes,
                     ELEMENTSOF(probes));
}

/* A profile that allows almost nothing: the default errno comes back, exec still works. */
static void test_file_deny_by_default(void **state)
{
        const char *path = put_profile(
                *state, "deny.json",
                "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 18,\n"
                " \"syscalls\": [{\"names\": [\"write\", \"exit\", \"exit_group\"],\n"
                "                \"action\": \"SCMP_ACT_ALLOW\"},\n"
                "               {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
                "                \"errnoRet\": 18}]}\n");
        static const struct probe probes[] = {
                REFUSED("getpid (default errno)", p_getpid, 18),
                REFUSED("getcwd (default errno)", p_getcwd, 18),
                PASSES("execve reaches the kernel", p_execve_missing, ENOENT),
        };
        check_probes(LOAD_FILE, path, DOCKER_CAPS, probes, ELEMENTSOF(probes));
}

/* Loads path in a child and returns the outcome: bad profiles must fail before any filter. */
static void load_in_child(const char *path, struct outcome *o)
{
        static const struct probe none[] = {{"getpid", p_getpid, 0}};
        run_child(LOAD_FILE, path, DOCKER_CAPS, none, 0, o);
}

static void expect_rejected(struct fx *f, const char *name, const char *json, int code,
                            const char *needle)
{
        const char *path = put_profile(f, name, json);
        struct outcome o;
        load_in_child(path, &o);
        if (o.rc != code || !strstr(o.msg, path) || (needle && !strstr(o.msg, needle)))
                fail_msg("%s: want %d with \"%s\" and the path, got %d \"%s\"", name, code,
                         needle ? needle : "", o.rc, o.msg);
}

static void test_file_rejects_bad_profiles(void **state)
{
        struct fx *f = *state;
        expect_rejected(f, "truncated.json", "{\"defaultAction\": \"SCMP_ACT_ALLOW\", ", -EINVAL,
                        "line");
        expect_rejected(f, "array.json", "[]", -EINVAL, "object");
        expect_rejected(f, "no-default.json", "{\"syscalls\": []}", -EINVAL, "defaultAction");
        expect_rejected(f, "bad-default.json", "{\"defaultAction\": \"SCMP_ACT_MAYBE\"}", -EINVAL,
                        "SCMP_ACT_MAYBE");
        expect_rejected(f, "bad-action.json",
                        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\n"
                        " {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ERRNO\"},\n"
                        " {\"names\": [\"getcwd\"], \"action\": \"SCMP_ACT_EXPLODE\"}]}",
                        -EINVAL, "syscalls[1].action");
        expect_rejected(f, "notify.json",
                        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\n"
                        " {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}",
                        -EINVAL, "syscalls[0].action");
        expect_rejected(f, "errno-on-allow.json",
                        "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [\n"
                        " {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ALLOW\","
                        "  \"errnoRet\": 1}]}",
                        -EINVAL, "syscalls[0].action");
        expect_rejected(f, "big-errno.json",
                        "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 70000}",
                        -EINVAL, "defaultAction");
        expect_rejected(f, "both-names.json",
                        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\n"
                        " {\"name\": \"getpid\", \"names\": [\"getpid\"],"
                        "  \"action\": \"SCMP_ACT_ERRNO\"}]}",
                        -EINVAL, "syscalls[0]");
        expect_rejected(f, "no-names.json",
                        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\n"
                        " {\"action\": \"SCMP_ACT_ERRNO\"}]}",
                        -EINVAL, "syscalls[0]");
        expect_rejected(f, "bad-op.json",
                        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\n"
                        " {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
                        "  \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_SORTA\"}]}]}",
                        -EINVAL, "syscalls[0].args[0].op");
        expect_rejected(f, "bad-index.json",
                        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\n"
                        " {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
                        "  \"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
                        -EINVAL, "syscalls[0].args[0].index");
        expect_rejected(f, "bad-cap.json",
                        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\n"
                        " {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
                        "  \"includes\": {\"caps\": [\"CAP_SYS_WIZARD\"]}}]}",
                        -EINVAL, "syscalls[0].includes.caps[0]");
        expect_rejected(f, "bad-kernel.json",
                        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\n"
                        " {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ERRNO\",\n"
                        "  \"excludes\": {\"minKernel\": \"new\"}}]}",
                        -EINVAL, "syscalls[0].excludes.minKernel");
        expect_rejected(f, "bad-arch.json",
                        "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n"
                        " \"architectures\": [\"SCMP_ARCH_PDP11\"]}",
                        -EINVAL, "architectures[0]");
        expect_rejected(f, "dup-key.json",
                        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"defaultAction\": "
                        "\"SCMP_ACT_ALLOW\"}",
                        -EINVAL, NULL);
}

static void test_file_missing_and_oversized(void **state)
{
        struct fx *f = *state;
        char path[512];
        struct outcome o;

        snprintf(path, sizeof path, "%s/absent.json", f->dir);
        load_in_child(path, &o);
        assert_int_equal(o.rc, -ENOENT);
        assert_non_null(strstr(o.msg, path));

        /* 1 MiB of whitespace around a valid profile: refused for its size, not its content */
        snprintf(path, sizeof path, "%s/huge.json", f->dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        static const char body[] = "{\"defaultAction\": \"SCMP_ACT_ALLOW\"}";
        assert_int_equal(write_full(fd, body, strlen(body)), 0);
        char *pad = malloc(1 << 20);
        assert_non_null(pad);
        memset(pad, ' ', 1 << 20);
        assert_int_equal(write_full(fd, pad, 1 << 20), 0);
        free(pad);
        close(fd);
        load_in_child(path, &o);
        assert_int_equal(o.rc, -E2BIG);
        assert_non_null(strstr(o.msg, path));
}

static int run_all(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_docker_caps),
                cmocka_unit_test(test_default_leaves_nnp_off),
                cmocka_unit_test(test_default_compat_arch),
                cmocka_unit_test(test_default_covers_compat_arch),
                cmocka_unit_test(test_default_without_chroot_cap),
                cmocka_unit_test(test_default_sys_admin),
                cmocka_unit_test(test_default_bpf_perfmon_caps),
                cmocka_unit_test_setup_teardown(test_file_allow_with_errno_rule, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_conditions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_conditions_with_sys_admin, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_file_deny_by_default, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_rejects_bad_profiles, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_missing_and_oversized, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

int main(void)
{
        return unit_run_fixing_skips(run_all);
}
