/*
 * test-spec.c — the build spec parser (lana-img.yaml). A full spec (the shipped example plus
 * platforms, level and volumes) must land in the expected struct fields and OCI config JSON; every
 * malformed spec must fail with -EINVAL and a message naming the file, the line of the offending
 * node and its key path ("t.yaml:6: layers[0].files[0].colour: unknown key"), because that message
 * is all a user gets to find the mistake.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lana/build.h"

#define FULL_SPEC                                                                                  \
        "# Example build spec: a static API binary on the in-tree base rootfs.\n" /* 1 */          \
        "image: registry.example.com/lana/api\n"                                  /* 2 */          \
        "tags: [latest, \"0.1.0\"]\n"                                             /* 3 */          \
        "platforms: [linux/amd64, linux/arm64, linux/arm/v7]\n"                   /* 4 */          \
        "base: rootfs\n"                                                          /* 5 */          \
        "compression: gzip\n"                                                     /* 6 */          \
        "level: 9\n"                                                              /* 7 */          \
        "layers:\n"                                                               /* 8 */          \
        "  - name: config\n"                                                      /* 9 */          \
        "    files:\n"                                                            /* 10 */         \
        "      - src: config/\n"                                                  /* 11 */         \
        "        dst: /etc/lana/\n"                                               /* 12 */         \
        "        mode: \"0644\"\n"                                                /* 13 */         \
        "  - name: app\n"                                                         /* 14 */         \
        "    files:\n"                                                            /* 15 */         \
        "      - src: target/{rust_target}/release/lana-api\n"                    /* 16 */         \
        "        dst: /bin/lana-api\n"                                            /* 17 */         \
        "        mode: \"0755\"\n"                                                /* 18 */         \
        "        uid: 65532\n"                                                    /* 19 */         \
        "        gid: \"65533\"\n"                                                /* 20 */         \
        "  - files:\n"                                                            /* 21 */         \
        "      - {src: data, dst: /var/lib/lana, mode: 04755}\n"                  /* 22 */         \
        "config:\n"                                                               /* 23 */         \
        "  entrypoint: [/bin/lana-api]\n"                                         /* 24 */         \
        "  cmd: [serve]\n"                                                        /* 25 */         \
        "  env: {LANA_HOME: /lana, B: \"x=y\"}\n"                                 /* 26 */         \
        "  user: \"65532:65532\"\n"                                               /* 27 */         \
        "  workdir: /\n"                                                          /* 28 */         \
        "  expose: [5253/tcp, 53/udp, 8080]\n"                                    /* 29 */         \
        "  volumes: [/data, /cache]\n"                                            /* 30 */         \
        "  labels: {org.opencontainers.image.source: https://example.com/lana}\n" /* 31 */         \
        "  stop_signal: SIGTERM\n"                                                /* 32 */         \
        "annotations: {org.opencontainers.image.revision: example}\n"             /* 33 */

static struct lana_spec *parse_ok(const char *yaml)
{
        struct lana_spec *s = NULL;
        struct lana_error *e = NULL;
        int r = lana_spec_parse(yaml, strlen(yaml), "t.yaml", "/tmp", &s, &e);
        if (r < 0)
                fail_msg("spec rejected: %s", e ? e->msg : "?");
        assert_non_null(s);
        assert_null(e);
        return s;
}

static char *canonical(json_t *j)
{
        assert_non_null(j);
        return lana_json_canonical(j, NULL);
}

static void test_full_spec(void **state)
{
        (void)state;
        struct lana_spec *s = parse_ok(FULL_SPEC);
        assert_string_equal(s->path, "t.yaml");
        assert_string_equal(s->dir, "/tmp");
        assert_string_equal(s->image, "registry.example.com/lana/api");
        assert_int_equal(s->n_tags, 2);
        assert_string_equal(s->tags[0], "latest");
        assert_string_equal(s->tags[1], "0.1.0");
        assert_int_equal(s->n_platforms, 3);
        assert_string_equal(s->platforms[0].arch, "amd64");
        assert_string_equal(s->platforms[1].arch, "arm64");
        assert_string_equal(s->platforms[2].arch, "arm");
        assert_string_equal(s->platforms[2].variant, "v7");
        assert_string_equal(s->platforms[0].os, "linux");
        assert_string_equal(s->base, "rootfs");
        assert_true(s->has_compression);
        assert_true(s->has_level);
        assert_int_equal(s->compression.algo, LANA_COMPRESSION_GZIP);
        assert_int_equal(s->compression.level, 9);
        assert_int_equal(s->compression.block_size, LANA_GZIP_BLOCK_SIZE);

        assert_int_equal(s->n_layers, 3);
        const struct lana_spec_layer *l = &s->layers[0];
        assert_string_equal(l->name, "config");
        assert_int_equal(l->line, 9);
        assert_int_equal(l->n_files, 1);
        assert_string_equal(l->files[0].src, "config/");
        assert_string_equal(l->files[0].dst, "/etc/lana/");
        assert_int_equal(l->files[0].line, 11);
        assert_true(l->files[0].has_mode);
        assert_int_equal(l->files[0].mode, 0644);
        assert_false(l->files[0].has_uid);
        assert_false(l->files[0].has_gid);

        l = &s->layers[1];
        assert_string_equal(l->name, "app");
        assert_int_equal(l->line, 14);
        assert_int_equal(l->n_files, 1);
        /* placeholders stay unexpanded */
        assert_string_equal(l->files[0].src, "target/{rust_target}/release/lana-api");
        assert_string_equal(l->files[0].dst, "/bin/lana-api");
        assert_int_equal(l->files[0].line, 16);
        assert_int_equal(l->files[0].mode, 0755);
        assert_true(l->files[0].has_uid);
        assert_true(l->files[0].has_gid);
        assert_int_equal(l->files[0].uid, 65532);
        assert_int_equal(l->files[0].gid, 65533);

        l = &s->layers[2];
        assert_string_equal(l->name, "layer2");
        assert_int_equal(l->line, 21);
        assert_int_equal(l->n_files, 1);
        assert_string_equal(l->files[0].src, "data");
        assert_string_equal(l->files[0].dst, "/var/lib/lana");
        assert_int_equal(l->files[0].mode, 04755);
        assert_int_equal(l->files[0].line, 22);

        char *cfg = canonical(s->config);
        assert_string_equal(cfg, "{\"Cmd\":[\"serve\"],"
                                 "\"Entrypoint\":[\"/bin/lana-api\"],"
                                 "\"Env\":[\"LANA_HOME=/lana\",\"B=x=y\"],"
                                 "\"ExposedPorts\":{\"5253/tcp\":{},\"53/udp\":{},\"8080/tcp\":{}},"
                                 "\"Labels\":{\"org.opencontainers.image.source\":"
                                 "\"https://example.com/lana\"},"
                                 "\"StopSignal\":\"SIGTERM\","
                                 "\"User\":\"65532:65532\","
                                 "\"Volumes\":{\"/cache\":{},\"/data\":{}},"
                                 "\"WorkingDir\":\"/\"}");
        free(cfg);
        assert_false(s->resets_cmd);
        char *ann = canonical(s->annotations);
        assert_string_equal(ann, "{\"org.opencontainers.image.revision\":\"example\"}");
        free(ann);
        assert_null(lana_spec_free(s));
}

static void test_shipped_example_parses(void **state)
{
        (void)state;
        /* the example in examples/api is what new users copy */
        struct lana_spec *s = NULL;
        struct lana_error *e = NULL;
        int r = lana_spec_load(LANA_TEST_SOURCE_ROOT "/examples/api/lana-img.yaml", &s, &e);
        if (r < 0)
                fail_msg("examples/api/lana-img.yaml: %s", e ? e->msg : "?");
        assert_string_equal(s->image, "registry.example.com/lana/api");
        assert_int_equal(s->n_layers, 2);
        /* relative srcs are anchored at the spec's directory */
        assert_non_null(strstr(s->dir, "examples/api"));
        lana_spec_free(s);
}

static void test_minimal_spec_defaults(void **state)
{
        (void)state;
        struct lana_spec *s = parse_ok("config:\n  entrypoint: /bin/x\n");
        assert_null(s->image);
        assert_int_equal(s->n_tags, 0);
        assert_int_equal(s->n_platforms, 0);
        assert_string_equal(s->base, "scratch");
        assert_false(s->has_compression);
        assert_false(s->has_level);
        assert_int_equal(s->compression.algo, LANA_COMPRESSION_GZIP);
        assert_int_equal(s->compression.level, 5);
        assert_int_equal(s->n_layers, 0);
        /* a scalar entrypoint is a one-element list; entrypoint without cmd resets Cmd */
        char *cfg = canonical(s->config);
        assert_string_equal(cfg, "{\"Entrypoint\":[\"/bin/x\"]}");
        free(cfg);
        assert_true(s->resets_cmd);
        lana_spec_free(s);
}

static void test_compression_and_levels(void **state)
{
        (void)state;
        struct lana_spec *s = parse_ok("compression: zstd\n");
        assert_int_equal(s->compression.algo, LANA_COMPRESSION_ZSTD);
        assert_int_equal(s->compression.level, 3);
        lana_spec_free(s);
        s = parse_ok("compression: zstd\nlevel: 22\n");
        assert_int_equal(s->compression.level, 22);
        lana_spec_free(s);
        /* the level is checked against the algorithm wherever the keys appear */
        s = parse_ok("level: 19\ncompression: zstd\n");
        assert_int_equal(s->compression.level, 19);
        lana_spec_free(s);
        s = parse_ok("compression: none\n");
        assert_int_equal(s->compression.algo, LANA_COMPRESSION_NONE);
        lana_spec_free(s);
}

static void test_env_list_and_ports(void **state)
{
        (void)state;
        struct lana_spec *s = parse_ok("config:\n"
                                       "  env: [\"A=1\", \"B=\", \"C=a=b\"]\n"
                                       "  expose: [\"22\", 80/tcp, 443/udp, 9/sctp]\n"
                                       "  cmd: run\n");
        char *cfg = canonical(s->config);
        assert_string_equal(cfg, "{\"Cmd\":[\"run\"],\"Env\":[\"A=1\",\"B=\",\"C=a=b\"],"
                                 "\"ExposedPorts\":{\"22/tcp\":{},\"443/udp\":{},"
                                 "\"80/tcp\":{},\"9/sctp\":{}}}");
        free(cfg);
        assert_false(s->resets_cmd);
        lana_spec_free(s);
}

/* Expects -EINVAL with "t.yaml:<line>:" (line 0: no line expected), the key path and a needle. */
static void expect_error(const char *yaml, int line, const char *key, const char *needle)
{
        struct lana_spec *s = (struct lana_spec *)0x1;
        struct lana_error *e = NULL;
        int r = lana_spec_parse(yaml, strlen(yaml), "t.yaml", "/tmp", &s, &e);
        if (r >= 0)
                lana_spec_free(s);
        if (r != -EINVAL) {
                lana_error_free(e);
                fail_msg("returned %d, expected -EINVAL, for:\n%s", r, yaml);
        }
        assert_ptr_equal(s, (struct lana_spec *)0x1);
        assert_non_null(e);
        assert_int_equal(e->code, -EINVAL);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", e->msg);
        lana_error_free(e);

        char prefix[64];
        if (line > 0)
                snprintf(prefix, sizeof prefix, "t.yaml:%d: ", line);
        else
                snprintf(prefix, sizeof prefix, "t.yaml");
        if (strncmp(msg, prefix, strlen(prefix)) != 0)
                fail_msg("message '%s' does not start with '%s'", msg, prefix);
        if (key) {
                char k[256];
                snprintf(k, sizeof k, ": %s: ", key);
                if (!strstr(msg, k))
                        fail_msg("message '%s' does not name key '%s'", msg, key);
        }
        /* an empty key path would read "t.yaml:1: : ..." */
        if (strstr(msg, ": : "))
                fail_msg("message '%s' has an empty key path", msg);
        if (needle && !strstr(msg, needle))
                fail_msg("message '%s' lacks '%s'", msg, needle);
}

#define FILE_ENTRY(extra)                                                                          \
        "layers:\n"                                                                                \
        "  - name: app\n"                                                                          \
        "    files:\n"                                                                             \
        "      - src: a\n"                                                                         \
        "        dst: /a\n" extra

static void test_unknown_keys(void **state)
{
        (void)state;
        expect_error("image: registry.example.com/x\ncolour: red\n", 2, "colour", "unknown key");
        expect_error(FILE_ENTRY("        colour: red\n"), 6, "layers[0].files[0].colour",
                     "unknown key");
        expect_error("layers:\n  - name: a\n    files: []\n    size: 3\n", 4, "layers[0].size",
                     "unknown key");
        expect_error("config:\n  user: x\n  healthcheck: y\n", 3, "config.healthcheck",
                     "unknown key");
}

static void test_bad_modes_and_ids(void **state)
{
        (void)state;
        expect_error(FILE_ENTRY("        mode: \"0799\"\n"), 6, "layers[0].files[0].mode", "0799");
        expect_error(FILE_ENTRY("        mode: abc\n"), 6, "layers[0].files[0].mode", "abc");
        expect_error(FILE_ENTRY("        mode: \"0\"\n"), 6, "layers[0].files[0].mode", NULL);
        expect_error(FILE_ENTRY("        mode: \"017777\"\n"), 6, "layers[0].files[0].mode", NULL);
        expect_error(FILE_ENTRY("        mode: \"-755\"\n"), 6, "layers[0].files[0].mode", NULL);
        expect_error(FILE_ENTRY("        uid: abc\n"), 6, "layers[0].files[0].uid", "abc");
        expect_error(FILE_ENTRY("        uid: \"-1\"\n"), 6, "layers[0].files[0].uid", NULL);
        expect_error(FILE_ENTRY("        gid: 4294967295\n"), 6, "layers[0].files[0].gid",
                     "4294967295");
        expect_error(FILE_ENTRY("        uid: [1]\n"), 6, "layers[0].files[0].uid", NULL);
}

static void test_bad_files(void **state)
{
        (void)state;
        expect_error("layers:\n  - files:\n      - dst: /a\n", 3, "layers[0].files[0].src",
                     "required");
        expect_error("layers:\n  - files:\n      - src: a\n", 3, "layers[0].files[0].dst",
                     "required");
        expect_error("layers:\n  - files:\n      - src: a\n        dst: bin/a\n", 4,
                     "layers[0].files[0].dst", "absolute");
        expect_error("layers:\n  - files:\n      - src: \"\"\n        dst: /a\n", 3,
                     "layers[0].files[0].src", NULL);
        expect_error("layers:\n  - files:\n      - src: a\n        dst: /a\n"
                     "  - files:\n      - src: b\n        dst: /b\n      - src: c\n"
                     "        dst: c\n",
                     9, "layers[1].files[1].dst", "absolute");
        expect_error("layers:\n  - name: x\n", 2, "layers[0]", "files");
        expect_error("layers:\n  - files: a\n", 2, "layers[0].files", "list");
        expect_error("layers: {a: b}\n", 1, "layers", "list");
}

static void test_bad_platforms(void **state)
{
        (void)state;
        expect_error("platforms:\n  - linux/amd64\n  - linux/sparc\n", 3, "platforms[1]", "sparc");
        expect_error("platforms:\n  - linux/amd64\n  - windows/amd64\n", 3, "platforms[1]", NULL);
        expect_error("platforms:\n  - linux/amd64\n  - linux/arm64\n  - linux/amd64\n", 4,
                     "platforms[2]", "twice");
}

static void test_empty_list_reports_line(void **state)
{
        (void)state;
        /* an empty collection has no first item to take a line from; it still has a line */
        expect_error("image: x/y\nplatforms: []\n", 2, "platforms", "empty");
}

static void test_bad_image_and_tags(void **state)
{
        (void)state;
        expect_error("tags:\n  - latest\n  - -bad\n", 3, "tags[1]", "-bad");
        expect_error("tags:\n  - \"a:b\"\n", 2, "tags[0]", NULL);
        expect_error("image: registry.example.com/x:1\n", 1, "image", "tags");
        expect_error("image: registry.example.com/x@sha256:"
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n",
                     1, "image", NULL);
        expect_error("image: registry.example.com/Upper\n", 1, "image", NULL);
        expect_error("base: \"\"\n", 1, "base", NULL);
}

static void test_bad_compression(void **state)
{
        (void)state;
        expect_error("image: x/y\ncompression: lz4\n", 2, "compression", "lz4");
        expect_error("compression: gzip\nlevel: 99\n", 2, "level", "99");
        expect_error("level: 13\n", 1, "level", NULL);
        expect_error("compression: zstd\nlevel: 23\n", 2, "level", NULL);
        expect_error("compression: gzip\nlevel: 0\n", 2, "level", NULL);
        expect_error("level: high\n", 1, "level", NULL);
}

static void test_bad_config(void **state)
{
        (void)state;
        expect_error("config:\n  stop_signal: SIGFOO\n", 2, "config.stop_signal", "SIGFOO");
        expect_error("config:\n  stop_signal: \"0\"\n", 2, "config.stop_signal", NULL);
        expect_error("config:\n  stop_signal: \"65\"\n", 2, "config.stop_signal", NULL);
        expect_error("config:\n  workdir: app\n", 2, "config.workdir", "absolute");
        /* (the offending item's text is checked in test_bad_volume_item_reports_its_line) */
        expect_error("config:\n  volumes: [data]\n", 2, "config.volumes[0]", NULL);
        expect_error("config:\n  env: {\"A=B\": c}\n", 2, "config.env", "A=B");
        expect_error("config:\n  env: [\"=x\"]\n", 2, "config.env[0]", NULL);
        expect_error("config:\n  labels: [a, b]\n", 2, "config.labels", "mapping");
        expect_error("config:\n  expose: [80/http]\n", 2, "config.expose[0]", NULL);
        expect_error("config:\n  expose: [\"0\"]\n", 2, "config.expose[0]", NULL);
        expect_error("config: [a]\n", 1, "config", "mapping");
}

/* The offending list item's own line and text, not the list's first line (and the text must
 * still be alive when the message is formatted). */
static void test_bad_env_item_reports_its_line(void **state)
{
        (void)state;
        expect_error("config:\n  env:\n    - A=1\n    - B\n", 4, "config.env[1]", "'B'");
}

static void test_bad_expose_item_reports_its_line(void **state)
{
        (void)state;
        expect_error("config:\n  expose:\n    - 80\n    - 99999/tcp\n", 4, "config.expose[1]",
                     "'99999/tcp'");
}

static void test_bad_volume_item_reports_its_line(void **state)
{
        (void)state;
        expect_error("config:\n  volumes:\n    - /a\n    - rel\n", 4, "config.volumes[1]", "'rel'");
}

static void test_invalid_yaml_reports_line(void **state)
{
        (void)state;
        expect_error("a: 1\nb: [1, 2]]\nc: 3\n", 2, NULL, "invalid YAML");
        expect_error("image: x/y\nbase: \"abc\n", 2, NULL, "invalid YAML");
        expect_error("image: x/y\nbase: @bad\n", 2, NULL, "invalid YAML");
        expect_error("image: x/y\nbase: y\n- item\n", 3, NULL, "invalid YAML");
        expect_error("image: x/y\nbase: y\nbase: z\n", 3, NULL, "duplicate");
}

static void test_invalid_documents(void **state)
{
        (void)state;
        expect_error("- a\n- b\n", 1, NULL, "mapping");
        expect_error("just a string\n", 1, NULL, "mapping");
        expect_error("", 0, NULL, NULL);
}

static void test_multiple_documents_rejected(void **state)
{
        (void)state;
        /* a second document would be silently ignored; its keys were never checked */
        expect_error("image: x/y\n---\nbase: z\n", 0, NULL, NULL);
}

static void test_size_limit(void **state)
{
        (void)state;
        size_t n = (1 << 20) + 1;
        char *big = malloc(n + 1);
        assert_non_null(big);
        memset(big, ' ', n);
        memcpy(big, "image: x/y\n#", 12);
        big[n] = '\0';
        expect_error(big, 0, NULL, NULL);
        free(big);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_spec),
                cmocka_unit_test(test_shipped_example_parses),
                cmocka_unit_test(test_minimal_spec_defaults),
                cmocka_unit_test(test_compression_and_levels),
                cmocka_unit_test(test_env_list_and_ports),
                cmocka_unit_test(test_unknown_keys),
                cmocka_unit_test(test_bad_modes_and_ids),
                cmocka_unit_test(test_bad_files),
                cmocka_unit_test(test_bad_platforms),
                cmocka_unit_test(test_bad_image_and_tags),
                cmocka_unit_test(test_bad_compression),
                cmocka_unit_test(test_bad_config),
                cmocka_unit_test(test_empty_list_reports_line),
                cmocka_unit_test(test_bad_env_item_reports_its_line),
                cmocka_unit_test(test_bad_expose_item_reports_its_line),
                cmocka_unit_test(test_bad_volume_item_reports_its_line),
                cmocka_unit_test(test_invalid_yaml_reports_line),
                cmocka_unit_test(test_invalid_documents),
                cmocka_unit_test(test_multiple_documents_rejected),
                cmocka_unit_test(test_size_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
