/*
 * build-internal.h — the plan: for one platform, the ordered layers and, in each, the sorted list
 * of entries with every tar header field decided. Planning reads metadata only; the builder reads
 * contents later, checking nothing changed in between.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "lana/build.h"
#include "lana/digest.h"
#include "lana/layer.h"

struct plan_entry {
        char *path; /* in the image, relative, no trailing "/" */
        enum lana_tar_type type;
        mode_t mode;
        uint32_t uid, gid;
        uint64_t size;
        char *link; /* symlink target */
        char *host; /* regular files: where to read the bytes */
        /* regular files: the lstat() of host the plan was made from, the stat key's content
         * identity (layer-key.c) */
        dev_t dev;
        ino_t ino;
        struct timespec mtime, ctime;
        uint16_t elf_machine; /* set by plan_check_machines(): e_machine, 0 if not ELF */
        bool implicit;
        size_t seq;   /* declaration order, the sort tie-break */
        char *origin; /* "spec.yaml:12: layers[0].files[1]" for error messages */
};

struct plan_layer {
        char *name;
        struct plan_entry *e;
        size_t n, cap;
        /* The build cache's answer for the layer's stat key, asked once before the ELF check
         * (builder.c: probe_cache): */
        struct lana_digest stat_key;
        json_t *hit_desc; /* NULL: a miss */
        struct lana_digest hit_diff_id;
        /* the hit's notes say every ELF file in it is for the plan's machine: the check skips
         * the layer instead of opening each of its files again */
        bool elf_known;
        bool elf_checked; /* plan_check_machines() read its files: elf_machine is set */
};

struct plan {
        struct lana_platform platform;
        struct plan_layer *layers;
        size_t n_layers;
};

/* Plans every layer of the spec for one platform; all input errors surface here. */
int plan_platform(const struct lana_spec *s, const struct lana_platform *p, struct plan **ret,
                  struct lana_error **err);
/* Plans the in-tree base skeleton as one layer. */
int plan_rootfs_layer(const char *rootfs_dir, struct plan_layer *ret, struct lana_error **err);
void plan_layer_release(struct plan_layer *l);
struct plan *plan_free(struct plan *p);
/* Expands {os} {arch} {variant} {rust_target} {rust_target_gnu} {go_arch} in `in`. */
int plan_expand(const char *in, const struct lana_platform *p, char **ret);
/* Checks that every ELF file in the plan's layers (but those marked elf_known) is for the
 * plan's machine, with up to `jobs` threads, noting each file's machine; non-ELF files pass. The
 * error reported is the one of the earliest failing file in plan order. */
int plan_check_machines(struct plan *pl, unsigned jobs, struct lana_error **err);
/* The ELF machines of a checked layer's files, as the cache notes them: {"elf_machines":[...]}
 * sorted and unique; NULL when the layer was not checked. */
json_t *plan_layer_elf_notes(const struct plan_layer *l);
/* Whether notes recorded by plan_layer_elf_notes() vouch for every ELF file being for `p`. */
bool plan_elf_notes_match(json_t *notes, const struct lana_platform *p);

/* Cache keys (layer-key.c). */
void layer_stat_key(const struct plan_layer *l, const char *profile, int64_t epoch,
                    struct lana_digest *ret);
int layer_content_key(const struct plan_layer *l, const char *profile, int64_t epoch,
                      struct lana_digest *ret, struct lana_error **err);
void layer_slot(const char *spec_path, const char *layer, const char *platform,
                struct lana_digest *ret);
