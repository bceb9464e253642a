/*
 * state.c — where containers are recorded: /run/lana-img/containers/<id>/state.json for root,
 * $XDG_RUNTIME_DIR/lana-img/containers/<id>/ otherwise. A record holds the id, name, image,
 * command, the init pid with its start time (so a recycled pid is never mistaken for the
 * container), the monitor pid and, once known, the exit status. Writes are atomic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lana/runtime.h"
#include "alloc.h"
#include "fs-util.h"

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

_public_ int lana_state_write(const char *id, json_t *state, struct lana_error **err)
{
        _cleanup_free_ char *root = lana_state_root();
        _cleanup_free_ char *dir = xasprintf("%s/%s", root, id);
        int r = mkdir_p_at(AT_FDCWD, dir, 0700);
        if (r < 0)
                return lana_error_setsys(err, r, "create %s", dir);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return lana_error_setsys(err, -errno, "%s", dir);
        _cleanup_free_ char *text = json_dumps(state, JSON_SORT_KEYS | JSON_INDENT(2));
        return write_file_volatile_at(dfd, "state.json", text, strlen(text), 0600, err);
}

_public_ int lana_state_read(const char *id, json_t **ret, struct lana_error **err)
{
        _cleanup_free_ char *root = lana_state_root();
        _cleanup_free_ char *path = xasprintf("%s/%s/state.json", root, id);
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_at(AT_FDCWD, path, 1 << 20, &data, &len, err);
        if (r < 0)
                return r == -ENOENT ? lana_error_set(err, -ENOENT, "no container %s", id) : r;
        return lana_json_parse_object(data, len, ret, err);
}

_public_ int lana_state_remove(const char *id)
{
        _cleanup_free_ char *root = lana_state_root();
        _cleanup_free_ char *dir = xasprintf("%s/%s", root, id);
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
        for (char *t = strtok(p + 1, " "); t; t = strtok(NULL, " "))
                if (++field == 22)
                        return strtoull(t, NULL, 10);
        return 0;
}

_public_ bool lana_state_running(json_t *state)
{
        pid_t pid = (pid_t)json_integer_value(json_object_get(state, "pid"));
        uint64_t start = (uint64_t)json_integer_value(json_object_get(state, "pid_start"));
        if (pid <= 0 || json_object_get(state, "exit_code"))
                return false;
        return lana_pid_start_time(pid) == start && start != 0;
}

_public_ bool lana_state_starting(json_t *state)
{
        if (json_integer_value(json_object_get(state, "pid")) > 0 ||
            json_object_get(state, "exit_code"))
                return false;
        pid_t mon = (pid_t)json_integer_value(json_object_get(state, "monitor"));
        uint64_t start = (uint64_t)json_integer_value(json_object_get(state, "monitor_start"));
        return mon > 0 && start != 0 && lana_pid_start_time(mon) == start;
}

_public_ int lana_state_list(json_t **ret, struct lana_error **err)
{
        _cleanup_free_ char *root = lana_state_root();
        json_t *out = json_array();
        DIR *d = opendir(root);
        if (!d) {
                if (errno == ENOENT) {
                        *ret = out;
                        return 0;
                }
                json_decref(out);
                return lana_error_setsys(err, -errno, "%s", root);
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                json_t *st = NULL;
                if (lana_state_read(de->d_name, &st, NULL) < 0)
                        continue;
                json_object_set_new(st, "running", json_boolean(lana_state_running(st)));
                json_object_set_new(st, "starting", json_boolean(lana_state_starting(st)));
                json_array_append_new(out, st);
        }
        closedir(d);
        *ret = out;
        return 0;
}

_public_ int lana_state_find(const char *id_or_name, json_t **ret, struct lana_error **err)
{
        json_t *all = NULL;
        int r = lana_state_list(&all, err);
        if (r < 0)
                return r;
        json_t *found = NULL;
        int matches = 0;
        size_t i;
        json_t *s;
        size_t n = strlen(id_or_name);
        json_array_foreach(all, i, s)
        {
                const char *id = json_string_value(json_object_get(s, "id"));
                const char *name = json_string_value(json_object_get(s, "name"));
                if ((name && !strcmp(name, id_or_name)) || (id && !strcmp(id, id_or_name))) {
                        found = s;
                        matches = 1;
                        break;
                }
                if (id && n >= 4 && !strncmp(id, id_or_name, n)) {
                        found = s;
                        matches++;
                }
        }
        if (matches == 1)
                *ret = json_incref(found);
        json_decref(all);
        if (matches == 0)
                return lana_error_set(err, -ENOENT, "no container %s", id_or_name);
        if (matches > 1)
                return lana_error_set(err, -EINVAL, "%s matches several containers", id_or_name);
        return 0;
}
