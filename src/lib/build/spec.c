/*
 * spec.c — parsing of the build spec (lana-img.yaml) with libfyaml.
 *
 * The spec is small but it is outside input: every key is checked against the schema, every
 * error names the file, line and key path ("lana-img.yaml:12: layers[0].files[1].mode: ..."), and
 * the whole file is bounded in size. The result is a plain struct; nothing here touches the
 * files the spec refers to (that is the planner's job).
 *
 * Time and memory are linear in the input. libfyaml 0.7.12 is not, on its own: its duplicate-key
 * check compares each new key with every earlier key of the mapping, and freeing a document walks
 * the list of all anchors once per node. So libfyaml is told to allow duplicate keys and
 * check_tree() finds them by sorting each mapping's keys; and a first pass over the parser's
 * events (scan_events()) bounds nodes, anchors and aliases before any document is built. The same
 * walk refuses aliases anywhere (the spec has no use for them, so nothing is ever expanded).
 * Control characters are refused twice over: raw ones in the file before libfyaml sees it (it
 * would end the input at a NUL), and those that escapes produce in every string read.
 */
#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <libfyaml.h>

#include "lana/build.h"
#include "alloc.h"
#include "buf.h"
#include "utf8.h"
#include "fs-util.h"

#define MAX_SPEC_SIZE ((size_t)1 << 20)
/* Caps checked on the event stream, before libfyaml builds a document. A node costs libfyaml some
 * 400 bytes, so MAX_NODES bounds a document near 100 MiB; 80,000 labels take some 160,000. Aliases
 * are refused anyway; their cap only ends the scan early. */
#define MAX_NODES 262144
#define MAX_ANCHORS 64
#define MAX_ALIASES 64
#define MAX_PLATFORMS 64
/* The control characters YAML itself uses, the only ones a spec file may hold raw */
#define FILE_CONTROLS "\t\n\r"

struct ctx {
        const char *path;
        struct lana_error **err;
};

static int node_line(struct fy_node *n)
{
        if (!n)
                return 0;
        switch (fy_node_get_type(n)) {
        case FYNT_SCALAR: {
                struct fy_token *t = fy_node_get_scalar_token(n);
                const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
                return m ? m->line + 1 : 0;
        }
        case FYNT_MAPPING: {
                void *it = NULL;
                struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
                return p ? node_line(fy_node_pair_key(p)) : 0;
        }
        case FYNT_SEQUENCE: {
                void *it = NULL;
                return node_line(fy_node_sequence_iterate(n, &it));
        }
        }
        return 0;
}

static int fail_line(struct ctx *c, int line, const char *key, const char *fmt, ...) _printf_(4, 5);
static int fail_line(struct ctx *c, int line, const char *key, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = xvasprintf(fmt, ap);
        va_end(ap);
        _cleanup_free_ char *where = line > 0 ? xasprintf("%s:%d", c->path, line) : NULL;
        if (key && *key)
                return lana_error_set(c->err, -EINVAL, "%s: %s: %s", where ? where : c->path, key,
                                      msg);
        return lana_error_set(c->err, -EINVAL, "%s: %s", where ? where : c->path, msg);
}

#define fail(c, n, key, ...) fail_line(c, node_line(n), key, __VA_ARGS__)

/* The offset of the first control character in s that is not in `allowed` (C0 controls, DEL and
 * the C1 controls U+0080..U+009F, NEL included), or len; its code point in *ret_cp and its length
 * in bytes in *ret_n. s is well-formed UTF-8. */
static size_t find_control(const char *s, size_t len, const char *allowed, unsigned *ret_cp,
                           size_t *ret_n)
{
        for (size_t i = 0; i < len; i++) {
                unsigned char b = (unsigned char)s[i];
                if ((b < 0x20 && !(b && strchr(allowed, b))) || b == 0x7f) {
                        *ret_cp = b;
                        *ret_n = 1;
                        return i;
                }
                if (b == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] < 0xa0) {
                        *ret_cp = (unsigned char)s[i + 1];
                        *ret_n = 2;
                        return i;
                }
        }
        return len;
}

/* A scalar's text as a new string, or an error naming the key. `allowed` lists the control
 * characters it may hold: none for names, paths and numbers; tab and line feed for free text. */
static int get_scalar(struct ctx *c, struct fy_node *n, const char *key, const char *allowed,
                      char **ret)
{
        if (!n || fy_node_get_type(n) != FYNT_SCALAR || fy_node_is_alias(n))
                return fail(c, n, key, n ? "expected a string" : "missing value");
        size_t len, bytes;
        const char *s = fy_node_get_scalar(n, &len);
        unsigned cp;
        if (!s)
                return fail(c, n, key, "expected a string");
        if (find_control(s, len, allowed, &cp, &bytes) < len)
                return fail(c, n, key, "contains a control character (U+%04X)", cp);
        *ret = xstrndup(s, len);
        return 0;
}

static int get_str(struct ctx *c, struct fy_node *n, const char *key, char **ret)
{
        return get_scalar(c, n, key, "", ret);
}

/* Free text: label, annotation and environment values, command arguments. */
#define TEXT_CONTROLS "\t\n"
static int get_text(struct ctx *c, struct fy_node *n, const char *key, char **ret)
{
        return get_scalar(c, n, key, TEXT_CONTROLS, ret);
}

static int get_u32(struct ctx *c, struct fy_node *n, const char *key, uint32_t *ret)
{
        _cleanup_free_ char *s = NULL;
        int r = get_str(c, n, key, &s);
        if (r < 0)
                return r;
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (!isdigit((unsigned char)s[0]) || *end || errno || v > UINT32_MAX - 1)
                return fail(c, n, key, "'%s' is not a valid id (0..4294967294)", s);
        *ret = (uint32_t)v;
        return 0;
}

static int get_mode(struct ctx *c, struct fy_node *n, const char *key, mode_t *ret)
{
        _cleanup_free_ char *s = NULL;
        int r = get_str(c, n, key, &s);
        if (r < 0)
                return r;
        size_t len = strlen(s);
        if (len < 3 || len > 5 || strspn(s, "01234567") != len)
                return fail(c, n, key, "'%s' is not an octal mode like \"0755\"", s);
        unsigned long v = strtoul(s, NULL, 8);
        if (v > 07777)
                return fail(c, n, key, "'%s' is out of range (max 07777)", s);
        *ret = (mode_t)v;
        return 0;
}

typedef int (*seq_fn)(struct ctx *c, struct fy_node *item, const char *key, size_t i, void *ud);

static int for_each_item(struct ctx *c, struct fy_node *n, const char *key, seq_fn fn, void *ud)
{
        if (!n || fy_node_get_type(n) != FYNT_SEQUENCE)
                return fail(c, n, key, "expected a list");
        void *it = NULL;
        struct fy_node *item;
        size_t i = 0;
        while ((item = fy_node_sequence_iterate(n, &it))) {
                _cleanup_free_ char *k = xasprintf("%s[%zu]", key, i);
                int r = fn(c, item, k, i, ud);
                if (r < 0)
                        return r;
                i++;
        }
        return 0;
}

struct strv {
        json_t *arr;
        const char *allowed; /* control characters, as for get_scalar() */
};

static int get_strv_item(struct ctx *c, struct fy_node *item, const char *key, size_t i, void *ud)
{
        struct strv *v = ud;
        (void)i;
        _cleanup_free_ char *s = NULL;
        int r = get_scalar(c, item, key, v->allowed, &s);
        if (r < 0)
                return r;
        json_array_append_new(v->arr, json_string(s));
        return 0;
}

enum {
        STRV_SCALAR = 1 << 0, /* a single scalar is a one-element list */
        STRV_TEXT = 1 << 1,   /* items are free text (get_text()) */
};

/* A list of strings, as a JSON array. */
static int get_strv(struct ctx *c, struct fy_node *n, const char *key, unsigned flags, json_t **ret)
{
        struct strv v = {.arr = json_array(), .allowed = (flags & STRV_TEXT) ? TEXT_CONTROLS : ""};
        int r;
        if ((flags & STRV_SCALAR) && n && fy_node_get_type(n) == FYNT_SCALAR)
                r = get_strv_item(c, n, key, 0, &v);
        else
                r = for_each_item(c, n, key, get_strv_item, &v);
        if (r < 0) {
                json_decref(v.arr);
                return r;
        }
        *ret = v.arr;
        return 0;
}

/* A mapping of string -> scalar, as a JSON object of strings (insertion ordered). */
static int get_string_map(struct ctx *c, struct fy_node *n, const char *key, json_t **ret)
{
        if (!n || fy_node_get_type(n) != FYNT_MAPPING)
                return fail(c, n, key, "expected a mapping");
        json_t *obj = json_object();
        void *it = NULL;
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate(n, &it))) {
                _cleanup_free_ char *k = NULL, *v = NULL;
                int r = get_str(c, fy_node_pair_key(p), key, &k);
                if (r >= 0) {
                        _cleanup_free_ char *sub = xasprintf("%s.%s", key, k);
                        r = get_text(c, fy_node_pair_value(p), sub, &v);
                }
                if (r < 0) {
                        json_decref(obj);
                        return r;
                }
                if (!*k) {
                        json_decref(obj);
                        return fail(c, fy_node_pair_key(p), key, "empty key");
                }
                json_object_set_new(obj, k, json_string(v));
        }
        *ret = obj;
        return 0;
}

struct keyspec {
        const char *name;
        struct fy_node **slot;
        struct fy_node *key; /* filled in: the key node, for lines of empty values */
};

/* Checks that a mapping only has known keys and stores each value node in its slot. */
static int take_keys(struct ctx *c, struct fy_node *n, const char *where, struct keyspec *keys,
                     size_t nkeys)
{
        if (!n || fy_node_get_type(n) != FYNT_MAPPING)
                return fail(c, n, *where ? where : "document", "expected a mapping");
        void *it = NULL;
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate(n, &it))) {
                _cleanup_free_ char *k = NULL;
                int r = get_str(c, fy_node_pair_key(p), *where ? where : "key", &k);
                if (r < 0)
                        return r;
                size_t i;
                for (i = 0; i < nkeys; i++)
                        if (!strcmp(keys[i].name, k))
                                break;
                if (i == nkeys) {
                        _cleanup_free_ char *full =
                                *where ? xasprintf("%s.%s", where, k) : xstrdup(k);
                        return fail(c, fy_node_pair_key(p), full, "unknown key");
                }
                *keys[i].slot = fy_node_pair_value(p);
                keys[i].key = fy_node_pair_key(p);
                if (!*keys[i].slot || (fy_node_get_type(*keys[i].slot) == FYNT_SCALAR &&
                                       fy_node_get_scalar(*keys[i].slot, NULL) &&
                                       fy_node_get_style(*keys[i].slot) == FYNS_PLAIN &&
                                       !*fy_node_get_scalar(*keys[i].slot, NULL))) {
                        _cleanup_free_ char *full =
                                *where ? xasprintf("%s.%s", where, k) : xstrdup(k);
                        return fail(c, fy_node_pair_key(p), full, "missing value");
                }
        }
        return 0;
}

static int parse_file(struct ctx *c, struct fy_node *item, const char *key, size_t i, void *ud)
{
        struct lana_spec_layer *layer = ud;
        (void)i;
        struct fy_node *src = NULL, *dst = NULL, *mode = NULL, *uid = NULL, *gid = NULL;
        struct keyspec keys[] = {
                {"src", &src}, {"dst", &dst}, {"mode", &mode}, {"uid", &uid}, {"gid", &gid}};
        int r = take_keys(c, item, key, keys, ELEMENTSOF(keys));
        if (r < 0)
                return r;
        struct lana_spec_file f = {.line = node_line(item)};
        _cleanup_free_ char *ksrc = xasprintf("%s.src", key), *kdst = xasprintf("%s.dst", key);
        if (!src)
                return fail(c, item, ksrc, "required");
        if (!dst)
                return fail(c, item, kdst, "required");
        r = get_str(c, src, ksrc, &f.src);
        if (r >= 0 && !*f.src)
                r = fail(c, src, ksrc, "empty path");
        if (r >= 0)
                r = get_str(c, dst, kdst, &f.dst);
        if (r >= 0 && f.dst[0] != '/')
                r = fail(c, dst, kdst, "'%s' must be an absolute path in the image", f.dst);
        if (r >= 0 && mode) {
                _cleanup_free_ char *k = xasprintf("%s.mode", key);
                f.has_mode = true;
                r = get_mode(c, mode, k, &f.mode);
        }
        if (r >= 0 && uid) {
                _cleanup_free_ char *k = xasprintf("%s.uid", key);
                f.has_uid = true;
                r = get_u32(c, uid, k, &f.uid);
        }
        if (r >= 0 && gid) {
                _cleanup_free_ char *k = xasprintf("%s.gid", key);
                f.has_gid = true;
                r = get_u32(c, gid, k, &f.gid);
        }
        if (r < 0) {
                free(f.src);
                free(f.dst);
                return r;
        }
        layer->files = xrealloc(layer->files, (layer->n_files + 1) * sizeof *layer->files);
        layer->files[layer->n_files++] = f;
        return 0;
}

static int parse_layer(struct ctx *c, struct fy_node *item, const char *key, size_t i, void *ud)
{
        struct lana_spec *s = ud;
        struct fy_node *name = NULL, *files = NULL;
        struct keyspec keys[] = {{"name", &name}, {"files", &files}};
        int r = take_keys(c, item, key, keys, ELEMENTSOF(keys));
        if (r < 0)
                return r;
        s->layers = xrealloc(s->layers, (s->n_layers + 1) * sizeof *s->layers);
        struct lana_spec_layer *l = &s->layers[s->n_layers++];
        *l = (struct lana_spec_layer){.line = node_line(item)};
        if (name) {
                _cleanup_free_ char *k = xasprintf("%s.name", key);
                r = get_str(c, name, k, &l->name);
                if (r < 0)
                        return r;
        } else {
                l->name = xasprintf("layer%zu", i);
        }
        if (!files)
                return fail(c, item, key, "a layer needs 'files'");
        _cleanup_free_ char *k = xasprintf("%s.files", key);
        return for_each_item(c, files, k, parse_file, l);
}

static int parse_tag(struct ctx *c, struct fy_node *item, const char *key, size_t i, void *ud)
{
        struct lana_spec *s = ud;
        (void)i;
        char *t = NULL;
        int r = get_str(c, item, key, &t);
        if (r < 0)
                return r;
        if (!lana_tag_valid(t)) {
                r = fail(c, item, key, "'%s' is not a valid tag", t);
                free(t);
                return r;
        }
        s->tags = xrealloc(s->tags, (s->n_tags + 1) * sizeof *s->tags);
        s->tags[s->n_tags++] = t;
        return 0;
}

static int parse_platform(struct ctx *c, struct fy_node *item, const char *key, size_t i, void *ud)
{
        struct lana_spec *s = ud;
        (void)i;
        _cleanup_free_ char *t = NULL;
        int r = get_str(c, item, key, &t);
        if (r < 0)
                return r;
        struct lana_platform p;
        struct lana_error *e = NULL;
        if (lana_platform_parse(t, &p, &e) < 0) {
                r = fail(c, item, key, "%s", e->msg);
                lana_error_free(e);
                return r;
        }
        if (s->n_platforms == MAX_PLATFORMS)
                return fail(c, item, key, "more than %d platforms", MAX_PLATFORMS);
        for (size_t j = 0; j < s->n_platforms; j++)
                if (lana_platform_equal(&s->platforms[j], &p) &&
                    !strcmp(s->platforms[j].variant, p.variant))
                        return fail(c, item, key, "platform '%s' listed twice", t);
        s->platforms = xrealloc(s->platforms, (s->n_platforms + 1) * sizeof *s->platforms);
        s->platforms[s->n_platforms++] = p;
        return 0;
}

static bool valid_signal(const char *s)
{
        static const char *names[] = {"HUP",  "INT",  "QUIT",  "KILL", "USR1", "USR2", "TERM",
                                      "STOP", "CONT", "WINCH", "PWR",  "ABRT", "ALRM"};
        const char *n = strncmp(s, "SIG", 3) == 0 ? s + 3 : s;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (!strcmp(n, names[i]))
                        return true;
        char *end;
        long v = strtol(s, &end, 10);
        return *s && !*end && v > 0 && v < 65;
}

static int parse_ports(struct ctx *c, struct fy_node *n, json_t *cfg)
{
        json_t *ports = NULL;
        int r = get_strv(c, n, "config.expose", 0, &ports);
        if (r < 0)
                return r;
        json_t *obj = json_object();
        size_t i;
        json_t *v;
        json_array_foreach(ports, i, v)
        {
                const char *p = json_string_value(v);
                char *end;
                long port = strtol(p, &end, 10);
                if (port < 1 || port > 65535 ||
                    (*end && strcmp(end, "/tcp") && strcmp(end, "/udp") && strcmp(end, "/sctp"))) {
                        _cleanup_free_ char *k = xasprintf("config.expose[%zu]", i);
                        r = fail(c, fy_node_sequence_get_by_index(n, (int)i), k,
                                 "'%s' is not PORT[/tcp|/udp|/sctp]", p);
                        json_decref(ports);
                        json_decref(obj);
                        return r;
                }
                _cleanup_free_ char *key = xasprintf("%ld%s", port, *end ? end : "/tcp");
                json_object_set_new(obj, key, json_object());
        }
        json_decref(ports);
        json_object_set_new(cfg, "ExposedPorts", obj);
        return 0;
}

static int parse_env(struct ctx *c, struct fy_node *n, json_t *cfg)
{
        json_t *env = json_array();
        int r = 0;
        if (n && fy_node_get_type(n) == FYNT_MAPPING) {
                json_t *m = NULL;
                r = get_string_map(c, n, "config.env", &m);
                if (r >= 0) {
                        const char *k;
                        json_t *v;
                        json_object_foreach(m, k, v)
                        {
                                if (strchr(k, '=')) {
                                        r = fail(c, n, "config.env", "name '%s' contains '='", k);
                                        break;
                                }
                                json_array_append_new(
                                        env, json_sprintf("%s=%s", k, json_string_value(v)));
                        }
                }
                json_decref(m);
        } else {
                json_t *list = NULL;
                r = get_strv(c, n, "config.env", STRV_TEXT, &list);
                size_t i;
                json_t *v;
                if (r >= 0)
                        json_array_foreach(list, i, v)
                        {
                                const char *s = json_string_value(v);
                                if (!strchr(s, '=') || s[0] == '=') {
                                        _cleanup_free_ char *k = xasprintf("config.env[%zu]", i);
                                        r = fail(c, fy_node_sequence_get_by_index(n, (int)i), k,
                                                 "'%.*s' is not NAME=VALUE",
                                                 (int)strcspn(s, "\t\n"), s);
                                        break;
                                }
                                json_array_append(env, v);
                        }
                json_decref(list);
        }
        if (r < 0) {
                json_decref(env);
                return r;
        }
        json_object_set_new(cfg, "Env", env);
        return 0;
}

/* Why a working directory is refused, or NULL. It must be absolute and clean, and not under
 * /proc: a runtime that still held a host descriptor when it changed into /proc/self/fd/N would
 * put the container's process in a host directory (the CVE-2024-21626 class). The runtime guards
 * against that too; an image built here never asks for it. */
static const char *workdir_problem(const char *s)
{
        if (s[0] != '/')
                return "must be an absolute path";
        if (strstr(s, "//"))
                return "must not contain '//'";
        for (const char *p = s + 1; *p;) {
                size_t l = strcspn(p, "/");
                if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
                        return "must not contain '.' or '..' components";
                p += l + (p[l] == '/');
        }
        if (!strcmp(s, "/proc") || !strncmp(s, "/proc/", 6))
                return "must not be under /proc";
        return NULL;
}

static int parse_config(struct ctx *c, struct fy_node *n, struct lana_spec *s)
{
        struct fy_node *entrypoint = NULL, *cmd = NULL, *env = NULL, *user = NULL, *workdir = NULL,
                       *expose = NULL, *volumes = NULL, *labels = NULL, *stop_signal = NULL;
        struct keyspec keys[] = {
                {"entrypoint", &entrypoint},
                {"cmd", &cmd},
                {"env", &env},
                {"user", &user},
                {"workdir", &workdir},
                {"expose", &expose},
                {"volumes", &volumes},
                {"labels", &labels},
                {"stop_signal", &stop_signal},
        };
        int r = take_keys(c, n, "config", keys, ELEMENTSOF(keys));
        if (r < 0)
                return r;
        json_t *cfg = s->config;
        json_t *v = NULL;
        if (entrypoint) {
                if ((r = get_strv(c, entrypoint, "config.entrypoint", STRV_SCALAR | STRV_TEXT,
                                  &v)) < 0)
                        return r;
                json_object_set_new(cfg, "Entrypoint", v);
                s->resets_cmd = !cmd;
        }
        if (cmd) {
                if ((r = get_strv(c, cmd, "config.cmd", STRV_SCALAR | STRV_TEXT, &v)) < 0)
                        return r;
                json_object_set_new(cfg, "Cmd", v);
        }
        if (env && (r = parse_env(c, env, cfg)) < 0)
                return r;
        char *str = NULL;
        if (user) {
                if ((r = get_str(c, user, "config.user", &str)) < 0)
                        return r;
                json_object_set_new(cfg, "User", json_string(str));
                free(str);
        }
        if (workdir) {
                if ((r = get_str(c, workdir, "config.workdir", &str)) < 0)
                        return r;
                const char *why = workdir_problem(str);
                if (why)
                        r = fail(c, workdir, "config.workdir", "'%s' %s", str, why);
                else
                        json_object_set_new(cfg, "WorkingDir", json_string(str));
                free(str);
                if (r < 0)
                        return r;
        }
        if (expose && (r = parse_ports(c, expose, cfg)) < 0)
                return r;
        if (volumes) {
                if ((r = get_strv(c, volumes, "config.volumes", 0, &v)) < 0)
                        return r;
                json_t *obj = json_object();
                size_t i;
                json_t *x;
                json_array_foreach(v, i, x)
                {
                        if (json_string_value(x)[0] != '/') {
                                _cleanup_free_ char *k = xasprintf("config.volumes[%zu]", i);
                                r = fail(c, fy_node_sequence_get_by_index(volumes, (int)i), k,
                                         "'%s' must be an absolute path", json_string_value(x));
                                json_decref(v);
                                json_decref(obj);
                                return r;
                        }
                        json_object_set_new(obj, json_string_value(x), json_object());
                }
                json_decref(v);
                json_object_set_new(cfg, "Volumes", obj);
        }
        if (labels) {
                if ((r = get_string_map(c, labels, "config.labels", &v)) < 0)
                        return r;
                json_object_set_new(cfg, "Labels", v);
        }
        if (stop_signal) {
                if ((r = get_str(c, stop_signal, "config.stop_signal", &str)) < 0)
                        return r;
                bool ok = valid_signal(str);
                if (ok)
                        json_object_set_new(cfg, "StopSignal", json_string(str));
                if (!ok) {
                        r = fail(c, stop_signal, "config.stop_signal", "'%s' is not a signal name",
                                 str);
                        free(str);
                        return r;
                }
                free(str);
        }
        return 0;
}

static int parse_root(struct ctx *c, struct fy_node *root, struct lana_spec *s)
{
        struct fy_node *image = NULL, *tags = NULL, *platforms = NULL, *base = NULL,
                       *compression = NULL, *level = NULL, *layers = NULL, *config = NULL,
                       *annotations = NULL;
        struct keyspec keys[] = {
                {"image", &image},
                {"tags", &tags},
                {"platforms", &platforms},
                {"base", &base},
                {"compression", &compression},
                {"level", &level},
                {"layers", &layers},
                {"config", &config},
                {"annotations", &annotations},
        };
        if (!root)
                return lana_error_set(c->err, -EINVAL, "%s: empty spec", c->path);
        int r = take_keys(c, root, "", keys, ELEMENTSOF(keys));
        if (r < 0)
                return r;
        if (image) {
                if ((r = get_str(c, image, "image", &s->image)) < 0)
                        return r;
                struct lana_reference ref;
                struct lana_error *e = NULL;
                if (lana_reference_parse(s->image, NULL, &ref, &e) < 0) {
                        r = fail(c, image, "image", "%s", e->msg);
                        lana_error_free(e);
                        return r;
                }
                bool tagged = ref.tag || ref.digest;
                lana_reference_release(&ref);
                if (tagged)
                        return fail(c, image, "image",
                                    "give the repository only; tags go in 'tags:'");
        }
        if (tags && (r = for_each_item(c, tags, "tags", parse_tag, s)) < 0)
                return r;
        if (platforms) {
                if ((r = for_each_item(c, platforms, "platforms", parse_platform, s)) < 0)
                        return r;
                if (s->n_platforms == 0)
                        return fail(c, keys[2].key, "platforms", "empty list");
        }
        if (base) {
                if ((r = get_str(c, base, "base", &s->base)) < 0)
                        return r;
                if (!*s->base)
                        return fail(c, base, "base", "empty");
        } else {
                s->base = xstrdup("scratch");
        }
        lana_compress_profile_default(LANA_COMPRESSION_GZIP, &s->compression);
        if (compression) {
                _cleanup_free_ char *t = NULL;
                if ((r = get_str(c, compression, "compression", &t)) < 0)
                        return r;
                enum lana_compression algo;
                if (lana_compression_parse(t, &algo, NULL) < 0)
                        return fail(c, compression, "compression",
                                    "'%s': expected gzip, zstd or none", t);
                lana_compress_profile_default(algo, &s->compression);
                s->has_compression = true;
        }
        if (level) {
                uint32_t lv;
                _cleanup_free_ char *t = NULL;
                if ((r = get_str(c, level, "level", &t)) < 0)
                        return r;
                if (strspn(t, "0123456789") != strlen(t) || !*t || strlen(t) > 3)
                        return fail(c, level, "level", "'%s' is not a compression level", t);
                lv = (uint32_t)atoi(t);
                s->compression.level = (int)MIN(lv, 1000u);
                s->has_level = true;
                struct lana_error *e = NULL;
                if (lana_compress_profile_validate(&s->compression, &e) < 0) {
                        r = fail(c, level, "level", "%s", e->msg);
                        lana_error_free(e);
                        return r;
                }
        }
        if (layers && (r = for_each_item(c, layers, "layers", parse_layer, s)) < 0)
                return r;
        if (config && (r = parse_config(c, config, s)) < 0)
                return r;
        if (annotations && (r = get_string_map(c, annotations, "annotations", &s->annotations)) < 0)
                return r;
        return 0;
}

/* YAML is Unicode; libfyaml 0.7.12 can loop forever on some malformed UTF-8 (libfyaml#101), so
 * anything that is not well-formed UTF-8 is refused before it gets there (utf8_valid()). */

/* libfyaml reports syntax errors as text ("<source>:LINE:COL: error: MESSAGE"); keep the first. */
static void diag_capture(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
        (void)diag;
        struct lana_buf *b = user;
        if (b->len == 0 || !memchr(b->data, '\n', b->len))
                (void)lana_buf_append(b, buf, MIN(len, b->max - MIN(b->max, b->len)));
}

static int yaml_syntax_error(const char *path, struct lana_buf *diag, struct lana_error **err)
{
        const char *text = diag->data ? diag->data : "";
        const char *p = strstr(text, ">:");
        int line = 0, col = 0, used = 0;
        if (p && sscanf(p + 2, "%d:%d: error: %n", &line, &col, &used) >= 2 && used > 0) {
                const char *msg = p + 2 + used;
                int n = (int)strcspn(msg, "\n");
                return lana_error_set(err, -EINVAL, "%s:%d: invalid YAML: %.*s", path, line, n,
                                      msg);
        }
        return lana_error_set(err, -EINVAL, "%s: invalid YAML", path);
}

/* The event pass: bounds what libfyaml will hold before it builds the document (see the top). */
static int scan_events(const char *data, size_t len, const char *path, struct fy_diag *diag,
                       struct lana_buf *dbuf, struct lana_error **err)
{
        struct fy_parse_cfg cfg = {.flags = FYPCF_DISABLE_RECYCLING, .diag = diag};
        struct fy_parser *fyp = fy_parser_create(&cfg);
        if (!fyp)
                abort();
        size_t nodes = 0, anchors = 0, aliases = 0;
        int r = 0;
        if (fy_parser_set_string(fyp, data, len) != 0)
                r = yaml_syntax_error(path, dbuf, err);
        struct fy_event *fye;
        while (r == 0 && (fye = fy_parser_parse(fyp))) {
                struct fy_token *anchor = NULL;
                const char *what = NULL;
                size_t max = 0;
                bool node = true;
                switch (fye->type) {
                case FYET_SCALAR:
                        anchor = fye->scalar.anchor;
                        break;
                case FYET_SEQUENCE_START:
                        anchor = fye->sequence_start.anchor;
                        break;
                case FYET_MAPPING_START:
                        anchor = fye->mapping_start.anchor;
                        break;
                case FYET_ALIAS:
                        if (++aliases > MAX_ALIASES)
                                what = "YAML aliases", max = MAX_ALIASES;
                        break;
                default: /* stream, document and collection ends */
                        node = false;
                        break;
                }
                if (node && ++nodes > MAX_NODES)
                        what = "YAML nodes (scalars, lists and mappings)", max = MAX_NODES;
                if (anchor && ++anchors > MAX_ANCHORS)
                        what = "YAML anchors", max = MAX_ANCHORS;
                if (what) {
                        const struct fy_mark *m = fy_event_start_mark(fye);
                        r = lana_error_set(err, -EINVAL, "%s:%d: more than %zu %s", path,
                                           m ? m->line + 1 : 0, max, what);
                }
                fy_parser_event_free(fyp, fye);
        }
        if (r == 0 && fy_parser_get_stream_error(fyp))
                r = yaml_syntax_error(path, dbuf, err);
        fy_parser_destroy(fyp);
        return r;
}

/* check_tree()'s state: the key path of the node being looked at, grown and cut back in place so
 * that the walk stays linear however deep or long the keys. */
struct walk {
        struct ctx *c;
        char *path;
        size_t len, cap;
        size_t bad_off; /* locating a control character of the file at this offset, or SIZE_MAX */
        bool in_key;    /* (found in a key rather than a value) */
};

static size_t path_push(struct walk *w, const char *fmt, ...) _printf_(2, 3);
static size_t path_push(struct walk *w, const char *fmt, ...)
{
        size_t old = w->len;
        for (;;) {
                va_list ap;
                va_start(ap, fmt);
                int n = vsnprintf(w->path + w->len, w->cap - w->len, fmt, ap);
                va_end(ap);
                assert(n >= 0);
                if ((size_t)n < w->cap - w->len) {
                        w->len += (size_t)n;
                        return old;
                }
                w->cap = (w->cap + (size_t)n + 1) * 2;
                w->path = xrealloc(w->path, w->cap);
        }
}

static void path_pop(struct walk *w, size_t old)
{
        w->len = old;
        w->path[old] = '\0';
}

static int check_node(struct walk *w, struct fy_node *n);

/* In locate mode, whether this key or value holds the file's control character (-EAGAIN when it
 * does). Control characters that come from escapes are get_scalar()'s business: it reads every
 * key and value there is. */
static int locate_scalar(struct walk *w, struct fy_node *n, bool is_key)
{
        if (w->bad_off == SIZE_MAX)
                return 0;
        struct fy_token *t = fy_node_get_scalar_token(n);
        const struct fy_mark *a = t ? fy_token_start_mark(t) : NULL;
        const struct fy_mark *b = t ? fy_token_end_mark(t) : NULL;
        if (!a || !b || w->bad_off < a->input_pos || w->bad_off >= b->input_pos)
                return 0;
        w->in_key = is_key;
        return -EAGAIN; /* found: control_error() words the message */
}

struct key {
        const char *s;
        size_t len, index;
        struct fy_node *node;
};

static int key_cmp(const void *a, const void *b)
{
        const struct key *x = a, *y = b;
        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        int d = memcmp(x->s, y->s, x->len);
        if (d)
                return d;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Duplicate keys, found by sorting (O(n log n) whatever the keys; a hash table could be flooded):
 * the error names the repeated key that comes first in the file. */
static int check_duplicates(struct walk *w, struct key *keys, size_t n)
{
        qsort(keys, n, sizeof *keys, key_cmp);
        const struct key *dup = NULL, *first = NULL;
        size_t start = 0; /* of the run of equal keys, which is in file order */
        for (size_t i = 1; i < n; i++) {
                if (keys[i].len != keys[i - 1].len || memcmp(keys[i].s, keys[i - 1].s, keys[i].len))
                        start = i;
                else if (i == start + 1 && (!dup || keys[i].index < dup->index))
                        dup = &keys[i], first = &keys[start];
        }
        if (!dup)
                return 0;
        size_t old = path_push(w, "%s%.*s", w->len ? "." : "", (int)MIN(dup->len, (size_t)INT_MAX),
                               dup->s);
        int r = fail(w->c, dup->node, w->path, "duplicate key (first at line %d)",
                     node_line(first->node));
        path_pop(w, old);
        return r;
}

static int check_mapping(struct walk *w, struct fy_node *n)
{
        size_t count = 0;
        void *it = NULL;
        while (fy_node_mapping_iterate(n, &it))
                count++;
        _cleanup_free_ struct key *keys = xnew(struct key, MAX(count, (size_t)1));
        struct fy_node_pair *p;
        size_t i = 0;
        int r = 0;
        it = NULL;
        while (r == 0 && (p = fy_node_mapping_iterate(n, &it))) {
                struct fy_node *k = fy_node_pair_key(p);
                struct key *e = &keys[i];
                *e = (struct key){.index = i++, .node = k};
                if (!k || fy_node_get_type(k) != FYNT_SCALAR || fy_node_is_alias(k)) {
                        /* complex and alias keys: never valid in a spec */
                        if (w->bad_off == SIZE_MAX)
                                r = fail(w->c, k ? k : n, w->path, "a key must be a string");
                        continue;
                }
                r = locate_scalar(w, k, true);
                e->s = fy_node_get_scalar(k, &e->len);
                if (!e->s)
                        e->s = "", e->len = 0;
                unsigned cp;
                size_t bytes;
                if (r == 0 && w->bad_off == SIZE_MAX &&
                    find_control(e->s, e->len, "", &cp, &bytes) < e->len)
                        r = fail(w->c, k, w->path, "a key contains a control character (U+%04X)",
                                 cp);
        }
        if (r == 0 && w->bad_off == SIZE_MAX)
                r = check_duplicates(w, keys, count);
        it = NULL;
        while (r == 0 && (p = fy_node_mapping_iterate(n, &it))) {
                size_t len;
                const char *k = fy_node_get_scalar(fy_node_pair_key(p), &len);
                size_t old = path_push(w, "%s%.*s", w->len ? "." : "",
                                       (int)MIN(len, (size_t)INT_MAX), k ? k : "");
                r = check_node(w, fy_node_pair_value(p));
                if (r != -EAGAIN)
                        path_pop(w, old);
        }
        return r;
}

static int check_node(struct walk *w, struct fy_node *n)
{
        if (!n)
                return 0;
        if (fy_node_is_alias(n))
                return w->bad_off != SIZE_MAX ? 0
                                              : fail(w->c, n, *w->path ? w->path : "document",
                                                     "YAML aliases are not supported");
        switch (fy_node_get_type(n)) {
        case FYNT_SCALAR:
                return locate_scalar(w, n, false);
        case FYNT_SEQUENCE: {
                void *it = NULL;
                struct fy_node *item;
                for (size_t i = 0; (item = fy_node_sequence_iterate(n, &it)); i++) {
                        size_t old = path_push(w, "[%zu]", i);
                        int r = check_node(w, item);
                        if (r == -EAGAIN)
                                return r;
                        path_pop(w, old);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        case FYNT_MAPPING:
                return check_mapping(w, n);
        }
        return 0;
}

/* What the schema does not see: duplicate keys, keys that are not strings or hold control
 * characters, and aliases, in every node of the document. With bad_off set, it only looks for the
 * scalar that holds the file's control character at that offset, and returns -EAGAIN with its
 * key path in w->path when found. */
static int check_tree(struct walk *w, struct fy_document *doc)
{
        w->cap = 256;
        w->path = xmalloc(w->cap);
        w->path[0] = '\0';
        w->len = 0;
        return check_node(w, fy_document_root(doc));
}

/* A libfyaml document with what it needs freed along with it. */
struct yaml {
        struct fy_diag *diag;
        struct fy_parser *fyp;
        struct fy_document *doc;
};

static void yaml_release(struct yaml *y)
{
        if (y->doc)
                fy_parse_document_destroy(y->fyp, y->doc);
        if (y->fyp)
                fy_parser_destroy(y->fyp);
        if (y->diag)
                fy_diag_destroy(y->diag);
        *y = (struct yaml){0};
}

/* Parses data into y->doc: one document, within the event caps; libfyaml's own duplicate-key
 * check is off (check_tree() does it). */
static int yaml_load(struct yaml *y, const char *data, size_t len, const char *path,
                     struct lana_error **err)
{
        struct lana_buf dbuf;
        lana_buf_init(&dbuf, 4096);
        struct fy_diag_cfg dcfg;
        fy_diag_cfg_default(&dcfg);
        dcfg.fp = NULL;
        dcfg.output_fn = diag_capture;
        dcfg.user = &dbuf;
        dcfg.colorize = false;
        dcfg.level = FYET_ERROR;
        y->diag = fy_diag_create(&dcfg);
        int r = scan_events(data, len, path, y->diag, &dbuf, err);
        if (r < 0) {
                lana_buf_release(&dbuf);
                return r;
        }
        dbuf.len = 0;
        struct fy_parse_cfg cfg = {
                .flags = FYPCF_DISABLE_RECYCLING | FYPCF_ALLOW_DUPLICATE_KEYS,
                .diag = y->diag,
        };
        y->fyp = fy_parser_create(&cfg);
        if (!y->fyp)
                abort();
        if (fy_parser_set_string(y->fyp, data, len) != 0 ||
            !(y->doc = fy_parse_load_document(y->fyp)))
                r = yaml_syntax_error(path, &dbuf, err);
        if (r >= 0) {
                /* a second document would be silently ignored: refuse it */
                struct fy_document *extra = fy_parse_load_document(y->fyp);
                if (extra) {
                        fy_parse_document_destroy(y->fyp, extra);
                        r = lana_error_set(err, -EINVAL, "%s: holds more than one YAML document",
                                           path);
                } else if (dbuf.len) {
                        r = yaml_syntax_error(path, &dbuf, err);
                }
        }
        lana_buf_release(&dbuf);
        return r;
}

/* The error for a raw control character at `off`: libfyaml would end the input at a NUL (so
 * "image: a/b<NUL>evil" read as "a/b"), so the file is refused before it is parsed. To name the
 * key, a copy with every such character replaced by 'x' is parsed and searched for the scalar
 * that holds the offset; a character in a comment, or in a copy that does not parse, gets the
 * line alone. */
static int control_error(const char *data, size_t len, size_t off, unsigned cp, const char *path,
                         struct lana_error **err)
{
        int line = 1;
        for (const char *p = data; (p = memchr(p, '\n', (size_t)(data + off - p))); p++)
                line++;
        _cleanup_free_ char *copy = xmalloc(len + 1);
        memcpy(copy, data, len);
        unsigned c;
        size_t n;
        for (size_t i = off; (i += find_control(copy + i, len - i, FILE_CONTROLS, &c, &n)) < len;)
                memset(copy + i, 'x', n);
        struct yaml y = {0};
        struct lana_error *ignored = NULL;
        struct ctx ctx = {.path = path, .err = err};
        struct walk w = {.c = &ctx, .bad_off = off};
        int r = yaml_load(&y, copy, len, path, &ignored);
        lana_error_free(ignored);
        if (r >= 0)
                r = check_tree(&w, y.doc);
        yaml_release(&y);
        if (r == -EAGAIN)
                r = fail_line(&ctx, line, w.path, "%s a control character (U+%04X)",
                              w.in_key ? "a key contains" : "contains", cp);
        else
                r = fail_line(&ctx, line, NULL,
                              "control character U+%04X (only tab, line feed and carriage return "
                              "may appear in the file)",
                              cp);
        free(w.path);
        return r;
}

_public_ int lana_spec_parse(const char *data, size_t len, const char *path, const char *dir,
                             struct lana_spec **ret, struct lana_error **err)
{
        if (len > MAX_SPEC_SIZE)
                return lana_error_set(err, -EINVAL, "%s: larger than %zu bytes", path,
                                      MAX_SPEC_SIZE);
        if (!utf8_valid(data, len))
                return lana_error_set(err, -EINVAL, "%s: not valid UTF-8", path);
        unsigned cp;
        size_t n;
        size_t bad = find_control(data, len, FILE_CONTROLS, &cp, &n);
        if (bad < len)
                return control_error(data, len, bad, cp, path, err);
        struct yaml y = {0};
        int r = yaml_load(&y, data, len, path, err);
        struct ctx c = {.path = path, .err = err};
        if (r >= 0) {
                struct walk w = {.c = &c, .bad_off = SIZE_MAX};
                r = check_tree(&w, y.doc);
                free(w.path);
        }
        if (r < 0) {
                yaml_release(&y);
                return r;
        }
        struct lana_spec *s = xnew(struct lana_spec, 1);
        s->path = xstrdup(path);
        s->dir = xstrdup(dir);
        s->config = json_object();
        r = parse_root(&c, fy_document_root(y.doc), s);
        yaml_release(&y);
        if (r < 0) {
                lana_spec_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

_public_ int lana_spec_load(const char *path, struct lana_spec **ret, struct lana_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_at(AT_FDCWD, path, MAX_SPEC_SIZE, &data, &len, err);
        /* a missing or oversized spec is invalid input (exit 3), not a failure */
        if (r < 0)
                return lana_error_wrap(err, r == -ENOENT || r == -E2BIG ? -EINVAL : r, "spec");
        _cleanup_free_ char *copy = xstrdup(path);
        char real[PATH_MAX];
        const char *dir = dirname(copy);
        if (realpath(dir, real))
                dir = real;
        return lana_spec_parse(data, len, path, dir, ret, err);
}

_public_ struct lana_spec *lana_spec_free(struct lana_spec *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_layers; i++) {
                for (size_t j = 0; j < s->layers[i].n_files; j++) {
                        free(s->layers[i].files[j].src);
                        free(s->layers[i].files[j].dst);
                }
                free(s->layers[i].files);
                free(s->layers[i].name);
        }
        free(s->layers);
        for (size_t i = 0; i < s->n_tags; i++)
                free(s->tags[i]);
        free(s->tags);
        free(s->platforms);
        free(s->path);
        free(s->dir);
        free(s->image);
        free(s->base);
        json_decref(s->config);
        json_decref(s->annotations);
        free(s);
        return NULL;
}

_public_ void lana_spec_freep(struct lana_spec **s)
{
        *s = lana_spec_free(*s);
}
