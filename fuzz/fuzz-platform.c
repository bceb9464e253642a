/*
 * fuzz-platform.c — libFuzzer target for lana_platform_parse(), which reads "--platform" and the
 * spec's "platforms:" list into fixed-size buffers (16 bytes per field), so the length checks are
 * what this target is about.
 *
 * A parsed platform must format back to a string that parses to an equal platform, survive the
 * OCI JSON form, and have every derived name (ELF machine, Rust target) defined.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lana/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void fail(const char *input, const char *what, const char *detail)
{
        fprintf(stderr, "fuzz-platform: '%s': %s%s%s\n", input, what, detail ? ": " : "",
                detail ? detail : "");
        abort();
}

static bool same(const struct lana_platform *a, const struct lana_platform *b)
{
        /* lana_platform_equal() deliberately treats arm64 and arm64/v8 alike; here we want
         * identity */
        return !strcmp(a->os, b->os) && !strcmp(a->arch, b->arch) &&
               !strcmp(a->variant, b->variant);
}

static void check_platform(const char *input, const struct lana_platform *p)
{
        if (!memchr(p->os, '\0', sizeof p->os) || !memchr(p->arch, '\0', sizeof p->arch) ||
            !memchr(p->variant, '\0', sizeof p->variant))
                fail(input, "a field is not NUL-terminated", NULL);

        char buf[64];
        lana_platform_format(p, buf, sizeof buf);
        struct lana_platform again;
        struct lana_error *e = NULL;
        if (lana_platform_parse(buf, &again, &e) < 0)
                fail(input, "formatted platform does not parse", e ? e->msg : NULL);
        if (!same(p, &again) || !lana_platform_equal(p, &again))
                fail(input, "does not survive format/parse", buf);

        /* lana_platform_parse() only accepts architectures it knows */
        if (lana_platform_elf_machine(p) < 0 ||
            !strcmp(lana_platform_rust_target(p, false), "unknown") ||
            !strcmp(lana_platform_rust_target(p, true), "unknown"))
                fail(input, "accepted an architecture with no ELF machine or Rust target", NULL);

        json_t *j = lana_platform_to_json(p);
        struct lana_platform from;
        if (lana_platform_from_json(j, &from) < 0 || !same(p, &from))
                fail(input, "does not survive the OCI JSON form", NULL);
        json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        struct lana_platform p;
        struct lana_error *e = NULL;
        int r = lana_platform_parse(s, &p, &e);
        if (r < 0) {
                if (!e || e->code != r || !e->msg)
                        fail(s, "failed without a matching error", NULL);
                lana_error_free(e);
        } else {
                if (e)
                        fail(s, "succeeded but set an error", e->msg);
                check_platform(s, &p);
        }
        free(s);
        return 0;
}
