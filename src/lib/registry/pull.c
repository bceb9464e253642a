/*
 * pull.c — fetches an image into the store: the manifest (or index, then the platform's
 * manifest), verified against the digest asked for and the registry's Docker-Content-Digest,
 * then config and layers in parallel into resumable partial files (a broken connection resumes
 * with Range). Nothing becomes visible until everything is verified: blobs are published only
 * after every one hashed to its digest and had its declared size, then the documents, then the
 * ref — so a failed pull stores nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "registry-internal.h"
#include "transfer.h"

#define ACCEPT_ALL                                                                                 \
        LANA_MT_OCI_MANIFEST ", " LANA_MT_OCI_INDEX ", " LANA_MT_DOCKER_MANIFEST                   \
                             ", " LANA_MT_DOCKER_LIST

struct pblob {
        struct lana_digest d;
        uint64_t size;
        const char *what;
        int fd;
        bool present;
};

struct pdoc {
        struct lana_digest d;
        char *media_type;
        char *data;
        size_t len;
};

struct pull {
        struct reg_client *c;
        struct lana_store *store;
        struct lana_layout *l;
        char *repo;
        char *scope;
        struct pblob *blobs;
        size_t nblobs;
        struct pdoc *docs;
        size_t ndocs;
        pthread_mutex_t lock;
        struct lana_transfer_stats st;
        const struct lana_registry_options *o;
};

static char *plain_media_type(const char *ct)
{
        return ct ? xstrndup(ct, strcspn(ct, "; ")) : NULL;
}

/* GET a manifest or index; verifies it against `expect` and Docker-Content-Digest. */
static int fetch_doc(struct pull *p, const char *ref, const struct lana_digest *expect,
                     struct pdoc *ret, json_t **ret_json, struct lana_error **err)
{
        _cleanup_free_ char *url = reg_url(p->c, p->repo, "manifests/%s", ref);
        struct lana_buf b;
        lana_buf_init(&b, LANA_OCI_MAX_DOC);
        struct reg_request rq = {
                .method = "GET", .url = url, .scope = p->scope, .accept = ACCEPT_ALL, .buf = &b};
        struct reg_response resp;
        int r = reg_request_run(p->c, &rq, &resp, err);
        if (r == -EFBIG)
                r = lana_error_set(err, -EFBIG, "manifest %s is larger than %zu bytes", ref,
                                   LANA_OCI_MAX_DOC);
        struct lana_digest got;
        if (r >= 0) {
                lana_digest_buffer(b.data ? b.data : "", b.len, &got);
                struct lana_digest hdr;
                if (expect && !lana_digest_equal(&got, expect))
                        r = lana_error_set(err, -EBADMSG, "manifest %s: content hashes to %s",
                                           expect->str, got.str);
                else if (resp.docker_digest &&
                         lana_digest_parse(resp.docker_digest, &hdr, NULL) >= 0 &&
                         !lana_digest_equal(&got, &hdr))
                        r = lana_error_set(err, -EBADMSG,
                                           "manifest %s: registry says %s but content hashes "
                                           "to %s",
                                           ref, hdr.str, got.str);
        }
        json_t *j = NULL;
        if (r >= 0)
                r = lana_json_parse_object(b.data ? b.data : "", b.len, &j, err);
        if (r >= 0) {
                const char *mt = json_string_value(json_object_get(j, "mediaType"));
                _cleanup_free_ char *ct = plain_media_type(resp.content_type);
                if (!mt || !*mt)
                        mt = ct;
                if (!lana_media_type_is_index(mt) && !lana_media_type_is_manifest(mt))
                        r = lana_error_set(err, -EPROTO, "manifest %s: unsupported media type %s",
                                           ref, mt ? mt : "(none)");
                else if (lana_media_type_is_index(mt))
                        r = lana_index_validate(j, err);
                else
                        r = lana_manifest_validate(j, err);
                if (r >= 0) {
                        ret->d = got;
                        ret->media_type = xstrdup(mt);
                        ret->data = lana_buf_steal(&b, &ret->len);
                }
        }
        lana_buf_release(&b);
        reg_response_release(&resp);
        if (r < 0) {
                json_decref(j);
                return r;
        }
        *ret_json = j;
        pthread_mutex_lock(&p->lock);
        p->st.requests++;
        pthread_mutex_unlock(&p->lock);
        transfer_note(p->o, "manifest", &ret->d, ret->len, "fetched");
        return 0;
}

static void add_doc(struct pull *p, struct pdoc *d)
{
        p->docs = xrealloc(p->docs, (p->ndocs + 1) * sizeof *p->docs);
        p->docs[p->ndocs++] = *d;
}

static int add_blob(struct pull *p, json_t *desc, const char *what, struct lana_error **err)
{
        struct lana_digest d;
        uint64_t size;
        int r = lana_descriptor_parse(desc, NULL, &d, &size, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->nblobs; i++)
                if (lana_digest_equal(&p->blobs[i].d, &d))
                        return 0;
        p->blobs = xrealloc(p->blobs, (p->nblobs + 1) * sizeof *p->blobs);
        p->blobs[p->nblobs++] = (struct pblob){.d = d, .size = size, .what = what, .fd = -1};
        return 0;
}

struct dl {
        struct pull *p;
        struct pblob *b;
        struct reg_request *rq;
        uint64_t off;
};

static int dl_begin(void *ud, long status)
{
        struct dl *x = ud;
        if (status == 200 && x->off > 0) {
                /* the registry ignored Range: start over */
                if (ftruncate(x->b->fd, 0) < 0)
                        return -1;
                x->off = 0;
        }
        return 0;
}

static int dl_sink(void *ud, const void *data, size_t len)
{
        struct dl *x = ud;
        if (x->off + len > x->b->size) {
                pthread_mutex_lock(&x->p->c->lock);
                lana_error_set(&x->p->c->sink_err, -EBADMSG,
                               "blob %s: registry sent more than the %ju bytes declared",
                               x->b->d.str, (uintmax_t)x->b->size);
                pthread_mutex_unlock(&x->p->c->lock);
                return -1;
        }
        const char *s = data;
        while (len > 0) {
                ssize_t n = pwrite(x->b->fd, s, len, (off_t)x->off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        pthread_mutex_lock(&x->p->c->lock);
                        lana_error_setsys(&x->p->c->sink_err, -errno, "write blob %s", x->b->d.str);
                        pthread_mutex_unlock(&x->p->c->lock);
                        return -1;
                }
                s += n;
                len -= (size_t)n;
                x->off += (uint64_t)n;
        }
        return 0;
}

static void dl_resume(void *ud)
{
        struct dl *x = ud;
        x->rq->range_from = x->off;
}

static int pull_blob(void *ud, size_t i, struct lana_error **err)
{
        struct pull *p = ud;
        struct pblob *b = &p->blobs[i];
        if (lana_layout_has_blob(p->l, &b->d)) {
                b->present = true;
                transfer_note(p->o, b->what, &b->d, b->size, "exists");
                return 0;
        }
        uint64_t have = 0;
        int r = lana_layout_partial_open(p->l, &b->d, &b->fd, &have, err);
        if (r < 0)
                return r;
        if (have > b->size) {
                if (ftruncate(b->fd, 0) < 0)
                        return lana_error_setsys(err, -errno, "blob %s", b->d.str);
                have = 0;
        }
        struct dl x = {.p = p, .b = b, .off = have};
        _cleanup_free_ char *url = reg_url(p->c, p->repo, "blobs/%s", b->d.str);
        struct reg_request rq = {.method = "GET",
                                 .url = url,
                                 .scope = p->scope,
                                 .sink = dl_sink,
                                 .sink_begin = dl_begin,
                                 .sink_ud = &x,
                                 .range_from = have,
                                 .before_retry = dl_resume,
                                 .retry_ud = &x};
        x.rq = &rq;
        rq.progress = p->o->progress;
        struct reg_response resp;
        r = have < b->size || b->size == 0 ? reg_request_run(p->c, &rq, &resp, err) : 0;
        if (have < b->size || b->size == 0)
                reg_response_release(&resp);
        if (r == -ENOENT)
                r = lana_error_set(err, -ENOENT, "blob %s: not found in %s/%s", b->d.str,
                                   p->c->host, p->repo);
        if (r >= 0 && x.off != b->size) {
                lana_layout_partial_discard(p->l, &b->d);
                r = lana_error_set(err, -EBADMSG, "blob %s: got %ju bytes, descriptor says %ju",
                                   b->d.str, (uintmax_t)x.off, (uintmax_t)b->size);
        }
        if (r >= 0)
                r = lana_layout_partial_verify(p->l, &b->d, b->fd, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&p->lock);
        p->st.blobs_fetched++;
        p->st.bytes += b->size;
        pthread_mutex_unlock(&p->lock);
        transfer_note(p->o, b->what, &b->d, b->size, have ? "fetched (resumed)" : "fetched");
        return 0;
}

static int plan_manifest(struct pull *p, json_t *m, struct lana_error **err)
{
        int r = 0;
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(m, "layers"), i, l)
        {
                if (r < 0)
                        break;
                r = add_blob(p, l, "layer", err);
        }
        if (r >= 0)
                r = add_blob(p, json_object_get(m, "config"), "config", err);
        return r;
}

_public_ int lana_pull(struct lana_store *store, const char *refstr,
                       const struct lana_platform *platform, bool all_platforms,
                       const struct lana_registry_options *o, struct lana_digest *ret_digest,
                       struct lana_transfer_stats *ret_stats, struct lana_error **err)
{
        struct lana_reference ref;
        int r = lana_reference_parse(refstr, "latest", &ref, err);
        if (r < 0)
                return r;
        struct pull p = {.store = store, .l = lana_store_layout(store), .o = o};
        pthread_mutex_init(&p.lock, NULL);
        p.repo = xstrdup(ref.path);
        p.scope = xasprintf("repository:%s:pull", ref.path);
        struct lana_platform host;
        if (!platform) {
                lana_platform_host(&host);
                platform = &host;
        }
        struct lana_digest want, top_digest;
        bool by_digest = ref.digest && lana_digest_parse(ref.digest, &want, NULL) >= 0;
        json_t *top = NULL, *top_desc = NULL;
        struct pdoc td = {0};
        r = reg_client_new(ref.domain, o, &p.c, err);
        if (r >= 0)
                r = fetch_doc(&p, by_digest ? ref.digest : ref.tag, by_digest ? &want : NULL, &td,
                              &top, err);
        if (r >= 0) {
                top_digest = td.d;
                top_desc = lana_descriptor_new(td.media_type, &td.d, td.len);
                bool is_index = lana_media_type_is_index(td.media_type);
                add_doc(&p, &td);
                if (!is_index) {
                        r = plan_manifest(&p, top, err);
                } else {
                        bool found = false;
                        size_t i;
                        json_t *m;
                        json_array_foreach(json_object_get(top, "manifests"), i, m)
                        {
                                if (r < 0)
                                        break;
                                const char *mt = json_string_value(json_object_get(m, "mediaType"));
                                struct lana_platform mp;
                                if (!lana_media_type_is_manifest(mt))
                                        continue;
                                bool match = lana_platform_from_json(json_object_get(m, "platform"),
                                                                     &mp) >= 0 &&
                                             lana_platform_equal(&mp, platform);
                                if (!all_platforms && !match)
                                        continue;
                                struct lana_digest md;
                                r = lana_descriptor_parse(m, NULL, &md, NULL, err);
                                struct pdoc d = {0};
                                json_t *mj = NULL;
                                if (r >= 0)
                                        r = fetch_doc(&p, md.str, &md, &d, &mj, err);
                                if (r >= 0) {
                                        add_doc(&p, &d);
                                        r = plan_manifest(&p, mj, err);
                                }
                                json_decref(mj);
                                if (r >= 0 && !all_platforms) {
                                        /* one platform: the name points at its manifest */
                                        json_decref(top_desc);
                                        top_desc = lana_descriptor_new(d.media_type, &d.d, d.len);
                                        top_digest = d.d;
                                        found = true;
                                        break;
                                }
                                found = true;
                        }
                        if (r >= 0 && !found) {
                                char buf[64];
                                r = lana_error_set(err, -ENOENT, "%s has no manifest for %s",
                                                   refstr,
                                                   lana_platform_format(platform, buf, sizeof buf));
                        }
                }
        }
        if (r >= 0)
                r = transfer_run(p.nblobs, o->jobs ? o->jobs : 4, pull_blob, &p, err);
        /* everything verified: publish blobs, then documents, then the name */
        for (size_t i = 0; r >= 0 && i < p.nblobs; i++) {
                if (p.blobs[i].present)
                        continue;
                /* verified when fetched: publishing does not hash again */
                r = lana_layout_partial_publish(p.l, &p.blobs[i].d, p.blobs[i].fd, err);
                if (r >= 0)
                        reg_blob_location_add(store, p.c->host, p.repo, &p.blobs[i].d);
        }
        for (size_t i = 0; r >= 0 && i < p.ndocs; i++) {
                /* in single-platform pulls the index is kept out of the store */
                if (i == 0 && !all_platforms && p.ndocs > 1 &&
                    lana_media_type_is_index(p.docs[0].media_type))
                        continue;
                struct lana_digest d;
                r = lana_layout_put_blob(p.l, p.docs[i].data, p.docs[i].len, &d, err);
        }
        _cleanup_free_ char *name = NULL;
        if (r >= 0) {
                if (ref.tag) {
                        free(ref.digest);
                        ref.digest = NULL;
                        name = lana_reference_format(&ref);
                } else {
                        /* by digest: the name carries the digest it points at (the platform's
                         * manifest when one platform was taken from an index) */
                        free(ref.digest);
                        ref.digest = xstrdup(top_digest.str);
                        name = lana_reference_format(&ref);
                }
                r = lana_layout_set_ref(p.l, name, top_desc, err);
        }
        if (r >= 0 && ret_digest)
                *ret_digest = top_digest;
        if (p.c)
                p.st.requests = p.c->requests;
        if (ret_stats)
                *ret_stats = p.st;
        for (size_t i = 0; i < p.nblobs; i++)
                if (p.blobs[i].fd >= 0)
                        close(p.blobs[i].fd);
        for (size_t i = 0; i < p.ndocs; i++) {
                free(p.docs[i].media_type);
                free(p.docs[i].data);
        }
        free(p.docs);
        free(p.blobs);
        json_decref(top);
        json_decref(top_desc);
        reg_client_free(p.c);
        free(p.repo);
        free(p.scope);
        pthread_mutex_destroy(&p.lock);
        _cleanup_free_ char *shown = xstrdup(refstr);
        lana_reference_release(&ref);
        if (r < 0)
                return lana_error_wrap(err, r, "pull %s", shown);
        return 0;
}
