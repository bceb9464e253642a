/*
 * lana/build.h — the build spec (lana-img.yaml), the plan derived from it, and the builder that
 * turns a plan into layers, configs, manifests and an index in an OCI layout.
 *
 * Everything that can be wrong with the inputs (spec keys, missing files, duplicate destinations,
 * bad modes, ELF binaries for the wrong machine, the base image) is checked while planning, before
 * a single byte is written, so a bad input never changes the store.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "lana/compress.h"
#include "lana/error.h"
#include "lana/oci.h"
#include "lana/store.h"

struct lana_spec_file {
        char *src; /* as written, placeholders unexpanded */
        char *dst;
        int line;
        bool has_mode, has_uid, has_gid;
        mode_t mode;
        uint32_t uid, gid;
};

struct lana_spec_layer {
        char *name;
        int line;
        struct lana_spec_file *files;
        size_t n_files;
};

struct lana_spec {
        char *path;  /* the spec file */
        char *dir;   /* directory relative src paths are resolved against */
        char *image; /* repository ("registry/name"), may be NULL */
        char **tags;
        size_t n_tags;
        struct lana_platform *platforms;
        size_t n_platforms;
        char *base; /* "scratch", "rootfs", a store ref, "oci:DIR[:REF]", ... */
        bool has_compression, has_level;
        struct lana_compress_profile compression;
        struct lana_spec_layer *layers;
        size_t n_layers;
        json_t *config;      /* OCI "config" object fields set by the spec */
        bool resets_cmd;     /* entrypoint given without cmd */
        json_t *annotations; /* object of strings */
};

/* Parses a spec from memory; `path` names it in errors and `dir` anchors relative srcs. */
int lana_spec_parse(const char *data, size_t len, const char *path, const char *dir,
                    struct lana_spec **ret, struct lana_error **err);
int lana_spec_load(const char *path, struct lana_spec **ret, struct lana_error **err);
struct lana_spec *lana_spec_free(struct lana_spec *s);
void lana_spec_freep(struct lana_spec **s);

enum lana_output_kind {
        LANA_OUTPUT_STORE,
        LANA_OUTPUT_OCI_DIR,
        LANA_OUTPUT_OCI_ARCHIVE,
        LANA_OUTPUT_DOCKER_ARCHIVE,
};

/* Parses "oci:DIR", "oci-archive:FILE" or "docker-archive:FILE". */
int lana_output_parse(const char *s, enum lana_output_kind *ret_kind, char **ret_path,
                      struct lana_error **err);

struct lana_build_progress {
        void (*layer_start)(void *ud, const char *platform, const char *layer, uint64_t bytes);
        void (*layer_bytes)(void *ud, uint64_t in, uint64_t out);
        /* in == 0 with out > 0 means the layer came from the build cache */
        void (*layer_done)(void *ud, const char *platform, const char *layer, uint64_t in,
                           uint64_t out, const char *digest, double seconds);
        void *userdata;
};

struct lana_build_options {
        const char *spec_path;   /* required */
        char **tags;             /* extra full references (-t), NULL-terminated, may be NULL */
        const char *platforms;   /* "linux/amd64,linux/arm64" overriding the spec, or NULL */
        const char *compression; /* overrides the spec, or NULL */
        int level;               /* 0: spec or default */
        unsigned jobs;           /* 0: number of CPUs */
        int64_t epoch;           /* SOURCE_DATE_EPOCH */
        enum lana_output_kind output;
        const char *output_path;
        struct lana_store *store; /* needed for store output and store-ref bases */
        const char *rootfs_dir;   /* the in-tree base skeleton */
        bool no_cache;            /* neither use nor fill the build cache */
        /* With `store` NULL and a store output: the store to create (lana_store_open) once
         * everything is planned, so that a build whose inputs are wrong creates nothing. */
        const char *store_root;
        const struct lana_build_progress *progress;
};

struct lana_build_result {
        struct lana_digest digest; /* what the refs point to (manifest or index) */
        char *media_type;
        char **refs; /* names written, NULL-terminated */
};

int lana_build(const struct lana_build_options *o, struct lana_build_result *ret,
               struct lana_error **err);
void lana_build_result_release(struct lana_build_result *r);
