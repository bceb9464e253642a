/*
 * builder.c — executes plans: one streaming pass per layer
 *   tar -> sha256 (diff_id) -> compressor (N threads) -> sha256 (digest) -> blob temp file
 * then the image config, the manifest per platform, the index when there are several, and the
 * refs. Inputs are fully planned (and so validated) for every platform before the first blob is
 * written; refs are set only after every blob they reach is published.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "build-internal.h"
#include "fs-util.h"

#define ASYNC_CHUNK ((size_t)1 << 20)
#define ASYNC_DEPTH 4u
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_public_ int lana_output_parse(const char *s, enum lana_output_kind *ret_kind, char **ret_path,
                               struct lana_error **err)
{
        static const struct {
                const char *prefix;
                enum lana_output_kind kind;
        } kinds[] = {
                {"oci:", LANA_OUTPUT_OCI_DIR},
                {"oci-archive:", LANA_OUTPUT_OCI_ARCHIVE},
                {"docker-archive:", LANA_OUTPUT_DOCKER_ARCHIVE},
        };
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                size_t n = strlen(kinds[i].prefix);
                if (!strncmp(s, kinds[i].prefix, n) && s[n]) {
                        *ret_kind = kinds[i].kind;
                        *ret_path = xstrdup(s + n);
                        return 0;
                }
        }
        return lana_error_set(err, -EINVAL,
                              "output '%s': expected oci:DIR, oci-archive:FILE or "
                              "docker-archive:FILE",
                              s);
}

struct base {
        json_t *manifest; /* NULL for scratch/rootfs */
        json_t *config;
        struct lana_image img;
        bool is_rootfs;
        struct plan_layer rootfs;
};

struct layer_out {
        json_t *desc;
        struct lana_digest diff_id;
        char *created_by;
        struct lana_digest stat_key, content_key, slot;
        bool have_content_key; /* the stat key is there whenever the cache is on */
};

static double now_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts bytes leaving the compressor so progress can show both sides. */
struct progress_writer {
        struct lana_writer base;
        const struct lana_build_progress *pg;
        struct lana_writer *tar_side;
        uint64_t last;
};

static int progress_write(struct lana_writer *w, const void *buf, size_t len,
                          struct lana_error **err)
{
        struct progress_writer *p = (struct progress_writer *)w;
        int r = lana_writer_write(w->next, buf, len, err);
        if (r >= 0 && p->pg && p->pg->layer_bytes &&
            w->bytes_in + len - p->last >= ((uint64_t)8 << 20)) {
                p->last = w->bytes_in + len;
                p->pg->layer_bytes(p->pg->userdata,
                                   __atomic_load_n(&p->tar_side->bytes_in, __ATOMIC_RELAXED),
                                   p->last);
        }
        return r;
}

static const struct lana_writer_type progress_writer_type = {
        .name = "progress",
        .write = progress_write,
};

static int write_layer(struct lana_layout *out, const struct plan_layer *l, int64_t epoch,
                       const struct lana_compress_profile *prof, unsigned jobs,
                       const char *platform, const struct lana_build_progress *pg,
                       struct layer_out *ret, struct lana_error **err)
{
        struct lana_blob_writer *bw = NULL;
        struct lana_writer *comp = NULL, *diff = NULL;
        struct lana_tar_writer *tar = NULL;
        struct progress_writer pw = {.base.type = &progress_writer_type, .pg = pg};
        double t0 = now_seconds();
        uint64_t total = 0;
        for (size_t i = 0; i < l->n; i++)
                total += l->e[i].size;
        if (pg && pg->layer_start)
                pg->layer_start(pg->userdata, platform, l->name, total);

        /* tar | async | sha256 (diff_id) | compressor (workers) | async | progress | sha256 |
         * file: the tar reader, the diff_id hasher feeding the compressor, the compression
         * workers and the digest hasher writing the blob all run at once */
        struct lana_writer *head = NULL, *tail = NULL;
        int r = lana_blob_writer_new(out, &bw, err);
        if (r < 0)
                return r;
        pw.base.next = lana_blob_writer_stream(bw);
        r = lana_async_writer_new(&pw.base, ASYNC_CHUNK, ASYNC_DEPTH, &tail, err);
        if (r >= 0)
                r = lana_compress_writer_new(prof, jobs, tail, &comp, err);
        if (r >= 0) {
                diff = lana_hash_writer_new(comp);
                pw.tar_side = diff;
                r = lana_async_writer_new(diff, ASYNC_CHUNK, ASYNC_DEPTH, &head, err);
        }
        if (r >= 0)
                r = lana_tar_writer_new(head, &tar, err);
        for (size_t i = 0; r >= 0 && i < l->n; i++) {
                const struct plan_entry *e = &l->e[i];
                struct lana_tar_entry te = {.path = e->path,
                                            .type = e->type,
                                            .mode = e->mode,
                                            .uid = e->uid,
                                            .gid = e->gid,
                                            .size = e->size,
                                            .mtime = epoch,
                                            .link = e->link};
                if (e->type != LANA_TAR_FILE) {
                        r = lana_tar_writer_add(tar, &te, -1, err);
                        continue;
                }
                _cleanup_close_ int fd = open(e->host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0) {
                        r = lana_error_setsys(err, -errno, "%s: %s", e->origin, e->host);
                        break;
                }
                if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size) {
                        r = lana_error_set(err, -EIO, "%s: %s changed during the build", e->origin,
                                           e->host);
                        break;
                }
                /* small files fit in the default readahead: spare them the syscall */
                if (e->size >= ((uint64_t)1 << 20))
                        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
                r = lana_tar_writer_add(tar, &te, fd, err);
        }
        if (r >= 0)
                r = lana_tar_writer_finish(tar, err);
        if (r >= 0)
                r = lana_writer_close(head, err);
        if (r >= 0)
                r = lana_writer_close(diff, err);
        if (r >= 0)
                r = lana_writer_close(comp, err);
        if (r >= 0)
                r = lana_writer_close(tail, err);
        struct lana_digest digest;
        uint64_t size = 0;
        if (r >= 0)
                r = lana_blob_writer_commit(bw, NULL, &digest, &size, err);
        if (r >= 0) {
                _cleanup_free_ char *mt = xasprintf("%s%s", LANA_MT_OCI_LAYER,
                                                    lana_compression_media_suffix(prof->algo));
                ret->desc = lana_descriptor_new(mt, &digest, size);
                if (prof->algo != LANA_COMPRESSION_NONE) {
                        _cleanup_free_ char *ps = lana_compress_profile_string(prof);
                        json_object_set_new(ret->desc, "annotations",
                                            json_pack("{s:s}", LANA_ANNOT_COMPRESSION, ps));
                }
                ret->diff_id = *lana_hash_writer_digest(diff);
                ret->created_by = xasprintf("lana-img build: layer %s", l->name);
                if (pg && pg->layer_done)
                        pg->layer_done(pg->userdata, platform, l->name, diff->bytes_in, size,
                                       digest.str, now_seconds() - t0);
        }
        /* upstream first: each stage may still flush into the next while being freed */
        lana_tar_writer_free(tar);
        lana_writer_free(head);
        lana_writer_free(diff);
        lana_writer_free(comp);
        lana_writer_free(tail);
        lana_blob_writer_free(bw);
        return r < 0 ? lana_error_wrap(err, r, "layer %s (%s)", l->name, platform) : 0;
}

static bool cache_enabled(const struct lana_build_options *o)
{
        return o->store && o->output == LANA_OUTPUT_STORE && !o->no_cache;
}

/* Asks the build cache about a layer by stat key, which reads no file contents. The builder does
 * it before the ELF check, so that a hit whose notes vouch for its binaries is not opened file by
 * file again: a rebuild where nothing changed then reads no file contents at all. `ps` is the
 * compression profile string. */
static void probe_cache(const struct lana_build_options *o, const char *ps,
                        const struct lana_platform *p, struct plan_layer *l)
{
        layer_stat_key(l, ps, o->epoch, &l->stat_key);
        json_t *notes = NULL;
        /* a store created after planning (store_root) has no cache yet: the key is for recording */
        if (!o->store || lana_store_cache_lookup(o->store, &l->stat_key, &l->hit_desc,
                                                 &l->hit_diff_id, &notes) < 0)
                return;
        l->elf_known = plan_elf_notes_match(notes, p);
        json_decref(notes);
}

/* Serves the layer from the build cache: its stat key's hit (probe_cache()), or else, for a
 * layer built before from the same place, a hit by content key. Fills lo's keys for recording
 * after a miss. */
static int cached_layer(const struct lana_build_options *o, const struct lana_spec *s,
                        const struct plan_layer *l, const struct lana_compress_profile *prof,
                        const char *platform, struct layer_out *lo, bool *ret_hit,
                        struct lana_error **err)
{
        *ret_hit = false;
        if (!cache_enabled(o))
                return 0;
        double t0 = now_seconds();
        lo->stat_key = l->stat_key;
        json_t *desc = json_incref(l->hit_desc);
        bool hit = desc != NULL;
        if (hit)
                lo->diff_id = l->hit_diff_id;
        int r = 0;
        /* an entry found by content, or one from before the notes, is recorded again under the
         * stat key with what the ELF check saw (nothing for a layer it did not read) */
        bool record = false;
        layer_slot(s->path, l->name, platform, &lo->slot);
        if (!hit && lana_store_cache_slot_known(o->store, &lo->slot)) {
                _cleanup_free_ char *ps = lana_compress_profile_string(prof);
                r = layer_content_key(l, ps, o->epoch, &lo->content_key, err);
                if (r < 0)
                        return r;
                lo->have_content_key = true;
                hit = lana_store_cache_lookup(o->store, &lo->content_key, &desc, &lo->diff_id,
                                              NULL) == 0;
                record = hit;
        } else if (hit && l->elf_checked && !l->elf_known) {
                record = true;
        }
        if (record) {
                json_t *notes = plan_layer_elf_notes(l);
                r = lana_store_cache_record(o->store, &lo->stat_key, desc, &lo->diff_id, notes,
                                            err);
                json_decref(notes);
        }
        if (!hit || r < 0) {
                json_decref(desc);
                return r;
        }
        lo->desc = desc;
        lo->created_by = xasprintf("lana-img build: layer %s", l->name);
        *ret_hit = true;
        const struct lana_build_progress *pg = o->progress;
        if (pg && pg->layer_done) {
                uint64_t size = (uint64_t)json_integer_value(json_object_get(desc, "size"));
                pg->layer_done(pg->userdata, platform, l->name, 0, size,
                               json_string_value(json_object_get(desc, "digest")),
                               now_seconds() - t0);
        }
        return 0;
}

static int cache_layer(const struct lana_build_options *o, const struct plan_layer *l,
                       struct layer_out *lo, struct lana_error **err)
{
        if (!cache_enabled(o))
                return 0;
        json_t *notes = plan_layer_elf_notes(l);
        int r = lana_store_cache_record(o->store, &lo->stat_key, lo->desc, &lo->diff_id, notes,
                                        err);
        if (r >= 0 && lo->have_content_key)
                r = lana_store_cache_record(o->store, &lo->content_key, lo->desc, &lo->diff_id,
                                            notes, err);
        json_decref(notes);
        if (r >= 0)
                r = lana_store_cache_slot_mark(o->store, &lo->slot, err);
        return r;
}

static void base_release(struct base *b)
{
        json_decref(b->manifest);
        json_decref(b->config);
        lana_image_release(&b->img);
        plan_layer_release(&b->rootfs);
        *b = (struct base){0};
}

/* The build cache key under which a base layer blob's verified diff_id is kept. */
static void base_layer_key(const struct lana_digest *blob, struct lana_digest *ret)
{
        _cleanup_free_ char *text = xasprintf("lana-img base layer verified/1 %s", blob->str);
        lana_digest_buffer(text, strlen(text), ret);
}

/* Reads every base layer once through (lana_layout_verify_layer: size, digest, compression as
 * its media type says, diff_id), so that a base whose layers are not what its documents say
 * fails here rather than in every container run from the image. The build cache remembers each
 * layer found good, by blob digest: a rebuild on the same base decompresses none of it again. */
static int verify_base_layers(const struct lana_build_options *o, struct base *b,
                              struct lana_error **err)
{
        json_t *ids = json_object_get(json_object_get(b->config, "rootfs"), "diff_ids");
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(b->manifest, "layers"), i, x)
        {
                struct lana_digest blob, diff, key, known;
                int r = lana_descriptor_parse(x, NULL, &blob, NULL, err);
                if (r >= 0)
                        r = lana_digest_parse(json_string_value(json_array_get(ids, i)), &diff,
                                              err);
                if (r < 0)
                        return r;
                base_layer_key(&blob, &key);
                json_t *hit = NULL;
                if (cache_enabled(o) &&
                    lana_store_cache_lookup(o->store, &key, &hit, &known, NULL) == 0) {
                        json_decref(hit);
                        if (lana_digest_equal(&known, &diff))
                                continue;
                }
                r = lana_layout_verify_layer(b->img.layout, x, &diff, err);
                if (r < 0)
                        return r;
                if (cache_enabled(o)) {
                        r = lana_store_cache_record(o->store, &key, x, &diff, NULL, err);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int load_base(const struct lana_build_options *o, const struct lana_spec *s,
                     const struct lana_platform *p, struct base *b, struct lana_error **err)
{
        *b = (struct base){0};
        if (!strcmp(s->base, "scratch"))
                return 0;
        if (!strcmp(s->base, "rootfs")) {
                b->is_rootfs = true;
                if (!o->rootfs_dir)
                        return lana_error_set(err, -EINVAL,
                                              "base rootfs: no rootfs directory "
                                              "known (set LANA_IMG_ROOTFS)");
                return plan_rootfs_layer(o->rootfs_dir, &b->rootfs, err);
        }
        int r = lana_image_open(o->store, s->base, &b->img, err);
        if (r >= 0)
                r = lana_image_load(b->img.layout, b->img.desc, p, NULL, &b->manifest, &b->config,
                                    err);
        if (r >= 0) {
                struct lana_platform got;
                json_t *pj = json_pack("{s:O,s:O}", "os", json_object_get(b->config, "os"),
                                       "architecture", json_object_get(b->config, "architecture"));
                lana_platform_from_json(pj, &got);
                json_decref(pj);
                if (strcmp(got.arch, p->arch) != 0) {
                        char buf[64];
                        r = lana_error_set(err, -EINVAL, "its architecture is %s, not %s", got.arch,
                                           lana_platform_format(p, buf, sizeof buf));
                }
        }
        if (r >= 0)
                r = verify_base_layers(o, b, err);
        if (r < 0) {
                base_release(b);
                return lana_error_wrap(err, r, "%s: base %s", s->path, s->base);
        }
        return 0;
}

/* The image a platform's plan makes must stay within the static limits every image is held to
 * (lana_image_check), which a base near the limit plus the spec's layers could pass. */
static int check_layer_count(const struct lana_spec *s, const struct plan *pl, const struct base *b,
                             struct lana_error **err)
{
        size_t n = json_array_size(json_object_get(b->manifest, "layers")) +
                   (b->is_rootfs ? 1 : 0) + pl->n_layers;
        if (n > LANA_IMAGE_MAX_LAYERS)
                return lana_error_set(err, -EINVAL,
                                      "%s: the image would have %zu layers; at most %d can be "
                                      "stacked",
                                      s->path, n, LANA_IMAGE_MAX_LAYERS);
        return 0;
}

/* Base layer descriptors carried into our manifest, Docker media types mapped to OCI ones. */
static json_t *carry_base_layer(json_t *d)
{
        json_t *c = json_deep_copy(d);
        const char *mt = json_string_value(json_object_get(c, "mediaType"));
        if (mt && !strcmp(mt, LANA_MT_DOCKER_LAYER))
                json_object_set_new(c, "mediaType", json_string(LANA_MT_OCI_LAYER "+gzip"));
        json_object_del(c, "urls");
        return c;
}

/* Env merges by name in one pass: `names` maps each NAME to the index of the first entry of `env`
 * that reads NAME=... (entries without '=' name nothing), so a spec entry replaces that entry in
 * place, or is appended and named. Linear in base plus spec entries (issue 10). */
static void env_index(json_t *names, const char *e, size_t i)
{
        const char *eq = e ? strchr(e, '=') : NULL;
        if (!eq)
                return;
        _cleanup_free_ char *name = xstrndup(e, (size_t)(eq - e));
        if (!json_object_get(names, name))
                json_object_set_new_nocheck(names, name, json_integer((json_int_t)i));
}

static void env_set(json_t *env, json_t *names, const char *kv)
{
        _cleanup_free_ char *name = xstrndup(kv, strcspn(kv, "="));
        json_t *at = json_object_get(names, name);
        if (at) {
                json_array_set_new(env, (size_t)json_integer_value(at), json_string(kv));
                return;
        }
        json_array_append_new(env, json_string(kv));
        env_index(names, kv, json_array_size(env) - 1);
}

static json_t *make_config(const struct lana_spec *s, const struct base *b,
                           const struct lana_platform *p, int64_t epoch, json_t *diff_ids,
                           json_t *history)
{
        char ts[32];
        lana_format_timestamp(epoch, ts);
        json_t *cfg = json_object();
        json_t *base_cfg = b->config ? json_object_get(b->config, "config") : NULL;
        if (json_is_object(base_cfg))
                json_object_update(cfg, base_cfg);
        /* env merges by name; labels, ports and volumes merge by key; the rest replaces */
        json_t *env = json_is_array(json_object_get(cfg, "Env"))
                              ? json_deep_copy(json_object_get(cfg, "Env"))
                              : json_array();
        if (json_array_size(env) == 0)
                json_array_append_new(env, json_string(DEFAULT_PATH));
        json_t *names = json_object();
        size_t i;
        json_t *v;
        json_array_foreach(env, i, v)
        {
                env_index(names, json_string_value(v), i);
        }
        json_array_foreach(json_object_get(s->config, "Env"), i, v)
                env_set(env, names, json_string_value(v));
        json_decref(names);
        const char *merged[] = {"Labels", "ExposedPorts", "Volumes"};
        for (size_t k = 0; k < ELEMENTSOF(merged); k++) {
                json_t *add = json_object_get(s->config, merged[k]);
                if (!add)
                        continue;
                json_t *obj = json_is_object(json_object_get(cfg, merged[k]))
                                      ? json_deep_copy(json_object_get(cfg, merged[k]))
                                      : json_object();
                json_object_update(obj, add);
                json_object_set_new(cfg, merged[k], obj);
        }
        const char *replaced[] = {"Entrypoint", "Cmd", "User", "WorkingDir", "StopSignal"};
        for (size_t k = 0; k < ELEMENTSOF(replaced); k++) {
                json_t *x = json_object_get(s->config, replaced[k]);
                if (x)
                        json_object_set(cfg, replaced[k], x);
        }
        if (s->resets_cmd)
                json_object_del(cfg, "Cmd");
        json_object_set_new(cfg, "Env", env);

        json_t *img = json_object();
        json_object_set_new(img, "architecture", json_string(p->arch));
        json_object_set_new(img, "os", json_string(p->os));
        if (p->variant[0])
                json_object_set_new(img, "variant", json_string(p->variant));
        json_object_set_new(img, "created", json_string(ts));
        json_object_set_new(img, "config", cfg);
        json_object_set_new(img, "rootfs",
                            json_pack("{s:s,s:O}", "type", "layers", "diff_ids", diff_ids));
        json_object_set_new(img, "history", json_incref(history));
        return img;
}

static int put_json(struct lana_layout *l, json_t *doc, const char *media_type, json_t **ret_desc,
                    struct lana_error **err)
{
        size_t len;
        _cleanup_free_ char *s = lana_json_canonical(doc, &len);
        struct lana_digest d;
        int r = lana_layout_put_blob(l, s, len, &d, err);
        if (r < 0)
                return r;
        *ret_desc = lana_descriptor_new(media_type, &d, len);
        return 0;
}

static int build_platform(const struct lana_build_options *o, const struct lana_spec *s,
                          const struct plan *pl, struct base *b, struct lana_layout *out,
                          const struct lana_compress_profile *prof, unsigned jobs,
                          json_t **ret_desc, struct lana_error **err)
{
        char pname[64];
        lana_platform_format(&pl->platform, pname, sizeof pname);
        char ts[32];
        lana_format_timestamp(o->epoch, ts);
        json_t *layers = json_array(), *diff_ids = json_array(), *history = json_array();
        int r = 0;
        if (b->manifest) {
                r = lana_layout_copy_tree(out, b->img.layout,
                                          json_object_get(b->manifest, "config"), err);
                size_t i;
                json_t *d;
                json_array_foreach(json_object_get(b->manifest, "layers"), i, d)
                {
                        if (r < 0)
                                break;
                        r = lana_layout_copy_blob(out, b->img.layout, d, err);
                        json_array_append_new(layers, carry_base_layer(d));
                }
                json_array_extend(diff_ids, json_object_get(json_object_get(b->config, "rootfs"),
                                                            "diff_ids"));
                if (json_is_array(json_object_get(b->config, "history")))
                        json_array_extend(history, json_object_get(b->config, "history"));
                if (r < 0)
                        r = lana_error_wrap(err, r, "base %s", s->base);
        }
        const struct plan_layer *todo[1 + pl->n_layers];
        size_t n = 0;
        if (b->is_rootfs)
                todo[n++] = &b->rootfs;
        for (size_t i = 0; i < pl->n_layers; i++)
                todo[n++] = &pl->layers[i];
        for (size_t i = 0; r >= 0 && i < n; i++) {
                struct layer_out lo = {0};
                bool hit = false;
                r = cached_layer(o, s, todo[i], prof, pname, &lo, &hit, err);
                if (r >= 0 && !hit)
                        r = write_layer(out, todo[i], o->epoch, prof, jobs, pname, o->progress, &lo,
                                        err);
                if (r >= 0 && !hit)
                        r = cache_layer(o, todo[i], &lo, err);
                if (r < 0)
                        break;
                json_array_append_new(layers, lo.desc);
                json_array_append_new(diff_ids, json_string(lo.diff_id.str));
                json_array_append_new(history, json_pack("{s:s,s:s}", "created", ts, "created_by",
                                                         lo.created_by));
                free(lo.created_by);
        }
        json_t *cfg = NULL, *cfg_desc = NULL, *manifest = NULL;
        if (r >= 0) {
                cfg = make_config(s, b, &pl->platform, o->epoch, diff_ids, history);
                r = put_json(out, cfg, LANA_MT_OCI_CONFIG, &cfg_desc, err);
        }
        if (r >= 0) {
                manifest = json_pack("{s:i,s:s,s:O,s:O}", "schemaVersion", 2, "mediaType",
                                     LANA_MT_OCI_MANIFEST, "config", cfg_desc, "layers", layers);
                if (s->annotations && json_object_size(s->annotations))
                        json_object_set(manifest, "annotations", s->annotations);
                r = put_json(out, manifest, LANA_MT_OCI_MANIFEST, ret_desc, err);
        }
        json_decref(cfg);
        json_decref(cfg_desc);
        json_decref(manifest);
        json_decref(layers);
        json_decref(diff_ids);
        json_decref(history);
        return r;
}

static char *dir_of(const char *path)
{
        _cleanup_free_ char *c = xstrdup(path);
        return xstrdup(dirname(c));
}

/* docker-archive: the layout's files plus manifest.json, as `docker save` writes since v25. */
static int export_docker_archive(struct lana_layout *l, json_t *mdesc, char **refs,
                                 const char *path, struct lana_error **err)
{
        struct lana_digest d;
        json_t *m = NULL;
        int r = lana_descriptor_parse(mdesc, NULL, &d, NULL, err);
        if (r >= 0)
                r = lana_layout_read_json(l, &d, &m, err);
        if (r < 0)
                return r;
        json_t *layers = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(m, "layers"), i, x)
        {
                const char *dg = json_string_value(json_object_get(x, "digest"));
                json_array_append_new(layers, json_sprintf("blobs/sha256/%s", dg + 7));
        }
        const char *cd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
        json_t *tags = json_array();
        for (size_t k = 0; refs && refs[k]; k++) {
                /* docker wants "name:tag" with docker.io shortened; bare tags name nothing */
                const char *t = refs[k];
                if (!strchr(t, '/'))
                        continue;
                if (!strncmp(t, "docker.io/library/", 18))
                        t += 18;
                else if (!strncmp(t, "docker.io/", 10))
                        t += 10;
                json_array_append_new(tags, json_string(t));
        }
        json_t *dm = json_pack("[{s:s+,s:o,s:o}]", "Config", "blobs/sha256/", cd + 7, "RepoTags",
                               tags, "Layers", layers);
        json_decref(m);
        size_t len;
        _cleanup_free_ char *s = lana_json_canonical(dm, &len);
        json_decref(dm);
        /* manifest.json rides along in the (temporary) layout dir and is exported with it */
        _cleanup_close_ int dfd = open(lana_layout_path(l), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return lana_error_setsys(err, -errno, "%s", lana_layout_path(l));
        r = write_file_atomic_at(dfd, "manifest.json", s, len, 0644, err);
        if (r < 0)
                return r;
        return lana_layout_export_archive(l, path, err);
}

static void strv_push(char ***v, size_t *n, char *s)
{
        *v = xrealloc(*v, (*n + 2) * sizeof **v);
        (*v)[(*n)++] = s;
        (*v)[*n] = NULL;
}

/* The names to write: -t references plus image:tag for every spec tag. Store and docker-archive
 * outputs use full references; OCI layouts name images by tag alone. */
static int decide_refs(const struct lana_build_options *o, const struct lana_spec *s, char ***ret,
                       struct lana_error **err)
{
        char **refs = NULL;
        size_t n = 0;
        bool tag_only = o->output == LANA_OUTPUT_OCI_DIR || o->output == LANA_OUTPUT_OCI_ARCHIVE;
        int r = 0;
        for (size_t i = 0; r >= 0 && o->tags && o->tags[i]; i++) {
                struct lana_reference ref;
                r = lana_reference_parse(o->tags[i], "latest", &ref, err);
                if (r >= 0 && ref.digest) {
                        lana_reference_release(&ref);
                        r = lana_error_set(err, -EINVAL,
                                           "'%s': a name to give cannot hold a "
                                           "digest",
                                           o->tags[i]);
                }
                if (r < 0) {
                        r = lana_error_wrap(err, r, "--tag");
                        break;
                }
                strv_push(&refs, &n,
                          tag_only ? xstrdup(ref.tag ? ref.tag : "latest")
                                   : lana_reference_format(&ref));
                lana_reference_release(&ref);
        }
        if (r >= 0 && s->image) {
                struct lana_reference ref;
                r = lana_reference_parse(s->image, NULL, &ref, err);
                if (r >= 0) {
                        _cleanup_free_ char *repo = lana_reference_repository(&ref);
                        lana_reference_release(&ref);
                        if (s->n_tags == 0)
                                strv_push(&refs, &n,
                                          tag_only ? xstrdup("latest")
                                                   : xasprintf("%s:latest", repo));
                        for (size_t i = 0; i < s->n_tags; i++)
                                strv_push(&refs, &n,
                                          tag_only ? xstrdup(s->tags[i])
                                                   : xasprintf("%s:%s", repo, s->tags[i]));
                }
        } else if (r >= 0 && tag_only) {
                for (size_t i = 0; i < s->n_tags; i++)
                        strv_push(&refs, &n, xstrdup(s->tags[i]));
        }
        if (r >= 0 && n == 0 && o->output == LANA_OUTPUT_STORE)
                r = lana_error_set(err, -EINVAL,
                                   "%s: no image name: set 'image:' in the spec or pass --tag",
                                   s->path);
        if (r < 0) {
                strv_free(refs);
                return r;
        }
        if (n == 0)
                strv_push(&refs, &n, xstrdup("latest"));
        /* drop repeated names, keeping the first of each in order: a set, as thousands of tags
         * must not cost a comparison of every pair (issue 10) */
        json_t *seen = json_object();
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
                if (json_object_get(seen, refs[i])) {
                        free(refs[i]);
                        continue;
                }
                json_object_set_new_nocheck(seen, refs[i], json_true());
                refs[kept++] = refs[i];
        }
        refs[kept] = NULL;
        json_decref(seen);
        *ret = refs;
        return 0;
}

static int decide_platforms(const struct lana_build_options *o, const struct lana_spec *s,
                            struct lana_platform **ret, size_t *ret_n, struct lana_error **err)
{
        struct lana_platform *plats = NULL;
        size_t n = 0;
        if (o->platforms) {
                _cleanup_free_ char *list = xstrdup(o->platforms);
                char *save = NULL;
                for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                        plats = xrealloc(plats, (n + 1) * sizeof *plats);
                        int r = lana_platform_parse(t, &plats[n], err);
                        for (size_t k = 0; r >= 0 && k < n; k++)
                                if (lana_platform_equal(&plats[k], &plats[n]) &&
                                    !strcmp(plats[k].variant, plats[n].variant))
                                        r = lana_error_set(err, -EINVAL,
                                                           "platform '%s' listed twice", t);
                        if (r < 0) {
                                free(plats);
                                return lana_error_wrap(err, r, "--platform");
                        }
                        n++;
                }
                if (n == 0)
                        return lana_error_set(err, -EINVAL, "--platform: empty list");
        } else if (s->n_platforms) {
                plats = xnew(struct lana_platform, s->n_platforms);
                memcpy(plats, s->platforms, s->n_platforms * sizeof *plats);
                n = s->n_platforms;
        } else {
                plats = xnew(struct lana_platform, 1);
                lana_platform_host(&plats[0]);
                n = 1;
        }
        *ret = plats;
        *ret_n = n;
        return 0;
}

static int decide_profile(const struct lana_build_options *o, const struct lana_spec *s,
                          struct lana_compress_profile *prof, struct lana_error **err)
{
        *prof = s->compression;
        if (o->compression) {
                enum lana_compression algo;
                int r = lana_compression_parse(o->compression, &algo, err);
                if (r < 0)
                        return lana_error_wrap(err, r, "--compression");
                if (algo != prof->algo || !s->has_level)
                        lana_compress_profile_default(algo, prof);
        }
        if (o->level)
                prof->level = o->level;
        return lana_compress_profile_validate(prof, err);
}

static int open_output(const struct lana_build_options *o, struct lana_layout **ret,
                       char **ret_tmpdir, struct lana_error **err)
{
        *ret_tmpdir = NULL;
        if (o->output == LANA_OUTPUT_STORE) {
                if (!o->store)
                        return lana_error_set(err, -EINVAL, "no store to build into");
                return lana_layout_open(lana_layout_path(lana_store_layout(o->store)), false, ret,
                                        err);
        }
        if (o->output == LANA_OUTPUT_OCI_DIR)
                return lana_layout_open(o->output_path, true, ret, err);
        _cleanup_free_ char *d = dir_of(o->output_path);
        char *tmp = xasprintf("%s/.lana-img-export-XXXXXX", d);
        if (!mkdtemp(tmp)) {
                int r = lana_error_setsys(err, -errno, "%s", o->output_path);
                free(tmp);
                return r;
        }
        *ret_tmpdir = tmp;
        return lana_layout_open(tmp, true, ret, err);
}

_public_ int lana_build(const struct lana_build_options *o, struct lana_build_result *ret,
                        struct lana_error **err)
{
        *ret = (struct lana_build_result){0};
        struct lana_spec *s = NULL;
        struct lana_platform *plats = NULL;
        size_t nplat = 0;
        char **refs = NULL;
        struct plan **plans = NULL;
        struct base *bases = NULL;
        struct lana_layout *out = NULL;
        char *tmpdir = NULL;
        char *ps = NULL;
        struct lana_store *created = NULL;
        json_t *descs = json_array(), *top = NULL;
        struct lana_compress_profile prof;

        int r = lana_spec_load(o->spec_path, &s, err);
        if (r >= 0)
                r = decide_platforms(o, s, &plats, &nplat, err);
        if (r >= 0)
                r = decide_profile(o, s, &prof, err);
        if (r >= 0)
                r = decide_refs(o, s, &refs, err);
        if (r >= 0 && o->output == LANA_OUTPUT_DOCKER_ARCHIVE && nplat > 1)
                r = lana_error_set(err, -EINVAL, "docker-archive holds one platform; %zu given",
                                   nplat);
        if (r < 0)
                goto out;

        /* plan everything (all validation) before writing anything */
        plans = xnew(struct plan *, nplat);
        bases = xnew(struct base, nplat);
        unsigned jobs = o->jobs ? o->jobs : (unsigned)MAX(1L, sysconf(_SC_NPROCESSORS_ONLN));
        /* the compression profile as the cache keys name it; NULL: no cache */
        bool store_later = !o->store && o->store_root && o->output == LANA_OUTPUT_STORE;
        ps = cache_enabled(o) || (store_later && !o->no_cache) ? lana_compress_profile_string(&prof)
                                                               : NULL;
        for (size_t i = 0; r >= 0 && i < nplat; i++) {
                r = plan_platform(s, &plats[i], &plans[i], err);
                for (size_t k = 0; r >= 0 && ps && k < plans[i]->n_layers; k++)
                        probe_cache(o, ps, &plats[i], &plans[i]->layers[k]);
                if (r >= 0)
                        r = plan_check_machines(plans[i], jobs, err);
                if (r >= 0)
                        r = load_base(o, s, &plats[i], &bases[i], err);
                if (r >= 0 && ps && bases[i].is_rootfs)
                        probe_cache(o, ps, &plats[i], &bases[i].rootfs);
                if (r >= 0)
                        r = check_layer_count(s, plans[i], &bases[i], err);
        }
        /* only now, with everything planned, is a missing store created */
        struct lana_build_options late = *o;
        if (r >= 0 && store_later) {
                r = lana_store_open(o->store_root, &created, err);
                late.store = created;
                o = &late;
        }
        if (r >= 0)
                r = open_output(o, &out, &tmpdir, err);
        if (r < 0)
                goto out;

        for (size_t i = 0; r >= 0 && i < nplat; i++) {
                json_t *d = NULL;
                r = build_platform(o, s, plans[i], &bases[i], out, &prof, jobs, &d, err);
                if (r >= 0) {
                        json_object_set_new(d, "platform", lana_platform_to_json(&plats[i]));
                        json_array_append_new(descs, d);
                }
        }
        if (r >= 0 && nplat == 1) {
                top = json_deep_copy(json_array_get(descs, 0));
                json_object_del(top, "platform");
        } else if (r >= 0) {
                json_t *idx = json_pack("{s:i,s:s,s:O}", "schemaVersion", 2, "mediaType",
                                        LANA_MT_OCI_INDEX, "manifests", descs);
                if (s->annotations && json_object_size(s->annotations))
                        json_object_set(idx, "annotations", s->annotations);
                r = put_json(out, idx, LANA_MT_OCI_INDEX, &top, err);
                json_decref(idx);
        }
        if (r >= 0) {
                /* every name in one update of index.json; inside archives (docker-archive's
                 * index.json) images are named by tag */
                size_t n = 0;
                while (refs[n])
                        n++;
                _cleanup_free_ const char **names = xnew(const char *, n + 1);
                for (size_t i = 0; i < n; i++) {
                        const char *colon = strrchr(refs[i], ':');
                        bool by_tag = o->output == LANA_OUTPUT_DOCKER_ARCHIVE && colon &&
                                      !strchr(colon, '/');
                        names[i] = by_tag ? colon + 1 : refs[i];
                }
                r = lana_layout_set_refs(out, names, n, top, err);
        }
        if (r >= 0 && o->output == LANA_OUTPUT_OCI_ARCHIVE)
                r = lana_layout_export_archive(out, o->output_path, err);
        if (r >= 0 && o->output == LANA_OUTPUT_DOCKER_ARCHIVE)
                r = export_docker_archive(out, top, refs, o->output_path, err);
        if (r >= 0) {
                lana_descriptor_parse(top, NULL, &ret->digest, NULL, NULL);
                ret->media_type = xstrdup(json_string_value(json_object_get(top, "mediaType")));
                ret->refs = TAKE_PTR(refs);
        }
out:
        free(ps);
        json_decref(top);
        json_decref(descs);
        lana_layout_free(out);
        lana_store_free(created);
        if (tmpdir)
                rm_rf_at(AT_FDCWD, tmpdir);
        free(tmpdir);
        for (size_t i = 0; plans && i < nplat; i++) {
                plan_free(plans[i]);
                base_release(&bases[i]);
        }
        free(plans);
        free(bases);
        strv_free(refs);
        free(plats);
        lana_spec_free(s);
        return r;
}

_public_ void lana_build_result_release(struct lana_build_result *r)
{
        strv_free(r->refs);
        free(r->media_type);
        *r = (struct lana_build_result){0};
}
