/*
 * describe.c — summaries and full descriptions of images for `images` and `inspect`. Reads and
 * validates every document it shows, so a corrupt blob surfaces as an error, never as output.
 */
#include <errno.h>
#include <string.h>

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
