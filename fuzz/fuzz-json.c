/*
 * fuzz-json.c — libFuzzer target for the JSON documents we read from registries, OCI layouts and
 * the store: lana_json_parse_object() followed by every validator (manifest, index, config,
 * descriptor) and lana_json_canonical().
 *
 * The canonical form is what we hash, so it must be a fixed point: parsing it again and
 * re-encoding gives the same bytes, and the validators reach the same verdict on it as on the
 * original document (validity cannot depend on key order or whitespace).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lana/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct verdicts {
        int manifest, index, config, descriptor;
};

static _Noreturn void fail(const char *what, const char *detail)
{
        fprintf(stderr, "fuzz-json: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
        abort();
}

/* The error model: a failure fills exactly one error with the same code, success none. */
static int checked(const char *what, int r, struct lana_error *e)
{
        if (r < 0 && (!e || e->code != r || !e->msg))
                fail(what, "failed without a matching error");
        if (r >= 0 && e)
                fail(what, "succeeded but set an error");
        lana_error_free(e);
        return r;
}

static struct verdicts validate(json_t *j)
{
        struct verdicts v;
        struct lana_error *e = NULL;
        int r = lana_manifest_validate(j, &e);
        v.manifest = checked("lana_manifest_validate", r, e);
        e = NULL;
        r = lana_index_validate(j, &e);
        v.index = checked("lana_index_validate", r, e);
        e = NULL;
        r = lana_config_validate(j, &e);
        v.config = checked("lana_config_validate", r, e);

        const char *mt = NULL;
        struct lana_digest d;
        uint64_t size = 0;
        e = NULL;
        r = lana_descriptor_parse(j, &mt, &d, &size, &e);
        v.descriptor = checked("lana_descriptor_parse", r, e);
        if (v.descriptor == 0) {
                /* the outputs are the document's own fields */
                if (!mt || strcmp(mt, json_string_value(json_object_get(j, "mediaType"))) != 0 ||
                    strcmp(d.str, json_string_value(json_object_get(j, "digest"))) != 0 ||
                    (json_int_t)size != json_integer_value(json_object_get(j, "size")))
                        fail("lana_descriptor_parse", "outputs differ from the document");
                (void)lana_media_type_is_index(mt);
                (void)lana_media_type_is_manifest(mt);
        }
        return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *j = NULL;
        struct lana_error *e = NULL;
        int r = lana_json_parse_object((const char *)data, size, &j, &e);
        if (checked("lana_json_parse_object", r, e) < 0)
                return 0;
        if (!json_is_object(j))
                fail("lana_json_parse_object", "returned a non-object");

        struct verdicts v1 = validate(j);

        size_t len = 0;
        char *canon = lana_json_canonical(j, &len);
        if (strlen(canon) != len)
                fail("lana_json_canonical", "length does not match the string");

        json_t *j2 = NULL;
        e = NULL;
        if (lana_json_parse_object(canon, len, &j2, &e) < 0) {
                fprintf(stderr, "%s\n", canon);
                fail("canonical form does not parse", e ? e->msg : NULL);
        }
        size_t len2 = 0;
        char *canon2 = lana_json_canonical(j2, &len2);
        if (len != len2 || memcmp(canon, canon2, len) != 0) {
                fprintf(stderr, "%s\n%s\n", canon, canon2);
                fail("lana_json_canonical", "canonical form is not a fixed point");
        }
        struct verdicts v2 = validate(j2);
        if (memcmp(&v1, &v2, sizeof v1) != 0)
                fail("validators", "verdict changes on the canonical form");

        free(canon2);
        free(canon);
        json_decref(j2);
        json_decref(j);
        return 0;
}
