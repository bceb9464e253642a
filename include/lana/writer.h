/*
 * lana/writer.h — the byte-stream writer chain at the heart of the build pipeline.
 *
 * Each writer does one thing (hash, compress, count, write to a file) and forwards bytes to the
 * next one. A layer is produced by chaining: tar -> sha256 (diff_id) -> compressor -> sha256
 * (digest) -> blob file. New stages are new writer types, not branches in old ones.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lana/error.h"

struct lana_writer;

struct lana_writer_type {
        const char *name;
        int (*write)(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err);
        /* Optional: lana_writer_write_swap(). NULL: the bytes go through write(). */
        int (*write_swap)(struct lana_writer *w, void **buf, size_t len, size_t cap,
                          struct lana_error **err);
        /* Flushes everything downstream of this writer; does not close `next`. */
        int (*close)(struct lana_writer *w, struct lana_error **err);
        void (*free)(struct lana_writer *w);
};

/* Embedded as the first member of every concrete writer. */
struct lana_writer {
        const struct lana_writer_type *type;
        struct lana_writer *next; /* not owned */
        uint64_t bytes_in;        /* bytes accepted by write(); other threads read it with
                                     __atomic_load_n() */
        int closed;
};

int lana_writer_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err);
/* Writes the first len bytes of *buf, a heap buffer of cap bytes the caller owns and is willing
 * to exchange: a stage that keeps whole buffers (the gzip writer's blocks) may take it and leave
 * in *buf one of its own of exactly cap bytes, which saves copying the bytes. Either way the
 * caller owns *buf afterwards, and the stream is the same as with lana_writer_write(). */
int lana_writer_write_swap(struct lana_writer *w, void **buf, size_t len, size_t cap,
                           struct lana_error **err);
int lana_writer_close(struct lana_writer *w, struct lana_error **err);
/* Frees the writer (not `next`); accepts NULL; returns NULL. */
struct lana_writer *lana_writer_free(struct lana_writer *w);
void lana_writer_freep(struct lana_writer **w);

/* A writer that writes to fd (not owned). */
struct lana_writer *lana_fd_writer_new(int fd);
/* The same, starting the kernel's writeback of every 8 MiB written (sync_file_range), for files
 * that will be fsynced at the end: the disk works while the stream is produced. */
struct lana_writer *lana_fd_writer_new_writeback(int fd);
/* A writer that discards its input, counting it. */
struct lana_writer *lana_null_writer_new(void);

/* A writer that hands the byte stream to a thread of its own, which writes it to `next`: the
 * stages before and after it then run concurrently. Writes are copied into chunks of
 * `chunk_size` bytes (small writes coalesce); at most `depth` chunks are queued, which bounds
 * memory. An error downstream is reported by a later write or by close. */
int lana_async_writer_new(struct lana_writer *next, size_t chunk_size, unsigned depth,
                          struct lana_writer **ret, struct lana_error **err);
