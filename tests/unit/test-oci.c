/*
 * test-oci.c — the pure OCI data model: reference parsing and normalisation (Docker Hub
 * shorthands, registry detection, tags, digests, and every malformed form), tag validity,
 * platforms (supported os/arch/variant, formatting, equality, JSON round trip, ELF machine),
 * canonical JSON (sorted keys, compact, UTF-8 as is), the bounded object parser, descriptors,
 * manifest/index/config validation with each required field missing, and UTC timestamps.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lana/oci.h"

#define HEX_A "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX_B "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DIG_A "sha256:" HEX_A
#define DIG_B "sha256:" HEX_B

/* ---- references ---- */

struct ref_case {
        const char *in;
        const char *default_tag;
        const char *domain, *path, *tag, *digest;
        const char *formatted;
};

static const struct ref_case good_refs[] = {
        {"alpine", "latest", "docker.io", "library/alpine", "latest", NULL,
         "docker.io/library/alpine:latest"},
        {"alpine", NULL, "docker.io", "library/alpine", NULL, NULL, "docker.io/library/alpine"},
        {"alpine:3.19", "latest", "docker.io", "library/alpine", "3.19", NULL,
         "docker.io/library/alpine:3.19"},
        {"library/alpine", "latest", "docker.io", "library/alpine", "latest", NULL,
         "docker.io/library/alpine:latest"},
        {"docker.io/alpine", "latest", "docker.io", "library/alpine", "latest", NULL,
         "docker.io/library/alpine:latest"},
        {"docker.io/library/alpine:edge", NULL, "docker.io", "library/alpine", "edge", NULL,
         "docker.io/library/alpine:edge"},
        {"user/repo:v1", "latest", "docker.io", "user/repo", "v1", NULL, "docker.io/user/repo:v1"},
        {"localhost:5000/a/b:1", "latest", "localhost:5000", "a/b", "1", NULL,
         "localhost:5000/a/b:1"},
        {"localhost/a", "latest", "localhost", "a", "latest", NULL, "localhost/a:latest"},
        {"Registry.Example.com/x", "latest", "Registry.Example.com", "x", "latest", NULL,
         "Registry.Example.com/x:latest"},
        {"index.docker.io/alpine", NULL, "docker.io", "library/alpine", NULL, NULL,
         "docker.io/library/alpine"},
        {"localhost:65535/a", NULL, "localhost:65535", "a", NULL, NULL, "localhost:65535/a"},
        {"localhost:1/a", NULL, "localhost:1", "a", NULL, NULL, "localhost:1/a"},
        {"10.0.0.1:5000/a", NULL, "10.0.0.1:5000", "a", NULL, NULL, "10.0.0.1:5000/a"},
        {"[fe80::1:2]/a", NULL, "[fe80::1:2]", "a", NULL, NULL, "[fe80::1:2]/a"},
        {"registry.example.com/lana/api", "latest", "registry.example.com", "lana/api", "latest",
         NULL, "registry.example.com/lana/api:latest"},
        {"ghcr.io/org/app@" DIG_A, "latest", "ghcr.io", "org/app", NULL, DIG_A,
         "ghcr.io/org/app@" DIG_A},
        {"ghcr.io/org/app:v1.2@" DIG_A, "latest", "ghcr.io", "org/app", "v1.2", DIG_A,
         "ghcr.io/org/app:v1.2@" DIG_A},
        {"alpine@" DIG_B, "latest", "docker.io", "library/alpine", NULL, DIG_B,
         "docker.io/library/alpine@" DIG_B},
        {"[::1]:5000/img:t", NULL, "[::1]:5000", "img", "t", NULL, "[::1]:5000/img:t"},
        {"my-org/my_app__x.y-z--w:_T.1-a", NULL, "docker.io", "my-org/my_app__x.y-z--w", "_T.1-a",
         NULL, "docker.io/my-org/my_app__x.y-z--w:_T.1-a"},
        {"a0/b1/c2/d3", NULL, "docker.io", "a0/b1/c2/d3", NULL, NULL, "docker.io/a0/b1/c2/d3"},
};

static void test_reference_parse_table(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof good_refs / sizeof *good_refs; i++) {
                const struct ref_case *c = &good_refs[i];
                struct lana_reference r;
                struct lana_error *e = NULL;
                if (lana_reference_parse(c->in, c->default_tag, &r, &e) < 0)
                        fail_msg("'%s' rejected: %s", c->in, e ? e->msg : "?");
                assert_string_equal(r.domain, c->domain);
                assert_string_equal(r.path, c->path);
                if (c->tag)
                        assert_string_equal(r.tag, c->tag);
                else
                        assert_null(r.tag);
                if (c->digest)
                        assert_string_equal(r.digest, c->digest);
                else
                        assert_null(r.digest);
                char *f = lana_reference_format(&r);
                assert_string_equal(f, c->formatted);
                free(f);
                char *repo = lana_reference_repository(&r);
                char want[512];
                snprintf(want, sizeof want, "%s/%s", c->domain, c->path);
                assert_string_equal(repo, want);
                free(repo);
                lana_reference_release(&r);
                assert_null(r.domain);
                assert_null(r.path);
        }
}

static void test_reference_normalisation_is_idempotent(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof good_refs / sizeof *good_refs; i++) {
                struct lana_reference r, r2;
                assert_int_equal(lana_reference_parse(good_refs[i].in, "latest", &r, NULL), 0);
                char *f = lana_reference_format(&r);
                assert_int_equal(lana_reference_parse(f, "latest", &r2, NULL), 0);
                char *f2 = lana_reference_format(&r2);
                assert_string_equal(f, f2);
                free(f);
                free(f2);
                lana_reference_release(&r);
                lana_reference_release(&r2);
        }
}

static void expect_ref_fails(const char *s)
{
        struct lana_reference r;
        struct lana_error *e = NULL;
        int rc = lana_reference_parse(s, "latest", &r, &e);
        if (rc != -EINVAL) {
                if (rc == 0)
                        lana_reference_release(&r);
                lana_error_free(e);
                fail_msg("reference '%.80s' returned %d, expected -EINVAL", s, rc);
        }
        assert_non_null(e);
        assert_int_equal(e->code, -EINVAL);
        assert_true(strlen(e->msg) > 0);
        lana_error_free(e);
        /* nothing was allocated: release is a no-op */
        assert_null(r.domain);
        assert_null(r.path);
        assert_null(r.tag);
        assert_null(r.digest);
        lana_reference_release(&r);
}

static void test_reference_rejects(void **state)
{
        (void)state;
        expect_ref_fails("");
        expect_ref_fails(":tag");
        expect_ref_fails("@" DIG_A);
        expect_ref_fails("docker.io/");
        expect_ref_fails("Alpine");
        expect_ref_fails("docker.io/Alpine");
        expect_ref_fails("ghcr.io/Org/app");
        expect_ref_fails("ghcr.io/org/App:v1");
        expect_ref_fails("alpine:");
        expect_ref_fails("alpine:-bad");
        expect_ref_fails("alpine:.bad");
        expect_ref_fails("alpine:bad tag");
        expect_ref_fails("alpine:bad!");
        expect_ref_fails("alpine@sha256:abc");
        expect_ref_fails("alpine@sha256:" HEX_A "0");
        expect_ref_fails("alpine@sha512:" HEX_A);
        expect_ref_fails("alpine@");
        expect_ref_fails("a//b");
        expect_ref_fails("a/");
        expect_ref_fails("/a");
        expect_ref_fails("-a");
        expect_ref_fails("a-");
        expect_ref_fails("a..b");
        expect_ref_fails("a___b");
        expect_ref_fails("a_");
        expect_ref_fails(".a");
        expect_ref_fails("a b");
        expect_ref_fails("ghcr.io/a b");
        expect_ref_fails("bad_host.io/x");
        expect_ref_fails("h\xc3\xa9.io/x");
        char tag129[160];
        memset(tag129, 't', sizeof tag129);
        memcpy(tag129, "alpine:", 7);
        tag129[7 + 129] = '\0';
        expect_ref_fails(tag129);
}

/* The distribution grammar: domain := component ('.' component)* [':' digits], each component
 * [a-zA-Z0-9] with inner '-' (or an IPv6 literal in brackets). */
static void test_reference_rejects_bad_registry(void **state)
{
        (void)state;
        expect_ref_fails("alpine:a/b/c");
        expect_ref_fails("host:/x");
        expect_ref_fails(":5000/x");
        expect_ref_fails("..../x");
        expect_ref_fails("-host.io/x");
        expect_ref_fails("host.io:5000:6000/x");
        /* ports: 1..65535, digits only, one spelling (no leading zero) */
        expect_ref_fails("localhost:99999/x:y");
        expect_ref_fails("localhost:65536/x");
        expect_ref_fails("localhost:0/x");
        expect_ref_fails("localhost:05000/x");
        expect_ref_fails("localhost:123456/x");
        expect_ref_fails("localhost:5e3/x");
        expect_ref_fails("localhost:-1/x");
        expect_ref_fails("[::1]:99999/x");
        /* IPv6 literals must be addresses */
        expect_ref_fails("[]/x");
        expect_ref_fails("[:::::]/x");
        expect_ref_fails("[1.2.3.4]/x");
        expect_ref_fails("[::1/x");
        expect_ref_fails("[::1]x/y");
        /* labels and host length */
        expect_ref_fails("a.-b.io/x");
        expect_ref_fails("host-.io/x");
        char host[300];
        memset(host, 'h', 64);
        strcpy(host + 64, ".io/x");
        expect_ref_fails(host); /* a 64-character label */
        host[63] = '.';
        memset(host + 64, 'h', 63);
        strcpy(host + 127, ".io/x");
        struct lana_reference r;
        assert_int_equal(lana_reference_parse(host, NULL, &r, NULL), 0); /* 63 + 63 is fine */
        lana_reference_release(&r);
        for (size_t i = 0; i < 4; i++)
                memcpy(host + i * 64,
                       "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh.", 64);
        strcpy(host + 256, "io/x");
        expect_ref_fails(host); /* a 258-character host */
}

/* Docker would take an uppercase first component for a registry host; a repository name with
 * capitals is a mistake, and saying so beats looking for a registry called UPPER. */
static void test_reference_uppercase_first_component(void **state)
{
        (void)state;
        expect_ref_fails("UPPER/case");
        expect_ref_fails("Foo/bar");
        expect_ref_fails("fOo/bar:v1");
        struct lana_reference r;
        struct lana_error *e = NULL;
        assert_int_equal(lana_reference_parse("UPPER/case", "latest", &r, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "lowercase"));
        lana_error_free(e);
        /* a host with a dot stays a host, whatever its case (DNS ignores it) */
        assert_int_equal(lana_reference_parse("Example.COM/x", NULL, &r, NULL), 0);
        assert_string_equal(r.domain, "Example.COM");
        lana_reference_release(&r);
}

static void test_reference_length_limit(void **state)
{
        (void)state;
        /* longer than 4096 bytes */
        size_t n = 4097;
        char *s = malloc(n + 1);
        assert_non_null(s);
        memset(s, 'a', n);
        s[n] = '\0';
        expect_ref_fails(s);
        /* a long but well-formed name is fine */
        s[255] = '\0';
        struct lana_reference r;
        assert_int_equal(lana_reference_parse(s, NULL, &r, NULL), 0);
        assert_int_equal(strlen(r.path), strlen("library/") + 255);
        lana_reference_release(&r);
        free(s);
}

static void test_tag_valid(void **state)
{
        (void)state;
        assert_true(lana_tag_valid("latest"));
        assert_true(lana_tag_valid("0.1.0"));
        assert_true(lana_tag_valid("_x"));
        assert_true(lana_tag_valid("V1.2-rc_3"));
        char t[130];
        memset(t, 'a', sizeof t);
        t[128] = '\0';
        assert_true(lana_tag_valid(t));
        t[128] = 'a';
        t[129] = '\0';
        assert_false(lana_tag_valid(t));
        assert_false(lana_tag_valid(""));
        assert_false(lana_tag_valid(".x"));
        assert_false(lana_tag_valid("-x"));
        assert_false(lana_tag_valid("a/b"));
        assert_false(lana_tag_valid("a:b"));
        assert_false(lana_tag_valid("a@b"));
        assert_false(lana_tag_valid("a b"));
        assert_false(lana_tag_valid("\xc3\xa9"));
}

/* ---- platforms ---- */

static void test_platform_parse_good(void **state)
{
        (void)state;
        static const struct {
                const char *in, *os, *arch, *variant;
        } cases[] = {
                {"linux/amd64", "linux", "amd64", ""},  {"linux/arm64", "linux", "arm64", ""},
                {"linux/arm/v7", "linux", "arm", "v7"}, {"linux/arm64/v8", "linux", "arm64", "v8"},
                {"linux/386", "linux", "386", ""},      {"linux/ppc64le", "linux", "ppc64le", ""},
                {"linux/s390x", "linux", "s390x", ""},  {"linux/riscv64", "linux", "riscv64", ""},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                struct lana_platform p;
                struct lana_error *e = NULL;
                if (lana_platform_parse(cases[i].in, &p, &e) < 0)
                        fail_msg("%s rejected: %s", cases[i].in, e ? e->msg : "?");
                assert_string_equal(p.os, cases[i].os);
                assert_string_equal(p.arch, cases[i].arch);
                assert_string_equal(p.variant, cases[i].variant);
                char buf[64];
                assert_string_equal(lana_platform_format(&p, buf, sizeof buf), cases[i].in);
        }
}

static void test_platform_parse_bad(void **state)
{
        (void)state;
        static const char *bad[] = {
                "windows/amd64",
                "linux/sparc",
                "linux",
                "linux/amd64/",
                "",
                "/amd64",
                "linux/",
                "Linux/amd64",
                "linux/AMD64",
                "linux/arm/v7/x",
                "darwin/arm64",
                "linux//amd64",
                "linux/arm/"
                "v1234567890123456",
                "linux/amd64/vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                struct lana_platform p;
                struct lana_error *e = NULL;
                int r = lana_platform_parse(bad[i], &p, &e);
                if (r != -EINVAL)
                        fail_msg("platform '%s' returned %d, expected -EINVAL", bad[i], r);
                assert_non_null(e);
                assert_int_equal(e->code, -EINVAL);
                assert_non_null(strstr(e->msg, "platform"));
                lana_error_free(e);
        }
}

static void test_platform_equal(void **state)
{
        (void)state;
        struct lana_platform a, b;
        lana_platform_parse("linux/arm64", &a, NULL);
        lana_platform_parse("linux/arm64/v8", &b, NULL);
        assert_true(lana_platform_equal(&a, &b));
        assert_true(lana_platform_equal(&b, &a));
        lana_platform_parse("linux/arm/v7", &a, NULL);
        lana_platform_parse("linux/arm/v6", &b, NULL);
        assert_false(lana_platform_equal(&a, &b));
        lana_platform_parse("linux/arm", &b, NULL);
        assert_false(lana_platform_equal(&a, &b));
        lana_platform_parse("linux/amd64", &a, NULL);
        lana_platform_parse("linux/arm64", &b, NULL);
        assert_false(lana_platform_equal(&a, &b));
        lana_platform_parse("linux/amd64", &b, NULL);
        assert_true(lana_platform_equal(&a, &b));
}

static void test_platform_json_roundtrip(void **state)
{
        (void)state;
        struct lana_platform p, q;
        lana_platform_parse("linux/arm/v7", &p, NULL);
        json_t *j = lana_platform_to_json(&p);
        char *s = lana_json_canonical(j, NULL);
        assert_string_equal(s, "{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}");
        free(s);
        assert_int_equal(lana_platform_from_json(j, &q), 0);
        assert_true(lana_platform_equal(&p, &q));
        assert_string_equal(q.variant, "v7");
        json_decref(j);

        lana_platform_parse("linux/amd64", &p, NULL);
        j = lana_platform_to_json(&p);
        s = lana_json_canonical(j, NULL);
        assert_string_equal(s, "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
        free(s);
        json_decref(j);

        j = json_pack("{s:s}", "os", "linux");
        assert_int_equal(lana_platform_from_json(j, &q), -EINVAL);
        json_decref(j);
        j = json_pack("{s:s,s:i}", "os", "linux", "architecture", 5);
        assert_int_equal(lana_platform_from_json(j, &q), -EINVAL);
        json_decref(j);
        j = json_pack("{s:s,s:s}", "os", "linux", "architecture", "a-very-long-architecture");
        assert_int_equal(lana_platform_from_json(j, &q), -EINVAL);
        json_decref(j);
        assert_int_equal(lana_platform_from_json(NULL, &q), -EINVAL);
}

static void test_platform_elf_and_targets(void **state)
{
        (void)state;
        struct lana_platform p;
        lana_platform_parse("linux/amd64", &p, NULL);
        assert_int_equal(lana_platform_elf_machine(&p), EM_X86_64);
        assert_string_equal(lana_platform_rust_target(&p, false), "x86_64-unknown-linux-musl");
        assert_string_equal(lana_platform_rust_target(&p, true), "x86_64-unknown-linux-gnu");
        lana_platform_parse("linux/arm64", &p, NULL);
        assert_int_equal(lana_platform_elf_machine(&p), EM_AARCH64);
        assert_string_equal(lana_platform_rust_target(&p, false), "aarch64-unknown-linux-musl");
        lana_platform_parse("linux/arm/v7", &p, NULL);
        assert_int_equal(lana_platform_elf_machine(&p), EM_ARM);
        struct lana_platform unknown = {.os = "linux", .arch = "sparc"};
        assert_int_equal(lana_platform_elf_machine(&unknown), -1);
}

static void test_platform_host_is_parseable(void **state)
{
        (void)state;
        struct lana_platform h, p;
        lana_platform_host(&h);
        char buf[64];
        lana_platform_format(&h, buf, sizeof buf);
        assert_int_equal(lana_platform_parse(buf, &p, NULL), 0);
        assert_true(lana_platform_equal(&h, &p));
        assert_true(lana_platform_elf_machine(&h) > 0);
}

/* ---- canonical JSON ---- */

static void test_json_canonical_golden(void **state)
{
        (void)state;
        json_error_t je;
        const char *in = "{ \"b\": 1, \"a\": { \"d\": [1, \"x\", true], \"c\": null },\n"
                         "  \"\xc3\xa9\": \"\xc3\xbc\", \"s\": \"a/b\", \"B\": -2, \"e\": {} }";
        json_t *j = json_loads(in, 0, &je);
        assert_non_null(j);
        size_t len = 0;
        char *s = lana_json_canonical(j, &len);
        assert_string_equal(s, "{\"B\":-2,\"a\":{\"c\":null,\"d\":[1,\"x\",true]},\"b\":1,"
                               "\"e\":{},\"s\":\"a/b\",\"\xc3\xa9\":\"\xc3\xbc\"}");
        assert_int_equal(len, strlen(s));
        free(s);
        json_decref(j);

        /* insertion order never matters */
        json_t *x = json_object(), *y = json_object();
        json_object_set_new(x, "mediaType", json_string("m"));
        json_object_set_new(x, "digest", json_string("d"));
        json_object_set_new(x, "size", json_integer(3));
        json_object_set_new(y, "size", json_integer(3));
        json_object_set_new(y, "digest", json_string("d"));
        json_object_set_new(y, "mediaType", json_string("m"));
        char *sx = lana_json_canonical(x, NULL), *sy = lana_json_canonical(y, NULL);
        assert_string_equal(sx, sy);
        assert_string_equal(sx, "{\"digest\":\"d\",\"mediaType\":\"m\",\"size\":3}");
        free(sx);
        free(sy);
        json_decref(x);
        json_decref(y);

        j = json_object();
        s = lana_json_canonical(j, &len);
        assert_string_equal(s, "{}");
        assert_int_equal(len, 2);
        free(s);
        json_decref(j);
}

/* ---- the bounded object parser ---- */

static void expect_parse_object_fails(const char *data, size_t len, int code)
{
        json_t *j = (json_t *)0x1;
        struct lana_error *e = NULL;
        int r = lana_json_parse_object(data, len, &j, &e);
        if (r != code)
                fail_msg("parse of '%.40s' returned %d, expected %d", data, r, code);
        assert_non_null(e);
        assert_int_equal(e->code, code);
        assert_ptr_equal(j, (json_t *)0x1);
        lana_error_free(e);
}

#define BAD_JSON(s, code) expect_parse_object_fails(s, strlen(s), code)

static void test_json_parse_object(void **state)
{
        (void)state;
        json_t *j = NULL;
        struct lana_error *e = NULL;
        const char *ok = "{\"a\":1,\"b\":{\"a\":2}}";
        assert_int_equal(lana_json_parse_object(ok, strlen(ok), &j, &e), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
        json_decref(j);

        /* not NUL-terminated: only len bytes count */
        const char buf[] = {'{', '}', 'x'};
        assert_int_equal(lana_json_parse_object(buf, 2, &j, &e), 0);
        json_decref(j);

        BAD_JSON("[1,2]", -EBADMSG);
        BAD_JSON("\"s\"", -EBADMSG);
        BAD_JSON("1", -EBADMSG);
        BAD_JSON("null", -EBADMSG);
        BAD_JSON("", -EBADMSG);
        BAD_JSON("{", -EBADMSG);
        BAD_JSON("{}x", -EBADMSG);
        BAD_JSON("{} {}", -EBADMSG);
        BAD_JSON("{\"a\":1,\"a\":2}", -EBADMSG);
        BAD_JSON("{\"x\":{\"a\":1,\"a\":1}}", -EBADMSG);
        BAD_JSON("{\"a\":\"\xff\"}", -EBADMSG);
}

static void test_json_parse_object_size_limit(void **state)
{
        (void)state;
        /* a valid document of exactly the maximum size is accepted, one byte more is not */
        size_t n = LANA_OCI_MAX_DOC;
        char *doc = malloc(n + 2);
        assert_non_null(doc);
        memset(doc, 'x', n + 1);
        memcpy(doc, "{\"a\":\"", 6);
        memcpy(doc + n - 2, "\"}", 2);
        json_t *j = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(lana_json_parse_object(doc, n, &j, &e), 0);
        assert_int_equal(strlen(json_string_value(json_object_get(j, "a"))), n - 8);
        json_decref(j);
        memcpy(doc + n - 2, "x\"}", 3);
        expect_parse_object_fails(doc, n + 1, -E2BIG);
        free(doc);
}

/* ---- descriptors, manifests, indexes, configs ---- */

static json_t *manifest_doc(void)
{
        return json_pack("{s:i,s:s,s:{s:s,s:s,s:i},s:[{s:s,s:s,s:i},{s:s,s:s,s:i}]}",
                         "schemaVersion", 2, "mediaType", LANA_MT_OCI_MANIFEST, "config",
                         "mediaType", LANA_MT_OCI_CONFIG, "digest", DIG_A, "size", 10, "layers",
                         "mediaType", LANA_MT_OCI_LAYER "+gzip", "digest", DIG_B, "size", 20,
                         "mediaType", LANA_MT_OCI_LAYER, "digest", DIG_A, "size", 0);
}

static void test_descriptor_roundtrip(void **state)
{
        (void)state;
        struct lana_digest d;
        assert_int_equal(lana_digest_parse(DIG_A, &d, NULL), 0);
        json_t *desc = lana_descriptor_new(LANA_MT_OCI_MANIFEST, &d, 1234);
        char *s = lana_json_canonical(desc, NULL);
        assert_string_equal(s, "{\"digest\":\"" DIG_A "\",\"mediaType\":\"" LANA_MT_OCI_MANIFEST
                               "\",\"size\":1234}");
        free(s);
        const char *mt = NULL;
        struct lana_digest got;
        uint64_t size = 0;
        assert_int_equal(lana_descriptor_parse(desc, &mt, &got, &size, NULL), 0);
        assert_string_equal(mt, LANA_MT_OCI_MANIFEST);
        assert_true(lana_digest_equal(&got, &d));
        assert_int_equal(size, 1234);
        json_decref(desc);
}

static void expect_descriptor_fails(json_t *desc)
{
        struct lana_error *e = NULL;
        int r = lana_descriptor_parse(desc, NULL, NULL, NULL, &e);
        assert_true(r < 0);
        assert_non_null(e);
        assert_int_equal(e->code, r);
        lana_error_free(e);
        json_decref(desc);
}

static void test_descriptor_rejects(void **state)
{
        (void)state;
        expect_descriptor_fails(json_pack("[]"));
        expect_descriptor_fails(json_pack("{s:s,s:i}", "digest", DIG_A, "size", 1));
        expect_descriptor_fails(json_pack("{s:s,s:i}", "mediaType", "m", "size", 1));
        expect_descriptor_fails(json_pack("{s:s,s:s}", "mediaType", "m", "digest", DIG_A));
        expect_descriptor_fails(
                json_pack("{s:s,s:s,s:i}", "mediaType", "m", "digest", DIG_A, "size", -1));
        expect_descriptor_fails(
                json_pack("{s:s,s:s,s:s}", "mediaType", "m", "digest", DIG_A, "size", "1"));
        expect_descriptor_fails(
                json_pack("{s:s,s:s,s:i}", "mediaType", "m", "digest", "sha256:abc", "size", 1));
        expect_descriptor_fails(
                json_pack("{s:i,s:s,s:i}", "mediaType", 5, "digest", DIG_A, "size", 1));
        struct lana_error *e = NULL;
        assert_true(lana_descriptor_parse(NULL, NULL, NULL, NULL, &e) < 0);
        lana_error_free(e);
}

static void test_media_types(void **state)
{
        (void)state;
        assert_true(lana_media_type_is_index(LANA_MT_OCI_INDEX));
        assert_true(lana_media_type_is_index(LANA_MT_DOCKER_LIST));
        assert_false(lana_media_type_is_index(LANA_MT_OCI_MANIFEST));
        assert_false(lana_media_type_is_index(NULL));
        assert_true(lana_media_type_is_manifest(LANA_MT_OCI_MANIFEST));
        assert_true(lana_media_type_is_manifest(LANA_MT_DOCKER_MANIFEST));
        assert_false(lana_media_type_is_manifest(LANA_MT_OCI_INDEX));
        assert_false(lana_media_type_is_manifest(LANA_MT_OCI_CONFIG));
        assert_false(lana_media_type_is_manifest(NULL));
}

static void expect_invalid(int (*validate)(json_t *, struct lana_error **), json_t *doc,
                           const char *what)
{
        struct lana_error *e = NULL;
        int r = validate(doc, &e);
        if (r != -EBADMSG)
                fail_msg("%s: returned %d, expected -EBADMSG", what, r);
        assert_non_null(e);
        assert_int_equal(e->code, -EBADMSG);
        lana_error_free(e);
        json_decref(doc);
}

static void test_manifest_validate(void **state)
{
        (void)state;
        json_t *m = manifest_doc();
        struct lana_error *e = NULL;
        assert_int_equal(lana_manifest_validate(m, &e), 0);
        /* mediaType is optional; Docker's is accepted */
        json_object_del(m, "mediaType");
        assert_int_equal(lana_manifest_validate(m, &e), 0);
        json_object_set_new(m, "mediaType", json_string(LANA_MT_DOCKER_MANIFEST));
        assert_int_equal(lana_manifest_validate(m, &e), 0);
        json_object_set_new(m, "layers", json_array());
        assert_int_equal(lana_manifest_validate(m, &e), 0);
        json_decref(m);
        assert_null(e);

        static const char *top[] = {"schemaVersion", "config", "layers"};
        for (size_t i = 0; i < 3; i++) {
                m = manifest_doc();
                json_object_del(m, top[i]);
                expect_invalid(lana_manifest_validate, m, top[i]);
        }
        static const char *fields[] = {"mediaType", "digest", "size"};
        for (size_t i = 0; i < 3; i++) {
                m = manifest_doc();
                json_object_del(json_object_get(m, "config"), fields[i]);
                expect_invalid(lana_manifest_validate, m, fields[i]);
                m = manifest_doc();
                json_object_del(json_array_get(json_object_get(m, "layers"), 1), fields[i]);
                expect_invalid(lana_manifest_validate, m, fields[i]);
        }
        m = manifest_doc();
        json_object_set_new(m, "schemaVersion", json_integer(1));
        expect_invalid(lana_manifest_validate, m, "schemaVersion 1");
        m = manifest_doc();
        json_object_set_new(m, "schemaVersion", json_string("2"));
        expect_invalid(lana_manifest_validate, m, "schemaVersion string");
        m = manifest_doc();
        json_object_set_new(m, "mediaType", json_string(LANA_MT_OCI_INDEX));
        expect_invalid(lana_manifest_validate, m, "index mediaType");
        m = manifest_doc();
        json_object_set_new(m, "layers", json_object());
        expect_invalid(lana_manifest_validate, m, "layers object");
        m = manifest_doc();
        json_array_append_new(json_object_get(m, "layers"), json_string("x"));
        expect_invalid(lana_manifest_validate, m, "layer string");
}

static json_t *index_doc(void)
{
        return json_pack("{s:i,s:s,s:[{s:s,s:s,s:i,s:{s:s,s:s}}]}", "schemaVersion", 2, "mediaType",
                         LANA_MT_OCI_INDEX, "manifests", "mediaType", LANA_MT_OCI_MANIFEST,
                         "digest", DIG_A, "size", 100, "platform", "architecture", "amd64", "os",
                         "linux");
}

static void test_index_validate(void **state)
{
        (void)state;
        json_t *idx = index_doc();
        struct lana_error *e = NULL;
        assert_int_equal(lana_index_validate(idx, &e), 0);
        json_object_set_new(idx, "manifests", json_array());
        assert_int_equal(lana_index_validate(idx, &e), 0);
        json_decref(idx);
        assert_null(e);

        idx = index_doc();
        json_object_del(idx, "schemaVersion");
        expect_invalid(lana_index_validate, idx, "schemaVersion");
        idx = index_doc();
        json_object_del(idx, "manifests");
        expect_invalid(lana_index_validate, idx, "manifests");
        static const char *fields[] = {"mediaType", "digest", "size"};
        for (size_t i = 0; i < 3; i++) {
                idx = index_doc();
                json_object_del(json_array_get(json_object_get(idx, "manifests"), 0), fields[i]);
                expect_invalid(lana_index_validate, idx, fields[i]);
        }
}

static json_t *config_doc(void)
{
        return json_pack("{s:s,s:s,s:{},s:{s:s,s:[s,s]}}", "architecture", "amd64", "os", "linux",
                         "config", "rootfs", "type", "layers", "diff_ids", DIG_A, DIG_B);
}

static void test_config_validate(void **state)
{
        (void)state;
        json_t *c = config_doc();
        struct lana_error *e = NULL;
        assert_int_equal(lana_config_validate(c, &e), 0);
        json_decref(c);
        assert_null(e);
        static const char *top[] = {"os", "architecture", "rootfs"};
        for (size_t i = 0; i < 3; i++) {
                c = config_doc();
                json_object_del(c, top[i]);
                expect_invalid(lana_config_validate, c, top[i]);
        }
        c = config_doc();
        json_object_del(json_object_get(c, "rootfs"), "diff_ids");
        expect_invalid(lana_config_validate, c, "diff_ids");
        c = config_doc();
        json_array_append_new(json_object_get(json_object_get(c, "rootfs"), "diff_ids"),
                              json_string("sha256:nothex"));
        expect_invalid(lana_config_validate, c, "bad diff_id");
        c = config_doc();
        json_array_append_new(json_object_get(json_object_get(c, "rootfs"), "diff_ids"),
                              json_integer(1));
        expect_invalid(lana_config_validate, c, "diff_id not a string");
        c = config_doc();
        json_object_set_new(c, "os", json_integer(1));
        expect_invalid(lana_config_validate, c, "os not a string");
}

/* ---- timestamps ---- */

static void test_format_timestamp(void **state)
{
        (void)state;
        char buf[32];
        lana_format_timestamp(0, buf);
        assert_string_equal(buf, "1970-01-01T00:00:00Z");
        lana_format_timestamp(1700000000, buf);
        assert_string_equal(buf, "2023-11-14T22:13:20Z");
        lana_format_timestamp(951782400, buf);
        assert_string_equal(buf, "2000-02-29T00:00:00Z");
        lana_format_timestamp(4102444799, buf);
        assert_string_equal(buf, "2099-12-31T23:59:59Z");
        /* always UTC, whatever TZ says */
        setenv("TZ", "Pacific/Chatham", 1);
        tzset();
        lana_format_timestamp(0, buf);
        assert_string_equal(buf, "1970-01-01T00:00:00Z");
        unsetenv("TZ");
        tzset();
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reference_parse_table),
                cmocka_unit_test(test_reference_normalisation_is_idempotent),
                cmocka_unit_test(test_reference_rejects),
                cmocka_unit_test(test_reference_rejects_bad_registry),
                cmocka_unit_test(test_reference_uppercase_first_component),
                cmocka_unit_test(test_reference_length_limit),
                cmocka_unit_test(test_tag_valid),
                cmocka_unit_test(test_platform_parse_good),
                cmocka_unit_test(test_platform_parse_bad),
                cmocka_unit_test(test_platform_equal),
                cmocka_unit_test(test_platform_json_roundtrip),
                cmocka_unit_test(test_platform_elf_and_targets),
                cmocka_unit_test(test_platform_host_is_parseable),
                cmocka_unit_test(test_json_canonical_golden),
                cmocka_unit_test(test_json_parse_object),
                cmocka_unit_test(test_json_parse_object_size_limit),
                cmocka_unit_test(test_descriptor_roundtrip),
                cmocka_unit_test(test_descriptor_rejects),
                cmocka_unit_test(test_media_types),
                cmocka_unit_test(test_manifest_validate),
                cmocka_unit_test(test_index_validate),
                cmocka_unit_test(test_config_validate),
                cmocka_unit_test(test_format_timestamp),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
