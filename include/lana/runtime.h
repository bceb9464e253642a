/*
 * lana/runtime.h — the container runtime: snapshots of image layers, and containers started with
 * namespaces, an overlay rootfs, a private /dev, masked and read-only kernel paths, cgroup
 * limits, dropped capabilities, no_new_privs and a seccomp filter, in that order (see
 * docs/runtime.md).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "lana/error.h"
#include "lana/store.h"

/* Docker's default capability set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
 * NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP. */
#define LANA_DEFAULT_CAPS                                                                          \
        ((1ull << 0) | (1ull << 1) | (1ull << 3) | (1ull << 4) | (1ull << 5) | (1ull << 6) |       \
         (1ull << 7) | (1ull << 8) | (1ull << 10) | (1ull << 13) | (1ull << 18) | (1ull << 27) |   \
         (1ull << 29) | (1ull << 31))

/* Parses "CAP_NET_ADMIN", "net_admin" or "ALL"; returns the bit mask or 0 on an unknown name. */
uint64_t lana_cap_parse(const char *name);

struct lana_bind {
        char *source;
        char *destination;
        bool readonly;
};

struct lana_tmpfs {
        char *destination;
        char *options; /* e.g. "size=64m,mode=1777" or NULL */
};

enum lana_seccomp_mode {
        LANA_SECCOMP_DEFAULT,
        LANA_SECCOMP_UNCONFINED,
        LANA_SECCOMP_FILE,
};

struct lana_container_spec {
        const char *id; /* [a-zA-Z0-9_-]{1,64} */
        /* rootfs: an overlay of `lowerdirs` (top first) with upperdir/workdir, mounted on
         * `rootfs` inside the container's mount namespace; or `rootfs` as is (bind) */
        const char *rootfs;
        char **lowerdirs;
        const char *upperdir, *workdir;
        /* the writable layer is thrown away when the container ends (run --rm): the overlay is
         * mounted "volatile", so its end does not sync the upper file system */
        bool volatile_upper;
        bool readonly_rootfs;
        const char *hostname;
        bool net_host;
        struct lana_bind *binds;
        size_t nbinds;
        struct lana_tmpfs *tmpfs;
        size_t ntmpfs;
        uint64_t caps;
        bool no_new_privs;
        enum lana_seccomp_mode seccomp;
        const char *seccomp_file;
        const char *seccomp_cache; /* directory caching the compiled default filter, or NULL */
        int64_t memory_bytes, pids_limit, cpu_quota_us, cpu_period_us;
        bool init;
        bool terminal;
        /* the process */
        char **argv;
        char **env;
        const char *cwd;
        const char *user; /* "name|uid[:group|gid]", resolved in the image; NULL: root */
};

struct lana_container;

/* Creates and starts the container; on success the process has exec'd (or failed to, which is
 * reported as an error with code: -ENOENT for not found (exit 127), -EACCES not executable
 * (126), anything else a runtime failure (125)). stdin/stdout/stderr are inherited unless
 * `terminal`, in which case lana_container_pty() gives the pty master. */
int lana_container_start(const struct lana_container_spec *s, struct lana_container **ret,
                         struct lana_error **err);
pid_t lana_container_pid(const struct lana_container *c);
int lana_container_pty(const struct lana_container *c);
/* Waits for the container's init to exit; returns the docker-style status: the exit code, or
 * 128+N for a signal; *ret_oom tells whether the memory limit killed something. */
int lana_container_wait(struct lana_container *c, bool *ret_oom, struct lana_error **err);
int lana_container_kill(struct lana_container *c, int sig);
/* Kills what is left, removes the cgroups, frees. Accepts NULL. */
void lana_container_free(struct lana_container *c);
/* The container's cgroup directories (absolute paths), for its record: should the lana-img
 * that runs it die, `rm` removes them with lana_cgroup_remove(). NULL-terminated, strv_free(). */
char **lana_container_cgroups(const struct lana_container *c);
/* Every cgroup directory lana_container_start() could make for container `id`, for the record
 * written before it is called. NULL-terminated, strv_free(). */
char **lana_cgroup_candidates(const char *id);
/* Removes a cgroup directory of container `id` that its lana-img left behind (it was killed):
 * kills what still runs there, then removes it. Refuses any path but
 * /sys/fs/cgroup/.../lana-img-<id>; one already gone is fine. */
int lana_cgroup_remove(const char *path, const char *id, struct lana_error **err);

/* Exit codes for failures before the container's program ran (as docker). */
#define LANA_EXIT_RUNTIME 125
#define LANA_EXIT_NOT_EXECUTABLE 126
#define LANA_EXIT_NOT_FOUND 127

/* ---- snapshots ----
 * Returns (creating it on first use) $ROOT/snapshots/<diff_id hex>: the layer unpacked and
 * verified. `desc` is the layer descriptor in `l`. */
int lana_snapshot_get(struct lana_store *s, struct lana_layout *l, json_t *desc,
                      const struct lana_digest *diff_id, char **ret_path, struct lana_error **err);
/* Returns (creating it on first use) $ROOT/snapshots/skeleton: empty dev/, proc/ and sys/, the
 * bottom layer of every container's overlay, so no run has to create those mount points. */
int lana_snapshot_skeleton(struct lana_store *s, char **ret_path, struct lana_error **err);

/* ---- container records (state.c) ---- */
char *lana_state_root(void);
int lana_state_write(const char *id, json_t *state, struct lana_error **err);
int lana_state_read(const char *id, json_t **ret, struct lana_error **err);
int lana_state_remove(const char *id);
/* Every record, each with "running" and "starting" set from the live process table. */
int lana_state_list(json_t **ret, struct lana_error **err);
/* By name, full id, or an id prefix of at least 4 characters. */
int lana_state_find(const char *id_or_name, json_t **ret, struct lana_error **err);
bool lana_state_running(json_t *state);
/* Recorded, but its first process not yet: the `lana-img run` that wrote the record (same pid,
 * same start time) is still starting it. */
bool lana_state_starting(json_t *state);
/* The start time (clock ticks since boot) of a process, 0 when it does not exist. */
uint64_t lana_pid_start_time(pid_t pid);

/* Removes snapshots whose diff_id hex is not a key of `keep`, and leftovers of interrupted
 * unpacks. Returns the number removed. */
int lana_snapshot_gc(struct lana_store *s, json_t *keep, struct lana_error **err);
