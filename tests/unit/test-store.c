/*
 * test-store.c — OCI image layouts and the store, on real directories under a fresh mkdtemp.
 * Covers the on-disk shape of a new layout, blob publication (hash-named, verified on read, never
 * published on a digest mismatch, no temp files left behind), refs in index.json (set, replace,
 * resolve, remove, list, canonical and sorted, refusing missing blobs), platform selection in an
 * index, tree copies, garbage collection (keeps everything reachable, removes orphans and temp
 * files, never deletes on doubt), fsck (corrupted and missing blobs counted through the
 * callback), archive export/import (round trip, only layout members, no path traversal), image
 * names (oci:DIR[:REF], oci-archive:FILE[:REF], store refs and digests), resumable partial
 * blobs, the build cache (a stale entry is a miss, prune drops entries with their blobs) and
 * store prune.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "lana/store.h"
#include "fs-util.h"

/* ---- fixture: one temporary directory per test ---- */

struct fx {
        char dir[256];
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof *f);
        assert_non_null(f);
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof f->dir, "%s/lana-test-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        rm_rf_at(AT_FDCWD, f->dir);
        free(f);
        return 0;
}

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *p = NULL;
        assert_true(vasprintf(&p, fmt, ap) >= 0);
        va_end(ap);
        return p;
}

static bool exists(const char *p)
{
        struct stat st;
        return lstat(p, &st) == 0;
}

static char *slurp(const char *p, size_t *ret_len)
{
        char *data = NULL;
        size_t len = 0;
        if (read_file_at(AT_FDCWD, p, 64 << 20, &data, &len, NULL) < 0)
                fail_msg("cannot read %s", p);
        if (ret_len)
                *ret_len = len;
        return data;
}

static void spit(const char *p, const void *data, size_t len)
{
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write_full(fd, data, len), 0);
        close(fd);
}

/* Number of entries in a directory (without . and ..); the first name is copied out. */
static int count_entries(const char *dir, char *first, size_t first_len)
{
        DIR *d = opendir(dir);
        assert_non_null(d);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (n == 0 && first)
                        snprintf(first, first_len, "%s", de->d_name);
                n++;
        }
        closedir(d);
        return n;
}

static struct lana_layout *open_layout(const char *path, bool create)
{
        struct lana_layout *l = NULL;
        struct lana_error *e = NULL;
        if (lana_layout_open(path, create, &l, &e) < 0)
                fail_msg("open %s: %s", path, e ? e->msg : "?");
        return l;
}

/* ---- a tiny hand-built image: one layer, one config, one manifest ---- */

struct image {
        struct lana_digest layer, config, manifest;
        size_t layer_len, config_len, manifest_len;
        json_t *desc; /* manifest descriptor */
};

static void put_json(struct lana_layout *l, json_t *j, struct lana_digest *d, size_t *len)
{
        char *s = lana_json_canonical(j, len);
        struct lana_error *e = NULL;
        if (lana_layout_put_blob(l, s, *len, d, &e) < 0)
                fail_msg("put: %s", e ? e->msg : "?");
        free(s);
        json_decref(j);
}

/* A plain tar layer holding one file, /seed, whose content names the seed; fsck reads layers
 * through to their diff_id, so they must be real tar streams. */
static void make_layer(const char *seed, char *buf, size_t cap, size_t *ret_len)
{
        char data[128];
        snprintf(data, sizeof data, "layer bytes of %s", seed);
        struct archive *a = archive_write_new();
        assert_non_null(a);
        archive_write_set_format_pax_restricted(a);
        archive_write_set_bytes_per_block(a, 0);
        assert_int_equal(archive_write_open_memory(a, buf, cap, ret_len), ARCHIVE_OK);
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, "seed");
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_size(ae, (la_int64_t)strlen(data));
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, data, strlen(data)), (la_ssize_t)strlen(data));
        archive_entry_free(ae);
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

static void make_image(struct lana_layout *l, const char *seed, const char *arch, struct image *img)
{
        char layer[4096];
        make_layer(seed, layer, sizeof layer, &img->layer_len);
        assert_int_equal(lana_layout_put_blob(l, layer, img->layer_len, &img->layer, NULL), 0);
        json_t *cfg = json_pack("{s:s,s:s,s:{s:s},s:{s:s,s:[s]}}", "architecture", arch, "os",
                                "linux", "config", "User", seed, "rootfs", "type", "layers",
                                "diff_ids", img->layer.str);
        put_json(l, cfg, &img->config, &img->config_len);
        json_t *m = json_object();
        json_object_set_new(m, "schemaVersion", json_integer(2));
        json_object_set_new(m, "mediaType", json_string(LANA_MT_OCI_MANIFEST));
        json_object_set_new(m, "config",
                            lana_descriptor_new(LANA_MT_OCI_CONFIG, &img->config, img->config_len));
        json_t *layers = json_array();
        json_array_append_new(layers,
                              lana_descriptor_new(LANA_MT_OCI_LAYER, &img->layer, img->layer_len));
        json_object_set_new(m, "layers", layers);
        put_json(l, m, &img->manifest, &img->manifest_len);
        img->desc = lana_descriptor_new(LANA_MT_OCI_MANIFEST, &img->manifest, img->manifest_len);
}

/* An index over two images (amd64, arm64); returns its descriptor. */
static json_t *make_index(struct lana_layout *l, struct image *amd, struct image *arm,
                          struct lana_digest *ret)
{
        make_image(l, "amd", "amd64", amd);
        make_image(l, "arm", "arm64", arm);
        json_t *ms = json_array();
        json_t *d1 = json_deep_copy(amd->desc), *d2 = json_deep_copy(arm->desc);
        json_object_set_new(d1, "platform",
                            json_pack("{s:s,s:s}", "architecture", "amd64", "os", "linux"));
        json_object_set_new(d2, "platform",
                            json_pack("{s:s,s:s,s:s}", "architecture", "arm64", "os", "linux",
                                      "variant", "v8"));
        json_array_append_new(ms, d1);
        json_array_append_new(ms, d2);
        json_t *idx = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType", LANA_MT_OCI_INDEX,
                                "manifests", ms);
        size_t len;
        put_json(l, idx, ret, &len);
        return lana_descriptor_new(LANA_MT_OCI_INDEX, ret, len);
}

static void release_image(struct image *img)
{
        json_decref(img->desc);
}

static char *blob_path(const char *layout, const struct lana_digest *d)
{
        return pathf("%s/blobs/sha256/%s", layout, d->hex);
}

/* ---- layout creation ---- */

static void test_layout_create(void **state)
{
        struct fx *f = *state;
        char *p = pathf("%s/a/b/layout", f->dir);
        struct lana_layout *l = open_layout(p, true);
        assert_string_equal(lana_layout_path(l), p);

        char *x = pathf("%s/oci-layout", p);
        size_t len;
        char *data = slurp(x, &len);
        json_t *j = NULL;
        assert_int_equal(lana_json_parse_object(data, len, &j, NULL), 0);
        assert_string_equal(json_string_value(json_object_get(j, "imageLayoutVersion")), "1.0.0");
        json_decref(j);
        free(data);
        free(x);

        x = pathf("%s/index.json", p);
        data = slurp(x, &len);
        assert_int_equal(lana_json_parse_object(data, len, &j, NULL), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "schemaVersion")), 2);
        assert_true(json_is_array(json_object_get(j, "manifests")));
        assert_int_equal(json_array_size(json_object_get(j, "manifests")), 0);
        json_decref(j);
        free(data);
        free(x);

        x = pathf("%s/blobs/sha256", p);
        struct stat st;
        assert_int_equal(stat(x, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(count_entries(x, NULL, 0), 0);
        free(x);
        /* nothing else, in particular no temp file */
        assert_int_equal(count_entries(p, NULL, 0), 3);
        lana_layout_free(l);

        /* opening again, with or without create, keeps what is there */
        l = open_layout(p, false);
        struct image img;
        make_image(l, "one", "amd64", &img);
        assert_int_equal(lana_layout_set_ref(l, "v1", img.desc, NULL), 0);
        lana_layout_free(l);
        l = open_layout(p, true);
        json_t *got = NULL;
        assert_int_equal(lana_layout_resolve(l, "v1", &got, NULL), 0);
        json_decref(got);
        release_image(&img);
        assert_null(lana_layout_free(l));
        assert_null(lana_layout_free(NULL));
        free(p);
}

static void test_layout_open_missing(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = NULL;
        struct lana_error *e = NULL;
        char *p = pathf("%s/nope", f->dir);
        assert_int_equal(lana_layout_open(p, false, &l, &e), -ENOENT);
        assert_non_null(e);
        assert_null(l);
        assert_false(exists(p));
        e = lana_error_free(e);
        free(p);

        /* a plain directory is not a layout */
        assert_int_equal(lana_layout_open(f->dir, false, &l, &e), -ENOENT);
        assert_non_null(strstr(e->msg, f->dir));
        e = lana_error_free(e);
        p = pathf("%s/index.json", f->dir);
        assert_false(exists(p));
        free(p);

        /* a regular file is not a directory */
        p = pathf("%s/file", f->dir);
        spit(p, "x", 1);
        assert_true(lana_layout_open(p, false, &l, &e) < 0);
        e = lana_error_free(e);
        assert_true(lana_layout_open(p, true, &l, &e) < 0);
        lana_error_free(e);
        free(p);
}

static void test_layout_open_invalid(void **state)
{
        struct fx *f = *state;
        /* store.h: -EBADMSG when the directory is not a valid layout */
        char *p = pathf("%s/oci-layout", f->dir);
        spit(p, "this is not json", 16);
        struct lana_layout *l = NULL;
        struct lana_error *e = NULL;
        int r = lana_layout_open(f->dir, false, &l, &e);
        lana_layout_free(l);
        lana_error_free(e);
        spit(p, "{\"imageLayoutVersion\":\"9.9.9\"}", 30);
        free(p);
        assert_int_equal(r, -EBADMSG);
        e = NULL;
        l = NULL;
        r = lana_layout_open(f->dir, false, &l, &e);
        lana_layout_free(l);
        lana_error_free(e);
        assert_int_equal(r, -EBADMSG);
}

/* ---- blobs ---- */

static void test_blob_roundtrip(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct lana_digest d, want;
        struct lana_error *e = NULL;
        assert_int_equal(lana_layout_put_blob(l, "hello", 5, &d, &e), 0);
        lana_digest_buffer("hello", 5, &want);
        assert_true(lana_digest_equal(&d, &want));
        assert_true(lana_layout_has_blob(l, &d));

        char *bp = blob_path(f->dir, &d);
        struct stat st;
        assert_int_equal(stat(bp, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(st.st_size, 5);
        free(bp);

        char *data = NULL;
        size_t len = 0;
        assert_int_equal(lana_layout_read_blob(l, &d, 100, &data, &len, &e), 0);
        assert_int_equal(len, 5);
        assert_memory_equal(data, "hello", 5);
        assert_int_equal(data[5], '\0');
        free(data);

        /* bounded reads */
        data = NULL;
        assert_int_equal(lana_layout_read_blob(l, &d, 4, &data, &len, &e), -E2BIG);
        assert_null(data);
        e = lana_error_free(e);

        /* idempotent */
        assert_int_equal(lana_layout_put_blob(l, "hello", 5, NULL, &e), 0);
        char *dir = pathf("%s/blobs/sha256", f->dir);
        assert_int_equal(count_entries(dir, NULL, 0), 1);

        int fd = -1;
        uint64_t size = 0;
        assert_int_equal(lana_layout_open_blob(l, &d, &fd, &size, &e), 0);
        assert_int_equal(size, 5);
        char buf[8];
        assert_int_equal(read(fd, buf, sizeof buf), 5);
        close(fd);

        /* empty blob */
        assert_int_equal(lana_layout_put_blob(l, "", 0, &d, &e), 0);
        assert_int_equal(lana_layout_read_blob(l, &d, 10, &data, &len, &e), 0);
        assert_int_equal(len, 0);
        free(data);
        assert_int_equal(count_entries(dir, NULL, 0), 2);

        /* missing */
        lana_digest_buffer("absent", 6, &d);
        assert_false(lana_layout_has_blob(l, &d));
        assert_int_equal(lana_layout_read_blob(l, &d, 10, &data, &len, &e), -ENOENT);
        assert_non_null(strstr(e->msg, d.str));
        e = lana_error_free(e);
        assert_int_equal(lana_layout_open_blob(l, &d, &fd, &size, &e), -ENOENT);
        lana_error_free(e);
        free(dir);
        lana_layout_free(l);
}

static void test_read_blob_corrupted(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct lana_digest d;
        const char *doc = "{\"a\":1}";
        assert_int_equal(lana_layout_put_blob(l, doc, strlen(doc), &d, NULL), 0);
        char *bp = blob_path(f->dir, &d);
        spit(bp, "{\"a\":2}", 7);
        char *data = NULL;
        size_t len;
        struct lana_error *e = NULL;
        assert_int_equal(lana_layout_read_blob(l, &d, 100, &data, &len, &e), -EBADMSG);
        assert_null(data);
        assert_non_null(e);
        assert_int_equal(e->code, -EBADMSG);
        assert_non_null(strstr(e->msg, d.str));
        e = lana_error_free(e);
        json_t *j = NULL;
        assert_int_equal(lana_layout_read_json(l, &d, &j, &e), -EBADMSG);
        assert_null(j);
        lana_error_free(e);
        free(bp);
        lana_layout_free(l);
}

static void test_blob_writer_commit(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct lana_blob_writer *bw = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(lana_blob_writer_new(l, &bw, &e), 0);
        struct lana_writer *w = lana_blob_writer_stream(bw);
        const char *parts[] = {"a", "bc", "", "defg"};
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(lana_writer_write(w, parts[i], strlen(parts[i]), &e), 0);
        struct lana_digest want, got;
        lana_digest_buffer("abcdefg", 7, &want);
        uint64_t size = 0;
        assert_int_equal(lana_blob_writer_commit(bw, &want, &got, &size, &e), 0);
        assert_true(lana_digest_equal(&got, &want));
        assert_int_equal(size, 7);
        assert_null(lana_blob_writer_free(bw));
        assert_null(lana_blob_writer_free(NULL));
        char *dir = pathf("%s/blobs/sha256", f->dir);
        char name[256];
        assert_int_equal(count_entries(dir, name, sizeof name), 1);
        assert_string_equal(name, want.hex);
        free(dir);

        /* without an expected digest, whatever was written is published */
        assert_int_equal(lana_blob_writer_new(l, &bw, &e), 0);
        assert_int_equal(lana_writer_write(lana_blob_writer_stream(bw), "xyz", 3, &e), 0);
        assert_int_equal(lana_blob_writer_commit(bw, NULL, &got, NULL, &e), 0);
        lana_blob_writer_free(bw);
        lana_digest_buffer("xyz", 3, &want);
        assert_true(lana_digest_equal(&got, &want));
        assert_true(lana_layout_has_blob(l, &want));
        assert_null(e);
        lana_layout_free(l);
}

static void test_blob_writer_wrong_digest(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct lana_blob_writer *bw = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(lana_blob_writer_new(l, &bw, &e), 0);
        assert_int_equal(lana_writer_write(lana_blob_writer_stream(bw), "actual", 6, &e), 0);
        struct lana_digest expect, actual;
        lana_digest_buffer("expected", 8, &expect);
        lana_digest_buffer("actual", 6, &actual);
        int r = lana_blob_writer_commit(bw, &expect, NULL, NULL, &e);
        assert_int_equal(r, -EBADMSG);
        assert_non_null(e);
        assert_non_null(strstr(e->msg, expect.str));
        lana_error_free(e);
        /* nothing published under either name */
        assert_false(lana_layout_has_blob(l, &expect));
        assert_false(lana_layout_has_blob(l, &actual));
        lana_blob_writer_free(bw);
        char *dir = pathf("%s/blobs/sha256", f->dir);
        assert_int_equal(count_entries(dir, NULL, 0), 0);

        /* an abandoned writer leaves nothing either */
        assert_int_equal(lana_blob_writer_new(l, &bw, NULL), 0);
        assert_int_equal(lana_writer_write(lana_blob_writer_stream(bw), "zz", 2, NULL), 0);
        assert_int_equal(count_entries(dir, NULL, 0), 1); /* the temp file */
        lana_blob_writer_free(bw);
        assert_int_equal(count_entries(dir, NULL, 0), 0);
        free(dir);
        lana_layout_free(l);
}

/* ---- refs ---- */

static const char *ref_name(json_t *d)
{
        return json_string_value(
                json_object_get(json_object_get(d, "annotations"), LANA_ANNOT_REF_NAME));
}

static void test_refs(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct image a, b;
        make_image(l, "a", "amd64", &a);
        make_image(l, "b", "amd64", &b);
        struct lana_error *e = NULL;

        assert_int_equal(lana_layout_set_ref(l, "v1", a.desc, &e), 0);
        /* the caller's descriptor is copied, not annotated in place */
        assert_null(json_object_get(a.desc, "annotations"));
        json_t *got = NULL;
        assert_int_equal(lana_layout_resolve(l, "v1", &got, &e), 0);
        assert_string_equal(ref_name(got), "v1");
        assert_string_equal(json_string_value(json_object_get(got, "digest")), a.manifest.str);
        assert_int_equal(json_integer_value(json_object_get(got, "size")), a.manifest_len);
        json_decref(got);

        /* same name: replaced, not duplicated */
        assert_int_equal(lana_layout_set_ref(l, "v1", b.desc, &e), 0);
        json_t *list = NULL;
        assert_int_equal(lana_layout_list(l, &list, &e), 0);
        assert_int_equal(json_array_size(list), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "digest")),
                            b.manifest.str);
        json_decref(list);

        /* listed sorted by name whatever the insertion order */
        assert_int_equal(lana_layout_set_ref(l, "a-first", a.desc, &e), 0);
        assert_int_equal(lana_layout_list(l, &list, &e), 0);
        assert_int_equal(json_array_size(list), 2);
        assert_string_equal(ref_name(json_array_get(list, 0)), "a-first");
        assert_string_equal(ref_name(json_array_get(list, 1)), "v1");
        json_decref(list);

        /* with two images, an unnamed lookup is ambiguous */
        assert_int_equal(lana_layout_resolve(l, NULL, &got, &e), -EINVAL);
        e = lana_error_free(e);

        assert_int_equal(lana_layout_remove_ref(l, "v1", &e), 0);
        assert_int_equal(lana_layout_resolve(l, "v1", &got, &e), -ENOENT);
        assert_non_null(strstr(e->msg, "v1"));
        e = lana_error_free(e);
        assert_int_equal(lana_layout_remove_ref(l, "v1", &e), -ENOENT);
        e = lana_error_free(e);

        /* one image left: the unnamed lookup finds it */
        assert_int_equal(lana_layout_resolve(l, NULL, &got, &e), 0);
        assert_string_equal(ref_name(got), "a-first");
        json_decref(got);

        /* removing refs never removes blobs */
        assert_true(lana_layout_has_blob(l, &b.manifest));
        assert_int_equal(lana_layout_remove_ref(l, "a-first", &e), 0);
        assert_int_equal(lana_layout_resolve(l, NULL, &got, &e), -ENOENT);
        lana_error_free(e);
        release_image(&a);
        release_image(&b);
        lana_layout_free(l);
}

static void test_index_json_is_canonical(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct image a;
        make_image(l, "a", "amd64", &a);
        assert_int_equal(lana_layout_set_ref(l, "zz", a.desc, NULL), 0);
        assert_int_equal(lana_layout_set_ref(l, "aa", a.desc, NULL), 0);
        char *p = pathf("%s/index.json", f->dir);
        size_t len;
        char *data = slurp(p, &len);
        json_t *j = NULL;
        assert_int_equal(lana_json_parse_object(data, len, &j, NULL), 0);
        size_t clen;
        char *canon = lana_json_canonical(j, &clen);
        assert_int_equal(clen, len);
        assert_memory_equal(canon, data, len);
        assert_string_equal(json_string_value(json_object_get(j, "mediaType")), LANA_MT_OCI_INDEX);
        assert_int_equal(json_integer_value(json_object_get(j, "schemaVersion")), 2);
        assert_int_equal(lana_index_validate(j, NULL), 0);
        json_t *ms = json_object_get(j, "manifests");
        assert_string_equal(ref_name(json_array_get(ms, 0)), "aa");
        assert_string_equal(ref_name(json_array_get(ms, 1)), "zz");
        free(canon);
        json_decref(j);
        free(data);
        /* no temp file left next to index.json */
        assert_int_equal(count_entries(f->dir, NULL, 0), 3);
        free(p);
        release_image(&a);
        lana_layout_free(l);
}

static void test_set_ref_refuses_missing_blob(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        char *p = pathf("%s/index.json", f->dir);
        size_t before_len;
        char *before = slurp(p, &before_len);
        struct lana_digest d;
        lana_digest_buffer("never stored", 12, &d);
        json_t *desc = lana_descriptor_new(LANA_MT_OCI_MANIFEST, &d, 12);
        struct lana_error *e = NULL;
        assert_int_equal(lana_layout_set_ref(l, "x", desc, &e), -ENOENT);
        assert_non_null(strstr(e->msg, d.str));
        e = lana_error_free(e);
        json_decref(desc);

        /* malformed descriptors too */
        desc = json_pack("{s:s}", "mediaType", LANA_MT_OCI_MANIFEST);
        assert_true(lana_layout_set_ref(l, "x", desc, &e) < 0);
        e = lana_error_free(e);
        json_decref(desc);

        size_t after_len;
        char *after = slurp(p, &after_len);
        assert_int_equal(after_len, before_len);
        assert_memory_equal(after, before, before_len);
        free(before);
        free(after);
        free(p);
        lana_layout_free(l);
}

static void test_select_manifest(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct image amd, arm;
        struct lana_digest idig;
        json_t *idesc = make_index(l, &amd, &arm, &idig);
        struct lana_platform p;
        json_t *got = NULL;
        struct lana_error *e = NULL;

        lana_platform_parse("linux/arm64", &p, NULL);
        assert_int_equal(lana_layout_select_manifest(l, idesc, &p, &got, &e), 0);
        assert_string_equal(json_string_value(json_object_get(got, "digest")), arm.manifest.str);
        json_decref(got);
        lana_platform_parse("linux/amd64", &p, NULL);
        assert_int_equal(lana_layout_select_manifest(l, idesc, &p, &got, &e), 0);
        assert_string_equal(json_string_value(json_object_get(got, "digest")), amd.manifest.str);
        json_decref(got);
        lana_platform_parse("linux/s390x", &p, NULL);
        assert_int_equal(lana_layout_select_manifest(l, idesc, &p, &got, &e), -ENOENT);
        assert_non_null(strstr(e->msg, "linux/s390x"));
        e = lana_error_free(e);
        /* a manifest descriptor is returned as is */
        assert_int_equal(lana_layout_select_manifest(l, amd.desc, &p, &got, &e), 0);
        assert_true(json_equal(got, amd.desc));
        json_decref(got);
        json_decref(idesc);
        release_image(&amd);
        release_image(&arm);
        lana_layout_free(l);
}

static void test_copy_tree(void **state)
{
        struct fx *f = *state;
        char *src_p = pathf("%s/src", f->dir), *dst_p = pathf("%s/dst", f->dir);
        struct lana_layout *src = open_layout(src_p, true), *dst = open_layout(dst_p, true);
        struct image amd, arm;
        struct lana_digest idig;
        json_t *idesc = make_index(src, &amd, &arm, &idig);
        struct lana_error *e = NULL;
        assert_int_equal(lana_layout_copy_tree(dst, src, idesc, &e), 0);
        const struct lana_digest *all[] = {&idig,         &amd.manifest, &amd.config, &amd.layer,
                                           &arm.manifest, &arm.config,   &arm.layer};
        for (size_t i = 0; i < 7; i++)
                assert_true(lana_layout_has_blob(dst, all[i]));
        char *dir = pathf("%s/blobs/sha256", dst_p);
        assert_int_equal(count_entries(dir, NULL, 0), 7);
        free(dir);
        /* a second copy is a no-op */
        assert_int_equal(lana_layout_copy_tree(dst, src, idesc, &e), 0);
        assert_null(e);
        json_decref(idesc);
        release_image(&amd);
        release_image(&arm);
        lana_layout_free(src);
        lana_layout_free(dst);
        free(src_p);
        free(dst_p);
}

/* ---- gc ---- */

static void test_gc(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct image img, amd, arm;
        make_image(l, "kept", "amd64", &img);
        struct lana_digest idig;
        json_t *idesc = make_index(l, &amd, &arm, &idig);
        struct lana_error *e = NULL;
        assert_int_equal(lana_layout_set_ref(l, "img", img.desc, &e), 0);
        assert_int_equal(lana_layout_set_ref(l, "multi", idesc, &e), 0);

        struct lana_digest orphan;
        const char *orphan_data = "nobody points at me";
        assert_int_equal(lana_layout_put_blob(l, orphan_data, strlen(orphan_data), &orphan, &e), 0);
        char *tmp = pathf("%s/blobs/sha256/.blob.tmp-deadbeef0000", f->dir);
        spit(tmp, "partial", 7);

        uint64_t blobs = 99, bytes = 99;
        assert_int_equal(lana_layout_gc(l, &blobs, &bytes, &e), 0);
        assert_int_equal(blobs, 1);
        assert_int_equal(bytes, strlen(orphan_data));
        assert_false(lana_layout_has_blob(l, &orphan));
        assert_false(exists(tmp));
        const struct lana_digest *live[] = {&img.manifest, &img.config, &img.layer, &idig,
                                            &amd.manifest, &amd.config, &amd.layer, &arm.manifest,
                                            &arm.config,   &arm.layer};
        for (size_t i = 0; i < 10; i++)
                assert_true(lana_layout_has_blob(l, live[i]));
        char *dir = pathf("%s/blobs/sha256", f->dir);
        assert_int_equal(count_entries(dir, NULL, 0), 10);

        /* nothing left to collect */
        assert_int_equal(lana_layout_gc(l, &blobs, &bytes, &e), 0);
        assert_int_equal(blobs, 0);
        assert_int_equal(bytes, 0);

        /* a ref whose tree is broken keeps what can still be reached */
        char *layer = blob_path(f->dir, &img.layer);
        assert_int_equal(unlink(layer), 0);
        assert_int_equal(lana_layout_gc(l, &blobs, NULL, &e), 0);
        assert_int_equal(blobs, 0);
        assert_true(lana_layout_has_blob(l, &img.manifest));
        assert_true(lana_layout_has_blob(l, &img.config));

        /* dropping the refs makes everything collectable */
        assert_int_equal(lana_layout_remove_ref(l, "img", &e), 0);
        assert_int_equal(lana_layout_remove_ref(l, "multi", &e), 0);
        assert_int_equal(lana_layout_gc(l, &blobs, NULL, &e), 0);
        assert_int_equal(blobs, 9);
        assert_int_equal(count_entries(dir, NULL, 0), 0);
        assert_null(e);
        free(dir);
        free(layer);
        free(tmp);
        json_decref(idesc);
        release_image(&img);
        release_image(&amd);
        release_image(&arm);
        lana_layout_free(l);
}

static void test_gc_keeps_healthy_sibling(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct image amd, arm;
        struct lana_digest idig;
        json_t *idesc = make_index(l, &amd, &arm, &idig);
        assert_int_equal(lana_layout_set_ref(l, "multi", idesc, NULL), 0);
        /* the first platform's manifest is lost: the second platform must survive gc */
        char *m = blob_path(f->dir, &amd.manifest);
        assert_int_equal(unlink(m), 0);
        free(m);
        uint64_t blobs = 99;
        struct lana_error *e = NULL;
        assert_int_equal(lana_layout_gc(l, &blobs, NULL, &e), 0);
        assert_true(lana_layout_has_blob(l, &idig));
        assert_true(lana_layout_has_blob(l, &arm.manifest));
        assert_true(lana_layout_has_blob(l, &arm.config));
        assert_true(lana_layout_has_blob(l, &arm.layer));
        assert_null(e);
        json_decref(idesc);
        release_image(&amd);
        release_image(&arm);
        lana_layout_free(l);
}

/* ---- partial blobs (resumable downloads) ---- */

static void test_partial_blobs(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        const char *content = "the whole blob, delivered in two pieces";
        size_t n = strlen(content), half = n / 2;
        struct lana_digest d;
        lana_digest_buffer(content, n, &d);
        struct lana_error *e = NULL;
        int fd = -1;
        uint64_t size = 99;
        assert_int_equal(lana_layout_partial_open(l, &d, &fd, &size, &e), 0);
        assert_int_equal(size, 0);
        assert_int_equal(write_full(fd, content, half), 0);
        close(fd);
        /* not a blob yet */
        assert_false(lana_layout_has_blob(l, &d));

        /* an interrupted download resumes where it stopped */
        assert_int_equal(lana_layout_partial_open(l, &d, &fd, &size, &e), 0);
        assert_int_equal(size, half);
        assert_true(lseek(fd, 0, SEEK_END) == (off_t)half);
        assert_int_equal(write_full(fd, content + half, n - half), 0);
        assert_int_equal(lana_layout_partial_commit(l, &d, fd, &e), 0);
        close(fd);
        assert_true(lana_layout_has_blob(l, &d));
        char *data = NULL;
        size_t len;
        assert_int_equal(lana_layout_read_blob(l, &d, 100, &data, &len, &e), 0);
        assert_int_equal(len, n);
        assert_memory_equal(data, content, n);
        free(data);
        char *dir = pathf("%s/blobs/sha256", f->dir);
        assert_int_equal(count_entries(dir, NULL, 0), 1);

        /* wrong content: refused, and the partial file is dropped */
        struct lana_digest other;
        lana_digest_buffer("other", 5, &other);
        assert_int_equal(lana_layout_partial_open(l, &other, &fd, &size, &e), 0);
        assert_int_equal(write_full(fd, "not other", 9), 0);
        assert_int_equal(lana_layout_partial_commit(l, &other, fd, &e), -EBADMSG);
        close(fd);
        e = lana_error_free(e);
        assert_false(lana_layout_has_blob(l, &other));
        assert_int_equal(count_entries(dir, NULL, 0), 1);

        /* discard, and gc of an abandoned partial */
        assert_int_equal(lana_layout_partial_open(l, &other, &fd, &size, &e), 0);
        close(fd);
        assert_int_equal(count_entries(dir, NULL, 0), 2);
        lana_layout_partial_discard(l, &other);
        assert_int_equal(count_entries(dir, NULL, 0), 1);
        assert_int_equal(lana_layout_partial_open(l, &other, &fd, &size, &e), 0);
        close(fd);
        json_t *keep = lana_descriptor_new(LANA_MT_OCI_LAYER, &d, n);
        assert_int_equal(lana_layout_set_ref(l, "keep", keep, &e), 0);
        json_decref(keep);
        assert_int_equal(lana_layout_gc(l, NULL, NULL, &e), 0);
        assert_int_equal(count_entries(dir, NULL, 0), 1);
        assert_true(lana_layout_has_blob(l, &d));
        assert_null(e);
        free(dir);
        lana_layout_free(l);
}

/* ---- fsck ---- */

struct faults {
        int n;
        char last[512];
};

static void on_fault(void *ud, const char *msg)
{
        struct faults *fl = ud;
        fl->n++;
        snprintf(fl->last, sizeof fl->last, "%s", msg);
}

static void test_fsck(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct image a, b;
        make_image(l, "a", "amd64", &a);
        make_image(l, "b", "arm64", &b);
        assert_int_equal(lana_layout_set_ref(l, "a", a.desc, NULL), 0);
        assert_int_equal(lana_layout_set_ref(l, "b", b.desc, NULL), 0);
        struct faults fl = {0};
        struct lana_error *e = NULL;
        assert_int_equal(lana_layout_fsck(l, on_fault, &fl, &e), 0);
        assert_int_equal(fl.n, 0);

        /* a corrupted layer of the same size: found by re-hashing */
        char *la = blob_path(f->dir, &a.layer);
        size_t len;
        char *orig = slurp(la, &len);
        char *bad = malloc(len); /* a tar: NUL bytes inside */
        assert_non_null(bad);
        memcpy(bad, orig, len);
        bad[0] ^= 1;
        spit(la, bad, len);
        fl = (struct faults){0};
        assert_int_equal(lana_layout_fsck(l, on_fault, &fl, &e), 1);
        assert_int_equal(fl.n, 1);
        assert_non_null(strstr(fl.last, a.layer.str));

        /* plus a missing layer of the other image */
        char *lb = blob_path(f->dir, &b.layer);
        assert_int_equal(unlink(lb), 0);
        fl = (struct faults){0};
        assert_int_equal(lana_layout_fsck(l, on_fault, &fl, &e), 2);
        assert_int_equal(fl.n, 2);

        /* repaired corruption: only the missing layer remains, and it is named */
        spit(la, orig, len);
        fl = (struct faults){0};
        assert_int_equal(lana_layout_fsck(l, on_fault, &fl, &e), 1);
        assert_non_null(strstr(fl.last, b.layer.str));
        assert_non_null(strstr(fl.last, "missing"));

        /* no callback: still counted */
        assert_int_equal(lana_layout_fsck(l, NULL, NULL, &e), 1);

        /* a stray file whose name is not a digest */
        char *junk = pathf("%s/blobs/sha256/junk", f->dir);
        spit(junk, "j", 1);
        fl = (struct faults){0};
        assert_int_equal(lana_layout_fsck(l, on_fault, &fl, &e), 2);
        assert_null(e);
        free(junk);
        free(orig);
        free(bad);
        free(la);
        free(lb);
        release_image(&a);
        release_image(&b);
        lana_layout_free(l);
}

/* ---- archives ---- */

static void assert_same_file(const char *a, const char *b)
{
        size_t la, lb;
        char *da = slurp(a, &la), *db = slurp(b, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(da, db, la);
        free(da);
        free(db);
}

static void test_export_import(void **state)
{
        struct fx *f = *state;
        char *src = pathf("%s/src", f->dir);
        struct lana_layout *l = open_layout(src, true);
        struct image img, amd, arm;
        struct lana_digest idig;
        make_image(l, "one", "amd64", &img);
        json_t *idesc = make_index(l, &amd, &arm, &idig);
        struct lana_error *e = NULL;
        assert_int_equal(lana_layout_set_ref(l, "one", img.desc, &e), 0);
        assert_int_equal(lana_layout_set_ref(l, "multi", idesc, &e), 0);
        struct lana_digest orphan;
        assert_int_equal(lana_layout_put_blob(l, "orphan", 6, &orphan, &e), 0);

        char *ar = pathf("%s/out.tar", f->dir);
        assert_int_equal(lana_layout_export_archive(l, ar, &e), 0);
        /* only the archive was added next to the layout, no temp file */
        assert_int_equal(count_entries(f->dir, NULL, 0), 2);

        /* exporting again gives the same bytes */
        char *ar2 = pathf("%s/out2.tar", f->dir);
        assert_int_equal(lana_layout_export_archive(l, ar2, &e), 0);
        assert_same_file(ar, ar2);

        char *dst = pathf("%s/imported", f->dir);
        assert_int_equal(mkdir(dst, 0755), 0);
        assert_int_equal(lana_layout_import_archive(ar, dst, &e), 0);
        assert_null(e);

        char *x = pathf("%s/index.json", src), *y = pathf("%s/index.json", dst);
        assert_same_file(x, y);
        free(x);
        free(y);
        x = pathf("%s/oci-layout", src);
        y = pathf("%s/oci-layout", dst);
        assert_same_file(x, y);
        free(x);
        free(y);
        const struct lana_digest *live[] = {&img.manifest, &img.config, &img.layer, &idig,
                                            &amd.manifest, &amd.config, &amd.layer, &arm.manifest,
                                            &arm.config,   &arm.layer};
        for (size_t i = 0; i < 10; i++) {
                x = blob_path(src, live[i]);
                y = blob_path(dst, live[i]);
                assert_same_file(x, y);
                free(x);
                free(y);
        }
        x = blob_path(dst, &orphan);
        assert_false(exists(x));
        free(x);
        x = pathf("%s/blobs/sha256", dst);
        assert_int_equal(count_entries(x, NULL, 0), 10);
        free(x);

        /* the import is a working layout */
        struct lana_layout *l2 = open_layout(dst, false);
        json_t *got = NULL;
        assert_int_equal(lana_layout_resolve(l2, "one", &got, &e), 0);
        assert_string_equal(json_string_value(json_object_get(got, "digest")), img.manifest.str);
        json_decref(got);
        struct faults fl = {0};
        assert_int_equal(lana_layout_fsck(l2, on_fault, &fl, &e), 0);
        lana_layout_free(l2);

        json_decref(idesc);
        release_image(&img);
        release_image(&amd);
        release_image(&arm);
        lana_layout_free(l);
        free(src);
        free(dst);
        free(ar);
        free(ar2);
}

/* Writes a tar archive of (name, data) pairs with libarchive. */
static void write_tar(const char *path, const char *const *names, const char *const *datas,
                      size_t n)
{
        struct archive *a = archive_write_new();
        assert_non_null(a);
        archive_write_set_format_pax_restricted(a);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *ae = archive_entry_new();
                archive_entry_set_pathname(ae, names[i]);
                archive_entry_set_filetype(ae, AE_IFREG);
                archive_entry_set_perm(ae, 0644);
                archive_entry_set_size(ae, (la_int64_t)strlen(datas[i]));
                assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
                assert_int_equal(archive_write_data(a, datas[i], strlen(datas[i])),
                                 (la_ssize_t)strlen(datas[i]));
                archive_entry_free(ae);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

static void test_import_rejects(void **state)
{
        struct fx *f = *state;
        struct lana_error *e = NULL;

        /* not an OCI archive */
        char *ar = pathf("%s/plain.tar", f->dir);
        const char *n1[] = {"hello.txt"}, *d1[] = {"hi"};
        write_tar(ar, n1, d1, 1);
        char *dst = pathf("%s/d1", f->dir);
        assert_int_equal(mkdir(dst, 0755), 0);
        assert_int_equal(lana_layout_import_archive(ar, dst, &e), -EBADMSG);
        e = lana_error_free(e);
        free(ar);
        free(dst);

        /* not a tar at all */
        ar = pathf("%s/garbage.tar", f->dir);
        char junk[4096];
        memset(junk, 'G', sizeof junk);
        spit(ar, junk, sizeof junk);
        dst = pathf("%s/d2", f->dir);
        assert_int_equal(mkdir(dst, 0755), 0);
        assert_true(lana_layout_import_archive(ar, dst, &e) < 0);
        assert_non_null(e);
        e = lana_error_free(e);
        free(ar);
        free(dst);

        /* members outside the layout are never written, wherever they point */
        ar = pathf("%s/evil.tar", f->dir);
        char *abs_target = pathf("%s/abs-evil", f->dir);
        const char *n3[] = {
                "oci-layout", "index.json",           "../evil",  "blobs/sha256/../../../evil2",
                abs_target,   "blobs/sha256/notahex", "extra.txt"};
        const char *d3[] = {"{\"imageLayoutVersion\":\"1.0.0\"}",
                            "{\"schemaVersion\":2,\"manifests\":[]}",
                            "x",
                            "x",
                            "x",
                            "x",
                            "x"};
        write_tar(ar, n3, d3, 7);
        dst = pathf("%s/d3", f->dir);
        assert_int_equal(mkdir(dst, 0755), 0);
        assert_int_equal(lana_layout_import_archive(ar, dst, &e), 0);
        assert_null(e);
        char *p = pathf("%s/evil", f->dir);
        assert_false(exists(p));
        free(p);
        p = pathf("%s/evil2", f->dir);
        assert_false(exists(p));
        free(p);
        assert_false(exists(abs_target));
        p = pathf("%s/extra.txt", dst);
        assert_false(exists(p));
        free(p);
        p = pathf("%s/blobs/sha256/notahex", dst);
        assert_false(exists(p));
        free(p);
        assert_int_equal(count_entries(dst, NULL, 0), 3);
        free(abs_target);
        free(ar);
        free(dst);
}

/* ---- image names ---- */

static void test_image_open_oci(void **state)
{
        struct fx *f = *state;
        char *dir = pathf("%s/lay", f->dir);
        struct lana_layout *l = open_layout(dir, true);
        struct image a, b;
        make_image(l, "a", "amd64", &a);
        make_image(l, "b", "amd64", &b);
        struct lana_error *e = NULL;
        assert_int_equal(lana_layout_set_ref(l, "v1", a.desc, &e), 0);

        struct lana_image img;
        char *spec = pathf("oci:%s:v1", dir);
        assert_int_equal(lana_image_open(NULL, spec, &img, &e), 0);
        assert_string_equal(img.name, "v1");
        assert_string_equal(img.display, spec);
        assert_non_null(img.layout);
        assert_string_equal(json_string_value(json_object_get(img.desc, "digest")), a.manifest.str);
        lana_image_release(&img);
        assert_null(img.layout);
        free(spec);

        /* the only image needs no name */
        spec = pathf("oci:%s", dir);
        assert_int_equal(lana_image_open(NULL, spec, &img, &e), 0);
        assert_null(img.name);
        assert_string_equal(json_string_value(json_object_get(img.desc, "digest")), a.manifest.str);
        lana_image_release(&img);

        /* with two it does */
        assert_int_equal(lana_layout_set_ref(l, "v2", b.desc, &e), 0);
        assert_int_equal(lana_image_open(NULL, spec, &img, &e), -EINVAL);
        e = lana_error_free(e);
        free(spec);

        spec = pathf("oci:%s:missing", dir);
        assert_int_equal(lana_image_open(NULL, spec, &img, &e), -ENOENT);
        e = lana_error_free(e);
        free(spec);
        spec = pathf("oci:%s/nolayout:v1", f->dir);
        assert_int_equal(lana_image_open(NULL, spec, &img, &e), -ENOENT);
        e = lana_error_free(e);
        free(spec);

        /* oci-archive: extracted to a temporary directory that release removes */
        char *ar = pathf("%s/img.tar", f->dir);
        assert_int_equal(lana_layout_export_archive(l, ar, &e), 0);
        spec = pathf("oci-archive:%s:v2", ar);
        assert_int_equal(lana_image_open(NULL, spec, &img, &e), 0);
        assert_string_equal(json_string_value(json_object_get(img.desc, "digest")), b.manifest.str);
        assert_non_null(img.tmpdir);
        char *tmpdir = strdup(img.tmpdir);
        assert_true(exists(tmpdir));
        lana_image_release(&img);
        assert_false(exists(tmpdir));
        free(tmpdir);
        free(spec);
        free(ar);
        assert_null(e);

        release_image(&a);
        release_image(&b);
        lana_layout_free(l);
        free(dir);
}

static void test_store_and_prune(void **state)
{
        struct fx *f = *state;
        char *root = pathf("%s/root", f->dir);
        struct lana_store *s = NULL;
        struct lana_error *e = NULL;

        /* open_existing never creates */
        assert_int_equal(lana_store_open_existing(root, &s, &e), -ENOENT);
        assert_null(s);
        assert_false(exists(root));
        e = lana_error_free(e);

        assert_int_equal(lana_store_open(root, &s, &e), 0);
        assert_string_equal(lana_store_root(s), root);
        char *p = pathf("%s/oci/oci-layout", root);
        assert_true(exists(p));
        free(p);
        p = pathf("%s/tmp", root);
        assert_true(exists(p));
        free(p);

        struct lana_layout *l = lana_store_layout(s);
        struct image img;
        make_image(l, "stored", "amd64", &img);
        const char *ref = "registry.example.com/lana/api:1.0";
        assert_int_equal(lana_layout_set_ref(l, ref, img.desc, &e), 0);

        struct lana_image im;
        assert_int_equal(lana_image_open(s, ref, &im, &e), 0);
        assert_string_equal(im.name, ref);
        assert_string_equal(json_string_value(json_object_get(im.desc, "digest")),
                            img.manifest.str);
        lana_image_release(&im);

        /* by digest, bare or in a reference */
        assert_int_equal(lana_image_open(s, img.manifest.str, &im, &e), 0);
        assert_string_equal(json_string_value(json_object_get(im.desc, "digest")),
                            img.manifest.str);
        lana_image_release(&im);
        char *byref = pathf("registry.example.com/lana/api@%s", img.manifest.str);
        assert_int_equal(lana_image_open(s, byref, &im, &e), 0);
        assert_string_equal(json_string_value(json_object_get(im.desc, "digest")),
                            img.manifest.str);
        lana_image_release(&im);
        free(byref);

        assert_int_equal(lana_image_open(s, "alpine", &im, &e), -ENOENT);
        e = lana_error_free(e);
        assert_int_equal(lana_image_open(s, "registry.example.com/lana/api:2.0", &im, &e), -ENOENT);
        e = lana_error_free(e);
        assert_int_equal(lana_image_open(NULL, ref, &im, &e), -ENOENT);
        e = lana_error_free(e);

        /* a second handle on the same store works while the first holds the shared lock */
        struct lana_store *s2 = NULL;
        assert_int_equal(lana_store_open_existing(root, &s2, &e), 0);
        lana_store_free(s2);

        /* prune: orphans and leftovers go, the image stays */
        struct lana_digest orphan;
        assert_int_equal(lana_layout_put_blob(l, "orphan!", 7, &orphan, &e), 0);
        p = pathf("%s/tmp/leftover", root);
        spit(p, "x", 1);
        uint64_t blobs = 0, bytes = 0;
        assert_int_equal(lana_store_prune(s, &blobs, &bytes, NULL, NULL, &e), 0);
        assert_int_equal(blobs, 1);
        assert_int_equal(bytes, 7);
        assert_false(lana_layout_has_blob(l, &orphan));
        assert_false(exists(p));
        free(p);
        p = pathf("%s/tmp", root);
        assert_true(exists(p));
        free(p);
        assert_true(lana_layout_has_blob(l, &img.manifest));
        assert_true(lana_layout_has_blob(l, &img.config));
        assert_true(lana_layout_has_blob(l, &img.layer));
        assert_null(e);

        release_image(&img);
        assert_null(lana_store_free(s));
        assert_null(lana_store_free(NULL));
        free(root);
}

static void test_store_cache(void **state)
{
        struct fx *f = *state;
        char *root = pathf("%s/root", f->dir);
        struct lana_store *s = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(lana_store_open(root, &s, &e), 0);
        struct lana_layout *l = lana_store_layout(s);

        struct lana_digest key, key2, diff, blob, got_diff;
        lana_digest_buffer("key", 3, &key);
        lana_digest_buffer("key2", 4, &key2);
        lana_digest_buffer("uncompressed", 12, &diff);
        json_t *got = NULL;
        assert_int_equal(lana_store_cache_lookup(s, &key, &got, &got_diff, NULL), -ENOENT);

        assert_int_equal(lana_layout_put_blob(l, "compressed", 10, &blob, &e), 0);
        json_t *desc = lana_descriptor_new(LANA_MT_OCI_LAYER "+gzip", &blob, 10);
        assert_int_equal(lana_store_cache_record(s, &key, desc, &diff, NULL, &e), 0);
        assert_int_equal(lana_store_cache_lookup(s, &key, &got, &got_diff, NULL), 0);
        assert_true(json_equal(got, desc));
        assert_true(lana_digest_equal(&got_diff, &diff));
        json_decref(got);
        /* no notes recorded: none returned */
        json_t *notes = json_true();
        assert_int_equal(lana_store_cache_lookup(s, &key, &got, &got_diff, &notes), 0);
        assert_null(notes);
        json_decref(got);
        /* notes come back as recorded, and replace the entry's earlier ones */
        json_t *n1 = json_pack("{s:[i]}", "elf_machines", 62);
        assert_int_equal(lana_store_cache_record(s, &key, desc, &diff, n1, &e), 0);
        assert_int_equal(lana_store_cache_lookup(s, &key, &got, &got_diff, &notes), 0);
        assert_true(json_equal(notes, n1));
        json_decref(notes);
        json_decref(got);
        json_decref(n1);

        /* a recorded size that does not match the blob is a miss */
        json_t *wrong = lana_descriptor_new(LANA_MT_OCI_LAYER "+gzip", &blob, 11);
        assert_int_equal(lana_store_cache_record(s, &key2, wrong, &diff, NULL, &e), 0);
        assert_int_equal(lana_store_cache_lookup(s, &key2, &got, &got_diff, NULL), -ENOENT);
        json_decref(wrong);

        /* slots */
        assert_false(lana_store_cache_slot_known(s, &key));
        assert_int_equal(lana_store_cache_slot_mark(s, &key, &e), 0);
        assert_int_equal(lana_store_cache_slot_mark(s, &key, &e), 0);
        assert_true(lana_store_cache_slot_known(s, &key));
        assert_false(lana_store_cache_slot_known(s, &key2));

        /* the blob is unreferenced: prune removes it, and the entry with it */
        uint64_t blobs = 0;
        assert_int_equal(lana_store_prune(s, &blobs, NULL, NULL, NULL, &e), 0);
        assert_int_equal(blobs, 1);
        assert_int_equal(lana_store_cache_lookup(s, &key, &got, &got_diff, NULL), -ENOENT);
        char *entry = pathf("%s/cache/layers/%s", root, key.hex);
        assert_false(exists(entry));
        free(entry);
        entry = pathf("%s/cache/layers/%s", root, key2.hex);
        assert_false(exists(entry));
        free(entry);
        assert_null(e);
        json_decref(desc);
        lana_store_free(s);
        free(root);
}

static void test_store_default_root(void **state)
{
        (void)state;
        char *old = getenv("LANA_IMG_ROOT") ? strdup(getenv("LANA_IMG_ROOT")) : NULL;
        setenv("LANA_IMG_ROOT", "/some/where", 1);
        char *r = lana_store_default_root();
        assert_string_equal(r, "/some/where");
        free(r);
        unsetenv("LANA_IMG_ROOT");
        r = lana_store_default_root();
        assert_non_null(r);
        assert_true(r[0] == '/');
        assert_non_null(strstr(r, "lana-img"));
        free(r);
        if (old)
                setenv("LANA_IMG_ROOT", old, 1);
        free(old);
}

/* ---- checking images before use ---- */

/* Writes a manifest over `layers` (a new reference is taken) and a config with `ids`; returns the
 * manifest descriptor. */
static json_t *make_manifest(struct lana_layout *l, json_t *layers, json_t *ids,
                             json_t **ret_manifest, json_t **ret_config)
{
        json_t *cfg = json_pack("{s:s,s:s,s:{s:s,s:O}}", "architecture", "amd64", "os", "linux",
                                "rootfs", "type", "layers", "diff_ids", ids);
        if (ret_config)
                *ret_config = json_incref(cfg);
        struct lana_digest cd, md;
        size_t clen, mlen;
        put_json(l, cfg, &cd, &clen);
        json_t *m = json_pack("{s:i,s:s,s:o,s:O}", "schemaVersion", 2, "mediaType",
                              LANA_MT_OCI_MANIFEST, "config",
                              lana_descriptor_new(LANA_MT_OCI_CONFIG, &cd, clen), "layers", layers);
        if (ret_manifest)
                *ret_manifest = json_incref(m);
        put_json(l, m, &md, &mlen);
        return lana_descriptor_new(LANA_MT_OCI_MANIFEST, &md, mlen);
}

static void test_image_check(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct image a;
        make_image(l, "a", "amd64", &a);
        struct lana_error *e = NULL;
        json_t *layer = lana_descriptor_new(LANA_MT_OCI_LAYER, &a.layer, a.layer_len);

        /* a sound image loads, and hands back what it read */
        json_t *m = NULL, *cfg = NULL, *md = NULL;
        assert_int_equal(lana_image_load(l, a.desc, NULL, &md, &m, &cfg, &e), 0);
        assert_true(json_equal(md, a.desc));
        assert_int_equal(json_array_size(json_object_get(m, "layers")), 1);
        assert_non_null(json_object_get(cfg, "rootfs"));
        assert_int_equal(lana_image_check(m, cfg, &e), 0);
        json_decref(md);
        json_decref(m);
        json_decref(cfg);

        /* fewer and more diff_ids than layers: both counts named, the same from load and
         * select_manifest (what run calls) */
        struct {
                size_t layers, ids;
                const char *msg;
        } counts[] = {
                {2, 1, "the manifest lists 2 layer(s) but the config 1 diff_id(s)"},
                {1, 2, "the manifest lists 1 layer(s) but the config 2 diff_id(s)"},
                {0, 1, "the manifest lists 0 layer(s) but the config 1 diff_id(s)"},
        };
        for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
                json_t *ls = json_array(), *ids = json_array();
                for (size_t i = 0; i < counts[k].layers; i++)
                        json_array_append(ls, layer);
                for (size_t i = 0; i < counts[k].ids; i++)
                        json_array_append_new(ids, json_string(a.layer.str));
                json_t *d = make_manifest(l, ls, ids, &m, &cfg);
                assert_int_equal(lana_image_check(m, cfg, &e), -EINVAL);
                assert_string_equal(e->msg, counts[k].msg);
                e = lana_error_free(e);
                assert_int_equal(lana_image_load(l, d, NULL, NULL, NULL, NULL, &e), -EINVAL);
                assert_string_equal(e->msg, counts[k].msg);
                e = lana_error_free(e);
                json_t *got = NULL;
                assert_int_equal(lana_layout_select_manifest(l, d, NULL, &got, &e), -EINVAL);
                assert_null(got);
                e = lana_error_free(e);
                json_decref(d);
                json_decref(m);
                json_decref(cfg);
                json_decref(ls);
                json_decref(ids);
        }

        /* the layer limit, exactly */
        json_t *ls = json_array(), *ids = json_array();
        for (size_t i = 0; i < LANA_IMAGE_MAX_LAYERS; i++) {
                json_array_append(ls, layer);
                json_array_append_new(ids, json_string(a.layer.str));
        }
        json_t *d = make_manifest(l, ls, ids, &m, &cfg);
        assert_int_equal(lana_image_check(m, cfg, &e), 0);
        json_array_append(json_object_get(m, "layers"), layer);
        json_array_append_new(json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"),
                              json_string(a.layer.str));
        assert_int_equal(lana_image_check(m, cfg, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "has 500 layers; at most 499"));
        e = lana_error_free(e);
        json_decref(d);
        json_decref(m);
        json_decref(cfg);
        json_decref(ls);
        json_decref(ids);

        /* media types: the three OCI layer types and Docker's are read, nothing else */
        const char *ok_types[] = {LANA_MT_OCI_LAYER, LANA_MT_OCI_LAYER "+gzip",
                                  LANA_MT_OCI_LAYER "+zstd", LANA_MT_DOCKER_LAYER};
        const char *bad_types[] = {LANA_MT_OCI_LAYER "+xz", LANA_MT_OCI_LAYER "+bzip2",
                                   "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                                   LANA_MT_OCI_CONFIG};
        ls = json_pack("[o]", json_deep_copy(layer));
        ids = json_pack("[s]", a.layer.str);
        d = make_manifest(l, ls, ids, &m, &cfg);
        json_t *ml = json_array_get(json_object_get(m, "layers"), 0);
        for (size_t i = 0; i < 4; i++) {
                json_object_set_new(ml, "mediaType", json_string(ok_types[i]));
                assert_int_equal(lana_image_check(m, cfg, &e), 0);
                json_object_set_new(ml, "mediaType", json_string(bad_types[i]));
                assert_int_equal(lana_image_check(m, cfg, &e), -EINVAL);
                assert_non_null(strstr(e->msg, bad_types[i]));
                assert_non_null(strstr(e->msg, "layer 0 (sha256:"));
                e = lana_error_free(e);
        }
        json_decref(d);
        json_decref(m);
        json_decref(cfg);
        json_decref(ls);
        json_decref(ids);

        /* descriptor sizes: a layer's, the config's and the manifest's own */
        json_t *lied = json_deep_copy(layer);
        json_object_set_new(lied, "size", json_integer(10));
        ls = json_pack("[O]", lied);
        ids = json_pack("[s]", a.layer.str);
        d = make_manifest(l, ls, ids, NULL, NULL);
        assert_int_equal(lana_image_load(l, d, NULL, NULL, NULL, NULL, &e), -EBADMSG);
        assert_non_null(strstr(e->msg, "descriptor says 10"));
        assert_non_null(strstr(e->msg, a.layer.str));
        e = lana_error_free(e);
        json_decref(d);
        json_decref(ls);
        json_decref(ids);
        d = json_deep_copy(a.desc);
        json_object_set_new(d, "size", json_integer((json_int_t)a.manifest_len + 1));
        assert_int_equal(lana_image_load(l, d, NULL, NULL, NULL, NULL, &e), -EBADMSG);
        assert_non_null(strstr(e->msg, a.manifest.str));
        e = lana_error_free(e);
        json_decref(d);

        /* a missing layer blob */
        char *lp = blob_path(f->dir, &a.layer);
        assert_int_equal(unlink(lp), 0);
        assert_int_equal(lana_image_load(l, a.desc, NULL, NULL, NULL, NULL, &e), -ENOENT);
        assert_non_null(strstr(e->msg, a.layer.str));
        e = lana_error_free(e);
        free(lp);
        json_decref(lied);
        json_decref(layer);
        release_image(&a);
        lana_layout_free(l);
}

static void test_verify_layer(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        char tar[4096];
        size_t tlen;
        make_layer("v", tar, sizeof tar, &tlen);
        struct lana_digest tid, junk_id, d;
        lana_digest_buffer(tar, tlen, &tid);
        lana_digest_buffer("junk", 4, &junk_id);
        struct lana_error *e = NULL;
        assert_int_equal(lana_layout_put_blob(l, tar, tlen, &d, NULL), 0);
        json_t *desc = lana_descriptor_new(LANA_MT_OCI_LAYER, &d, tlen);

        assert_int_equal(lana_layout_verify_layer(l, desc, &tid, &e), 0);
        assert_int_equal(lana_layout_verify_layer(l, desc, &junk_id, &e), -EBADMSG);
        assert_non_null(strstr(e->msg, "diff_id says sha256:"));
        e = lana_error_free(e);
        /* labelled gzip, but plain */
        json_object_set_new(desc, "mediaType", json_string(LANA_MT_OCI_LAYER "+gzip"));
        assert_int_equal(lana_layout_verify_layer(l, desc, &tid, &e), -EBADMSG);
        assert_non_null(strstr(e->msg, "its bytes are not gzip data"));
        e = lana_error_free(e);
        /* not a layer's media type at all */
        json_object_set_new(desc, "mediaType", json_string(LANA_MT_OCI_LAYER "+xz"));
        assert_int_equal(lana_layout_verify_layer(l, desc, &tid, &e), -EINVAL);
        e = lana_error_free(e);
        /* a size the blob does not have */
        json_object_set_new(desc, "mediaType", json_string(LANA_MT_OCI_LAYER));
        json_object_set_new(desc, "size", json_integer(10));
        assert_int_equal(lana_layout_verify_layer(l, desc, &tid, &e), -EBADMSG);
        assert_non_null(strstr(e->msg, "descriptor says 10"));
        e = lana_error_free(e);
        json_decref(desc);

        /* bytes that are no tar, whatever the diff_id says */
        char junk[1024];
        memset(junk, 'x', sizeof junk);
        struct lana_digest jd;
        assert_int_equal(lana_layout_put_blob(l, junk, sizeof junk, &jd, NULL), 0);
        desc = lana_descriptor_new(LANA_MT_OCI_LAYER, &jd, sizeof junk);
        assert_int_equal(lana_layout_verify_layer(l, desc, &jd, &e), -EBADMSG);
        assert_non_null(strstr(e->msg, "not a tar archive"));
        e = lana_error_free(e);
        json_decref(desc);
        lana_layout_free(l);
}

static void test_copy_blob_checks_size(void **state)
{
        struct fx *f = *state;
        char *src_p = pathf("%s/src", f->dir), *dst_p = pathf("%s/dst", f->dir);
        struct lana_layout *src = open_layout(src_p, true), *dst = open_layout(dst_p, true);
        struct lana_digest d;
        assert_int_equal(lana_layout_put_blob(src, "0123456789abcdef", 16, &d, NULL), 0);
        json_t *desc = lana_descriptor_new(LANA_MT_OCI_LAYER, &d, 10);
        struct lana_error *e = NULL;
        assert_int_equal(lana_layout_copy_blob(dst, src, desc, &e), -EBADMSG);
        assert_non_null(strstr(e->msg, "has 16 bytes, descriptor says 10"));
        e = lana_error_free(e);
        assert_false(lana_layout_has_blob(dst, &d));
        json_object_set_new(desc, "size", json_integer(16));
        assert_int_equal(lana_layout_copy_blob(dst, src, desc, &e), 0);
        assert_true(lana_layout_has_blob(dst, &d));
        /* present already: the size is still held to the descriptor */
        json_object_set_new(desc, "size", json_integer(17));
        assert_int_equal(lana_layout_copy_blob(dst, src, desc, &e), -EBADMSG);
        e = lana_error_free(e);
        int fd = -1;
        assert_int_equal(lana_layout_open_desc(dst, desc, &fd, &e), -EBADMSG);
        assert_int_equal(fd, -1);
        e = lana_error_free(e);
        json_decref(desc);
        lana_layout_free(src);
        lana_layout_free(dst);
        free(src_p);
        free(dst_p);
}

static void test_fsck_image_checks(void **state)
{
        struct fx *f = *state;
        struct lana_layout *l = open_layout(f->dir, true);
        struct image a;
        make_image(l, "a", "amd64", &a);
        struct lana_error *e = NULL;
        /* the layer twice, its diff_id once: every blob is sound, the image is not */
        json_t *layer = lana_descriptor_new(LANA_MT_OCI_LAYER, &a.layer, a.layer_len);
        json_t *ls = json_pack("[O,O]", layer, layer), *ids = json_pack("[s]", a.layer.str);
        json_t *d = make_manifest(l, ls, ids, NULL, NULL);
        assert_int_equal(lana_layout_set_ref(l, "short", d, NULL), 0);
        /* a sound image whose config names the wrong diff_id */
        json_t *ls2 = json_pack("[O]", layer), *ids2 = json_pack("[s]", a.config.str);
        json_t *d2 = make_manifest(l, ls2, ids2, NULL, NULL);
        assert_int_equal(lana_layout_set_ref(l, "wrong", d2, NULL), 0);
        struct faults fl = {0};
        assert_int_equal(lana_layout_fsck(l, on_fault, &fl, &e), 2);
        assert_null(e);
        assert_non_null(strstr(fl.last, "ref wrong: layer"));
        assert_non_null(strstr(fl.last, "diff_id says"));
        assert_int_equal(lana_layout_remove_ref(l, "wrong", NULL), 0);
        fl = (struct faults){0};
        assert_int_equal(lana_layout_fsck(l, on_fault, &fl, &e), 1);
        assert_non_null(strstr(fl.last, "ref short: manifest sha256:"));
        assert_non_null(strstr(fl.last, "2 layer(s) but the config 1 diff_id(s)"));
        json_decref(d);
        json_decref(d2);
        json_decref(ls);
        json_decref(ids);
        json_decref(ls2);
        json_decref(ids2);
        json_decref(layer);
        release_image(&a);
        lana_layout_free(l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_layout_create, setup, teardown),
                cmocka_unit_test_setup_teardown(test_layout_open_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_layout_open_invalid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_blob_roundtrip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_blob_corrupted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_blob_writer_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_blob_writer_wrong_digest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_index_json_is_canonical, setup, teardown),
                cmocka_unit_test_setup_teardown(test_set_ref_refuses_missing_blob, setup, teardown),
                cmocka_unit_test_setup_teardown(test_select_manifest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_copy_tree, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_keeps_healthy_sibling, setup, teardown),
                cmocka_unit_test_setup_teardown(test_partial_blobs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fsck, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_import, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_rejects, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_open_oci, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_and_prune, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_cache, setup, teardown),
                cmocka_unit_test(test_store_default_root),
                cmocka_unit_test_setup_teardown(test_image_check, setup, teardown),
                cmocka_unit_test_setup_teardown(test_verify_layer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_copy_blob_checks_size, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fsck_image_checks, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
