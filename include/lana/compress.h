/*
 * lana/compress.h — deterministic, parallel compression stages for the writer chain.
 *
 * gzip: the input is cut into fixed-size blocks; each block becomes one complete gzip member
 * produced by libdeflate (MTIME 0, fixed OS/XFL). Blocks are compressed by `jobs` worker threads
 * and emitted in order, so the output is standard multi-member gzip whose bytes do not depend on
 * the number of threads.
 * zstd: libzstd's multithreaded mode with fixed parameters and the content checksum on; that
 * mode's output does not depend on the worker count (we never use the single-thread mode).
 */
#pragma once

#include <stddef.h>

#include "lana/error.h"
#include "lana/writer.h"

enum lana_compression {
        LANA_COMPRESSION_NONE,
        LANA_COMPRESSION_GZIP,
        LANA_COMPRESSION_ZSTD,
};

struct lana_compress_profile {
        enum lana_compression algo;
        int level;
        size_t block_size; /* gzip only */
};

#define LANA_GZIP_BLOCK_SIZE ((size_t)1 << 20)

/* Parses "gzip", "zstd" or "none". */
int lana_compression_parse(const char *s, enum lana_compression *ret, struct lana_error **err);
const char *lana_compression_name(enum lana_compression c);
/* Default level for an algorithm (gzip 5: libdeflate 5 matches gzip -6's ratio; zstd 3). */
void lana_compress_profile_default(enum lana_compression algo, struct lana_compress_profile *ret);
/* Checks the level range for the algorithm. */
int lana_compress_profile_validate(const struct lana_compress_profile *p, struct lana_error **err);
/* A versioned, human-readable description recorded in the layer annotation, e.g.
 * "lana-gzip/1 libdeflate-1.14 level=6 block=1048576". Caller frees. */
char *lana_compress_profile_string(const struct lana_compress_profile *p);
/* Media type suffix: "", "+gzip", "+zstd". */
const char *lana_compression_media_suffix(enum lana_compression c);

/* Creates the compressing writer for the profile forwarding to `next`; for NONE returns a
 * pass-through writer. `jobs` >= 1 worker threads. */
int lana_compress_writer_new(const struct lana_compress_profile *p, unsigned jobs,
                             struct lana_writer *next, struct lana_writer **ret,
                             struct lana_error **err);
