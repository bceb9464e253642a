/*
 * json.c — canonical JSON and the validators for descriptors, manifests, indexes and configs.
 *
 * The canonical form (sorted keys, compact separators, UTF-8 as is) is what we hash: every
 * manifest, index and config we write goes through lana_json_canonical(), so a document's digest
 * depends only on its content. The validators accept what other tools write (Docker media types
 * included) and reject anything that would later make us dereference a missing field.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lana/oci.h"
#include "alloc.h"

_public_ char *lana_json_canonical(json_t *j, size_t *ret_len)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!s)
                abort();
        if (ret_len)
                *ret_len = strlen(s);
        return s;
}

_public_ int lana_json_parse_object(const char *data, size_t len, json_t **ret,
                                    struct lana_error **err)
{
        if (len > LANA_OCI_MAX_DOC)
                return lana_error_set(err, -E2BIG, "JSON document of %zu bytes exceeds %zu", len,
                                      LANA_OCI_MAX_DOC);
        json_error_t je;
        json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return lana_error_set(err, -EBADMSG, "invalid JSON at line %d: %s", je.line,
                                      je.text);
        if (!json_is_object(j)) {
                json_decref(j);
                return lana_error_set(err, -EBADMSG, "JSON document is not an object");
        }
        *ret = j;
        return 0;
}

_public_ json_t *lana_descriptor_new(const char *media_type, const struct lana_digest *d,
                                     uint64_t size)
{
        json_t *j = json_object();
        json_object_set_new(j, "mediaType", json_string(media_type));
        json_object_set_new(j, "digest", json_string(d->str));
        json_object_set_new(j, "size", json_integer((json_int_t)size));
        return j;
}

_public_ int lana_descriptor_parse(json_t *desc, const char **ret_media_type,
                                   struct lana_digest *ret_digest, uint64_t *ret_size,
                                   struct lana_error **err)
{
        if (!json_is_object(desc))
                return lana_error_set(err, -EBADMSG, "descriptor is not an object");
        const char *mt = json_string_value(json_object_get(desc, "mediaType"));
        const char *dg = json_string_value(json_object_get(desc, "digest"));
        json_t *sz = json_object_get(desc, "size");
        if (!mt || !dg || !json_is_integer(sz) || json_integer_value(sz) < 0)
                return lana_error_set(err, -EBADMSG,
                                      "descriptor lacks mediaType, digest or a valid size");
        struct lana_digest d;
        int r = lana_digest_parse(dg, &d, err);
        if (r < 0)
                return r;
        if (ret_media_type)
                *ret_media_type = mt;
        if (ret_digest)
                *ret_digest = d;
        if (ret_size)
                *ret_size = (uint64_t)json_integer_value(sz);
        return 0;
}

_public_ bool lana_media_type_is_index(const char *mt)
{
        return mt && (!strcmp(mt, LANA_MT_OCI_INDEX) || !strcmp(mt, LANA_MT_DOCKER_LIST));
}

_public_ bool lana_media_type_is_manifest(const char *mt)
{
        return mt && (!strcmp(mt, LANA_MT_OCI_MANIFEST) || !strcmp(mt, LANA_MT_DOCKER_MANIFEST));
}

static int check_schema(json_t *doc, const char *what, struct lana_error **err)
{
        json_t *v = json_object_get(doc, "schemaVersion");
        if (!json_is_integer(v) || json_integer_value(v) != 2)
                return lana_error_set(err, -EBADMSG, "%s: schemaVersion must be 2", what);
        return 0;
}

_public_ int lana_manifest_validate(json_t *m, struct lana_error **err)
{
        int r = check_schema(m, "manifest", err);
        if (r < 0)
                return r;
        const char *mt = json_string_value(json_object_get(m, "mediaType"));
        if (mt && !lana_media_type_is_manifest(mt))
                return lana_error_set(err, -EBADMSG, "manifest: unexpected mediaType %s", mt);
        r = lana_descriptor_parse(json_object_get(m, "config"), NULL, NULL, NULL, err);
        if (r < 0)
                return lana_error_wrap(err, r, "manifest config");
        json_t *layers = json_object_get(m, "layers");
        if (!json_is_array(layers))
                return lana_error_set(err, -EBADMSG, "manifest: layers is not an array");
        size_t i;
        json_t *l;
        json_array_foreach(layers, i, l)
        {
                r = lana_descriptor_parse(l, NULL, NULL, NULL, err);
                if (r < 0)
                        return lana_error_wrap(err, r, "manifest layer %zu", i);
        }
        return 0;
}

_public_ int lana_index_validate(json_t *idx, struct lana_error **err)
{
        int r = check_schema(idx, "index", err);
        if (r < 0)
                return r;
        json_t *ms = json_object_get(idx, "manifests");
        if (!json_is_array(ms))
                return lana_error_set(err, -EBADMSG, "index: manifests is not an array");
        size_t i;
        json_t *d;
        json_array_foreach(ms, i, d)
        {
                r = lana_descriptor_parse(d, NULL, NULL, NULL, err);
                if (r < 0)
                        return lana_error_wrap(err, r, "index entry %zu", i);
        }
        return 0;
}

_public_ int lana_config_validate(json_t *cfg, struct lana_error **err)
{
        if (!json_is_string(json_object_get(cfg, "os")) ||
            !json_is_string(json_object_get(cfg, "architecture")))
                return lana_error_set(err, -EBADMSG, "image config: missing os or architecture");
        json_t *rootfs = json_object_get(cfg, "rootfs");
        json_t *ids = json_object_get(rootfs, "diff_ids");
        if (!json_is_array(ids))
                return lana_error_set(err, -EBADMSG, "image config: missing rootfs.diff_ids");
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v)
        {
                struct lana_digest d;
                if (lana_digest_parse(json_string_value(v), &d, NULL) < 0)
                        return lana_error_set(err, -EBADMSG, "image config: bad diff_id %zu", i);
        }
        return 0;
}

_public_ void lana_format_timestamp(int64_t t, char buf[32])
{
        time_t tt = (time_t)t;
        struct tm tm;
        if (!gmtime_r(&tt, &tm))
                memset(&tm, 0, sizeof tm);
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
