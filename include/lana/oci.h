/*
 * lana/oci.h — the OCI data model: references, platforms, descriptors, manifests, indexes and
 * image configs, as jansson values, plus the canonical JSON encoding. Pure data: no I/O here, so
 * every parser in this module can be fuzzed on its own.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "lana/digest.h"
#include "lana/error.h"

#define LANA_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define LANA_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define LANA_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define LANA_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define LANA_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define LANA_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define LANA_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define LANA_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define LANA_ANNOT_REF_NAME "org.opencontainers.image.ref.name"
#define LANA_ANNOT_COMPRESSION "org.lana-img.compression"

/* Largest manifest/index/config document we accept from anywhere. */
#define LANA_OCI_MAX_DOC ((size_t)4 << 20)

/* ---- references: [domain/]path[:tag][@digest] ---- */
struct lana_reference {
        char *domain; /* "docker.io" when omitted */
        char *path;   /* "library/alpine" for official images */
        char *tag;    /* NULL when absent */
        char *digest; /* NULL when absent */
};

/* Parses and normalises a reference. With `default_tag` and neither tag nor digest present, the
 * tag is set to it ("latest"). */
int lana_reference_parse(const char *s, const char *default_tag, struct lana_reference *ret,
                         struct lana_error **err);
/* "domain/path[:tag][@digest]"; caller frees. */
char *lana_reference_format(const struct lana_reference *r);
/* "domain/path"; caller frees. */
char *lana_reference_repository(const struct lana_reference *r);
void lana_reference_release(struct lana_reference *r);
/* Validates a tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}). */
bool lana_tag_valid(const char *tag);

/* ---- platforms: os/arch[/variant] ---- */
struct lana_platform {
        char os[16];
        char arch[16];
        char variant[16];
};

int lana_platform_parse(const char *s, struct lana_platform *ret, struct lana_error **err);
/* "linux/arm64/v8"-style string into buf. */
const char *lana_platform_format(const struct lana_platform *p, char *buf, size_t len);
void lana_platform_host(struct lana_platform *ret);
/* The ELF e_machine value for the platform's architecture, or -1 when unknown. */
int lana_platform_elf_machine(const struct lana_platform *p);
/* Rust target triple (musl, static) and Go GOARCH for placeholder expansion. */
const char *lana_platform_rust_target(const struct lana_platform *p, bool gnu);
bool lana_platform_equal(const struct lana_platform *a, const struct lana_platform *b);
/* Reads/writes the OCI "platform" object (architecture, os, variant). */
json_t *lana_platform_to_json(const struct lana_platform *p);
int lana_platform_from_json(json_t *j, struct lana_platform *ret);

/* ---- JSON documents ---- */
/* Canonical encoding: object keys sorted bytewise, no insignificant whitespace. Caller frees. */
char *lana_json_canonical(json_t *j, size_t *ret_len);
/* Parses a JSON document (at most LANA_OCI_MAX_DOC bytes) requiring an object at the top. */
int lana_json_parse_object(const char *data, size_t len, json_t **ret, struct lana_error **err);

/* A descriptor object. */
json_t *lana_descriptor_new(const char *media_type, const struct lana_digest *d, uint64_t size);
/* Validates a descriptor and extracts its fields (media_type and digest pointers stay valid while
 * `desc` lives). */
int lana_descriptor_parse(json_t *desc, const char **ret_media_type, struct lana_digest *ret_digest,
                          uint64_t *ret_size, struct lana_error **err);

bool lana_media_type_is_index(const char *mt);
bool lana_media_type_is_manifest(const char *mt);

/* Validates a manifest document: schemaVersion 2, config and layers descriptors. */
int lana_manifest_validate(json_t *m, struct lana_error **err);
int lana_index_validate(json_t *idx, struct lana_error **err);
/* Validates the parts of an image config we rely on (os, architecture, rootfs.diff_ids). */
int lana_config_validate(json_t *cfg, struct lana_error **err);
/* RFC 3339 UTC timestamp for a Unix time ("1970-01-01T00:00:00Z"). */
void lana_format_timestamp(int64_t t, char buf[32]);
