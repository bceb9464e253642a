/*
 * spec.c — parsing of the build spec (lana-img.yaml) with libfyaml.
 *
 * The spec is small but it is outside input: every key is checked against the schema, every
 * error names the file, line and key path ("lana-img.yaml:12: layers[0].files[1].mode: ..."), and
 * the whole file is bounded in size. The result is a plain struct; nothing here touches the
 * files the spec refers to (that is the planner's job).
 */
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

static int fail(struct ctx *c, struct fy_node *n, const char *key, const char *fmt, ...)
        _printf_(4, 5);
static int fail(struct ctx *c, struct fy_node *n, const char *key, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = xvasprintf(fmt, ap);
        va_end(ap);
        int line = node_line(n);
        if (line > 0)
                return lana_error_set(c->err, -EINVAL, "%s:%d: %s: %s", c->path, line, key, msg);
        return lana_error_set(c->err, -EINVAL, "%s: %s: %s", c->path, key, msg);
}

/* A scalar's text as a new string, or an error naming the key. */
static int get_str(struct ctx *c, struct fy_node *n, const char *key, char **ret)
{
        if (!n || fy_node_get_type(n) != FYNT_SCALAR || fy_node_is_alias(n))
                return fail(c, n, key, n ? "expected a string" : "missing value");
        size_t len;
        const char *s = fy_node_get_scalar(n, &len);
        if (!s)
                return fail(c, n, key, "expected a string");
        if (memchr(s, '\0', len))
                return fail(c, n, key, "contains a NUL byte");
        *ret = xstrndup(s, len);
        return 0;
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

static int get_strv_item(struct ctx *c, struct fy_node *item, const char *key, size_t i, void *ud)
{
        json_t *arr = ud;
        (void)i;
        _cleanup_free_ char *s = NULL;
        int r = get_str(c, item, key, &s);
        if (r < 0)
                return r;
        json_array_append_new(arr, json_string(s));
        return 0;
}

/* A list of strings; a single scalar is accepted as a one-element list when `allow_scalar`. */
static int get_strv(struct ctx *c, struct fy_node *n, const char *key, bool allow_scalar,
                    json_t **ret)
{
        json_t *arr = json_array();
        int r;
        if (allow_scalar && n && fy_node_get_type(n) == FYNT_SCALAR) {
                char *s = NULL;
                r = get_str(c, n, key, &s);
                if (r >= 0)
                        json_array_append_new(arr, json_string(s));
                free(s);
        } else {
                r = for_each_item(c, n, key, get_strv_item, arr);
        }
        if (r < 0) {
                json_decref(arr);
                return r;
        }
        *ret = arr;
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
                        r = get_str(c, fy_node_pair_value(p), sub, &v);
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
        int r = get_strv(c, n, "config.expose", false, &ports);
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
                r = get_strv(c, n, "config.env", false, &list);
                size_t i;
                json_t *v;
                if (r >= 0)
                        json_array_foreach(list, i, v)
                        {
                                const char *s = json_string_value(v);
                                if (!strchr(s, '=') || s[0] == '=') {
                                        _cleanup_free_ char *k = xasprintf("config.env[%zu]", i);
                                        r = fail(c, fy_node_sequence_get_by_index(n, (int)i), k,
                                                 "'%s' is not NAME=VALUE", s);
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
                if ((r = get_strv(c, entrypoint, "config.entrypoint", true, &v)) < 0)
                        return r;
                json_object_set_new(cfg, "Entrypoint", v);
                s->resets_cmd = !cmd;
        }
        if (cmd) {
                if ((r = get_strv(c, cmd, "config.cmd", true, &v)) < 0)
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
                bool abs = str[0] == '/';
                if (abs)
                        json_object_set_new(cfg, "WorkingDir", json_string(str));
                free(str);
                if (!abs)
                        return fail(c, workdir, "config.workdir", "must be an absolute path");
        }
        if (expose && (r = parse_ports(c, expose, cfg)) < 0)
                return r;
        if (volumes) {
                if ((r = get_strv(c, volumes, "config.volumes", false, &v)) < 0)
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

_public_ int lana_spec_parse(const char *data, size_t len, const char *path, const char *dir,
                             struct lana_spec **ret, struct lana_error **err)
{
        if (len > MAX_SPEC_SIZE)
                return lana_error_set(err, -EINVAL, "%s: larger than %zu bytes", path,
                                      MAX_SPEC_SIZE);
        if (!utf8_valid(data, len))
                return lana_error_set(err, -EINVAL, "%s: not valid UTF-8", path);
        struct lana_buf dbuf;
        lana_buf_init(&dbuf, 4096);
        struct fy_diag_cfg dcfg;
        fy_diag_cfg_default(&dcfg);
        dcfg.fp = NULL;
        dcfg.output_fn = diag_capture;
        dcfg.user = &dbuf;
        dcfg.colorize = false;
        dcfg.level = FYET_ERROR;
        struct fy_diag *diag = fy_diag_create(&dcfg);
        struct fy_parse_cfg cfg = {
                .flags = FYPCF_DISABLE_RECYCLING,
                .diag = diag,
        };
        struct fy_parser *fyp = fy_parser_create(&cfg);
        if (!fyp)
                abort();
        struct fy_document *doc = NULL;
        int r = 0;
        if (fy_parser_set_string(fyp, data, len) != 0 || !(doc = fy_parse_load_document(fyp)))
                r = yaml_syntax_error(path, &dbuf, err);
        if (r >= 0) {
                /* a second document would be silently ignored: refuse it */
                struct fy_document *extra = fy_parse_load_document(fyp);
                if (extra) {
                        fy_parse_document_destroy(fyp, extra);
                        r = lana_error_set(err, -EINVAL, "%s: holds more than one YAML document",
                                           path);
                } else if (dbuf.len) {
                        r = yaml_syntax_error(path, &dbuf, err);
                }
        }
        lana_buf_release(&dbuf);
        if (r < 0) {
                if (doc)
                        fy_parse_document_destroy(fyp, doc);
                fy_parser_destroy(fyp);
                fy_diag_destroy(diag);
                return r;
        }
        struct lana_spec *s = xnew(struct lana_spec, 1);
        s->path = xstrdup(path);
        s->dir = xstrdup(dir);
        s->config = json_object();
        struct ctx c = {.path = path, .err = err};
        r = parse_root(&c, fy_document_root(doc), s);
        fy_parse_document_destroy(fyp, doc);
        fy_parser_destroy(fyp);
        fy_diag_destroy(diag);
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
        if (r < 0)
                return lana_error_wrap(err, r == -ENOENT ? -EINVAL : r, "spec");
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
