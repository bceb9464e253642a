/*
 * describe.c — summaries and full descriptions of images for `images` and `inspect`, and the
 * checks an image passes before anything uses it. Reads and validates every document it shows,
 * so a corrupt blob surfaces as an error, never as output.
 *
 * lana_image_check() is the one place for an image's static limits (layer count, diff_id count,
 * layer media types): build, run, fsck and push all call it, so they agree on what an image that
 * can be used is, and refuse the others before unpacking or copying anything.
 * lana_layout_verify_layer() is the one full read of a layer that checks it against everything
 * its descriptors say, without unpacking it.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lana/store.h"
#include "alloc.h"
#include "store-internal.h"

struct sum_ctx {
        json_t *seen;
        uint64_t size;
};

static int sum_one(struct lana_layout *l, json_t *desc, void *ud)
{
        (void)l;
        struct sum_ctx *c = ud;
        const char *d = json_string_value(json_object_get(desc, "digest"));
        if (!d || json_object_get(c->seen, d))
                return 0;
        json_object_set_new(c->seen, d, json_true());
        c->size += (uint64_t)json_integer_value(json_object_get(desc, "size"));
        return 0;
}

static int describe_manifest(struct lana_layout *l, json_t *desc, json_t **ret,
                             struct lana_error **err)
{
        struct lana_digest d;
        const char *mt;
        int r = lana_descriptor_parse(desc, &mt, &d, NULL, err);
        if (r < 0)
                return r;
        json_t *m = NULL, *cfg = NULL;
        r = lana_layout_read_json(l, &d, &m, err);
        if (r >= 0)
                r = lana_manifest_validate(m, err);
        struct lana_digest cd;
        if (r >= 0)
                r = lana_descriptor_parse(json_object_get(m, "config"), NULL, &cd, NULL, err);
        if (r >= 0)
                r = lana_layout_read_json(l, &cd, &cfg, err);
        if (r < 0) {
                json_decref(m);
                return r;
        }
        json_t *layers = json_array();
        json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(m, "layers"), i, x)
        {
                json_t *e = json_pack("{s:O,s:O,s:O}", "digest", json_object_get(x, "digest"),
                                      "mediaType", json_object_get(x, "mediaType"), "size",
                                      json_object_get(x, "size"));
                json_t *id = json_array_get(ids, i);
                if (id)
                        json_object_set(e, "diff_id", id);
                json_array_append_new(layers, e);
        }
        *ret = json_pack("{s:s,s:s,s:o,s:o,s:o}", "digest", d.str, "mediaType", mt, "manifest", m,
                         "config", cfg, "layers", layers);
        return 0;
}

_public_ int lana_layout_image_describe(struct lana_layout *l, json_t *desc, json_t **ret,
                                        struct lana_error **err)
{
        struct lana_digest d;
        const char *mt;
        int r = lana_descriptor_parse(desc, &mt, &d, NULL, err);
        if (r < 0)
                return r;
        if (lana_media_type_is_manifest(mt))
                return describe_manifest(l, desc, ret, err);
        if (!lana_media_type_is_index(mt))
                return lana_error_set(err, -EBADMSG, "%s: not an image (mediaType %s)", d.str, mt);
        json_t *idx = NULL;
        r = lana_layout_read_json(l, &d, &idx, err);
        if (r >= 0)
                r = lana_index_validate(idx, err);
        if (r < 0) {
                json_decref(idx);
                return r;
        }
        json_t *list = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(idx, "manifests"), i, m)
        {
                const char *cmt = json_string_value(json_object_get(m, "mediaType"));
                if (!lana_media_type_is_manifest(cmt))
                        continue;
                json_t *one = NULL;
                r = describe_manifest(l, m, &one, err);
                if (r < 0)
                        break;
                if (json_object_get(m, "platform"))
                        json_object_set(one, "platform", json_object_get(m, "platform"));
                json_array_append_new(list, one);
        }
        if (r < 0) {
                json_decref(list);
                json_decref(idx);
                return r;
        }
        *ret = json_pack("{s:s,s:s,s:o,s:o}", "digest", d.str, "mediaType", mt, "index", idx,
                         "manifests", list);
        return 0;
}

_public_ int lana_layout_image_summary(struct lana_layout *l, json_t *desc, json_t **ret,
                                       struct lana_error **err)
{
        struct lana_digest d;
        const char *mt;
        int r = lana_descriptor_parse(desc, &mt, &d, NULL, err);
        if (r < 0)
                return r;
        struct sum_ctx c = {.seen = json_object()};
        r = layout_walk(l, desc, 0, sum_one, &c, err);
        json_decref(c.seen);
        if (r < 0)
                return r;
        json_t *plats = json_array();
        if (lana_media_type_is_index(mt)) {
                json_t *idx = NULL;
                if (lana_layout_read_json(l, &d, &idx, NULL) >= 0) {
                        size_t i;
                        json_t *m;
                        json_array_foreach(json_object_get(idx, "manifests"), i, m)
                        {
                                struct lana_platform p;
                                char buf[64];
                                if (lana_platform_from_json(json_object_get(m, "platform"), &p) >=
                                    0)
                                        json_array_append_new(plats,
                                                              json_string(lana_platform_format(
                                                                      &p, buf, sizeof buf)));
                        }
                }
                json_decref(idx);
        } else {
                json_t *m = NULL, *cfg = NULL;
                struct lana_digest cd;
                if (lana_layout_read_json(l, &d, &m, NULL) >= 0 &&
                    lana_descriptor_parse(json_object_get(m, "config"), NULL, &cd, NULL, NULL) >=
                            0 &&
                    lana_layout_read_json(l, &cd, &cfg, NULL) >= 0) {
                        struct lana_platform p;
                        char buf[64];
                        if (lana_platform_from_json(cfg, &p) >= 0)
                                json_array_append_new(plats, json_string(lana_platform_format(
                                                                     &p, buf, sizeof buf)));
                }
                json_decref(m);
                json_decref(cfg);
        }
        *ret = json_pack("{s:s,s:s,s:o,s:I}", "digest", d.str, "mediaType", mt, "platforms", plats,
                         "size", (json_int_t)c.size);
        return 0;
}

static int collect_one(struct lana_layout *l, json_t *desc, void *ud)
{
        const char *mt = json_string_value(json_object_get(desc, "mediaType"));
        if (!mt || (strcmp(mt, LANA_MT_OCI_CONFIG) != 0 && strcmp(mt, LANA_MT_DOCKER_CONFIG) != 0))
                return 0;
        struct lana_digest d;
        json_t *cfg = NULL;
        if (lana_descriptor_parse(desc, NULL, &d, NULL, NULL) < 0 ||
            lana_layout_read_json(l, &d, &cfg, NULL) < 0)
                return 0;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"), i, v)
        {
                const char *s = json_string_value(v);
                if (s && !strncmp(s, "sha256:", 7))
                        json_object_set_new(ud, s + 7, json_true());
        }
        json_decref(cfg);
        return 0;
}

_public_ void lana_layout_collect_diff_ids(struct lana_layout *l, json_t *desc, json_t *set)
{
        (void)layout_walk(l, desc, 0, collect_one, set, NULL);
}

/* ---- checking images ---- */

/* The layer media types the unpacker reads, each with the compression its bytes must carry. */
static const struct {
        const char *media_type;
        int filter; /* libarchive's code */
} layer_types[] = {
        {LANA_MT_OCI_LAYER, ARCHIVE_FILTER_NONE},
        {LANA_MT_OCI_LAYER "+gzip", ARCHIVE_FILTER_GZIP},
        {LANA_MT_OCI_LAYER "+zstd", ARCHIVE_FILTER_ZSTD},
        {LANA_MT_DOCKER_LAYER, ARCHIVE_FILTER_GZIP},
};

/* The filter a layer media type calls for, or -1 when it is not one we read. */
static int layer_filter(const char *mt)
{
        for (size_t i = 0; mt && i < ELEMENTSOF(layer_types); i++)
                if (!strcmp(mt, layer_types[i].media_type))
                        return layer_types[i].filter;
        return -1;
}

/* `label` names the layer ("layer 3 (sha256:…)"). */
static int unsupported_layer(const char *label, const char *mt, struct lana_error **err)
{
        return lana_error_set(err, -EINVAL,
                              "%s: media type %s is not a layer lana-img can unpack (tar, "
                              "tar+gzip or tar+zstd)",
                              label, mt ? mt : "(none)");
}

_public_ int lana_image_check(json_t *manifest, json_t *config, struct lana_error **err)
{
        json_t *layers = json_object_get(manifest, "layers");
        json_t *ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
        size_t nl = json_array_size(layers), nd = json_array_size(ids);
        if (nl > LANA_IMAGE_MAX_LAYERS)
                return lana_error_set(err, -EINVAL,
                                      "the image has %zu layers; at most %d can be stacked", nl,
                                      LANA_IMAGE_MAX_LAYERS);
        if (nl != nd)
                return lana_error_set(err, -EINVAL,
                                      "the manifest lists %zu layer(s) but the config %zu "
                                      "diff_id(s)",
                                      nl, nd);
        size_t i;
        json_t *x;
        json_array_foreach(layers, i, x)
        {
                const char *mt = json_string_value(json_object_get(x, "mediaType"));
                if (layer_filter(mt) < 0) {
                        const char *d = json_string_value(json_object_get(x, "digest"));
                        _cleanup_free_ char *label = xasprintf("layer %zu (%s)", i, d ? d : "?");
                        return unsupported_layer(label, mt, err);
                }
        }
        return 0;
}

/* Reads a JSON document through its descriptor: its digest and its size must be the
 * descriptor's. */
static int read_json_desc(struct lana_layout *l, json_t *desc, json_t **ret,
                          struct lana_error **err)
{
        struct lana_digest d;
        uint64_t want;
        int r = lana_descriptor_parse(desc, NULL, &d, &want, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *data = NULL;
        size_t len;
        r = lana_layout_read_blob(l, &d, LANA_OCI_MAX_DOC, &data, &len, err);
        if (r < 0)
                return r;
        if (len != want)
                return lana_error_set(err, -EBADMSG, "blob %s has %zu bytes, descriptor says %ju",
                                      d.str, len, (uintmax_t)want);
        r = lana_json_parse_object(data, len, ret, err);
        return r < 0 ? lana_error_wrap(err, r, "blob %s", d.str) : 0;
}

_public_ int lana_layout_check_manifest(struct lana_layout *l, json_t *manifest,
                                        json_t **ret_config, struct lana_error **err)
{
        json_t *cfg = NULL;
        int r = read_json_desc(l, json_object_get(manifest, "config"), &cfg, err);
        if (r >= 0)
                r = lana_config_validate(cfg, err);
        if (r >= 0)
                r = lana_image_check(manifest, cfg, err);
        if (r >= 0 && ret_config)
                *ret_config = TAKE_PTR(cfg);
        json_decref(cfg);
        return r;
}

static int check_layer_sizes(struct lana_layout *l, json_t *manifest, struct lana_error **err)
{
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(manifest, "layers"), i, x)
        {
                struct lana_digest d;
                uint64_t want;
                struct stat st;
                int r = lana_descriptor_parse(x, NULL, &d, &want, err);
                if (r < 0)
                        return r;
                if (fstatat(l->blobsfd, d.hex, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return lana_error_setsys(err, -errno, "layer %zu: blob %s", i, d.str);
                if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != want)
                        return lana_error_set(err, -EBADMSG,
                                              "layer %zu: blob %s has %jd bytes, descriptor "
                                              "says %ju",
                                              i, d.str, (intmax_t)st.st_size, (uintmax_t)want);
        }
        return 0;
}

_public_ int lana_image_load(struct lana_layout *l, json_t *desc,
                             const struct lana_platform *platform, json_t **ret_mdesc,
                             json_t **ret_manifest, json_t **ret_config, struct lana_error **err)
{
        json_t *mdesc = NULL, *m = NULL, *cfg = NULL;
        int r = layout_select(l, desc, platform, &mdesc, err);
        if (r >= 0)
                r = read_json_desc(l, mdesc, &m, err);
        if (r >= 0)
                r = lana_manifest_validate(m, err);
        if (r >= 0)
                r = lana_layout_check_manifest(l, m, &cfg, err);
        if (r >= 0)
                r = check_layer_sizes(l, m, err);
        if (r >= 0 && ret_mdesc)
                *ret_mdesc = json_incref(mdesc);
        if (r >= 0 && ret_manifest)
                *ret_manifest = json_incref(m);
        if (r >= 0 && ret_config)
                *ret_config = json_incref(cfg);
        json_decref(mdesc);
        json_decref(m);
        json_decref(cfg);
        return r;
}

/* The compressed side of a layer read by lana_layout_verify_layer(): every byte libarchive
 * takes is hashed and counted, so one pass checks the digest and size too. */
struct verify_src {
        int fd;
        struct lana_sha256 *h;
        uint64_t bytes;
        char buf[1 << 16];
};

static la_ssize_t verify_read(struct archive *a, void *ud, const void **ret)
{
        struct verify_src *v = ud;
        ssize_t n;
        do
                n = read(v->fd, v->buf, sizeof v->buf);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                archive_set_error(a, errno, "read: %s", strerror(errno));
                return -1;
        }
        lana_sha256_update(v->h, v->buf, (size_t)n);
        v->bytes += (uint64_t)n;
        *ret = v->buf;
        return n;
}

/* Whether a 512-byte block is a tar header (its checksum adds up) or an end-of-archive block. */
static bool tar_block_ok(const unsigned char *b)
{
        unsigned long sum = 0, zero = 0;
        for (size_t i = 0; i < 512; i++) {
                sum += i >= 148 && i < 156 ? ' ' : b[i];
                zero |= b[i];
        }
        if (!zero)
                return true;
        char field[9] = {0};
        memcpy(field, b + 148, 8);
        char *end;
        unsigned long want = strtoul(field, &end, 8);
        return end != field && want == sum;
}

static const char *archive_msg(struct archive *a)
{
        const char *m = archive_error_string(a);
        return m ? m : "empty or unreadable";
}

/* Decompresses and hashes the layer; the first 512 bytes go to `head`. */
static int verify_stream(struct archive *a, struct lana_sha256 *h, unsigned char head[512],
                         uint64_t *ret_len, struct lana_error **err)
{
        uint64_t len = 0;
        for (;;) {
                const void *b;
                size_t n;
                la_int64_t off;
                int ar = archive_read_data_block(a, &b, &n, &off);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar != ARCHIVE_OK)
                        return lana_error_set(err, -EBADMSG, "%s", archive_msg(a));
                if (len < 512)
                        memcpy(head + len, b, MIN(n, 512 - len));
                lana_sha256_update(h, b, n);
                len += n;
        }
        *ret_len = len;
        return 0;
}

static void archive_freep(struct archive **a)
{
        if (*a)
                archive_read_free(*a);
}

_public_ int lana_layout_verify_layer(struct lana_layout *l, json_t *desc,
                                      const struct lana_digest *diff_id, struct lana_error **err)
{
        const char *mt;
        struct lana_digest d;
        uint64_t size;
        int r = lana_descriptor_parse(desc, &mt, &d, &size, err);
        if (r < 0)
                return r;
        int filter = layer_filter(mt);
        if (filter < 0) {
                _cleanup_free_ char *label = xasprintf("layer %s", d.str);
                return unsupported_layer(label, mt, err);
        }
        _cleanup_(archive_freep) struct archive *a = archive_read_new();
        _cleanup_free_ struct verify_src *v = xnew(struct verify_src, 1);
        v->fd = -1;
        r = lana_layout_open_desc(l, desc, &v->fd, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = v->fd;
        v->h = lana_sha256_new();
        struct lana_sha256 *h = lana_sha256_new();
        /* the unpacker's decompressors and no others */
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_zstd(a);
        archive_read_support_format_raw(a);
        struct archive_entry *ae;
        unsigned char head[512] = {0};
        uint64_t len = 0;
        if (archive_read_open(a, v, NULL, verify_read, NULL) != ARCHIVE_OK ||
            archive_read_next_header(a, &ae) != ARCHIVE_OK)
                r = lana_error_set(err, -EBADMSG, "%s", archive_msg(a));
        if (r >= 0 && archive_filter_code(a, 0) != filter)
                r = filter == ARCHIVE_FILTER_NONE
                            ? lana_error_set(err, -EBADMSG,
                                             "media type %s (uncompressed), but its bytes are "
                                             "%s-compressed",
                                             mt, archive_filter_name(a, 0))
                            : lana_error_set(err, -EBADMSG,
                                             "media type %s, but its bytes are not %s data", mt,
                                             filter == ARCHIVE_FILTER_GZIP ? "gzip" : "zstd");
        if (r >= 0)
                r = verify_stream(a, h, head, &len, err);
        if (r >= 0 && len > 0 && !tar_block_ok(head))
                r = lana_error_set(err, -EBADMSG, "the uncompressed stream is not a tar archive");
        struct lana_digest got, got_diff;
        if (r >= 0) {
                /* whatever follows the compressed stream belongs to the blob's digest too */
                const void *rest;
                while (verify_read(a, v, &rest) > 0)
                        ;
                lana_sha256_final(v->h, &got);
                lana_sha256_final(h, &got_diff);
                if (v->bytes != size)
                        r = lana_error_set(err, -EBADMSG, "%ju bytes, descriptor says %ju",
                                           (uintmax_t)v->bytes, (uintmax_t)size);
                else if (!lana_digest_equal(&got, &d))
                        r = lana_error_set(err, -EBADMSG, "content hashes to %s", got.str);
                else if (!lana_digest_equal(&got_diff, diff_id))
                        r = lana_error_set(err, -EBADMSG,
                                           "uncompressed content hashes to %s, diff_id says %s",
                                           got_diff.str, diff_id->str);
        }
        lana_sha256_free(v->h);
        lana_sha256_free(h);
        return r < 0 ? lana_error_wrap(err, r, "layer %s", d.str) : 0;
}
