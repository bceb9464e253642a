/*
 * runtime-internal.h — interfaces between the runtime's parts: cgroups (cgroup.c), seccomp
 * (seccomp.c), capabilities (caps.c) and the container process (container.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lana/error.h"

/* ---- cgroups (cgroup.c) ----
 * v2 first: when the unified hierarchy (/sys/fs/cgroup on a pure v2 host, /sys/fs/cgroup/unified
 * on a hybrid one) offers the memory/pids/cpu controllers, they are used there; otherwise the v1
 * hierarchies /sys/fs/cgroup/{memory,pids,cpu} are used for those limits (hybrid hosts). The
 * container's cgroup is created below the cgroup the caller itself runs in, in every hierarchy
 * used, as "lana-img-<id>". */
struct cgroup_limits {
        int64_t memory_bytes; /* 0: no limit */
        int64_t pids;         /* 0: no limit */
        int64_t cpu_quota_us; /* with cpu_period_us; 0: no limit */
        int64_t cpu_period_us;
};

struct cgroup;

/* Creates the cgroup(s) and applies the limits. A limit that cannot be applied on this host is
 * an error naming the limit (never silently ignored). */
int cgroup_create(const char *id, const struct cgroup_limits *lim, struct cgroup **ret,
                  struct lana_error **err);
/* Moves a process into the container's cgroup(s). */
int cgroup_add_pid(struct cgroup *cg, pid_t pid, bool skip_v2, struct lana_error **err);
/* The container's cgroup in the unified (v2) hierarchy as a directory fd, for clone3's
 * CLONE_INTO_CGROUP (a process born there is never migrated, which is the slow part), or -1. */
int cgroup_v2_fd(struct cgroup *cg);
/* True when the kernel OOM-killed something in the cgroup (memory.events oom_kill or
 * memory.oom_control under_oom/oom_kill). */
bool cgroup_oom_killed(struct cgroup *cg);
/* Kills whatever is left (SIGKILL to every pid in cgroup.procs), waits until empty (bounded) and
 * removes the cgroup directories. Frees cg. Accepts NULL. */
void cgroup_destroy(struct cgroup *cg);
/* The absolute paths of the container's cgroup directories, NULL-terminated (strv_free). */
char **cgroup_paths(const struct cgroup *cg);
/* lana_cgroup_candidates() and lana_cgroup_remove() (lana/runtime.h) live in cgroup.c too. */

/* ---- seccomp (seccomp.c) ----
 * The default profile is equivalent to Docker's default: an allowlist of syscalls (default
 * action EPERM), with the capability-conditional additions Docker makes (e.g. CAP_SYS_ADMIN,
 * CAP_SYS_PTRACE, CAP_SYS_MODULE...), argument filters for personality, clone flags
 * (namespaces refused without CAP_SYS_ADMIN) and socket(AF_VSOCK). `caps` is the effective
 * capability mask of the container (bit N = capability N). Loading is the last step before exec;
 * the filter must allow execve/execveat. */
int seccomp_load_default(uint64_t caps, struct lana_error **err);
/* Loads a Docker/OCI seccomp JSON profile file (defaultAction, syscalls[].names/action/args,
 * architectures). */
int seccomp_load_file(const char *path, uint64_t caps, struct lana_error **err);

/* The same filters compiled to a classic BPF program (appended to `out`), so the runtime can
 * build them before the container starts (and cache the default one), and the child only has to
 * load them with seccomp_load_bpf(). */
struct lana_buf;
int seccomp_compile_default(uint64_t caps, struct lana_buf *out, struct lana_error **err);
int seccomp_compile_file(const char *path, uint64_t caps, struct lana_buf *out,
                         struct lana_error **err);
int seccomp_load_bpf(const void *bpf, size_t len, struct lana_error **err);

/* ---- rootfs without overlayfs (rootfs-copy.c) ----
 * Copies the layers (top first in `lowers`) into `dest`, applying whiteouts and opaque
 * directories, for hosts where overlayfs cannot be mounted. */
int rootfs_copy(char **lowers, const char *dest, struct lana_error **err);
