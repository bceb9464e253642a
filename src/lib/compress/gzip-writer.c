/*
 * gzip-writer.c — block-parallel deterministic gzip.
 *
 * The input stream is cut into blocks of exactly profile->block_size bytes (the last may be
 * shorter). Each block is compressed independently by libdeflate into one complete gzip member,
 * so the concatenation is a standard multi-member gzip stream that every decoder accepts, and the
 * bytes depend only on the input, the level and the block size — never on the thread count or on
 * how the caller sliced its writes.
 *
 * Blocks that are incompressible (already compressed or encrypted data) are detected by
 * compressing four 16 KiB samples at level 1; when every sample fails to shrink by 2%, the block
 * is stored instead of searched for matches, which costs almost nothing and loses at most a few
 * bytes. The decision depends on the block's bytes only, so determinism is unaffected.
 *
 * Memory is bounded: a ring of 4*jobs+4 slots (at most 32), each holding one input block and its
 * compressed output. The calling thread fills slots and, whenever the ring is full or the stream
 * ends, emits finished slots strictly in order to the next writer (which hashes and writes them),
 * so hashing of the compressed stream overlaps with compression of later blocks.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <libdeflate.h>

#include "alloc.h"
#include "compress-internal.h"

/* Bounds memory whatever --jobs says: at most 32 slots of about 2 MiB each. */
#define GZIP_MAX_THREADS 16u
#define GZIP_MAX_SLOTS 32u

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_BUSY, SLOT_DONE };

struct slot {
        enum slot_state state;
        unsigned char *in;
        size_t in_len;
        unsigned char *out;
        size_t out_len;
        int failed;
};

struct gzip_writer {
        struct lana_writer base;
        size_t block_size;
        size_t out_cap;
        int level;
        unsigned nslots;
        struct slot *slots;
        unsigned fill;     /* slot being filled by the producer */
        unsigned emit;     /* next slot to emit, in order */
        unsigned compress; /* next slot a worker should take */
        uint64_t blocks_submitted;
        unsigned nthreads;
        pthread_t *threads;
        pthread_mutex_t lock;
        pthread_cond_t work; /* signalled when a slot becomes READY or on shutdown */
        pthread_cond_t done; /* signalled when a slot becomes DONE */
        int shutdown;
};

/* The XFL byte libdeflate writes for a level: 4 for the fastest, 2 for the slowest, else 0. */
static unsigned char gzip_xfl(int level)
{
        return level < 2 ? 4 : level >= 8 ? 2 : 0;
}

#define PROBE_SLICE ((size_t)16 << 10)
#define PROBE_SLICES 4

/* True when none of the sampled slices of the block compresses by at least 2% at level 1. */
static bool block_incompressible(struct libdeflate_compressor *probe, const unsigned char *in,
                                 size_t len, unsigned char *scratch)
{
        if (len < PROBE_SLICES * PROBE_SLICE)
                return false;
        for (size_t i = 0; i < PROBE_SLICES; i++) {
                const unsigned char *slice = in + i * (len / PROBE_SLICES);
                size_t limit = PROBE_SLICE - PROBE_SLICE / 50;
                /* 0 means the output did not fit under the limit: the slice did not shrink */
                if (libdeflate_deflate_compress(probe, slice, PROBE_SLICE, scratch, limit) != 0)
                        return false;
        }
        return true;
}

static void *worker_main(void *arg)
{
        struct gzip_writer *g = arg;
        struct libdeflate_compressor *c = libdeflate_alloc_compressor(g->level);
        struct libdeflate_compressor *probe = libdeflate_alloc_compressor(1);
        struct libdeflate_compressor *store = libdeflate_alloc_compressor(0);
        unsigned char *scratch = xmalloc(PROBE_SLICE);
        pthread_mutex_lock(&g->lock);
        for (;;) {
                while (!g->shutdown && g->slots[g->compress].state != SLOT_READY)
                        pthread_cond_wait(&g->work, &g->lock);
                if (g->shutdown)
                        break;
                struct slot *s = &g->slots[g->compress];
                g->compress = (g->compress + 1) % g->nslots;
                s->state = SLOT_BUSY;
                pthread_mutex_unlock(&g->lock);

                struct libdeflate_compressor *use = c;
                if (probe && store && block_incompressible(probe, s->in, s->in_len, scratch))
                        use = store;
                size_t n = use ? libdeflate_gzip_compress(use, s->in, s->in_len, s->out, g->out_cap)
                               : 0;

                /* stored members would carry libdeflate's level-0 XFL; every member gets the
                 * configured level's so the header bytes are the same throughout (the gzip
                 * CRC covers the data, not this byte) */
                if (n > 8 && use == store)
                        s->out[8] = gzip_xfl(g->level);

                pthread_mutex_lock(&g->lock);
                s->out_len = n;
                s->failed = (n == 0);
                s->state = SLOT_DONE;
                pthread_cond_broadcast(&g->done);
                /* another slot may have become READY while we worked */
                pthread_cond_signal(&g->work);
        }
        pthread_mutex_unlock(&g->lock);
        libdeflate_free_compressor(c);
        libdeflate_free_compressor(probe);
        libdeflate_free_compressor(store);
        free(scratch);
        return NULL;
}

/* Emits finished slots in order. With block_until_free, waits for the oldest slot to finish
 * and emits just that one (returns 1). */
static int emit_ready(struct gzip_writer *g, bool block_until_free, struct lana_error **err)
{
        for (;;) {
                pthread_mutex_lock(&g->lock);
                struct slot *s = &g->slots[g->emit];
                if (block_until_free) {
                        while (s->state == SLOT_READY || s->state == SLOT_BUSY)
                                pthread_cond_wait(&g->done, &g->lock);
                }
                bool ready = s->state == SLOT_DONE;
                pthread_mutex_unlock(&g->lock);
                if (!ready)
                        return 0;
                if (s->failed)
                        return lana_error_set(err, -EIO, "gzip: libdeflate failed on a block");
                int r = lana_writer_write(g->base.next, s->out, s->out_len, err);
                if (r < 0)
                        return r;
                pthread_mutex_lock(&g->lock);
                s->state = SLOT_FREE;
                s->in_len = 0;
                g->emit = (g->emit + 1) % g->nslots;
                pthread_mutex_unlock(&g->lock);
                if (!block_until_free)
                        continue;
                /* emitted one; the caller only needs the slot it waits on */
                return 1;
        }
}

static void submit(struct gzip_writer *g)
{
        pthread_mutex_lock(&g->lock);
        g->slots[g->fill].state = SLOT_READY;
        g->fill = (g->fill + 1) % g->nslots;
        g->blocks_submitted++;
        pthread_cond_signal(&g->work);
        pthread_mutex_unlock(&g->lock);
}

/* Makes g->fill a slot we may write into, emitting finished output as needed. */
static int acquire_fill_slot(struct gzip_writer *g, struct lana_error **err)
{
        for (;;) {
                int r = emit_ready(g, false, err);
                if (r < 0)
                        return r;
                pthread_mutex_lock(&g->lock);
                enum slot_state st = g->slots[g->fill].state;
                if (st == SLOT_FREE)
                        g->slots[g->fill].state = st = SLOT_FILLING;
                pthread_mutex_unlock(&g->lock);
                if (st == SLOT_FILLING)
                        return 0;
                /* The ring is full: the oldest slot must finish before we can reuse it. */
                r = emit_ready(g, true, err);
                if (r < 0)
                        return r;
        }
}

static int gzip_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err);

/* A whole block in a buffer of exactly block_size bytes, while no block is half filled: the
 * buffer becomes the slot's input and the slot's old buffer goes back to the caller. */
static int gzip_write_swap(struct lana_writer *w, void **buf, size_t len, size_t cap,
                           struct lana_error **err)
{
        struct gzip_writer *g = (struct gzip_writer *)w;
        if (len != g->block_size || cap != g->block_size)
                return gzip_write(w, *buf, len, err);
        int r = acquire_fill_slot(g, err);
        if (r < 0)
                return r;
        struct slot *s = &g->slots[g->fill];
        if (s->in_len != 0)
                return gzip_write(w, *buf, len, err);
        void *mine = s->in;
        s->in = *buf;
        s->in_len = len;
        *buf = mine;
        submit(g);
        return 0;
}

static int gzip_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err)
{
        struct gzip_writer *g = (struct gzip_writer *)w;
        const unsigned char *p = buf;
        while (len > 0) {
                int r = acquire_fill_slot(g, err);
                if (r < 0)
                        return r;
                struct slot *s = &g->slots[g->fill];
                size_t n = MIN(len, g->block_size - s->in_len);
                memcpy(s->in + s->in_len, p, n);
                s->in_len += n;
                p += n;
                len -= n;
                if (s->in_len == g->block_size)
                        submit(g);
        }
        return 0;
}

static int gzip_close(struct lana_writer *w, struct lana_error **err)
{
        struct gzip_writer *g = (struct gzip_writer *)w;
        /* A trailing partial block, or an empty member so that empty input is still valid gzip. */
        if (g->slots[g->fill].state == SLOT_FILLING || g->blocks_submitted == 0) {
                int r = acquire_fill_slot(g, err);
                if (r < 0)
                        return r;
                submit(g);
        }
        for (;;) {
                pthread_mutex_lock(&g->lock);
                enum slot_state st = g->slots[g->emit].state;
                pthread_mutex_unlock(&g->lock);
                if (st == SLOT_FREE)
                        return 0;
                int r = emit_ready(g, true, err);
                if (r < 0)
                        return r;
        }
}

static void gzip_free(struct lana_writer *w)
{
        struct gzip_writer *g = (struct gzip_writer *)w;
        pthread_mutex_lock(&g->lock);
        g->shutdown = 1;
        pthread_cond_broadcast(&g->work);
        pthread_mutex_unlock(&g->lock);
        for (unsigned i = 0; i < g->nthreads; i++)
                pthread_join(g->threads[i], NULL);
        for (unsigned i = 0; i < g->nslots; i++) {
                free(g->slots[i].in);
                free(g->slots[i].out);
        }
        free(g->slots);
        free(g->threads);
        pthread_mutex_destroy(&g->lock);
        pthread_cond_destroy(&g->work);
        pthread_cond_destroy(&g->done);
        free(g);
}

static const struct lana_writer_type gzip_writer_type = {
        .name = "gzip",
        .write = gzip_write,
        .write_swap = gzip_write_swap,
        .close = gzip_close,
        .free = gzip_free,
};

int gzip_writer_new(const struct lana_compress_profile *p, unsigned jobs, struct lana_writer *next,
                    struct lana_writer **ret, struct lana_error **err)
{
        struct libdeflate_compressor *probe = libdeflate_alloc_compressor(p->level);
        if (!probe)
                return lana_error_set(err, -EINVAL, "gzip: level %d not supported", p->level);
        struct gzip_writer *g = xnew(struct gzip_writer, 1);
        g->base.type = &gzip_writer_type;
        g->base.next = next;
        g->block_size = p->block_size ? p->block_size : LANA_GZIP_BLOCK_SIZE;
        g->out_cap = libdeflate_gzip_compress_bound(probe, g->block_size);
        libdeflate_free_compressor(probe);
        struct libdeflate_compressor *stored = libdeflate_alloc_compressor(0);
        if (stored) {
                g->out_cap = MAX(g->out_cap, libdeflate_gzip_compress_bound(stored, g->block_size));
                libdeflate_free_compressor(stored);
        }
        g->level = p->level;
        /* more threads than this cannot help and would only grow the ring */
        jobs = MIN(jobs, GZIP_MAX_THREADS);
        /* Output leaves in order, so one slow block (text, code) holds up the emission of the
         * fast ones queued behind it (stored incompressible data): with only two slots per
         * worker the ring filled up behind it and the other workers went idle. Four per worker
         * keeps them busy through such mixes. */
        g->nslots = MIN(4 * jobs + 4, GZIP_MAX_SLOTS);
        g->slots = xnew(struct slot, g->nslots);
        for (unsigned i = 0; i < g->nslots; i++) {
                g->slots[i].in = xmalloc(g->block_size);
                g->slots[i].out = xmalloc(g->out_cap);
        }
        pthread_mutex_init(&g->lock, NULL);
        pthread_cond_init(&g->work, NULL);
        pthread_cond_init(&g->done, NULL);
        g->threads = xnew(pthread_t, jobs);
        for (unsigned i = 0; i < jobs; i++) {
                int r = pthread_create(&g->threads[i], NULL, worker_main, g);
                if (r != 0) {
                        gzip_free(&g->base);
                        return lana_error_set(err, -r, "gzip: start worker thread: %s",
                                              strerror(r));
                }
                g->nthreads++;
        }
        *ret = &g->base;
        return 0;
}
