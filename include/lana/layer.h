/*
 * lana/layer.h — deterministic tar layer writer.
 *
 * Every header field is set explicitly by the caller (path, type, mode, uid/gid, size, mtime,
 * link target); nothing is taken from the host (no uname/gname, atime, ctime, xattrs). Entries are
 * written in the order given; callers sort them (bytewise, parents first). The archive is POSIX
 * ustar with PAX extended headers only when a field does not fit, and ends with exactly two zero
 * blocks (no padding to a record size).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lana/digest.h"
#include "lana/error.h"
#include "lana/writer.h"

enum lana_tar_type {
        LANA_TAR_FILE,
        LANA_TAR_DIR,
        LANA_TAR_SYMLINK,
};

struct lana_tar_entry {
        const char *path; /* relative, no leading "/" or "./", no trailing "/", valid UTF-8 */
        enum lana_tar_type type;
        mode_t mode; /* permission bits incl. setuid/setgid/sticky (07777) */
        uint32_t uid, gid;
        uint64_t size;    /* regular files */
        int64_t mtime;    /* seconds since the epoch */
        const char *link; /* symlink target */
};

struct lana_tar_writer;

/* The tar stream is written to `next` (not owned). */
int lana_tar_writer_new(struct lana_writer *next, struct lana_tar_writer **ret,
                        struct lana_error **err);
/* Adds one entry. For regular files exactly entry->size bytes are read from data_fd (from its
 * current offset); a file that changed size while reading is an error. */
int lana_tar_writer_add(struct lana_tar_writer *t, const struct lana_tar_entry *e, int data_fd,
                        struct lana_error **err);
/* Adds a regular file whose content is in memory. */
int lana_tar_writer_add_data(struct lana_tar_writer *t, const struct lana_tar_entry *e,
                             const void *data, struct lana_error **err);
/* Writes the end-of-archive marker. Does not close `next`. */
int lana_tar_writer_finish(struct lana_tar_writer *t, struct lana_error **err);
struct lana_tar_writer *lana_tar_writer_free(struct lana_tar_writer *t);

/* ---- unpacking (safe reader) ---- */
struct lana_unpack_options {
        bool chown;           /* apply uid/gid from the layer (root); otherwise files stay ours */
        bool allow_devices;   /* create character/block devices (root); otherwise skip them */
        bool xattr_whiteouts; /* whiteouts as overlay xattrs ("user." namespace, rootless) */
        uint64_t max_bytes;   /* bound on the uncompressed stream (0: 64 GiB) */
        uint64_t max_entries; /* bound on entries (0: 4 Mi) */
};

struct lana_unpack_stats {
        uint64_t entries, bytes, skipped_devices, whiteouts;
};

/* Unpacks a layer blob (gzip, zstd or plain tar; detected from its bytes) into the directory
 * `dirfd` and checks that the uncompressed stream hashes to diff_id. Hostile entries are
 * refused, never followed: absolute and ".." paths are confined, nothing is written through a
 * symlink, hardlinks must point at regular files inside the tree, duplicate entries replace
 * earlier ones. OCI whiteouts become overlay whiteouts (".wh.NAME": a 0/0 character device;
 * ".wh..wh..opq": the opaque xattr on the directory). A broken layer fails with -EINVAL (-EFBIG
 * past a limit) and a message naming the entry at fault ("layer entry 'b': hardlink to 'x',
 * which no earlier entry of the layer made"; "layer entry 'y': truncated gzip input (a truncated
 * or corrupt layer)"), or the last entry read when it breaks between entries; the blob is only
 * an fd here, so the caller names the layer (its digest). */
int lana_layer_unpack(int blob_fd, int dirfd, const struct lana_digest *diff_id,
                      const struct lana_unpack_options *o, struct lana_unpack_stats *ret_stats,
                      struct lana_error **err);
