/*
 * record.c — the typed record of a container, and where records live: /run/lana-img/containers/
 * <id>/state.json for root, $XDG_RUNTIME_DIR/lana-img/containers/<id>/ otherwise
 * ($LANA_IMG_STATE overrides). Everything that lists, signals or removes containers (containers,
 * kill, rm, prune, and later the OCI `state` and the stacks' `ps`) reads a struct lana_record
 * from here; JSON is only the file format. Writes are atomic (temp file + rename, no fsync: the
 * records live on tmpfs and do not outlive a boot). Reads are bounded and strict about types, so a
 * damaged file is an error naming it, never a half-read record.
 *
 * A record says what was decided (status, pids with their start times, exit code); what the
 * kernel says now is folded in by lana_record_status(): a recorded process whose pid no longer
 * carries the recorded start time is gone, whatever the file says.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lana/oci.h"
#include "lana/runtime.h"
#include "alloc.h"
#include "fs-util.h"

#define RECORD_MAX_SIZE (1 << 20)

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

static const char *const status_names[] = {
        [LANA_CONTAINER_CREATING] = "creating",
        [LANA_CONTAINER_CREATED] = "created",
        [LANA_CONTAINER_RUNNING] = "running",
        [LANA_CONTAINER_STOPPED] = "stopped",
};

_public_ const char *lana_container_status_name(enum lana_container_status s)
{
        return (size_t)s < ELEMENTSOF(status_names) ? status_names[s] : "unknown";
}

static int status_from_name(const char *s, enum lana_container_status *ret)
{
        for (size_t i = 0; s && i < ELEMENTSOF(status_names); i++)
                if (!strcmp(s, status_names[i])) {
                        *ret = (enum lana_container_status)i;
                        return 0;
                }
        return -EINVAL;
}

_public_ char *lana_state_root(void)
{
        const char *env = getenv("LANA_IMG_STATE");
        if (env && *env)
                return xstrdup(env);
        if (geteuid() == 0)
                return xstrdup("/run/lana-img/containers");
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (xdg && *xdg)
                return xasprintf("%s/lana-img/containers", xdg);
        return xasprintf("/tmp/lana-img-%u/containers", (unsigned)geteuid());
}

_public_ char *lana_record_path(const char *id, const char *name)
{
        _cleanup_free_ char *root = lana_state_root();
        return name ? xasprintf("%s/%s/%s", root, id, name) : xasprintf("%s/%s", root, id);
}

_public_ bool lana_container_id_valid(const char *id)
{
        size_t n = id ? strlen(id) : 0;
        if (n == 0 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(id[i] >= 'a' && id[i] <= 'z') && !(id[i] >= 'A' && id[i] <= 'Z') &&
                    !(id[i] >= '0' && id[i] <= '9') && id[i] != '_' && id[i] != '-' &&
                    !(i > 0 && id[i] == '.'))
                        return false;
        return true;
}

_public_ struct lana_record *lana_record_new(const char *id)
{
        assert(lana_container_id_valid(id));
        struct lana_record *r = xnew(struct lana_record, 1);
        snprintf(r->id, sizeof r->id, "%s", id);
        r->status = LANA_CONTAINER_CREATING;
        return r;
}

_public_ struct lana_record *lana_record_free(struct lana_record *r)
{
        if (!r)
                return NULL;
        free(r->name);
        free(r->image);
        free(r->bundle);
        free(r->dir);
        free(r->log_path);
        strv_free(r->command);
        strv_free(r->snapshots);
        strv_free(r->cgroups);
        strv_free(r->labels);
        free(r);
        return NULL;
}

_public_ void lana_record_freep(struct lana_record **r)
{
        if (*r)
                *r = lana_record_free(*r);
}

_public_ void lana_record_list_free(struct lana_record **v)
{
        for (size_t i = 0; v && v[i]; i++)
                lana_record_free(v[i]);
        free(v);
}

/* ---- the file format ---- */

static json_t *strv_json(char *const *v)
{
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static void set_str(json_t *o, const char *key, const char *v)
{
        if (v)
                json_object_set_new(o, key, json_string(v));
}

_public_ json_t *lana_record_to_json(const struct lana_record *r)
{
        json_t *o = json_object();
        json_object_set_new(o, "version", json_integer(1));
        json_object_set_new(o, "id", json_string(r->id));
        set_str(o, "name", r->name);
        set_str(o, "image", r->image);
        set_str(o, "bundle", r->bundle);
        set_str(o, "dir", r->dir);
        set_str(o, "log", r->log_path);
        json_object_set_new(o, "status", json_string(lana_container_status_name(r->status)));
        json_object_set_new(o, "command", strv_json(r->command));
        json_object_set_new(o, "snapshots", strv_json(r->snapshots));
        json_object_set_new(o, "cgroups", strv_json(r->cgroups));
        json_object_set_new(o, "labels", strv_json(r->labels));
        if (r->pid > 0) {
                json_object_set_new(o, "pid", json_integer(r->pid));
                json_object_set_new(o, "pid_start", json_integer((json_int_t)r->pid_start));
        }
        if (r->monitor > 0) {
                json_object_set_new(o, "monitor", json_integer(r->monitor));
                json_object_set_new(o, "monitor_start", json_integer((json_int_t)r->monitor_start));
        }
        json_object_set_new(o, "rm", json_boolean(r->rm));
        if (r->status == LANA_CONTAINER_STOPPED && r->has_exit_code) {
                json_object_set_new(o, "exit_code", json_integer(r->exit_code));
                json_object_set_new(o, "oom_killed", json_boolean(r->oom_killed));
        }
        json_object_set_new(o, "created", json_integer(r->created));
        if (r->started)
                json_object_set_new(o, "started", json_integer(r->started));
        if (r->finished)
                json_object_set_new(o, "finished", json_integer(r->finished));
        return o;
}

struct reader {
        json_t *o;
        const char *path;
        struct lana_error **err;
};

static int bad(struct reader *rd, const char *key, const char *want)
{
        return lana_error_set(rd->err, -EINVAL, "container record %s: \"%s\" is not %s", rd->path,
                              key, want);
}

static int get_str(struct reader *rd, const char *key, bool required, char **ret)
{
        json_t *v = json_object_get(rd->o, key);
        if (!v && !required)
                return 0;
        if (!json_is_string(v))
                return bad(rd, key, "a string");
        *ret = xstrdup(json_string_value(v));
        return 0;
}

static int get_strv(struct reader *rd, const char *key, char ***ret)
{
        json_t *v = json_object_get(rd->o, key);
        if (!v)
                return 0;
        if (!json_is_array(v) || json_array_size(v) > 65536)
                return bad(rd, key, "an array of strings");
        char **out = xnew(char *, json_array_size(v) + 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
                json_t *s = json_array_get(v, i);
                if (!json_is_string(s)) {
                        strv_free(out);
                        return bad(rd, key, "an array of strings");
                }
                out[i] = xstrdup(json_string_value(s));
        }
        *ret = out;
        return 0;
}

static int get_int(struct reader *rd, const char *key, int64_t min, int64_t max, int64_t *ret)
{
        json_t *v = json_object_get(rd->o, key);
        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
                return bad(rd, key, "an integer in range");
        *ret = json_integer_value(v);
        return 0;
}

static int record_from_json(json_t *o, const char *path, struct lana_record **ret,
                            struct lana_error **err)
{
        struct reader rd = {o, path, err};
        _cleanup_free_ char *id = NULL, *status = NULL;
        int r = get_str(&rd, "id", true, &id);
        if (r < 0)
                return r;
        if (!lana_container_id_valid(id))
                return bad(&rd, "id", "a container id");
        _cleanup_(lana_record_freep) struct lana_record *rec = lana_record_new(id);
        int64_t pid = 0, pid_start = 0, mon = 0, mon_start = 0, code = -1, created = 0, started = 0,
                finished = 0;
        if ((r = get_str(&rd, "name", false, &rec->name)) < 0 ||
            (r = get_str(&rd, "image", false, &rec->image)) < 0 ||
            (r = get_str(&rd, "bundle", false, &rec->bundle)) < 0 ||
            (r = get_str(&rd, "dir", false, &rec->dir)) < 0 ||
            (r = get_str(&rd, "log", false, &rec->log_path)) < 0 ||
            (r = get_str(&rd, "status", true, &status)) < 0 ||
            (r = get_strv(&rd, "command", &rec->command)) < 0 ||
            (r = get_strv(&rd, "snapshots", &rec->snapshots)) < 0 ||
            (r = get_strv(&rd, "cgroups", &rec->cgroups)) < 0 ||
            (r = get_strv(&rd, "labels", &rec->labels)) < 0 ||
            (r = get_int(&rd, "pid", 1, INT32_MAX, &pid)) < 0 ||
            (r = get_int(&rd, "pid_start", 0, INT64_MAX, &pid_start)) < 0 ||
            (r = get_int(&rd, "monitor", 1, INT32_MAX, &mon)) < 0 ||
            (r = get_int(&rd, "monitor_start", 0, INT64_MAX, &mon_start)) < 0 ||
            (r = get_int(&rd, "exit_code", 0, 255, &code)) < 0 ||
            (r = get_int(&rd, "created", 0, INT64_MAX, &created)) < 0 ||
            (r = get_int(&rd, "started", 0, INT64_MAX, &started)) < 0 ||
            (r = get_int(&rd, "finished", 0, INT64_MAX, &finished)) < 0)
                return r;
        if (status_from_name(status, &rec->status) < 0)
                return bad(&rd, "status", "creating, created, running or stopped");
        rec->pid = (pid_t)pid;
        rec->pid_start = (uint64_t)pid_start;
        rec->monitor = (pid_t)mon;
        rec->monitor_start = (uint64_t)mon_start;
        rec->has_exit_code = code >= 0;
        rec->exit_code = code >= 0 ? (int)code : 0;
        rec->oom_killed = json_is_true(json_object_get(o, "oom_killed"));
        rec->rm = json_is_true(json_object_get(o, "rm"));
        rec->created = created;
        rec->started = started;
        rec->finished = finished;
        *ret = TAKE_PTR(rec);
        return 0;
}

/* ---- files ---- */

_public_ int lana_record_write(const struct lana_record *rec, struct lana_error **err)
{
        _cleanup_free_ char *dir = lana_record_path(rec->id, NULL);
        int r = mkdir_p_at(AT_FDCWD, dir, 0700);
        if (r < 0)
                return lana_error_setsys(err, r, "create %s", dir);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return lana_error_setsys(err, -errno, "%s", dir);
        _cleanup_(json_decrefp) json_t *o = lana_record_to_json(rec);
        _cleanup_free_ char *text = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
        return write_file_volatile_at(dfd, "state.json", text, strlen(text), 0600, err);
}

_public_ int lana_record_read(const char *id, struct lana_record **ret, struct lana_error **err)
{
        if (!lana_container_id_valid(id))
                return lana_error_set(err, -ENOENT, "no container %s", id);
        _cleanup_free_ char *path = lana_record_path(id, "state.json");
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_at(AT_FDCWD, path, RECORD_MAX_SIZE, &data, &len, err);
        if (r < 0)
                return r == -ENOENT ? lana_error_set(err, -ENOENT, "no container %s", id) : r;
        _cleanup_(json_decrefp) json_t *o = NULL;
        r = lana_json_parse_object(data, len, &o, err);
        if (r < 0)
                return lana_error_wrap(err, -EINVAL, "container record %s", path);
        return record_from_json(o, path, ret, err);
}

_public_ int lana_record_remove(const char *id)
{
        if (!lana_container_id_valid(id))
                return -EINVAL;
        _cleanup_free_ char *dir = lana_record_path(id, NULL);
        return rm_rf_at(AT_FDCWD, dir);
}

_public_ uint64_t lana_pid_start_time(pid_t pid)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (pid <= 0 || read_file_at(AT_FDCWD, path, 4096, &data, &len, NULL) < 0)
                return 0;
        /* field 22, counted after the ')' that closes the command name; a zombie is gone */
        char *p = strrchr(data, ')');
        if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
                return 0;
        int field = 2;
        char *save = NULL;
        for (char *t = strtok_r(p + 1, " ", &save); t; t = strtok_r(NULL, " ", &save))
                if (++field == 22)
                        return strtoull(t, NULL, 10);
        return 0;
}

static bool alive(pid_t pid, uint64_t start)
{
        return pid > 0 && start != 0 && lana_pid_start_time(pid) == start;
}

_public_ enum lana_container_status lana_record_status(const struct lana_record *rec)
{
        switch (rec->status) {
        case LANA_CONTAINER_CREATING:
                /* being set up by its monitor: gone with it */
                return alive(rec->monitor, rec->monitor_start) ? LANA_CONTAINER_CREATING
                                                               : LANA_CONTAINER_STOPPED;
        case LANA_CONTAINER_CREATED:
        case LANA_CONTAINER_RUNNING:
                return alive(rec->pid, rec->pid_start) ? rec->status : LANA_CONTAINER_STOPPED;
        case LANA_CONTAINER_STOPPED:
                break;
        }
        return LANA_CONTAINER_STOPPED;
}

_public_ int lana_record_list(struct lana_record ***ret, struct lana_error **err)
{
        _cleanup_free_ char *root = lana_state_root();
        size_t n = 0, cap = 16;
        struct lana_record **out = xnew(struct lana_record *, cap + 1);
        _cleanup_(closedirp) DIR *d = opendir(root);
        if (!d) {
                if (errno == ENOENT) {
                        *ret = out;
                        return 0;
                }
                free(out);
                return lana_error_setsys(err, -errno, "%s", root);
        }
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.' || !lana_container_id_valid(de->d_name))
                        continue;
                struct lana_record *rec = NULL;
                /* a record being replaced or removed right now, or damaged: not listed */
                if (lana_record_read(de->d_name, &rec, NULL) < 0)
                        continue;
                if (n == cap) {
                        cap *= 2;
                        out = xrealloc(out, (cap + 1) * sizeof *out);
                }
                out[n++] = rec;
                out[n] = NULL;
        }
        *ret = out;
        return 0;
}

_public_ int lana_record_find(const char *id_or_name, struct lana_record **ret,
                              struct lana_error **err)
{
        struct lana_record **all = NULL;
        int r = lana_record_list(&all, err);
        if (r < 0)
                return r;
        struct lana_record *found = NULL;
        int matches = 0;
        size_t n = strlen(id_or_name);
        for (size_t i = 0; all[i]; i++) {
                const struct lana_record *s = all[i];
                if ((s->name && !strcmp(s->name, id_or_name)) || !strcmp(s->id, id_or_name)) {
                        found = all[i];
                        matches = 1;
                        break;
                }
                if (n >= 4 && !strncmp(s->id, id_or_name, n)) {
                        found = all[i];
                        matches++;
                }
        }
        for (size_t i = 0; all[i]; i++)
                if (matches != 1 || all[i] != found)
                        lana_record_free(all[i]);
        if (matches == 1)
                *ret = found;
        free(all);
        if (matches == 0)
                return lana_error_set(err, -ENOENT, "no container %s", id_or_name);
        if (matches > 1)
                return lana_error_set(err, -EINVAL, "%s matches several containers", id_or_name);
        return 0;
}
