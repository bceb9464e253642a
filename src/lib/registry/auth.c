/*
 * auth.c — where registry credentials come from and where login puts them.
 *
 * Lookup order for a host: $REGISTRY_AUTH_FILE (or --authfile), ${XDG_RUNTIME_DIR}/containers/
 * auth.json, ~/.config/containers/auth.json, then the docker config ($DOCKER_CONFIG/config.json
 * or ~/.docker/config.json): `credHelpers[host]`, `auths[host]`, `credsStore`. Helpers are run as
 * `docker-credential-<name> get` with the host on stdin, without a shell. login writes
 * auth.json atomically with mode 0600.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "base64.h"
#include "fs-util.h"
#include "registry-internal.h"

#define AUTH_FILE_MAX ((size_t)1 << 20)

extern char **environ;

char *reg_auth_file_path(const struct lana_registry_options *o)
{
        if (o && o->auth_file)
                return xstrdup(o->auth_file);
        const char *env = getenv("REGISTRY_AUTH_FILE");
        if (env && *env)
                return xstrdup(env);
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (xdg && *xdg)
                return xasprintf("%s/containers/auth.json", xdg);
        const char *home = getenv("HOME");
        return xasprintf("%s/.config/containers/auth.json", home && *home ? home : "/root");
}

static json_t *load_json_file(const char *path)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (read_file_at(AT_FDCWD, path, AUTH_FILE_MAX, &data, &len, NULL) < 0)
                return NULL;
        json_t *j = NULL;
        if (lana_json_parse_object(data, len, &j, NULL) < 0)
                return NULL;
        return j;
}

/* Normalises an auths key ("https://index.docker.io/v1/", "host:5000/") to a host. */
static char *auth_key_host(const char *key)
{
        const char *s = key;
        if (!strncmp(s, "https://", 8))
                s += 8;
        else if (!strncmp(s, "http://", 7))
                s += 7;
        char *h = xstrndup(s, strcspn(s, "/"));
        if (!strcmp(h, "index.docker.io") || !strcmp(h, "registry-1.docker.io")) {
                free(h);
                h = xstrdup("docker.io");
        }
        return h;
}

static int from_auths(json_t *cfg, const char *host, char **ret_user, char **ret_pass)
{
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(cfg, "auths"), key, v)
        {
                _cleanup_free_ char *h = auth_key_host(key);
                if (strcmp(h, host) != 0)
                        continue;
                const char *auth = json_string_value(json_object_get(v, "auth"));
                if (auth) {
                        _cleanup_free_ char *dec = NULL;
                        if (base64_decode(auth, &dec) < 0)
                                return -EINVAL;
                        char *colon = strchr(dec, ':');
                        if (!colon)
                                return -EINVAL;
                        *colon = '\0';
                        *ret_user = xstrdup(dec);
                        *ret_pass = xstrdup(colon + 1);
                        explicit_bzero(dec, strlen(colon + 1) + (size_t)(colon - dec) + 1);
                        return 1;
                }
                const char *u = json_string_value(json_object_get(v, "username"));
                const char *p = json_string_value(json_object_get(v, "password"));
                if (u && p) {
                        *ret_user = xstrdup(u);
                        *ret_pass = xstrdup(p);
                        return 1;
                }
        }
        return 0;
}

static int run_helper(const char *name, const char *host, char **ret_user, char **ret_pass,
                      struct lana_error **err)
{
        for (const char *c = name; *c; c++)
                if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.'))
                        return lana_error_set(err, -EINVAL, "credential helper name '%s'", name);
        _cleanup_free_ char *prog = xasprintf("docker-credential-%s", name);
        int in[2], out[2];
        if (pipe2(in, O_CLOEXEC) < 0)
                return lana_error_setsys(err, -errno, "pipe");
        if (pipe2(out, O_CLOEXEC) < 0) {
                close(in[0]);
                close(in[1]);
                return lana_error_setsys(err, -errno, "pipe");
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        char *argv[] = {prog, (char *)"get", NULL};
        pid_t pid;
        int r = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        close(out[1]);
        if (r != 0) {
                close(in[1]);
                close(out[0]);
                return lana_error_set(err, -EACCES, "credential helper %s: %s", prog, strerror(r));
        }
        signal(SIGPIPE, SIG_IGN);
        write_full(in[1], host, strlen(host));
        close(in[1]);
        struct lana_buf b;
        lana_buf_init(&b, 64 << 10);
        char chunk[4096];
        ssize_t n;
        while ((n = read(out[0], chunk, sizeof chunk)) > 0)
                if (lana_buf_append(&b, chunk, (size_t)n) < 0)
                        break;
        close(out[0]);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                lana_buf_release(&b);
                /* "credentials not found" is a normal answer: anonymous access */
                return 0;
        }
        json_t *j = NULL;
        r = lana_json_parse_object(b.data ? b.data : "", b.len, &j, NULL);
        lana_buf_release(&b);
        if (r < 0)
                return lana_error_set(err, -EPROTO, "credential helper %s: invalid reply", prog);
        const char *u = json_string_value(json_object_get(j, "Username"));
        const char *s = json_string_value(json_object_get(j, "Secret"));
        if (u && s) {
                *ret_user = xstrdup(u);
                *ret_pass = xstrdup(s);
                r = 1;
        } else {
                r = 0;
        }
        json_decref(j);
        return r;
}

int reg_credentials(const char *host, const struct lana_registry_options *o, char **ret_user,
                    char **ret_pass, struct lana_error **err)
{
        *ret_user = *ret_pass = NULL;
        _cleanup_free_ char *primary = reg_auth_file_path(o);
        const char *home = getenv("HOME");
        _cleanup_free_ char *cfg_home =
                xasprintf("%s/.config/containers/auth.json", home ? home : "/root");
        const char *dc = getenv("DOCKER_CONFIG");
        _cleanup_free_ char *docker =
                dc && *dc ? xasprintf("%s/config.json", dc)
                          : xasprintf("%s/.docker/config.json", home ? home : "/root");
        const char *files[] = {primary, cfg_home, docker};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                json_t *cfg = load_json_file(files[i]);
                if (!cfg)
                        continue;
                int r = 0;
                const char *helper = json_string_value(
                        json_object_get(json_object_get(cfg, "credHelpers"), host));
                if (helper)
                        r = run_helper(helper, host, ret_user, ret_pass, err);
                if (r == 0)
                        r = from_auths(cfg, host, ret_user, ret_pass);
                const char *store = json_string_value(json_object_get(cfg, "credsStore"));
                if (r == 0 && store)
                        r = run_helper(store, host, ret_user, ret_pass, err);
                json_decref(cfg);
                if (r < 0)
                        return lana_error_wrap(err, r, "credentials for %s in %s", host, files[i]);
                if (r > 0)
                        return 0;
        }
        return 0;
}

static int save_auth_file(const char *path, json_t *cfg, struct lana_error **err)
{
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dfd = open_parent_dir(path, true, &name);
        if (dfd < 0)
                return lana_error_setsys(err, dfd, "%s", path);
        _cleanup_free_ char *text = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS);
        return write_file_atomic_at(dfd, name, text, strlen(text), 0600, err);
}

_public_ int lana_login(const char *registry, const char *user, const char *password,
                        const struct lana_registry_options *o, char **ret_file,
                        struct lana_error **err)
{
        struct lana_registry_options opts = *o;
        /* verify with exactly these credentials, not whatever the files hold */
        struct reg_client *c = NULL;
        int r = reg_client_new(registry, &opts, &c, err);
        if (r < 0)
                return r;
        free(c->user);
        free(c->pass);
        c->user = xstrdup(user);
        c->pass = xstrdup(password);
        _cleanup_free_ char *url = reg_url(c, NULL, "%s", "");
        struct reg_request rq = {.method = "GET", .url = url, .no_retry = false};
        struct reg_response resp;
        struct lana_buf b;
        lana_buf_init(&b, 64 << 10);
        rq.buf = &b;
        r = reg_request_run(c, &rq, &resp, err);
        lana_buf_release(&b);
        reg_response_release(&resp);
        reg_client_free(c);
        if (r < 0)
                return lana_error_wrap(err, r, "login %s", registry);
        _cleanup_free_ char *path = reg_auth_file_path(o);
        json_t *cfg = load_json_file(path);
        if (!cfg)
                cfg = json_object();
        json_t *auths = json_object_get(cfg, "auths");
        if (!json_is_object(auths)) {
                auths = json_object();
                json_object_set_new(cfg, "auths", auths);
        }
        _cleanup_free_ char *up = xasprintf("%s:%s", user, password);
        _cleanup_free_ char *b64 = base64_encode(up);
        explicit_bzero(up, strlen(up));
        json_object_set_new(auths, registry, json_pack("{s:s}", "auth", b64));
        r = save_auth_file(path, cfg, err);
        json_decref(cfg);
        if (r >= 0 && ret_file)
                *ret_file = xstrdup(path);
        return r;
}

_public_ int lana_logout(const char *registry, const struct lana_registry_options *o,
                         char **ret_file, struct lana_error **err)
{
        _cleanup_free_ char *path = reg_auth_file_path(o);
        json_t *cfg = load_json_file(path);
        json_t *auths = cfg ? json_object_get(cfg, "auths") : NULL;
        if (!auths || !json_object_get(auths, registry)) {
                json_decref(cfg);
                return lana_error_set(err, -ENOENT, "not logged in to %s (%s)", registry, path);
        }
        json_object_del(auths, registry);
        int r = save_auth_file(path, cfg, err);
        json_decref(cfg);
        if (r >= 0 && ret_file)
                *ret_file = xstrdup(path);
        return r;
}
