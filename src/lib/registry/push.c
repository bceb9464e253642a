/*
 * push.c — uploads an image: every blob (HEAD and skip, cross-repository mount, or POST + one
 * monolithic PUT, with a chunked PATCH fallback honouring OCI-Chunk-Min-Length), then the
 * manifests by digest, then the top-level manifest or index under its tag. A manifest already
 * under the tag with the same digest short-cuts the whole push (a no-change re-push is two
 * requests).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "registry-internal.h"
#include "transfer.h"

#define CHUNK_DEFAULT ((uint64_t)16 << 20)

struct blob {
        struct lana_digest d;
        uint64_t size;
        const char *what; /* "layer" / "config" */
};

struct doc {
        struct lana_digest d;
        char *media_type;
        char *data;
        size_t len;
};

struct push {
        struct reg_client *c;
        struct lana_store *store;
        struct lana_layout *src;
        char *repo;
        char *scope;
        struct blob *blobs;
        size_t nblobs;
        struct doc *docs; /* manifests first, the top document last */
        size_t ndocs;
        pthread_mutex_t lock;
        struct lana_transfer_stats st;
        const struct lana_registry_options *o;
};

static void add_blob(struct push *p, json_t *desc, const char *what)
{
        struct lana_digest d;
        uint64_t size;
        if (lana_descriptor_parse(desc, NULL, &d, &size, NULL) < 0)
                return;
        for (size_t i = 0; i < p->nblobs; i++)
                if (lana_digest_equal(&p->blobs[i].d, &d))
                        return;
        p->blobs = xrealloc(p->blobs, (p->nblobs + 1) * sizeof *p->blobs);
        p->blobs[p->nblobs++] = (struct blob){.d = d, .size = size, .what = what};
}

static int add_doc(struct push *p, json_t *desc, json_t **ret_doc, struct lana_error **err)
{
        const char *mt;
        struct lana_digest d;
        int r = lana_descriptor_parse(desc, &mt, &d, NULL, err);
        if (r < 0)
                return r;
        char *data = NULL;
        size_t len;
        r = lana_layout_read_blob(p->src, &d, LANA_OCI_MAX_DOC, &data, &len, err);
        if (r < 0)
                return r;
        r = lana_json_parse_object(data, len, ret_doc, err);
        if (r < 0) {
                free(data);
                return r;
        }
        p->docs = xrealloc(p->docs, (p->ndocs + 1) * sizeof *p->docs);
        p->docs[p->ndocs++] =
                (struct doc){.d = d, .media_type = xstrdup(mt), .data = data, .len = len};
        return 0;
}

static int collect_manifest(struct push *p, json_t *desc, struct lana_error **err)
{
        json_t *m = NULL;
        int r = add_doc(p, desc, &m, err);
        if (r >= 0)
                r = lana_manifest_validate(m, err);
        /* the limits build and run hold images to: no registry gets one that can never run */
        if (r >= 0)
                r = lana_layout_check_manifest(p->src, m, NULL, err);
        if (r >= 0) {
                size_t i;
                json_t *l;
                json_array_foreach(json_object_get(m, "layers"), i, l) add_blob(p, l, "layer");
                add_blob(p, json_object_get(m, "config"), "config");
        }
        json_decref(m);
        return r;
}

static int collect(struct push *p, json_t *desc, struct lana_error **err)
{
        const char *mt = json_string_value(json_object_get(desc, "mediaType"));
        if (lana_media_type_is_manifest(mt))
                return collect_manifest(p, desc, err);
        if (!lana_media_type_is_index(mt))
                return lana_error_set(err, -EINVAL, "cannot push media type %s", mt ? mt : "?");
        /* manifests first: read the index without recording it yet */
        struct lana_digest d;
        json_t *idx = NULL;
        int r = lana_descriptor_parse(desc, NULL, &d, NULL, err);
        if (r >= 0)
                r = lana_layout_read_json(p->src, &d, &idx, err);
        if (r >= 0)
                r = lana_index_validate(idx, err);
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(idx, "manifests"), i, m)
        {
                if (r < 0)
                        break;
                r = collect_manifest(p, m, err);
        }
        json_decref(idx);
        json_t *top = NULL;
        if (r >= 0)
                r = add_doc(p, desc, &top, err);
        json_decref(top);
        return r;
}

static int head_blob(struct push *p, const struct blob *b, bool *ret_exists,
                     struct lana_error **err)
{
        _cleanup_free_ char *url = reg_url(p->c, p->repo, "blobs/%s", b->d.str);
        struct reg_request rq = {.method = "HEAD", .url = url, .scope = p->scope};
        struct reg_response resp;
        struct lana_error *e = NULL;
        int r = reg_request_run(p->c, &rq, &resp, &e);
        *ret_exists = r >= 0 && resp.status == 200;
        reg_response_release(&resp);
        if (r == -ENOENT)
                r = 0;
        if (r < 0 && err) {
                lana_error_free(*err);
                *err = e;
        } else {
                lana_error_free(e);
        }
        return r;
}

static char *with_query(const char *url, const char *q)
{
        return xasprintf("%s%c%s", url, strchr(url, '?') ? '&' : '?', q);
}

/* POST /blobs/uploads/ (optionally with a mount); returns 1 when mounted, 0 with *ret_location. */
static int start_upload(struct push *p, const struct blob *b, const char *from, char **ret_location,
                        uint64_t *ret_chunk_min, struct lana_error **err)
{
        _cleanup_free_ char *url = NULL, *scope = NULL;
        if (from) {
                url = reg_url(p->c, p->repo, "blobs/uploads/?mount=%s&from=%s", b->d.str, from);
                scope = xasprintf("%s repository:%s:pull", p->scope, from);
        } else {
                url = reg_url(p->c, p->repo, "blobs/uploads/");
                scope = xstrdup(p->scope);
        }
        struct reg_body empty = {.fd = -1};
        struct reg_request rq = {.method = "POST", .url = url, .scope = scope, .body = &empty};
        struct reg_response resp;
        int r = reg_request_run(p->c, &rq, &resp, err);
        if (r >= 0 && from && resp.status == 201) {
                reg_response_release(&resp);
                return 1;
        }
        if (r >= 0 && (resp.status != 202 || !resp.location))
                r = lana_error_set(err, -EPROTO, "POST %s: expected 202 with a Location, got %ld",
                                   url, resp.status);
        if (r >= 0) {
                *ret_location = reg_resolve(url, resp.location);
                *ret_chunk_min = resp.chunk_min ? strtoull(resp.chunk_min, NULL, 10) : 0;
        }
        reg_response_release(&resp);
        return r < 0 ? r : 0;
}

static int put_monolithic(struct push *p, const struct blob *b, int fd, const char *location,
                          long *ret_status, struct lana_error **err)
{
        _cleanup_free_ char *q = xasprintf("digest=%s", b->d.str);
        _cleanup_free_ char *url = with_query(location, q);
        struct reg_body body = {
                .fd = fd, .length = b->size, .content_type = "application/octet-stream"};
        struct reg_request rq = {
                .method = "PUT", .url = url, .scope = p->scope, .body = &body, .no_retry = true};
        rq.progress = p->o->progress;
        struct reg_response resp;
        int r = reg_request_run(p->c, &rq, &resp, err);
        *ret_status = resp.status;
        if (r >= 0 && resp.status != 201)
                r = lana_error_set(err, -EPROTO, "PUT blob %s: expected 201, got %ld", b->d.str,
                                   resp.status);
        reg_response_release(&resp);
        return r;
}

static int put_chunked(struct push *p, const struct blob *b, int fd, char *location,
                       uint64_t chunk_min, struct lana_error **err)
{
        uint64_t chunk = MAX(CHUNK_DEFAULT, chunk_min);
        _cleanup_free_ char *loc = location;
        int r = 0;
        for (uint64_t off = 0; r >= 0 && off < b->size; off += chunk) {
                uint64_t n = MIN(chunk, b->size - off);
                _cleanup_free_ char *range =
                        xasprintf("%ju-%ju", (uintmax_t)off, (uintmax_t)(off + n - 1));
                struct reg_body body = {.fd = fd,
                                        .offset = off,
                                        .length = n,
                                        .content_type = "application/octet-stream",
                                        .content_range = range};
                struct reg_request rq = {.method = "PATCH",
                                         .url = loc,
                                         .scope = p->scope,
                                         .body = &body,
                                         .no_retry = true};
                rq.progress = p->o->progress;
                struct reg_response resp;
                r = reg_request_run(p->c, &rq, &resp, err);
                if (r >= 0 && resp.status != 202)
                        r = lana_error_set(err, -EPROTO, "PATCH blob %s: expected 202, got %ld",
                                           b->d.str, resp.status);
                if (r >= 0 && resp.location) {
                        char *next = reg_resolve(loc, resp.location);
                        free(loc);
                        loc = next;
                }
                reg_response_release(&resp);
        }
        if (r < 0)
                return r;
        struct blob empty = *b;
        empty.size = 0;
        long status;
        return put_monolithic(p, &empty, -1, loc, &status, err);
}

static int push_blob(void *ud, size_t i, struct lana_error **err)
{
        struct push *p = ud;
        const struct blob *b = &p->blobs[i];
        bool exists = false;
        int r = head_blob(p, b, &exists, err);
        if (r < 0)
                return r;
        if (exists) {
                pthread_mutex_lock(&p->lock);
                p->st.blobs_skipped++;
                pthread_mutex_unlock(&p->lock);
                reg_blob_location_add(p->store, p->c->host, p->repo, &b->d);
                transfer_note(p->o, b->what, &b->d, b->size, "exists");
                return 0;
        }
        _cleanup_close_ int fd = -1;
        r = lana_layout_open_blob(p->src, &b->d, &fd, NULL, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *from = reg_blob_location_find(p->store, p->c->host, p->repo, &b->d);
        for (int attempt = 0;; attempt++) {
                char *location = NULL;
                uint64_t chunk_min = 0;
                r = start_upload(p, b, attempt == 0 ? from : NULL, &location, &chunk_min, err);
                if (r == 1) {
                        pthread_mutex_lock(&p->lock);
                        p->st.blobs_mounted++;
                        pthread_mutex_unlock(&p->lock);
                        reg_blob_location_add(p->store, p->c->host, p->repo, &b->d);
                        transfer_note(p->o, b->what, &b->d, b->size, "mounted");
                        return 0;
                }
                if (r < 0)
                        return r;
                long status = 0;
                r = put_monolithic(p, b, fd, location, &status, err);
                if (r < 0 && (status == 413 || status == 416 || status == 405)) {
                        /* the registry wants chunks: start a fresh session for them */
                        free(location);
                        location = NULL;
                        r = start_upload(p, b, NULL, &location, &chunk_min, err);
                        if (r >= 0)
                                r = put_chunked(p, b, fd, TAKE_PTR(location), chunk_min, err);
                }
                free(location);
                if (r >= 0)
                        break;
                if (attempt >= 2 || r == -EACCES)
                        return r;
                usleep(500000u << attempt);
                lana_error_freep(err);
        }
        pthread_mutex_lock(&p->lock);
        p->st.blobs_uploaded++;
        p->st.bytes += b->size;
        pthread_mutex_unlock(&p->lock);
        reg_blob_location_add(p->store, p->c->host, p->repo, &b->d);
        transfer_note(p->o, b->what, &b->d, b->size, "uploaded");
        return 0;
}

static int put_manifest(struct push *p, const struct doc *d, const char *ref,
                        struct lana_error **err)
{
        _cleanup_free_ char *url = reg_url(p->c, p->repo, "manifests/%s", ref);
        struct reg_body body = {
                .fd = -1, .data = d->data, .length = d->len, .content_type = d->media_type};
        struct reg_request rq = {.method = "PUT", .url = url, .scope = p->scope, .body = &body};
        struct reg_response resp;
        int r = reg_request_run(p->c, &rq, &resp, err);
        if (r >= 0 && resp.status != 201 && resp.status != 200)
                r = lana_error_set(err, -EPROTO, "PUT manifest %s: got HTTP %ld", ref, resp.status);
        if (r >= 0 && resp.docker_digest && strcmp(resp.docker_digest, d->d.str) != 0)
                r = lana_error_set(err, -EPROTO, "PUT manifest %s: registry computed %s, not %s",
                                   ref, resp.docker_digest, d->d.str);
        reg_response_release(&resp);
        if (r >= 0)
                transfer_note(p->o, "manifest", &d->d, d->len, "uploaded");
        return r;
}

/* True when the tag already names exactly this document. */
static bool tag_is_current(struct push *p, const char *tag, const struct doc *top)
{
        _cleanup_free_ char *url = reg_url(p->c, p->repo, "manifests/%s", tag);
        struct reg_request rq = {.method = "HEAD",
                                 .url = url,
                                 .scope = p->scope,
                                 .accept = LANA_MT_OCI_MANIFEST ", " LANA_MT_OCI_INDEX
                                                                ", " LANA_MT_DOCKER_MANIFEST
                                                                ", " LANA_MT_DOCKER_LIST};
        struct reg_response resp;
        int r = reg_request_run(p->c, &rq, &resp, NULL);
        bool same = r >= 0 && resp.status == 200 && resp.docker_digest &&
                    !strcmp(resp.docker_digest, top->d.str);
        reg_response_release(&resp);
        return same;
}

_public_ int lana_push(struct lana_store *store, struct lana_layout *src, json_t *desc,
                       const char *dest, const struct lana_registry_options *o,
                       struct lana_digest *ret_digest, struct lana_transfer_stats *ret_stats,
                       struct lana_error **err)
{
        struct lana_reference ref;
        int r = lana_reference_parse(dest, "latest", &ref, err);
        if (r < 0)
                return r;
        struct push p = {.store = store, .src = src, .o = o};
        pthread_mutex_init(&p.lock, NULL);
        p.repo = xstrdup(ref.path);
        p.scope = xasprintf("repository:%s:pull,push", ref.path);
        r = collect(&p, desc, err);
        if (r >= 0)
                r = reg_client_new(ref.domain, o, &p.c, err);
        const struct doc *top = p.ndocs ? &p.docs[p.ndocs - 1] : NULL;
        bool current = r >= 0 && ref.tag && tag_is_current(&p, ref.tag, top);
        if (r >= 0 && !current)
                r = transfer_run(p.nblobs, o->jobs ? o->jobs : 4, push_blob, &p, err);
        for (size_t i = 0; r >= 0 && !current && i + 1 < p.ndocs; i++)
                r = put_manifest(&p, &p.docs[i], p.docs[i].d.str, err);
        if (r >= 0 && !current)
                r = put_manifest(&p, top, ref.tag ? ref.tag : top->d.str, err);
        if (r >= 0 && current)
                transfer_note(p.o, "manifest", &top->d, top->len, "exists");
        if (r >= 0 && ret_digest)
                *ret_digest = top->d;
        if (p.c)
                p.st.requests = p.c->requests;
        if (ret_stats)
                *ret_stats = p.st;
        reg_client_free(p.c);
        for (size_t i = 0; i < p.ndocs; i++) {
                free(p.docs[i].media_type);
                free(p.docs[i].data);
        }
        free(p.docs);
        free(p.blobs);
        free(p.repo);
        free(p.scope);
        pthread_mutex_destroy(&p.lock);
        _cleanup_free_ char *name = lana_reference_format(&ref);
        lana_reference_release(&ref);
        if (r < 0)
                return lana_error_wrap(err, r, "push %s", name);
        return 0;
}
