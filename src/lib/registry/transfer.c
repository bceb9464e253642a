/*
 * transfer.c — what push and pull share: a bounded pool of transfer threads working through a
 * list of blobs (first failure stops the rest), and the record of which repositories of a
 * registry hold a blob, so a push to a new repository can mount instead of upload.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "fs-util.h"
#include "registry-internal.h"
#include "transfer.h"

void transfer_note(const struct lana_registry_options *o, const char *what,
                   const struct lana_digest *d, uint64_t bytes, const char *how)
{
        const struct lana_transfer_progress *pg = o->progress;
        if (pg && pg->item_done)
                pg->item_done(pg->userdata, what, d->str, bytes, how);
}

struct pool {
        pthread_mutex_t lock;
        size_t next, n;
        int (*fn)(void *ud, size_t i, struct lana_error **err);
        void *ud;
        int failed;
        struct lana_error *err;
};

static void *pool_main(void *arg)
{
        struct pool *p = arg;
        for (;;) {
                pthread_mutex_lock(&p->lock);
                if (p->failed || p->next >= p->n) {
                        pthread_mutex_unlock(&p->lock);
                        return NULL;
                }
                size_t i = p->next++;
                pthread_mutex_unlock(&p->lock);
                struct lana_error *e = NULL;
                int r = p->fn(p->ud, i, &e);
                if (r < 0) {
                        pthread_mutex_lock(&p->lock);
                        if (!p->failed) {
                                p->failed = r;
                                p->err = e;
                                e = NULL;
                        }
                        pthread_mutex_unlock(&p->lock);
                }
                lana_error_free(e);
        }
}

int transfer_run(size_t n, unsigned jobs, int (*fn)(void *ud, size_t i, struct lana_error **err),
                 void *ud, struct lana_error **err)
{
        if (n == 0)
                return 0;
        struct pool p = {.n = n, .fn = fn, .ud = ud};
        pthread_mutex_init(&p.lock, NULL);
        unsigned nt = (unsigned)MIN((size_t)MAX(jobs, 1u), n);
        pthread_t *t = xnew(pthread_t, nt);
        unsigned started = 0;
        for (unsigned i = 1; i < nt; i++)
                if (pthread_create(&t[started], NULL, pool_main, &p) == 0)
                        started++;
        pool_main(&p); /* the calling thread works too */
        for (unsigned i = 0; i < started; i++)
                pthread_join(t[i], NULL);
        free(t);
        pthread_mutex_destroy(&p.lock);
        if (p.failed) {
                if (err) {
                        lana_error_free(*err);
                        *err = p.err;
                } else {
                        lana_error_free(p.err);
                }
                return p.failed;
        }
        return 0;
}

/* $ROOT/cache/blobs/<hex>: a JSON object whose keys are "host/repo" holding the blob. */
static char *location_path(struct lana_store *s, const struct lana_digest *d)
{
        return xasprintf("%s/cache/blobs/%s", lana_store_root(s), d->hex);
}

static pthread_mutex_t location_lock = PTHREAD_MUTEX_INITIALIZER;

void reg_blob_location_add(struct lana_store *s, const char *host, const char *repo,
                           const struct lana_digest *d)
{
        if (!s)
                return;
        pthread_mutex_lock(&location_lock);
        _cleanup_free_ char *dir = xasprintf("%s/cache/blobs", lana_store_root(s));
        _cleanup_free_ char *path = location_path(s, d);
        (void)mkdir_p_at(AT_FDCWD, dir, 0700);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        json_t *j = NULL;
        if (read_file_at(AT_FDCWD, path, 1 << 20, &data, &len, NULL) < 0 ||
            lana_json_parse_object(data, len, &j, NULL) < 0)
                j = json_object();
        _cleanup_free_ char *key = xasprintf("%s/%s", host, repo);
        if (!json_object_get(j, key) && json_object_size(j) < 64) {
                json_object_set_new(j, key, json_true());
                _cleanup_free_ char *text = lana_json_canonical(j, &len);
                _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0)
                        (void)write_file_atomic_at(dfd, d->hex, text, len, 0600, NULL);
        }
        json_decref(j);
        pthread_mutex_unlock(&location_lock);
}

char *reg_blob_location_find(struct lana_store *s, const char *host, const char *not_repo,
                             const struct lana_digest *d)
{
        if (!s)
                return NULL;
        _cleanup_free_ char *path = location_path(s, d);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        json_t *j = NULL;
        if (read_file_at(AT_FDCWD, path, 1 << 20, &data, &len, NULL) < 0 ||
            lana_json_parse_object(data, len, &j, NULL) < 0)
                return NULL;
        size_t hl = strlen(host);
        char *found = NULL;
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v)
        {
                if (strncmp(key, host, hl) != 0 || key[hl] != '/' ||
                    !strcmp(key + hl + 1, not_repo))
                        continue;
                found = xstrdup(key + hl + 1);
                break;
        }
        json_decref(j);
        return found;
}
