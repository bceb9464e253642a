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
        /* create and start as two steps: the fifo the created process waits on (see
         * lana_container_create), or NULL to exec at once */
        const char *exec_fifo;
};

struct lana_container;
struct lana_record;

/* Creates the container: everything up to the exec of its program (namespaces, mounts, cgroups,
 * identity, capabilities, seccomp). With spec->exec_fifo the process then waits on that fifo
 * (made here; it must not exist) until lana_container_start() or lana_container_start_record()
 * releases it; without one it execs at once, and this returns once it has (create and start in
 * one). An exec that fails is reported as an error of kind LANA_ERR_NO_PROGRAM (exit 127) or
 * LANA_ERR_NOT_EXECUTABLE (126); anything else is a runtime failure (125). stdin/stdout/stderr
 * are inherited unless `terminal`, in which case lana_container_pty() gives the pty master. */
int lana_container_create(const struct lana_container_spec *s, struct lana_container **ret,
                          struct lana_error **err);
/* Starts a container this process created with an exec fifo, and returns once its program has
 * been executed (or failed to be: the kinds above). -EALREADY (conflict) when it was started. */
int lana_container_start(struct lana_container *c, struct lana_error **err);
/* The same from any process, given the record of a created container: releases it; an exec
 * failure then shows as its exit status (127/126). */
int lana_container_start_record(const struct lana_record *r, struct lana_error **err);
pid_t lana_container_pid(const struct lana_container *c);
int lana_container_pty(const struct lana_container *c);
/* Waits for the container's init to exit; returns the docker-style status: the exit code, or
 * 128+N for a signal; *ret_oom tells whether the memory limit killed something. */
int lana_container_wait(struct lana_container *c, bool *ret_oom, struct lana_error **err);
int lana_container_kill(struct lana_container *c, int sig);
/* Kills what is left, removes the cgroups, frees. Accepts NULL. */
struct lana_container *lana_container_free(struct lana_container *c);
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

/* ---- container records (record.c) ----
 * The typed record of a container: what every command that lists, signals or removes containers
 * reads. Stored as JSON under lana_state_root()/<id>/state.json, written atomically. */
enum lana_container_status {
        LANA_CONTAINER_CREATING, /* its monitor is setting it up; no process of its own yet */
        LANA_CONTAINER_CREATED,  /* its process exists and waits to be started */
        LANA_CONTAINER_RUNNING,  /* its program runs */
        LANA_CONTAINER_STOPPED,  /* it ended (exit code known), or its processes are gone */
};

struct lana_record {
        char id[65]; /* [A-Za-z0-9_-][A-Za-z0-9_.-]{0,63} */
        char *name;
        char *image;      /* the image reference it was made from, or NULL */
        char *bundle;     /* the OCI bundle it was made from, or NULL */
        char *dir;        /* its directory (rootfs mount point, upper, work, log), or NULL */
        char *log_path;   /* where a detached container's output goes, or NULL */
        char **command;   /* argv of its program */
        char **snapshots; /* names of the snapshots under its overlay: prune keeps them */
        char **cgroups;   /* cgroup directories it has (or may have, while creating) */
        char **labels;    /* "key=value" */
        enum lana_container_status status; /* as recorded; lana_record_status() is the live one */
        pid_t pid;                         /* its first process, 0 before there is one */
        uint64_t pid_start;                /* that process's start time: a recycled pid is not it */
        pid_t monitor;                     /* the process that supervises it */
        uint64_t monitor_start;            /* and its start time */
        bool rm;                           /* removed when it ends */
        bool has_exit_code;
        int exit_code; /* docker-style: the code, or 128+N for a signal */
        bool oom_killed;
        int64_t created, started, finished; /* seconds since the epoch, 0 for not yet */
};

char *lana_state_root(void);
/* The record's directory (name NULL) or a file in it ("state.json", "exec.fifo"): the one place
 * that knows the layout. `id` must be valid. */
char *lana_record_path(const char *id, const char *name);
/* Whether `id` is a valid container id: 1 to 64 of [A-Za-z0-9_.-], not starting with '.'. */
bool lana_container_id_valid(const char *id);
const char *lana_container_status_name(enum lana_container_status s);
/* A new record in status creating, everything else empty. `id` must be valid. */
struct lana_record *lana_record_new(const char *id);
struct lana_record *lana_record_free(struct lana_record *r);
void lana_record_freep(struct lana_record **r);
/* Frees a NULL-terminated array of records and the records. */
void lana_record_list_free(struct lana_record **v);
/* The record's JSON form: the file format, and what `containers --format json` prints. */
json_t *lana_record_to_json(const struct lana_record *r);
int lana_record_write(const struct lana_record *r, struct lana_error **err);
/* -ENOENT "no container ID" when there is none; -EINVAL naming the file when it is damaged. */
int lana_record_read(const char *id, struct lana_record **ret, struct lana_error **err);
int lana_record_remove(const char *id);
/* Every readable record, NULL-terminated (free with lana_record_list_free()). */
int lana_record_list(struct lana_record ***ret, struct lana_error **err);
/* By name, full id, or an id prefix of at least 4 characters; -ENOENT when none matches,
 * -EINVAL when a prefix matches several. */
int lana_record_find(const char *id_or_name, struct lana_record **ret, struct lana_error **err);
/* The live status: the recorded one, unless the process it names (the monitor while creating,
 * the container's own after that) no longer exists with its recorded start time: stopped. */
enum lana_container_status lana_record_status(const struct lana_record *r);
/* The start time (clock ticks since boot) of a process, 0 when it does not exist. */
uint64_t lana_pid_start_time(pid_t pid);

/* ---- lifecycle from any process (lifecycle.c) ---- */
/* Sends `sig` to the container's first process; -ESRCH when it is not running. */
int lana_container_signal(const struct lana_record *r, int sig, struct lana_error **err);
/* Removes a container: with `force` a live one is killed first (its monitor when it is still
 * being created), else it must be stopped (-EBUSY "... is running (use -f)"). Then its
 * directory, any cgroup its monitor left and its record go. A cgroup that cannot be removed is
 * reported after the rest is done. */
int lana_container_delete(const struct lana_record *r, bool force, struct lana_error **err);

/* Removes snapshots whose diff_id hex is not a key of `keep`, and leftovers of interrupted
 * unpacks. Returns the number removed. */
int lana_snapshot_gc(struct lana_store *s, json_t *keep, struct lana_error **err);
