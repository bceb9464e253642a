/*
 * seccomp.c — the container's syscall filter: Docker's default profile or a Docker/OCI JSON
 * profile file, turned into a libseccomp filter and loaded as the last step before exec.
 *
 * Both sources become a struct seccomp_profile (seccomp-profile.h); seccomp_profile_load()
 * decides each entry's includes/excludes against the container's capabilities, the native
 * architecture and the running kernel, adds the rules and loads the filter. Syscall names the
 * installed libseccomp does not know are skipped, so a profile written for a newer kernel still
 * loads. The filter never sets no_new_privs itself (the runtime does that when asked) and always
 * allows execve/execveat, without which the container could not start at all. A JSON profile is
 * outside input: it is bounded (1 MiB) and every field is checked, and an error names the file
 * and the entry.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <jansson.h>
#include <seccomp.h>

#include "alloc.h"
#include "buf.h"
#include "fs-util.h"
#include "macro.h"
#include "runtime-internal.h"
#include "seccomp-profile.h"

#define SECCOMP_PROFILE_MAX (1u << 20)
#define SECCOMP_ARG_MAX 6
/* Largest errno the kernel hands back from SECCOMP_RET_ERRNO without clamping (MAX_ERRNO). */
#define SECCOMP_ERRNO_MAX 4095

/* ---- names ---- */

static const char *const cap_names[] = {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
};

/* SCMP_ARCH_* names (for "architectures"/"archMap") and Docker's short names (for includes/
 * excludes "arches"). Rows without a SCMP name are aliases Docker has used. */
static const struct arch_name {
        const char *scmp;
        const char *name;
        uint32_t token;
} arch_names[] = {
        {"SCMP_ARCH_X86", "x86", SCMP_ARCH_X86},
        {"SCMP_ARCH_X86_64", "amd64", SCMP_ARCH_X86_64},
        {"SCMP_ARCH_X32", "x32", SCMP_ARCH_X32},
        {"SCMP_ARCH_ARM", "arm", SCMP_ARCH_ARM},
        {"SCMP_ARCH_AARCH64", "arm64", SCMP_ARCH_AARCH64},
        {"SCMP_ARCH_MIPS", "mips", SCMP_ARCH_MIPS},
        {"SCMP_ARCH_MIPS64", "mips64", SCMP_ARCH_MIPS64},
        {"SCMP_ARCH_MIPS64N32", "mips64n32", SCMP_ARCH_MIPS64N32},
        {"SCMP_ARCH_MIPSEL", "mipsel", SCMP_ARCH_MIPSEL},
        {NULL, "mipsle", SCMP_ARCH_MIPSEL},
        {"SCMP_ARCH_MIPSEL64", "mipsel64", SCMP_ARCH_MIPSEL64},
        {"SCMP_ARCH_MIPSEL64N32", "mipsel64n32", SCMP_ARCH_MIPSEL64N32},
        {NULL, "mips3l64n32", SCMP_ARCH_MIPSEL64N32},
        {"SCMP_ARCH_PPC", "ppc", SCMP_ARCH_PPC},
        {"SCMP_ARCH_PPC64", "ppc64", SCMP_ARCH_PPC64},
        {"SCMP_ARCH_PPC64LE", "ppc64le", SCMP_ARCH_PPC64LE},
        {"SCMP_ARCH_S390", "s390", SCMP_ARCH_S390},
        {"SCMP_ARCH_S390X", "s390x", SCMP_ARCH_S390X},
        {"SCMP_ARCH_PARISC", "parisc", SCMP_ARCH_PARISC},
        {"SCMP_ARCH_PARISC64", "parisc64", SCMP_ARCH_PARISC64},
        {"SCMP_ARCH_RISCV64", "riscv64", SCMP_ARCH_RISCV64},
#ifdef SCMP_ARCH_LOONGARCH64
        {"SCMP_ARCH_LOONGARCH64", "loong64", SCMP_ARCH_LOONGARCH64},
#endif
};

static const struct arch_name *arch_by_scmp_name(const char *s)
{
        for (size_t i = 0; i < ELEMENTSOF(arch_names); i++)
                if (arch_names[i].scmp && strcmp(arch_names[i].scmp, s) == 0)
                        return &arch_names[i];
        return NULL;
}

static const struct arch_name *arch_by_name(const char *s)
{
        for (size_t i = 0; i < ELEMENTSOF(arch_names); i++)
                if (strcmp(arch_names[i].name, s) == 0)
                        return &arch_names[i];
        return NULL;
}

static const char *arch_token_name(uint32_t token)
{
        for (size_t i = 0; i < ELEMENTSOF(arch_names); i++)
                if (arch_names[i].token == token && arch_names[i].scmp)
                        return arch_names[i].scmp;
        return "unknown architecture";
}

static const struct {
        const char *name;
        enum scmp_compare op;
} op_names[] = {
        {"SCMP_CMP_NE", SCMP_CMP_NE},
        {"SCMP_CMP_LT", SCMP_CMP_LT},
        {"SCMP_CMP_LE", SCMP_CMP_LE},
        {"SCMP_CMP_EQ", SCMP_CMP_EQ},
        {"SCMP_CMP_GE", SCMP_CMP_GE},
        {"SCMP_CMP_GT", SCMP_CMP_GT},
        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

/* ---- kernel versions ("4.8", "5.10.3-foo") ---- */

/* Parses "major.minor[.patch][anything]" into *ret as major<<32 | minor<<16 | patch. */
static int parse_kernel_version(const char *s, uint64_t *ret)
{
        uint64_t v[3] = {0, 0, 0};
        const char *p = s;

        for (int i = 0; i < 3; i++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                char *end;
                errno = 0;
                unsigned long x = strtoul(p, &end, 10);
                if (errno != 0 || x > 0xffff)
                        return -EINVAL;
                v[i] = x;
                p = end;
                if (i == 2 || *p != '.') {
                        if (i == 0)
                                return -EINVAL; /* a minor version is required */
                        break;
                }
                p++;
        }
        *ret = v[0] << 32 | v[1] << 16 | v[2];
        return 0;
}

static int running_kernel(uint64_t *ret, struct lana_error **err)
{
        struct utsname u;
        if (uname(&u) < 0)
                return lana_error_setsys(err, negative_errno(), "uname");
        if (parse_kernel_version(u.release, ret) < 0)
                return lana_error_set(err, -EINVAL, "cannot parse kernel release \"%s\"",
                                      u.release);
        return 0;
}

/* ---- building and loading the filter ---- */

struct build_ctx {
        uint64_t caps;
        uint32_t native;
        uint64_t kernel; /* 0 until first needed */
};

static bool arch_listed(const char *const *arches, uint32_t native)
{
        for (size_t i = 0; arches && arches[i]; i++) {
                const struct arch_name *a = arch_by_name(arches[i]);
                if (a && a->token == native)
                        return true;
        }
        return false;
}

static int kernel_at_least(struct build_ctx *b, const char *want, const char *what, size_t idx,
                           bool *ret, struct lana_error **err)
{
        uint64_t v;
        if (parse_kernel_version(want, &v) < 0)
                return lana_error_set(err, -EINVAL, "%s: syscalls[%zu]: bad minKernel \"%s\"", what,
                                      idx, want);
        if (b->kernel == 0) {
                int r = running_kernel(&b->kernel, err);
                if (r < 0)
                        return lana_error_wrap(err, r, "%s", what);
        }
        *ret = b->kernel >= v;
        return 0;
}

/* Docker's rule: an entry is used unless an exclude matches, and only if every include holds. */
static int entry_applies(struct build_ctx *b, const struct seccomp_entry *e, const char *what,
                         size_t idx, bool *ret, struct lana_error **err)
{
        bool newer = false;
        int r;

        *ret = false;
        if (e->excludes.arches && arch_listed(e->excludes.arches, b->native))
                return 0;
        if (e->excludes.caps & b->caps)
                return 0;
        if (e->excludes.min_kernel) {
                r = kernel_at_least(b, e->excludes.min_kernel, what, idx, &newer, err);
                if (r < 0)
                        return r;
                if (newer)
                        return 0;
        }
        if (e->includes.arches && !arch_listed(e->includes.arches, b->native))
                return 0;
        if ((e->includes.caps & b->caps) != e->includes.caps)
                return 0;
        if (e->includes.min_kernel) {
                r = kernel_at_least(b, e->includes.min_kernel, what, idx, &newer, err);
                if (r < 0)
                        return r;
                if (!newer)
                        return 0;
        }
        *ret = true;
        return 0;
}

static int add_arch(scmp_filter_ctx ctx, uint32_t arch, const char *what, struct lana_error **err)
{
        int r = seccomp_arch_add(ctx, arch);
        if (r < 0 && r != -EEXIST)
                return lana_error_setsys(err, r, "%s: seccomp_arch_add(%s)", what,
                                         arch_token_name(arch));
        return 0;
}

static bool is_exec(const char *name)
{
        return strcmp(name, "execve") == 0 || strcmp(name, "execveat") == 0;
}

static int add_entry_rule(scmp_filter_ctx ctx, const struct seccomp_entry *e, int nr)
{
        struct scmp_arg_cmp cmp[SECCOMP_ARG_MAX * 4];
        unsigned seen = 0;
        bool repeated = false;

        assert(e->n_conds <= ELEMENTSOF(cmp));
        for (size_t i = 0; i < e->n_conds; i++) {
                cmp[i] = (struct scmp_arg_cmp){
                        .arg = e->conds[i].index,
                        .op = e->conds[i].op,
                        .datum_a = e->conds[i].value,
                        .datum_b = e->conds[i].value_two,
                };
                if (seen & (1u << e->conds[i].index))
                        repeated = true;
                seen |= 1u << e->conds[i].index;
        }
        if (!repeated)
                return seccomp_rule_add_array(ctx, e->action, nr, (unsigned)e->n_conds, cmp);

        /* libseccomp takes one comparison per argument in a rule; like runc, a profile that
         * compares one argument twice gets one rule per comparison (any of them matches). */
        for (size_t i = 0; i < e->n_conds; i++) {
                int r = seccomp_rule_add_array(ctx, e->action, nr, 1, &cmp[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void filter_releasep(scmp_filter_ctx *ctx)
{
        if (*ctx)
                seccomp_release(*ctx);
}

int seccomp_profile_load(const struct seccomp_profile *p, uint64_t caps, const char *what,
                         struct lana_error **err)
{
        return seccomp_profile_build(p, caps, what, NULL, err);
}

/* Exports the filter as a BPF program into `out` (through a memfd, libseccomp's interface). */
static int export_bpf(scmp_filter_ctx ctx, const char *what, struct lana_buf *out,
                      struct lana_error **err)
{
        _cleanup_close_ int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
        if (fd < 0)
                return lana_error_setsys(err, -errno, "%s: memfd_create", what);
        int r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return lana_error_setsys(err, r, "%s: seccomp_export_bpf", what);
        if (lseek(fd, 0, SEEK_SET) < 0)
                return lana_error_setsys(err, -errno, "%s: seek", what);
        char chunk[8192];
        ssize_t n;
        while ((n = read(fd, chunk, sizeof chunk)) > 0)
                if (lana_buf_append(out, chunk, (size_t)n) < 0)
                        return lana_error_set(err, -E2BIG, "%s: filter too large", what);
        return n < 0 ? lana_error_setsys(err, -errno, "%s: read filter", what) : 0;
}

int seccomp_profile_build(const struct seccomp_profile *p, uint64_t caps, const char *what,
                          struct lana_buf *export_to, struct lana_error **err)
{
        _cleanup_(filter_releasep) scmp_filter_ctx ctx = NULL;
        struct build_ctx b = {.caps = caps, .native = seccomp_arch_native()};
        int r;

        ctx = seccomp_init(p->default_action);
        if (!ctx)
                return lana_error_set(err, -EINVAL, "%s: seccomp_init failed (default action %#x)",
                                      what, p->default_action);

        /* The runtime sets no_new_privs itself when the container asks for it; the filter must
         * not force it on a setuid-using container behind its back. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (r < 0)
                return lana_error_setsys(err, r, "%s: seccomp_attr_set(SCMP_FLTATR_CTL_NNP)", what);
        /* Report the kernel's own error codes from seccomp_load() (EACCES, EINVAL...), not
         * libseccomp's catch-all ECANCELED. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
        if (r < 0)
                return lana_error_setsys(err, r, "%s: seccomp_attr_set(SCMP_FLTATR_API_SYSRAWRC)",
                                         what);
        /* A binary tree over syscall numbers instead of libseccomp's default linear list. The
         * kernel evaluates the filter for every syscall number when it is loaded (to build its
         * always-allowed bitmap) and then on each syscall: with Docker's ~350 rules the linear
         * program made loading alone cost ~0.9 ms and every syscall walk hundreds of compares. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        if (r < 0)
                return lana_error_setsys(err, r, "%s: seccomp_attr_set(SCMP_FLTATR_CTL_OPTIMIZE)",
                                         what);
        static const enum scmp_filter_attr flag_attrs[] = {
                SCMP_FLTATR_CTL_TSYNC,
                SCMP_FLTATR_CTL_LOG,
                SCMP_FLTATR_CTL_SSB,
        };
        for (size_t i = 0; i < ELEMENTSOF(flag_attrs); i++) {
                if (!(p->attrs & (1u << flag_attrs[i])))
                        continue;
                r = seccomp_attr_set(ctx, flag_attrs[i], 1);
                if (r < 0)
                        return lana_error_setsys(err, r, "%s: seccomp_attr_set(%d)", what,
                                                 (int)flag_attrs[i]);
        }

        for (size_t i = 0; i < p->n_arches; i++) {
                r = add_arch(ctx, p->arches[i], what, err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < p->n_arch_map; i++) {
                if (p->arch_map[i].arch != b.native)
                        continue;
                for (size_t j = 0; j < ELEMENTSOF(p->arch_map[i].sub) && p->arch_map[i].sub[j];
                     j++) {
                        r = add_arch(ctx, p->arch_map[i].sub[j], what, err);
                        if (r < 0)
                                return r;
                }
                break;
        }

        /* Added first and unconditionally; entries that would refuse exec are skipped below. */
        if (p->default_action != SCMP_ACT_ALLOW) {
                static const char *const exec_names[] = {"execve", "execveat"};
                for (size_t i = 0; i < ELEMENTSOF(exec_names); i++) {
                        int nr = seccomp_syscall_resolve_name(exec_names[i]);
                        if (nr == __NR_SCMP_ERROR)
                                continue;
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
                        if (r < 0)
                                return lana_error_setsys(err, r, "%s: seccomp_rule_add(%s)", what,
                                                         exec_names[i]);
                }
        }

        for (size_t i = 0; i < p->n_entries; i++) {
                const struct seccomp_entry *e = &p->entries[i];
                bool use;
                r = entry_applies(&b, e, what, i, &use, err);
                if (r < 0)
                        return r;
                /* libseccomp refuses rules that repeat the default action (-EACCES); they
                 * change nothing anyway. */
                if (!use || e->action == p->default_action)
                        continue;
                for (size_t n = 0; e->names[n]; n++) {
                        if (is_exec(e->names[n]) && e->action != SCMP_ACT_ALLOW)
                                continue;
                        /* Negative pseudo numbers are fine: libseccomp maps them to the
                         * architectures that have the call. Only unknown names are skipped. */
                        int nr = seccomp_syscall_resolve_name(e->names[n]);
                        if (nr == __NR_SCMP_ERROR)
                                continue;
                        r = add_entry_rule(ctx, e, nr);
                        if (r < 0)
                                return lana_error_setsys(err, r,
                                                         "%s: syscalls[%zu]: seccomp_rule_add(%s)",
                                                         what, i, e->names[n]);
                }
        }

        if (export_to)
                return export_bpf(ctx, what, export_to, err);
        r = seccomp_load(ctx);
        if (r == -EACCES)
                return lana_error_setsys(
                        err, r, "%s: seccomp_load (needs no_new_privs or CAP_SYS_ADMIN)", what);
        if (r < 0)
                return lana_error_setsys(err, r, "%s: seccomp_load", what);
        return 0;
}

int seccomp_load_default(uint64_t caps, struct lana_error **err)
{
        return seccomp_profile_load(&seccomp_default_profile, caps, "default seccomp profile", err);
}

int seccomp_compile_default(uint64_t caps, struct lana_buf *out, struct lana_error **err)
{
        return seccomp_profile_build(&seccomp_default_profile, caps, "default seccomp profile", out,
                                     err);
}

int seccomp_load_bpf(const void *bpf, size_t len, struct lana_error **err)
{
        if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
            len / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return lana_error_set(err, -EINVAL, "seccomp: malformed BPF program (%zu bytes)",
                                      len);
        struct sock_fprog prog = {.len = (unsigned short)(len / sizeof(struct sock_filter)),
                                  .filter = (struct sock_filter *)(uintptr_t)bpf};
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
                int e = errno;
                return lana_error_set(err, -e, "seccomp: load filter: %s%s", strerror(e),
                                      e == EACCES ? " (needs no_new_privs or CAP_SYS_ADMIN)" : "");
        }
        return 0;
}

/* ---- JSON profiles ---- */

/* A parsed profile: the seccomp_profile plus what it owns. Names point into `root`. */
struct json_profile {
        struct seccomp_profile p;
        struct seccomp_entry *entries;
        uint32_t *arches;
        struct seccomp_arch_map *arch_map;
        json_t *root;
};

static void json_profile_release(struct json_profile *jp)
{
        for (size_t i = 0; jp->entries && i < jp->p.n_entries; i++) {
                free((void *)jp->entries[i].names);
                free((void *)jp->entries[i].conds);
                free((void *)jp->entries[i].includes.arches);
                free((void *)jp->entries[i].excludes.arches);
        }
        free(jp->entries);
        free(jp->arches);
        free(jp->arch_map);
        json_decref(jp->root);
        *jp = (struct json_profile){0};
}

/* Reads a non-negative integer. */
static int json_uint(json_t *v, uint64_t max, uint64_t *ret)
{
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) > max)
                return -EINVAL;
        *ret = (uint64_t)json_integer_value(v);
        return 0;
}

static int parse_action(const char *path, const char *field, json_t *name, json_t *errno_ret,
                        uint32_t *ret, struct lana_error **err)
{
        uint64_t e = EPERM;
        const char *s = json_string_value(name);

        if (!s)
                return lana_error_set(err, -EINVAL, "%s: %s: missing or not a string", path, field);
        bool takes_errno = strcmp(s, "SCMP_ACT_ERRNO") == 0 || strcmp(s, "SCMP_ACT_TRACE") == 0;
        if (errno_ret && !json_is_null(errno_ret)) {
                if (!takes_errno)
                        return lana_error_set(err, -EINVAL,
                                              "%s: %s: an errno value only goes with "
                                              "SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s",
                                              path, field, s);
                if (json_uint(errno_ret, SECCOMP_ERRNO_MAX, &e) < 0)
                        return lana_error_set(err, -EINVAL,
                                              "%s: %s: errno value must be an integer in 0..%d",
                                              path, field, SECCOMP_ERRNO_MAX);
        }
        if (strcmp(s, "SCMP_ACT_ALLOW") == 0)
                *ret = SCMP_ACT_ALLOW;
        else if (strcmp(s, "SCMP_ACT_ERRNO") == 0)
                *ret = SCMP_ACT_ERRNO((uint32_t)e);
        else if (strcmp(s, "SCMP_ACT_TRACE") == 0)
                *ret = SCMP_ACT_TRACE((uint32_t)e);
        else if (strcmp(s, "SCMP_ACT_KILL") == 0 || strcmp(s, "SCMP_ACT_KILL_THREAD") == 0)
                *ret = SCMP_ACT_KILL_THREAD;
        else if (strcmp(s, "SCMP_ACT_KILL_PROCESS") == 0)
                *ret = SCMP_ACT_KILL_PROCESS;
        else if (strcmp(s, "SCMP_ACT_TRAP") == 0)
                *ret = SCMP_ACT_TRAP;
        else if (strcmp(s, "SCMP_ACT_LOG") == 0)
                *ret = SCMP_ACT_LOG;
        else if (strcmp(s, "SCMP_ACT_NOTIFY") == 0)
                return lana_error_set(err, -EINVAL,
                                      "%s: %s: SCMP_ACT_NOTIFY is not supported (no seccomp "
                                      "agent)",
                                      path, field);
        else
                return lana_error_set(err, -EINVAL, "%s: %s: unknown action \"%s\"", path, field,
                                      s);
        return 0;
}

/* A JSON array of strings as a NULL-terminated heap array pointing into the JSON. */
static int string_list(const char *path, const char *field, json_t *v, bool allow_empty,
                       const char ***ret, struct lana_error **err)
{
        if (!json_is_array(v))
                return lana_error_set(err, -EINVAL, "%s: %s: not an array", path, field);
        size_t n = json_array_size(v);
        if (n == 0 && !allow_empty)
                return lana_error_set(err, -EINVAL, "%s: %s: empty", path, field);
        _cleanup_free_ const char **list = xnew(const char *, n + 1);
        for (size_t i = 0; i < n; i++) {
                list[i] = json_string_value(json_array_get(v, i));
                if (!list[i] || !*list[i])
                        return lana_error_set(err, -EINVAL, "%s: %s[%zu]: not a string", path,
                                              field, i);
        }
        *ret = TAKE_PTR(list);
        return 0;
}

static int parse_filter(const char *path, const char *field, json_t *v, struct seccomp_filter *f,
                        struct lana_error **err)
{
        if (!v)
                return 0;
        if (!json_is_object(v))
                return lana_error_set(err, -EINVAL, "%s: %s: not an object", path, field);

        json_t *caps = json_object_get(v, "caps");
        if (caps && !json_is_null(caps)) {
                if (!json_is_array(caps))
                        return lana_error_set(err, -EINVAL, "%s: %s.caps: not an array", path,
                                              field);
                for (size_t i = 0; i < json_array_size(caps); i++) {
                        const char *c = json_string_value(json_array_get(caps, i));
                        size_t bit = 0;
                        while (bit < ELEMENTSOF(cap_names) && (!c || strcmp(cap_names[bit], c)))
                                bit++;
                        if (bit == ELEMENTSOF(cap_names))
                                return lana_error_set(err, -EINVAL,
                                                      "%s: %s.caps[%zu]: unknown capability %s%s%s",
                                                      path, field, i, c ? "\"" : "",
                                                      c ? c : "(not a string)", c ? "\"" : "");
                        f->caps |= UINT64_C(1) << bit;
                }
        }

        json_t *arches = json_object_get(v, "arches");
        if (arches && !json_is_null(arches)) {
                const char **list;
                _cleanup_free_ char *sub = xasprintf("%s.arches", field);
                int r = string_list(path, sub, arches, true, &list, err);
                if (r < 0)
                        return r;
                f->arches = list;
                for (size_t i = 0; list[i]; i++)
                        if (!arch_by_name(list[i]))
                                return lana_error_set(err, -EINVAL,
                                                      "%s: %s[%zu]: unknown architecture \"%s\"",
                                                      path, sub, i, list[i]);
        }

        json_t *mk = json_object_get(v, "minKernel");
        if (mk && !json_is_null(mk)) {
                uint64_t ignored;
                const char *s = json_string_value(mk);
                if (!s || parse_kernel_version(s, &ignored) < 0)
                        return lana_error_set(err, -EINVAL,
                                              "%s: %s.minKernel: not a kernel version like \"4.8\"",
                                              path, field);
                f->min_kernel = s;
        }
        return 0;
}

static int parse_args(const char *path, const char *field, json_t *v, struct seccomp_entry *e,
                      struct lana_error **err)
{
        if (!json_is_array(v))
                return lana_error_set(err, -EINVAL, "%s: %s: not an array", path, field);
        size_t n = json_array_size(v);
        /* libseccomp compares each of the 6 arguments at most a few times per rule; a longer
         * list is not a profile anyone wrote on purpose. */
        if (n > SECCOMP_ARG_MAX * 4)
                return lana_error_set(err, -EINVAL, "%s: %s: more than %d comparisons", path, field,
                                      SECCOMP_ARG_MAX * 4);
        struct seccomp_cond *conds = xnew(struct seccomp_cond, n ? n : 1);
        e->conds = conds;
        e->n_conds = n;
        for (size_t i = 0; i < n; i++) {
                json_t *a = json_array_get(v, i);
                if (!json_is_object(a))
                        return lana_error_set(err, -EINVAL, "%s: %s[%zu]: not an object", path,
                                              field, i);
                uint64_t idx, val, val2 = 0;
                if (json_uint(json_object_get(a, "index"), SECCOMP_ARG_MAX - 1, &idx) < 0)
                        return lana_error_set(err, -EINVAL,
                                              "%s: %s[%zu].index: missing or not in 0..%d", path,
                                              field, i, SECCOMP_ARG_MAX - 1);
                if (json_uint(json_object_get(a, "value"), INT64_MAX, &val) < 0)
                        return lana_error_set(err, -EINVAL,
                                              "%s: %s[%zu].value: missing or not a non-negative "
                                              "integer",
                                              path, field, i);
                json_t *v2 = json_object_get(a, "valueTwo");
                if (v2 && json_uint(v2, INT64_MAX, &val2) < 0)
                        return lana_error_set(err, -EINVAL,
                                              "%s: %s[%zu].valueTwo: not a non-negative integer",
                                              path, field, i);
                const char *op = json_string_value(json_object_get(a, "op"));
                size_t k = 0;
                while (k < ELEMENTSOF(op_names) && (!op || strcmp(op_names[k].name, op)))
                        k++;
                if (k == ELEMENTSOF(op_names))
                        return lana_error_set(
                                err, -EINVAL, "%s: %s[%zu].op: unknown operator %s%s%s", path,
                                field, i, op ? "\"" : "", op ? op : "(missing)", op ? "\"" : "");
                conds[i] = (struct seccomp_cond){
                        .index = (unsigned)idx,
                        .op = op_names[k].op,
                        .value = val,
                        .value_two = val2,
                };
        }
        return 0;
}

static int parse_entry(const char *path, size_t idx, json_t *v, struct seccomp_entry *e,
                       struct lana_error **err)
{
        char field[64];
        int r;

        if (!json_is_object(v))
                return lana_error_set(err, -EINVAL, "%s: syscalls[%zu]: not an object", path, idx);

        json_t *names = json_object_get(v, "names");
        json_t *name = json_object_get(v, "name");
        if (names && name)
                return lana_error_set(err, -EINVAL,
                                      "%s: syscalls[%zu]: both \"name\" and \"names\"; use one",
                                      path, idx);
        if (names) {
                const char **list;
                snprintf(field, sizeof field, "syscalls[%zu].names", idx);
                r = string_list(path, field, names, false, &list, err);
                if (r < 0)
                        return r;
                e->names = list;
        } else if (name) {
                const char *s = json_string_value(name);
                if (!s || !*s)
                        return lana_error_set(err, -EINVAL, "%s: syscalls[%zu].name: not a string",
                                              path, idx);
                const char **list = xnew(const char *, 2);
                list[0] = s;
                e->names = list;
        } else
                return lana_error_set(err, -EINVAL, "%s: syscalls[%zu]: no \"names\"", path, idx);

        snprintf(field, sizeof field, "syscalls[%zu].action", idx);
        r = parse_action(path, field, json_object_get(v, "action"), json_object_get(v, "errnoRet"),
                         &e->action, err);
        if (r < 0)
                return r;

        json_t *args = json_object_get(v, "args");
        if (args && !json_is_null(args)) {
                snprintf(field, sizeof field, "syscalls[%zu].args", idx);
                r = parse_args(path, field, args, e, err);
                if (r < 0)
                        return r;
        }

        snprintf(field, sizeof field, "syscalls[%zu].includes", idx);
        r = parse_filter(path, field, json_object_get(v, "includes"), &e->includes, err);
        if (r < 0)
                return r;
        snprintf(field, sizeof field, "syscalls[%zu].excludes", idx);
        return parse_filter(path, field, json_object_get(v, "excludes"), &e->excludes, err);
}

static int parse_arch_map(const char *path, json_t *v, struct json_profile *jp,
                          struct lana_error **err)
{
        if (!json_is_array(v))
                return lana_error_set(err, -EINVAL, "%s: archMap: not an array", path);
        size_t n = json_array_size(v);
        jp->arch_map = xnew(struct seccomp_arch_map, n ? n : 1);
        jp->p.arch_map = jp->arch_map;
        jp->p.n_arch_map = n;
        for (size_t i = 0; i < n; i++) {
                json_t *m = json_array_get(v, i);
                const char *s = json_string_value(json_object_get(m, "architecture"));
                const struct arch_name *a = s ? arch_by_scmp_name(s) : NULL;
                if (!a)
                        return lana_error_set(err, -EINVAL,
                                              "%s: archMap[%zu].architecture: missing or unknown",
                                              path, i);
                jp->arch_map[i].arch = a->token;
                json_t *subs = json_object_get(m, "subArchitectures");
                if (!subs || json_is_null(subs))
                        continue;
                if (!json_is_array(subs) || json_array_size(subs) > ELEMENTSOF(jp->arch_map[i].sub))
                        return lana_error_set(err, -EINVAL,
                                              "%s: archMap[%zu].subArchitectures: not an array "
                                              "of at most %zu",
                                              path, i, ELEMENTSOF(jp->arch_map[i].sub));
                for (size_t j = 0; j < json_array_size(subs); j++) {
                        const char *ss = json_string_value(json_array_get(subs, j));
                        const struct arch_name *sa = ss ? arch_by_scmp_name(ss) : NULL;
                        if (!sa)
                                return lana_error_set(err, -EINVAL,
                                                      "%s: archMap[%zu].subArchitectures[%zu]: "
                                                      "unknown architecture",
                                                      path, i, j);
                        jp->arch_map[i].sub[j] = sa->token;
                }
        }
        return 0;
}

static int parse_profile(const char *path, const char *data, size_t len, struct json_profile *jp,
                         struct lana_error **err)
{
        json_error_t je;
        int r;

        jp->root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
        if (!jp->root)
                return lana_error_set(err, -EINVAL, "%s: line %d column %d: %s", path, je.line,
                                      je.column, je.text);
        if (!json_is_object(jp->root))
                return lana_error_set(err, -EINVAL, "%s: not a JSON object", path);

        r = parse_action(path, "defaultAction", json_object_get(jp->root, "defaultAction"),
                         json_object_get(jp->root, "defaultErrnoRet"), &jp->p.default_action, err);
        if (r < 0)
                return r;

        json_t *arches = json_object_get(jp->root, "architectures");
        json_t *arch_map = json_object_get(jp->root, "archMap");
        if (json_is_null(arches))
                arches = NULL;
        if (json_is_null(arch_map))
                arch_map = NULL;
        if (arches && arch_map && json_array_size(arches) && json_array_size(arch_map))
                return lana_error_set(err, -EINVAL,
                                      "%s: both \"architectures\" and \"archMap\"; use one", path);
        if (arches) {
                const char **list;
                r = string_list(path, "architectures", arches, true, &list, err);
                if (r < 0)
                        return r;
                size_t n = 0;
                while (list[n])
                        n++;
                jp->arches = xnew(uint32_t, n ? n : 1);
                jp->p.arches = jp->arches;
                jp->p.n_arches = n;
                for (size_t i = 0; i < n; i++) {
                        const struct arch_name *a = arch_by_scmp_name(list[i]);
                        if (!a) {
                                r = lana_error_set(err, -EINVAL,
                                                   "%s: architectures[%zu]: unknown \"%s\"", path,
                                                   i, list[i]);
                                free(list);
                                return r;
                        }
                        jp->arches[i] = a->token;
                }
                free(list);
        }
        if (arch_map) {
                r = parse_arch_map(path, arch_map, jp, err);
                if (r < 0)
                        return r;
        }

        json_t *flags = json_object_get(jp->root, "flags");
        if (flags && !json_is_null(flags)) {
                if (!json_is_array(flags))
                        return lana_error_set(err, -EINVAL, "%s: flags: not an array", path);
                for (size_t i = 0; i < json_array_size(flags); i++) {
                        const char *f = json_string_value(json_array_get(flags, i));
                        if (f && strcmp(f, "SECCOMP_FILTER_FLAG_TSYNC") == 0)
                                jp->p.attrs |= 1u << SCMP_FLTATR_CTL_TSYNC;
                        else if (f && strcmp(f, "SECCOMP_FILTER_FLAG_LOG") == 0)
                                jp->p.attrs |= 1u << SCMP_FLTATR_CTL_LOG;
                        else if (f && strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
                                jp->p.attrs |= 1u << SCMP_FLTATR_CTL_SSB;
                        else
                                return lana_error_set(err, -EINVAL,
                                                      "%s: flags[%zu]: unknown or unsupported "
                                                      "flag",
                                                      path, i);
                }
        }

        json_t *syscalls = json_object_get(jp->root, "syscalls");
        if (!syscalls || json_is_null(syscalls))
                return 0;
        if (!json_is_array(syscalls))
                return lana_error_set(err, -EINVAL, "%s: syscalls: not an array", path);
        size_t n = json_array_size(syscalls);
        jp->entries = xnew(struct seccomp_entry, n ? n : 1);
        jp->p.entries = jp->entries;
        for (size_t i = 0; i < n; i++) {
                /* counted before parsing so that release frees a half-filled entry too */
                jp->p.n_entries = i + 1;
                r = parse_entry(path, i, json_array_get(syscalls, i), &jp->entries[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int file_profile(const char *path, uint64_t caps, struct lana_buf *export_to,
                        struct lana_error **err);

int seccomp_load_file(const char *path, uint64_t caps, struct lana_error **err)
{
        return file_profile(path, caps, NULL, err);
}

int seccomp_compile_file(const char *path, uint64_t caps, struct lana_buf *out,
                         struct lana_error **err)
{
        return file_profile(path, caps, out, err);
}

static int file_profile(const char *path, uint64_t caps, struct lana_buf *export_to,
                        struct lana_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        struct json_profile jp = {0};
        int r;

        r = read_file_at(AT_FDCWD, path, SECCOMP_PROFILE_MAX, &data, &len, err);
        if (r < 0)
                return lana_error_wrap(err, r, "seccomp profile");
        r = parse_profile(path, data, len, &jp, err);
        if (r >= 0)
                r = seccomp_profile_build(&jp.p, caps, path, export_to, err);
        json_profile_release(&jp);
        return r;
}
