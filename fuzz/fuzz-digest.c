/*
 * fuzz-digest.c — libFuzzer target for lana_digest_parse(). Digests name every blob path in the
 * store, so a string this parser accepts must be exactly "sha256:" and 64 lowercase hex digits:
 * anything looser ("../", uppercase, a second spelling of the same digest) would reach the
 * filesystem.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lana/digest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void fail(const char *input, const char *what)
{
        fprintf(stderr, "fuzz-digest: '%s': %s\n", input, what);
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        struct lana_digest d;
        struct lana_error *e = NULL;
        int r = lana_digest_parse(s, &d, &e);
        if (r < 0) {
                if (!e || e->code != r || !e->msg)
                        fail(s, "failed without a matching error");
                lana_error_free(e);
        } else {
                if (e)
                        fail(s, "succeeded but set an error");
                /* accepted means canonical: the parsed digest prints as the input */
                if (strcmp(d.str, s) != 0 || strcmp(d.hex, s + 7) != 0)
                        fail(s, "parsed digest prints differently");
                if (strlen(d.hex) != 2 * LANA_DIGEST_RAW ||
                    strspn(d.hex, "0123456789abcdef") != 2 * LANA_DIGEST_RAW)
                        fail(s, "hex form is not 64 lowercase hex digits");
                struct lana_digest again;
                lana_digest_from_raw(&again, d.raw);
                if (!lana_digest_equal(&d, &again) || strcmp(again.str, d.str) != 0)
                        fail(s, "raw and text forms disagree");
        }
        free(s);
        return 0;
}
