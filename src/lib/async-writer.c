/*
 * async-writer.c — a pipeline stage boundary. The producer copies bytes into fixed-size chunks
 * and queues them; a consumer thread writes each chunk to the next writer in order. With one of
 * these after the tar writer and one after the compressor, tar generation, diff_id hashing and
 * block submission, compression, and digest hashing plus the file write all overlap.
 *
 * Memory is bounded by depth * chunk_size. The consumer owns the downstream writers from the
 * first write until close returns, so they need no locking of their own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "lana/writer.h"
#include "alloc.h"

struct chunk {
        char *data;
        size_t len;
};

struct async_writer {
        struct lana_writer base;
        size_t chunk_size;
        unsigned depth;
        struct chunk *ring;
        unsigned head, tail, count; /* ring indices; count = queued chunks */
        char *fill;                 /* chunk being filled by the producer */
        size_t fill_len;
        char **spare; /* free chunk buffers */
        unsigned nspare;
        pthread_t thread;
        bool started, done, stop;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct lana_error *err; /* set by the consumer */
        int rc;
};

static void *consumer_main(void *arg)
{
        struct async_writer *a = arg;
        pthread_mutex_lock(&a->lock);
        for (;;) {
                while (a->count == 0 && !a->done)
                        pthread_cond_wait(&a->cond, &a->lock);
                if (a->count == 0 && a->done)
                        break;
                struct chunk c = a->ring[a->tail];
                a->tail = (a->tail + 1) % a->depth;
                a->count--;
                bool failed = a->rc < 0;
                pthread_mutex_unlock(&a->lock);
                int r = 0;
                struct lana_error *e = NULL;
                /* a stage that keeps whole chunks may take this one and give back another */
                if (!failed)
                        r = lana_writer_write_swap(a->base.next, (void **)&c.data, c.len,
                                                   a->chunk_size, &e);
                pthread_mutex_lock(&a->lock);
                if (r < 0 && a->rc >= 0) {
                        a->rc = r;
                        a->err = e;
                        e = NULL;
                }
                lana_error_free(e);
                a->spare[a->nspare++] = c.data;
                pthread_cond_broadcast(&a->cond);
        }
        pthread_mutex_unlock(&a->lock);
        return NULL;
}

static int take_error(struct async_writer *a, struct lana_error **err)
{
        int rc = a->rc;
        if (err && a->err) {
                lana_error_free(*err);
                *err = TAKE_PTR(a->err);
        }
        return rc;
}

/* Queues the filled chunk; waits while the queue is full. */
static int submit(struct async_writer *a, struct lana_error **err)
{
        pthread_mutex_lock(&a->lock);
        while (a->count == a->depth && a->rc >= 0)
                pthread_cond_wait(&a->cond, &a->lock);
        if (a->rc < 0) {
                int rc = take_error(a, err);
                pthread_mutex_unlock(&a->lock);
                return rc;
        }
        a->ring[a->head] = (struct chunk){a->fill, a->fill_len};
        a->head = (a->head + 1) % a->depth;
        a->count++;
        /* a spare buffer always exists: depth + 1 buffers circulate */
        while (a->nspare == 0)
                pthread_cond_wait(&a->cond, &a->lock);
        a->fill = a->spare[--a->nspare];
        a->fill_len = 0;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
        return 0;
}

static int async_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err)
{
        struct async_writer *a = (struct async_writer *)w;
        const char *p = buf;
        while (len > 0) {
                size_t n = MIN(len, a->chunk_size - a->fill_len);
                memcpy(a->fill + a->fill_len, p, n);
                a->fill_len += n;
                p += n;
                len -= n;
                if (a->fill_len == a->chunk_size) {
                        int r = submit(a, err);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int async_close(struct lana_writer *w, struct lana_error **err)
{
        struct async_writer *a = (struct async_writer *)w;
        int r = 0;
        if (a->fill_len > 0)
                r = submit(a, err);
        pthread_mutex_lock(&a->lock);
        a->done = true;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
        a->started = false;
        if (r < 0)
                return r;
        pthread_mutex_lock(&a->lock);
        r = take_error(a, err);
        pthread_mutex_unlock(&a->lock);
        return r;
}

static void async_free(struct lana_writer *w)
{
        struct async_writer *a = (struct async_writer *)w;
        if (a->started) {
                pthread_mutex_lock(&a->lock);
                a->done = true;
                a->rc = a->rc < 0 ? a->rc : -ECANCELED; /* discard what is queued */
                pthread_cond_broadcast(&a->cond);
                pthread_mutex_unlock(&a->lock);
                pthread_join(a->thread, NULL);
        }
        for (unsigned i = 0; i < a->count; i++)
                free(a->ring[(a->tail + i) % a->depth].data);
        for (unsigned i = 0; i < a->nspare; i++)
                free(a->spare[i]);
        free(a->fill);
        free(a->ring);
        free(a->spare);
        lana_error_free(a->err);
        pthread_mutex_destroy(&a->lock);
        pthread_cond_destroy(&a->cond);
        free(a);
}

static const struct lana_writer_type async_writer_type = {
        .name = "async",
        .write = async_write,
        .close = async_close,
        .free = async_free,
};

_public_ int lana_async_writer_new(struct lana_writer *next, size_t chunk_size, unsigned depth,
                                   struct lana_writer **ret, struct lana_error **err)
{
        struct async_writer *a = xnew(struct async_writer, 1);
        a->base.type = &async_writer_type;
        a->base.next = next;
        a->chunk_size = chunk_size ? chunk_size : (1u << 20);
        a->depth = depth ? depth : 4;
        a->ring = xnew(struct chunk, a->depth);
        a->spare = xnew(char *, a->depth + 1);
        for (unsigned i = 0; i < a->depth; i++)
                a->spare[a->nspare++] = xmalloc(a->chunk_size);
        a->fill = xmalloc(a->chunk_size);
        pthread_mutex_init(&a->lock, NULL);
        pthread_cond_init(&a->cond, NULL);
        int r = pthread_create(&a->thread, NULL, consumer_main, a);
        if (r != 0) {
                async_free(&a->base);
                return lana_error_set(err, -r, "start writer thread: %s", strerror(r));
        }
        a->started = true;
        *ret = &a->base;
        return 0;
}
