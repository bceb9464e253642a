/*
 * lana/store.h — OCI image layouts and the content-addressed store built on one.
 *
 * A layout is a directory with `oci-layout`, `index.json` and `blobs/sha256/<hex>`, exactly as in
 * the OCI image-layout spec, so skopeo and umoci read it directly. Blobs are immutable: each is
 * written to a temp file in blobs/sha256, hashed while written, fsynced and renamed to its digest,
 * so a blob's name always matches its bytes. index.json updates happen under an exclusive flock on
 * the layout directory and are published atomically.
 *
 * The store (`--root`) holds one layout in `$ROOT/oci` whose refs are full references
 * ("registry.example.com/lana/api:1.0"), plus `$ROOT/tmp` and a gc lock that lets builds run in
 * parallel while `prune` waits for them.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "lana/digest.h"
#include "lana/error.h"
#include "lana/oci.h"
#include "lana/writer.h"

struct lana_layout;

/* Opens the layout at `path`; with `create`, creates it (and missing parents). Fails with -ENOENT
 * when it does not exist and `create` is false, -EBADMSG when it is not a valid layout. */
int lana_layout_open(const char *path, bool create, struct lana_layout **ret,
                     struct lana_error **err);
struct lana_layout *lana_layout_free(struct lana_layout *l);
void lana_layout_freep(struct lana_layout **l);
const char *lana_layout_path(const struct lana_layout *l);

/* ---- blobs ---- */
struct lana_blob_writer;
int lana_blob_writer_new(struct lana_layout *l, struct lana_blob_writer **ret,
                         struct lana_error **err);
/* The writer to send the blob's bytes to (hashes and writes to the temp file). */
struct lana_writer *lana_blob_writer_stream(struct lana_blob_writer *bw);
/* fsyncs and publishes the blob under its digest. With `expect`, a mismatch fails with -EBADMSG
 * and nothing is published. */
int lana_blob_writer_commit(struct lana_blob_writer *bw, const struct lana_digest *expect,
                            struct lana_digest *ret_digest, uint64_t *ret_size,
                            struct lana_error **err);
/* Frees; an uncommitted temp file is removed. Accepts NULL; returns NULL. */
struct lana_blob_writer *lana_blob_writer_free(struct lana_blob_writer *bw);

int lana_layout_put_blob(struct lana_layout *l, const void *data, size_t len,
                         struct lana_digest *ret, struct lana_error **err);
bool lana_layout_has_blob(struct lana_layout *l, const struct lana_digest *d);
/* Opens a blob read-only; ret_size gets its size. */
int lana_layout_open_blob(struct lana_layout *l, const struct lana_digest *d, int *ret_fd,
                          uint64_t *ret_size, struct lana_error **err);
/* Opens the blob a descriptor names; -EBADMSG when its size is not the descriptor's (the check
 * pull makes of every blob it fetches). */
int lana_layout_open_desc(struct lana_layout *l, json_t *desc, int *ret_fd,
                          struct lana_error **err);
/* Reads a blob of at most `max` bytes and verifies its digest. */
int lana_layout_read_blob(struct lana_layout *l, const struct lana_digest *d, size_t max,
                          char **ret, size_t *ret_len, struct lana_error **err);
/* Reads and parses a JSON blob (manifest, index, config). */
int lana_layout_read_json(struct lana_layout *l, const struct lana_digest *d, json_t **ret,
                          struct lana_error **err);
/* Copies the blob a descriptor names from one layout to another, verifying its digest and
 * size; when `dst` has it already, only the size is checked. */
int lana_layout_copy_blob(struct lana_layout *dst, struct lana_layout *src, json_t *desc,
                          struct lana_error **err);
/* Copies everything reachable from a descriptor (index, manifests, configs, layers). */
int lana_layout_copy_tree(struct lana_layout *dst, struct lana_layout *src, json_t *desc,
                          struct lana_error **err);

/* ---- refs (index.json) ---- */
/* Points `name` at the descriptor (copied; the ref annotation is added), replacing any entry
 * with the same name. */
int lana_layout_set_ref(struct lana_layout *l, const char *name, json_t *desc,
                        struct lana_error **err);
/* Points every one of the `n` names at the descriptor as lana_layout_set_ref() does, in one
 * locked rewrite of index.json: the names all appear together or, on failure, none does. */
int lana_layout_set_refs(struct lana_layout *l, const char *const *names, size_t n, json_t *desc,
                         struct lana_error **err);
/* Looks up a name; -ENOENT when absent. *ret is a new reference. */
int lana_layout_resolve(struct lana_layout *l, const char *name, json_t **ret,
                        struct lana_error **err);
int lana_layout_remove_ref(struct lana_layout *l, const char *name, struct lana_error **err);
/* The `manifests` array of index.json (a new reference). */
int lana_layout_list(struct lana_layout *l, json_t **ret, struct lana_error **err);
/* With the platform (may be NULL for the host), picks the manifest descriptor out of an index
 * descriptor; a manifest descriptor is returned as is. *ret is a new reference. The image picked
 * is checked as lana_image_load() does, so that no caller starts work on an image that can never
 * be used. */
int lana_layout_select_manifest(struct lana_layout *l, json_t *desc,
                                const struct lana_platform *platform, json_t **ret,
                                struct lana_error **err);

/* ---- maintenance ---- */
/* Removes blobs not reachable from index.json and stale temp files. */
int lana_layout_gc(struct lana_layout *l, uint64_t *ret_blobs, uint64_t *ret_bytes,
                   struct lana_error **err);
typedef void (*lana_fault_fn)(void *userdata, const char *fault);
/* Re-hashes every blob and checks every ref's closure; calls `report` once per fault and
 * returns the number of faults (>= 0), or a negative error when the check itself failed. */
int lana_layout_fsck(struct lana_layout *l, lana_fault_fn report, void *userdata,
                     struct lana_error **err);
/* Writes the layout (only what index.json reaches) as a tar archive to `path`, atomically. */
int lana_layout_export_archive(struct lana_layout *l, const char *path, struct lana_error **err);
/* Unpacks an OCI archive into the (empty) directory `dir`, accepting only layout files. */
int lana_layout_import_archive(const char *archive, const char *dir, struct lana_error **err);

/* ---- the store ---- */
struct lana_store;
/* Default root: /var/lib/lana-img for root, $XDG_DATA_HOME/lana-img (or ~/.local/share) else. */
char *lana_store_default_root(void);
/* Opens (creating) the store; takes the shared gc lock held until lana_store_free(). */
int lana_store_open(const char *root, struct lana_store **ret, struct lana_error **err);
/* Opens an existing store read-only use: fails with -ENOENT when there is none. */
int lana_store_open_existing(const char *root, struct lana_store **ret, struct lana_error **err);
struct lana_store *lana_store_free(struct lana_store *s);
void lana_store_freep(struct lana_store **s);
struct lana_layout *lana_store_layout(struct lana_store *s);
const char *lana_store_root(struct lana_store *s);
/* What prune removed, by kind: `n` things, `bytes` the st_size of their files (a file with
 * several hardlinks counted once; directories not counted). */
struct lana_prune_count {
        uint64_t n, bytes;
};
struct lana_prune_report {
        struct lana_prune_count blobs;     /* blobs no name reaches */
        struct lana_prune_count temp;      /* files of killed commands: unfinished and partial
                                            * blobs, $ROOT/tmp, unfinished snapshots */
        struct lana_prune_count cache;     /* cache files: layer-cache entries whose blob is
                                            * gone, mount records, compiled seccomp filters */
        struct lana_prune_count snapshots; /* snapshots `also` removed (n: snapshots) */
};
/* Upgrades to the exclusive gc lock (waits for running builds and containers starting) and
 * collects garbage; `also` (may be NULL) runs while the lock is held, for collectors above the
 * store: what it removes from $ROOT/snapshots is measured and reported. *ret (may be NULL) is
 * filled even on failure, with what was removed until then. */
int lana_store_prune_report(struct lana_store *s, struct lana_prune_report *ret,
                            int (*also)(struct lana_store *s, void *ud, struct lana_error **err),
                            void *ud, struct lana_error **err);
/* lana_store_prune_report() giving only the blob figures. */
int lana_store_prune(struct lana_store *s, uint64_t *ret_blobs, uint64_t *ret_bytes,
                     int (*also)(struct lana_store *s, void *ud, struct lana_error **err), void *ud,
                     struct lana_error **err);

/* ---- naming images: store refs, oci:DIR[:REF], oci-archive:FILE[:REF] ---- */
struct lana_image {
        struct lana_layout *layout; /* owned, or the store's when layout_borrowed */
        bool layout_borrowed;       /* an image of the store: release it before the store */
        char *name;                 /* ref name inside the layout (NULL: the only image) */
        char *display;              /* as the user wrote it */
        char *tmpdir;               /* extracted archive, removed on release */
        json_t *desc;               /* resolved descriptor */
};

/* Resolves an image name. Store refs need `store` (may be NULL when none exists); such an image
 * uses the store's layout handle, so it is released before the store is freed. A bare
 * "sha256:<hex>" or digest-only reference resolves by manifest digest in the store. */
int lana_image_open(struct lana_store *store, const char *spec, struct lana_image *ret,
                    struct lana_error **err);
void lana_image_release(struct lana_image *img);

/* ---- checking images before any work ----
 * One place for the static limits of an image, used by build (bases), run, fsck and push. */

/* overlayfs stacks at most 500 lower directories in one mount (OVL_MAX_STACK) and the runtime
 * adds one of its own (the skeleton), so an image with more layers can never run. */
#define LANA_IMAGE_MAX_LAYERS 499

/* Checks an image's manifest and config (both validated already) without reading any blob: at
 * most LANA_IMAGE_MAX_LAYERS layers, exactly one config diff_id per manifest layer, every layer
 * of a media type the unpacker reads (tar, tar+gzip, tar+zstd, Docker's tar.gzip). -EINVAL with
 * a message naming the counts or the layer. */
int lana_image_check(json_t *manifest, json_t *config, struct lana_error **err);
/* Reads the config of a manifest (read and validated already) from `l`, validates it and runs
 * lana_image_check(); ret_config (may be NULL) gets a new reference to the config. */
int lana_layout_check_manifest(struct lana_layout *l, json_t *manifest, json_t **ret_config,
                               struct lana_error **err);
/* Loads the image `desc` names for `platform` (NULL: the host): picks the manifest out of an
 * index, reads and validates the manifest and its config (each the size its descriptor states),
 * runs lana_image_check() and checks that every layer blob is in `l` with its descriptor's size.
 * Nothing is decompressed. Each ret_* may be NULL; the others get new references. */
int lana_image_load(struct lana_layout *l, json_t *desc, const struct lana_platform *platform,
                    json_t **ret_mdesc, json_t **ret_manifest, json_t **ret_config,
                    struct lana_error **err);
/* Reads the layer blob `desc` names through once: its size and digest must be the descriptor's,
 * its bytes must be compressed as its media type says (gzip, zstd or not at all), and the
 * uncompressed stream must start like a tar archive and hash to `diff_id`. -EINVAL for a media
 * type that is not a layer's, -EBADMSG for a blob that is not what its descriptors say. */
int lana_layout_verify_layer(struct lana_layout *l, json_t *desc, const struct lana_digest *diff_id,
                             struct lana_error **err);

/* ---- describing images ---- */
/* A summary {"digest","mediaType","platforms":["linux/amd64",...],"size":N} where size counts
 * every blob the image reaches once. */
int lana_layout_image_summary(struct lana_layout *l, json_t *desc, json_t **ret,
                              struct lana_error **err);
/* The full description used by `inspect`: for a manifest {"digest","mediaType","manifest",
 * "config","layers":[{"digest","diff_id","mediaType","size"}]}; for an index {"digest",
 * "mediaType","index","manifests":[<manifest description + "platform">]}. */
int lana_layout_image_describe(struct lana_layout *l, json_t *desc, json_t **ret,
                               struct lana_error **err);

/* ---- build cache ($ROOT/cache) ----
 * Maps a layer key (a digest computed by the builder from everything that determines a layer's
 * bytes) to the layer's descriptor and diff_id. An entry is only returned while its blob is in
 * the store with the recorded size, and prune deletes entries whose blob is gone, so an entry
 * never outlives its blob. */
/* 0 on a hit (*ret_desc a new reference), -ENOENT on a miss. ret_notes (may be NULL) gets a new
 * reference to the notes recorded with the entry, or NULL when it has none. */
int lana_store_cache_lookup(struct lana_store *s, const struct lana_digest *key, json_t **ret_desc,
                            struct lana_digest *ret_diff_id, json_t **ret_notes);
/* notes: an object of what the builder learnt about the layer's files and would otherwise have
 * to read them again for (the ELF machines found in it), or NULL. */
int lana_store_cache_record(struct lana_store *s, const struct lana_digest *key, json_t *desc,
                            const struct lana_digest *diff_id, json_t *notes,
                            struct lana_error **err);
/* A slot names where a layer comes from (spec, layer, platform); it remembers that this layer
 * was built before, which is when a content-hash lookup is worth its read. */
bool lana_store_cache_slot_known(struct lana_store *s, const struct lana_digest *slot);
int lana_store_cache_slot_mark(struct lana_store *s, const struct lana_digest *slot,
                               struct lana_error **err);
/* Removes cache entries whose blob is missing; returns how many were removed. */
int lana_store_cache_gc(struct lana_store *s, struct lana_error **err);

/* ---- partial blobs (resumable downloads) ----
 * A partial blob lives as ".partial-<hex>" in blobs/sha256 (same filesystem, so publishing is a
 * rename), survives an interrupted process so the next pull resumes it, and is removed by gc. */
/* Opens (creating) the partial file for d; ret_size gets the bytes already there. */
int lana_layout_partial_open(struct lana_layout *l, const struct lana_digest *d, int *ret_fd,
                             uint64_t *ret_size, struct lana_error **err);
/* Verifies the whole partial file hashes to d, fsyncs it and publishes it as the blob. */
/* The two halves of commit: verify (a mismatch discards the partial file, -EBADMSG) and
 * publish (fsync, rename, fsync of the directory) of a file already verified. */
int lana_layout_partial_verify(struct lana_layout *l, const struct lana_digest *d, int fd,
                               struct lana_error **err);
int lana_layout_partial_publish(struct lana_layout *l, const struct lana_digest *d, int fd,
                                struct lana_error **err);
int lana_layout_partial_commit(struct lana_layout *l, const struct lana_digest *d, int fd,
                               struct lana_error **err);
void lana_layout_partial_discard(struct lana_layout *l, const struct lana_digest *d);

/* Adds to the object `set` (as keys) the hex of every diff_id of every image config reachable
 * from `desc`; unreadable parts are skipped. */
void lana_layout_collect_diff_ids(struct lana_layout *l, json_t *desc, json_t *set);
