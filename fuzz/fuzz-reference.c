/*
 * fuzz-reference.c — libFuzzer target for lana_reference_parse(), which sees every image name a
 * user types and every name read back from a store or an OCI layout's index.
 *
 * Beyond "no crash, no leak" it checks the contract the store relies on: a failure sets exactly
 * one error and leaves *ret empty (so releasing it is harmless), and a parsed reference is already
 * normalised, so formatting it and parsing the result again gives back the same spelling ("one
 * spelling per image").
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lana/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void fail(const char *input, const char *what, const char *detail)
{
        fprintf(stderr, "fuzz-reference: '%s': %s%s%s\n", input, what, detail ? ": " : "",
                detail ? detail : "");
        abort();
}

static void check_roundtrip(const char *input, const struct lana_reference *r)
{
        char *s = lana_reference_format(r);
        struct lana_reference again;
        struct lana_error *e = NULL;
        if (lana_reference_parse(s, NULL, &again, &e) < 0) {
                fprintf(stderr, "formatted: '%s'\n", s);
                fail(input, "formatted reference does not parse", e ? e->msg : NULL);
        }
        char *s2 = lana_reference_format(&again);
        if (strcmp(s, s2) != 0)
                fail(input, "formatting is not stable", s2);
        free(s2);
        free(s);
        lana_reference_release(&again);
}

static void parse_one(const char *s, const char *default_tag)
{
        struct lana_reference r;
        struct lana_error *e = NULL;
        int k = lana_reference_parse(s, default_tag, &r, &e);
        if (k < 0) {
                if (!e || e->code != k || !e->msg)
                        fail(s, "failed without a matching error", NULL);
                lana_error_free(e);
                if (r.domain || r.path || r.tag || r.digest)
                        fail(s, "failed but filled *ret", NULL);
                return;
        }
        if (e)
                fail(s, "succeeded but set an error", e->msg);
        if (!r.domain || !*r.domain || !r.path || !*r.path)
                fail(s, "parsed without domain or path", NULL);
        if (default_tag && !r.tag && !r.digest)
                fail(s, "default tag not applied", NULL);
        if (r.tag && !lana_tag_valid(r.tag))
                fail(s, "accepted an invalid tag", r.tag);
        if (r.digest) {
                struct lana_digest d;
                if (lana_digest_parse(r.digest, &d, NULL) < 0)
                        fail(s, "accepted an invalid digest", r.digest);
        }
        check_roundtrip(s, &r);
        free(lana_reference_repository(&r));
        lana_reference_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        parse_one(s, NULL);
        parse_one(s, "latest");
        free(s);
        return 0;
}
