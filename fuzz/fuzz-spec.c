/*
 * fuzz-spec.c — libFuzzer target for lana_spec_parse(), the build spec (lana-img.yaml) reader:
 * libfyaml underneath, then our schema walk that turns nodes into a struct lana_spec and JSON
 * config fragments. The spec is the one input a user writes by hand, so every shape of YAML
 * (aliases, tags, complex keys, empty values, deep nesting) must end in a spec or an error.
 *
 * `dir` is "/nonexistent": parsing must never touch the files a spec names.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lana/build.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Known leak in the libfyaml we link (Debian 12: 0.7.12), not in lana-img: fy_node_get_scalar()
 * on a quoted scalar with more than a handful of escapes () leaks the atom iterator's
 * grown chunk array (512 bytes), upstream libfyaml#233, fixed after 0.7.12. LeakSanitizer reads
 * this hook at exit. The replay runs with fast_unwind_on_malloc=0, so the suppression can name
 * libfyaml's own frame and a leak of ours on the same input is still reported. libFuzzer runs
 * use the fast unwinder, which stops at libfyaml's first frame (no frame pointers there), so they
 * can only suppress by module; fuzz/run-fuzz replays every new input through the precise replay
 * program afterwards to make up for it. Drop this once the distribution ships a fixed libfyaml.
 */
__attribute__((visibility("default"), used)) const char *__lsan_default_suppressions(void);
__attribute__((visibility("default"), used)) const char *__lsan_default_suppressions(void)
{
#ifdef FUZZ_LIBFUZZER
        return "leak:fy_atom_iter_chunk_next\nleak:libfyaml.so\n";
#else
        return "leak:fy_atom_iter_chunk_next\n";
#endif
}

static _Noreturn void fail(const char *what)
{
        fprintf(stderr, "fuzz-spec: %s\n", what);
        abort();
}

static void check_spec(const struct lana_spec *s)
{
        if (strcmp(s->path, "fuzz.yaml") != 0 || strcmp(s->dir, "/nonexistent") != 0)
                fail("path or dir not kept");
        if (!s->base || !*s->base || !json_is_object(s->config))
                fail("no base or no config object");
        if (s->annotations && !json_is_object(s->annotations))
                fail("annotations is not an object");
        for (size_t i = 0; i < s->n_tags; i++)
                if (!lana_tag_valid(s->tags[i]))
                        fail("accepted an invalid tag");
        for (size_t i = 0; i < s->n_layers; i++) {
                const struct lana_spec_layer *l = &s->layers[i];
                if (!l->name)
                        fail("layer without a name");
                for (size_t k = 0; k < l->n_files; k++) {
                        const struct lana_spec_file *f = &l->files[k];
                        if (!f->src || !*f->src || !f->dst || f->dst[0] != '/')
                                fail("file without src or with a relative dst");
                        if (f->has_mode && f->mode > 07777)
                                fail("mode out of range");
                }
        }
        /* the config fragment ends up hashed into the image config */
        free(lana_json_canonical(s->config, NULL));
        if (s->annotations)
                free(lana_json_canonical(s->annotations, NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct lana_spec *s = NULL;
        struct lana_error *e = NULL;
        int r = lana_spec_parse((const char *)data, size, "fuzz.yaml", "/nonexistent", &s, &e);
        if (r < 0) {
                if (!e || e->code != r || !e->msg)
                        fail("failed without a matching error");
                if (s)
                        fail("failed but returned a spec");
                lana_error_free(e);
                return 0;
        }
        if (e || !s)
                fail("succeeded but set an error or returned no spec");
        check_spec(s);
        lana_spec_free(s);
        return 0;
}
