/*
 * layout.c — OCI image layout directories: blob writes (hash while writing, fsync, rename),
 * verified reads, index.json refs under flock, copying image trees between layouts.
 *
 * Crash safety rests on two rules: a blob only ever appears under its final name after its bytes
 * were hashed, fsynced and found to match; and index.json only ever names blobs that are already
 * published. A killed writer leaves at most a ".*.tmp-*" file, which gc removes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lana/store.h"
#include "alloc.h"
#include "fs-util.h"
#include "store-internal.h"
#include "test-hook.h"

#define OCI_LAYOUT_JSON "{\"imageLayoutVersion\":\"1.0.0\"}"

_public_ int lana_layout_open(const char *path, bool create, struct lana_layout **ret,
                              struct lana_error **err)
{
        if (create) {
                int r = mkdir_p_at(AT_FDCWD, path, 0755);
                if (r < 0)
                        return lana_error_setsys(err, r, "create %s", path);
        }
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return lana_error_setsys(err, -errno, "%s", path);
        struct stat st;
        bool has_layout = fstatat(fd, "oci-layout", &st, 0) == 0;
        if (!has_layout) {
                if (!create)
                        return lana_error_set(err, -ENOENT,
                                              "%s: not an OCI image layout "
                                              "(no oci-layout file)",
                                              path);
                int r = mkdir_p_at(fd, "blobs/sha256", 0755);
                if (r < 0)
                        return lana_error_setsys(err, r, "create %s/blobs/sha256", path);
                if (fstatat(fd, "index.json", &st, 0) < 0) {
                        static const char empty[] = "{\"manifests\":[],\"schemaVersion\":2}";
                        r = write_file_atomic_at(fd, "index.json", empty, strlen(empty), 0644, err);
                        if (r < 0)
                                return r;
                }
                r = write_file_atomic_at(fd, "oci-layout", OCI_LAYOUT_JSON, strlen(OCI_LAYOUT_JSON),
                                         0644, err);
                if (r < 0)
                        return r;
        }
        if (has_layout) {
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                json_t *j = NULL;
                int r = read_file_at(fd, "oci-layout", 4096, &text, &len, NULL);
                if (r >= 0)
                        r = lana_json_parse_object(text, len, &j, NULL);
                const char *v =
                        r >= 0 ? json_string_value(json_object_get(j, "imageLayoutVersion")) : NULL;
                bool ok = v && !strncmp(v, "1.", 2);
                json_decref(j);
                if (!ok)
                        return lana_error_set(err, -EBADMSG,
                                              "%s: oci-layout is not an OCI image "
                                              "layout version 1 marker",
                                              path);
        }
        if (create)
                (void)mkdir_p_at(fd, "blobs/sha256", 0755);
        int blobs = openat(fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (blobs < 0) {
                if (errno == ENOENT && !create) {
                        /* a valid but empty layout may lack blobs/; create lazily on write */
                        if (mkdir_p_at(fd, "blobs/sha256", 0755) == 0)
                                blobs = openat(fd, "blobs/sha256",
                                               O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                }
                if (blobs < 0)
                        return lana_error_setsys(err, -errno, "%s/blobs/sha256", path);
        }
        struct lana_layout *l = xnew(struct lana_layout, 1);
        l->path = xstrdup(path);
        l->dirfd = TAKE_FD(fd);
        l->blobsfd = blobs;
        *ret = l;
        return 0;
}

_public_ struct lana_layout *lana_layout_free(struct lana_layout *l)
{
        if (!l)
                return NULL;
        closep(&l->dirfd);
        closep(&l->blobsfd);
        free(l->path);
        free(l);
        return NULL;
}

_public_ void lana_layout_freep(struct lana_layout **l)
{
        *l = lana_layout_free(*l);
}

_public_ const char *lana_layout_path(const struct lana_layout *l)
{
        return l->path;
}

/* ---- blob writer ---- */

struct lana_blob_writer {
        struct lana_layout *l;
        int fd;
        char *tmpname;
        struct lana_writer *file;
        struct lana_writer *stop; /* NULL unless $LANA_IMG_TEST_STOP_BLOB_AT is set */
        struct lana_writer *hash;
        bool committed;
};

/* The crash-safety tests need a writer caught half-way through a blob, whatever the machine's
 * speed: with LANA_IMG_TEST_STOP_BLOB_AT=N, the first blob to pass N bytes stops the whole
 * process (SIGSTOP) with its temporary file on disk, for the test to kill it or to run another
 * command against the store while it holds its locks, then SIGCONT it. */
struct stop_writer {
        struct lana_writer base;
        uint64_t at;
};

static bool stop_fired;

static int stop_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err)
{
        struct stop_writer *s = (struct stop_writer *)w;
        int r = lana_writer_write(w->next, buf, len, err);
        if (r < 0)
                return r;
        if (w->bytes_in + len >= s->at && !__atomic_exchange_n(&stop_fired, true, __ATOMIC_SEQ_CST))
                test_stop_self();
        return 0;
}

static const struct lana_writer_type stop_writer_type = {
        .name = "test-stop",
        .write = stop_write,
};

static struct lana_writer *stop_writer_new(struct lana_writer *next)
{
        const char *env = getenv("LANA_IMG_TEST_STOP_BLOB_AT");
        if (!env || !*env)
                return NULL;
        char *end;
        errno = 0;
        unsigned long long at = strtoull(env, &end, 10);
        if (errno || *end || at == 0)
                return NULL;
        struct stop_writer *s = xnew(struct stop_writer, 1);
        s->base.type = &stop_writer_type;
        s->base.next = next;
        s->at = at;
        return &s->base;
}

_public_ int lana_blob_writer_new(struct lana_layout *l, struct lana_blob_writer **ret,
                                  struct lana_error **err)
{
        char *name = NULL;
        int fd = open_tmpfile_at(l->blobsfd, "blob", &name, err);
        if (fd < 0)
                return fd;
        struct lana_blob_writer *bw = xnew(struct lana_blob_writer, 1);
        bw->l = l;
        bw->fd = fd;
        bw->tmpname = name;
        bw->file = lana_fd_writer_new_writeback(fd);
        bw->stop = stop_writer_new(bw->file);
        bw->hash = lana_hash_writer_new(bw->stop ? bw->stop : bw->file);
        *ret = bw;
        return 0;
}

_public_ struct lana_writer *lana_blob_writer_stream(struct lana_blob_writer *bw)
{
        return bw->hash;
}

_public_ int lana_blob_writer_commit(struct lana_blob_writer *bw, const struct lana_digest *expect,
                                     struct lana_digest *ret_digest, uint64_t *ret_size,
                                     struct lana_error **err)
{
        int r = lana_writer_close(bw->hash, err);
        if (r < 0)
                return r;
        const struct lana_digest *got = lana_hash_writer_digest(bw->hash);
        if (expect && !lana_digest_equal(got, expect))
                return lana_error_set(err, -EBADMSG, "blob %s: content hashes to %s", expect->str,
                                      got->str);
        if (fchmod(bw->fd, 0644) < 0 || fsync(bw->fd) < 0)
                return lana_error_setsys(err, -errno, "sync blob %s", got->str);
        if (renameat(bw->l->blobsfd, bw->tmpname, bw->l->blobsfd, got->hex) < 0)
                return lana_error_setsys(err, -errno, "publish blob %s", got->str);
        bw->committed = true;
        r = fsync_dirfd(bw->l->blobsfd);
        if (r < 0)
                return lana_error_setsys(err, r, "sync %s/blobs/sha256", bw->l->path);
        if (ret_digest)
                *ret_digest = *got;
        if (ret_size)
                *ret_size = bw->hash->bytes_in;
        return 0;
}

_public_ struct lana_blob_writer *lana_blob_writer_free(struct lana_blob_writer *bw)
{
        if (!bw)
                return NULL;
        if (!bw->committed)
                unlinkat(bw->l->blobsfd, bw->tmpname, 0);
        lana_writer_free(bw->hash);
        lana_writer_free(bw->stop);
        lana_writer_free(bw->file);
        closep(&bw->fd);
        free(bw->tmpname);
        free(bw);
        return NULL;
}

_public_ int lana_layout_put_blob(struct lana_layout *l, const void *data, size_t len,
                                  struct lana_digest *ret, struct lana_error **err)
{
        struct lana_digest d;
        lana_digest_buffer(data, len, &d);
        if (ret)
                *ret = d;
        if (lana_layout_has_blob(l, &d))
                return 0;
        struct lana_blob_writer *bw = NULL;
        int r = lana_blob_writer_new(l, &bw, err);
        if (r < 0)
                return r;
        r = lana_writer_write(lana_blob_writer_stream(bw), data, len, err);
        if (r >= 0)
                r = lana_blob_writer_commit(bw, &d, NULL, NULL, err);
        lana_blob_writer_free(bw);
        return r;
}

_public_ bool lana_layout_has_blob(struct lana_layout *l, const struct lana_digest *d)
{
        struct stat st;
        return fstatat(l->blobsfd, d->hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

_public_ int lana_layout_open_blob(struct lana_layout *l, const struct lana_digest *d, int *ret_fd,
                                   uint64_t *ret_size, struct lana_error **err)
{
        int fd = openat(l->blobsfd, d->hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return lana_error_setsys(err, -errno, "blob %s", d->str);
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return lana_error_set(err, -EBADMSG, "blob %s: not a regular file", d->str);
        }
        if (ret_size)
                *ret_size = (uint64_t)st.st_size;
        *ret_fd = fd;
        return 0;
}

static int size_mismatch(const struct lana_digest *d, uint64_t size, uint64_t want,
                         struct lana_error **err)
{
        return lana_error_set(err, -EBADMSG, "blob %s has %ju bytes, descriptor says %ju", d->str,
                              (uintmax_t)size, (uintmax_t)want);
}

_public_ int lana_layout_open_desc(struct lana_layout *l, json_t *desc, int *ret_fd,
                                   struct lana_error **err)
{
        struct lana_digest d;
        uint64_t want, size;
        int r = lana_descriptor_parse(desc, NULL, &d, &want, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = -1;
        r = lana_layout_open_blob(l, &d, &fd, &size, err);
        if (r < 0)
                return r;
        if (size != want)
                return size_mismatch(&d, size, want, err);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

_public_ int lana_layout_read_blob(struct lana_layout *l, const struct lana_digest *d, size_t max,
                                   char **ret, size_t *ret_len, struct lana_error **err)
{
        char *data = NULL;
        size_t len = 0;
        int r = read_file_at(l->blobsfd, d->hex, max, &data, &len, err);
        if (r < 0)
                return lana_error_wrap(err, r, "blob %s", d->str);
        struct lana_digest got;
        lana_digest_buffer(data, len, &got);
        if (!lana_digest_equal(&got, d)) {
                free(data);
                return lana_error_set(err, -EBADMSG, "blob %s: content hashes to %s", d->str,
                                      got.str);
        }
        *ret = data;
        if (ret_len)
                *ret_len = len;
        return 0;
}

_public_ int lana_layout_read_json(struct lana_layout *l, const struct lana_digest *d, json_t **ret,
                                   struct lana_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = lana_layout_read_blob(l, d, LANA_OCI_MAX_DOC, &data, &len, err);
        if (r < 0)
                return r;
        r = lana_json_parse_object(data, len, ret, err);
        if (r < 0)
                return lana_error_wrap(err, r, "blob %s", d->str);
        return 0;
}

_public_ int lana_layout_copy_blob(struct lana_layout *dst, struct lana_layout *src, json_t *desc,
                                   struct lana_error **err)
{
        struct lana_digest d;
        uint64_t want;
        int r = lana_descriptor_parse(desc, NULL, &d, &want, err);
        if (r < 0)
                return r;
        /* the size is checked even when dst has the blob: a descriptor that misstates it must
         * not be carried into dst's documents */
        struct stat st;
        if (fstatat(dst->blobsfd, d.hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                return (uint64_t)st.st_size == want
                               ? 0
                               : size_mismatch(&d, (uint64_t)st.st_size, want, err);
        _cleanup_close_ int in = -1;
        r = lana_layout_open_desc(src, desc, &in, err);
        if (r < 0)
                return r;
        struct lana_blob_writer *bw = NULL;
        r = lana_blob_writer_new(dst, &bw, err);
        if (r < 0)
                return r;
        const size_t bufsz = 1 << 20;
        _cleanup_free_ char *buf = xmalloc(bufsz);
        for (;;) {
                ssize_t n = read(in, buf, bufsz);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = lana_error_setsys(err, -errno, "read blob %s", d.str);
                        break;
                }
                if (n == 0) {
                        r = lana_blob_writer_commit(bw, &d, NULL, NULL, err);
                        break;
                }
                r = lana_writer_write(lana_blob_writer_stream(bw), buf, (size_t)n, err);
                if (r < 0)
                        break;
        }
        lana_blob_writer_free(bw);
        return r;
}

/* Visits every descriptor reachable from `desc` (itself included), children first. */
int layout_walk(struct lana_layout *l, json_t *desc, int depth,
                int (*fn)(struct lana_layout *l, json_t *desc, void *ud), void *ud,
                struct lana_error **err)
{
        const char *mt;
        struct lana_digest d;
        int r = lana_descriptor_parse(desc, &mt, &d, NULL, err);
        if (r < 0)
                return r;
        if (depth > 8)
                return lana_error_set(err, -ELOOP, "%s: index nesting too deep", d.str);
        if (lana_media_type_is_index(mt) || lana_media_type_is_manifest(mt)) {
                json_t *doc = NULL;
                r = lana_layout_read_json(l, &d, &doc, err);
                if (r < 0)
                        return r;
                if (lana_media_type_is_index(mt)) {
                        r = lana_index_validate(doc, err);
                        size_t i;
                        json_t *m;
                        json_array_foreach(json_object_get(doc, "manifests"), i, m)
                        {
                                if (r < 0)
                                        break;
                                r = layout_walk(l, m, depth + 1, fn, ud, err);
                        }
                } else {
                        r = lana_manifest_validate(doc, err);
                        if (r >= 0)
                                r = fn(l, json_object_get(doc, "config"), ud);
                        size_t i;
                        json_t *m;
                        json_array_foreach(json_object_get(doc, "layers"), i, m)
                        {
                                if (r < 0)
                                        break;
                                r = fn(l, m, ud);
                        }
                }
                json_decref(doc);
                if (r < 0)
                        return r;
        }
        return fn(l, desc, ud);
}

struct copy_ctx {
        struct lana_layout *dst;
        struct lana_error **err;
};

static int copy_one(struct lana_layout *src, json_t *desc, void *ud)
{
        struct copy_ctx *c = ud;
        return lana_layout_copy_blob(c->dst, src, desc, c->err);
}

_public_ int lana_layout_copy_tree(struct lana_layout *dst, struct lana_layout *src, json_t *desc,
                                   struct lana_error **err)
{
        struct copy_ctx c = {dst, err};
        return layout_walk(src, desc, 0, copy_one, &c, err);
}

/* ---- index.json ---- */

static int index_lock(struct lana_layout *l, struct lana_error **err)
{
        while (flock(l->dirfd, LOCK_EX) < 0) {
                if (errno != EINTR)
                        return lana_error_setsys(err, -errno, "lock %s", l->path);
        }
        return 0;
}

static void index_unlock(struct lana_layout *l)
{
        flock(l->dirfd, LOCK_UN);
}

static int index_read(struct lana_layout *l, json_t **ret, struct lana_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_at(l->dirfd, "index.json", LANA_OCI_MAX_DOC, &data, &len, err);
        if (r == -ENOENT) {
                *ret = json_pack("{s:i,s:[]}", "schemaVersion", 2, "manifests");
                return 0;
        }
        if (r < 0)
                return lana_error_wrap(err, r, "%s", l->path);
        json_t *j = NULL;
        r = lana_json_parse_object(data, len, &j, err);
        if (r < 0)
                return lana_error_wrap(err, r, "%s/index.json", l->path);
        if (!json_is_array(json_object_get(j, "manifests")))
                json_object_set_new(j, "manifests", json_array());
        *ret = j;
        return 0;
}

static const char *desc_ref_name(json_t *d)
{
        return json_string_value(
                json_object_get(json_object_get(d, "annotations"), LANA_ANNOT_REF_NAME));
}

static int cmp_entries(const void *a, const void *b)
{
        json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
        const char *nx = desc_ref_name(x), *ny = desc_ref_name(y);
        int c = strcmp(nx ? nx : "", ny ? ny : "");
        if (c)
                return c;
        const char *dx = json_string_value(json_object_get(x, "digest"));
        const char *dy = json_string_value(json_object_get(y, "digest"));
        return strcmp(dx ? dx : "", dy ? dy : "");
}

static int index_write(struct lana_layout *l, json_t *idx, struct lana_error **err)
{
        json_t *ms = json_object_get(idx, "manifests");
        size_t n = json_array_size(ms);
        json_t **v = xnew(json_t *, n);
        for (size_t i = 0; i < n; i++)
                v[i] = json_incref(json_array_get(ms, i));
        qsort(v, n, sizeof *v, cmp_entries);
        json_array_clear(ms);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(ms, v[i]);
        free(v);
        json_object_set_new(idx, "schemaVersion", json_integer(2));
        if (!json_object_get(idx, "mediaType"))
                json_object_set_new(idx, "mediaType", json_string(LANA_MT_OCI_INDEX));
        size_t len;
        _cleanup_free_ char *s = lana_json_canonical(idx, &len);
        return write_file_atomic_at(l->dirfd, "index.json", s, len, 0644, err);
}

/* One read and one atomic write of index.json for all the names, under one lock: naming an image
 * N times costs O(N + entries) plus the sort, not N rewrites of a growing file (issue 10). */
_public_ int lana_layout_set_refs(struct lana_layout *l, const char *const *names, size_t n,
                                  json_t *desc, struct lana_error **err)
{
        struct lana_digest d;
        int r = lana_descriptor_parse(desc, NULL, &d, NULL, err);
        if (r < 0)
                return r;
        if (n == 0)
                return 0;
        if (!lana_layout_has_blob(l, &d))
                return lana_error_set(err, -ENOENT, "ref %s: blob %s is missing", names[0], d.str);
        r = index_lock(l, err);
        if (r < 0)
                return r;
        json_t *idx = NULL;
        r = index_read(l, &idx, err);
        if (r >= 0) {
                json_t *given = json_object();
                for (size_t i = 0; i < n; i++)
                        json_object_set_new_nocheck(given, names[i], json_true());
                /* keep every entry not renamed, then one entry per distinct name */
                json_t *ms = json_array();
                size_t k;
                json_t *m;
                json_array_foreach(json_object_get(idx, "manifests"), k, m)
                {
                        const char *name = desc_ref_name(m);
                        if (!name || !json_object_get(given, name))
                                json_array_append(ms, m);
                }
                for (size_t i = 0; i < n; i++) {
                        if (!json_object_get(given, names[i]))
                                continue; /* given twice */
                        json_object_del(given, names[i]);
                        json_t *entry = json_deep_copy(desc);
                        json_t *ann = json_object_get(entry, "annotations");
                        if (!json_is_object(ann)) {
                                ann = json_object();
                                json_object_set_new(entry, "annotations", ann);
                        }
                        json_object_set_new(ann, LANA_ANNOT_REF_NAME, json_string(names[i]));
                        json_array_append_new(ms, entry);
                }
                json_decref(given);
                json_object_set_new(idx, "manifests", ms);
                r = index_write(l, idx, err);
        }
        json_decref(idx);
        index_unlock(l);
        return r;
}

_public_ int lana_layout_set_ref(struct lana_layout *l, const char *name, json_t *desc,
                                 struct lana_error **err)
{
        return lana_layout_set_refs(l, &name, 1, desc, err);
}

_public_ int lana_layout_list(struct lana_layout *l, json_t **ret, struct lana_error **err)
{
        json_t *idx = NULL;
        int r = index_read(l, &idx, err);
        if (r < 0)
                return r;
        *ret = json_incref(json_object_get(idx, "manifests"));
        json_decref(idx);
        return 0;
}

_public_ int lana_layout_resolve(struct lana_layout *l, const char *name, json_t **ret,
                                 struct lana_error **err)
{
        json_t *ms = NULL;
        int r = lana_layout_list(l, &ms, err);
        if (r < 0)
                return r;
        size_t i;
        json_t *m;
        json_t *found = NULL;
        int count = 0;
        json_array_foreach(ms, i, m)
        {
                const char *n = desc_ref_name(m);
                if (name ? (n && !strcmp(n, name)) : true) {
                        if (!found)
                                found = m;
                        count++;
                }
        }
        if (!found) {
                json_decref(ms);
                if (name)
                        return lana_error_set(err, -ENOENT, "%s: no image named %s", l->path, name);
                return lana_error_set(err, -ENOENT, "%s: no image", l->path);
        }
        if (!name && count > 1) {
                /* several names for one image are not ambiguous */
                const char *d0 = json_string_value(json_object_get(found, "digest"));
                json_array_foreach(ms, i, m)
                {
                        const char *d = json_string_value(json_object_get(m, "digest"));
                        if (!d || !d0 || strcmp(d, d0) != 0) {
                                json_decref(ms);
                                return lana_error_set(err, -EINVAL,
                                                      "%s: holds %d images; name one with :REF",
                                                      l->path, count);
                        }
                }
        }
        *ret = json_incref(found);
        json_decref(ms);
        return 0;
}

_public_ int lana_layout_remove_ref(struct lana_layout *l, const char *name,
                                    struct lana_error **err)
{
        int r = index_lock(l, err);
        if (r < 0)
                return r;
        json_t *idx = NULL;
        r = index_read(l, &idx, err);
        if (r >= 0) {
                json_t *ms = json_object_get(idx, "manifests");
                bool removed = false;
                for (size_t i = json_array_size(ms); i-- > 0;) {
                        const char *n = desc_ref_name(json_array_get(ms, i));
                        if (n && !strcmp(n, name)) {
                                json_array_remove(ms, i);
                                removed = true;
                        }
                }
                if (!removed)
                        r = lana_error_set(err, -ENOENT, "no image named %s", name);
                else
                        r = index_write(l, idx, err);
        }
        json_decref(idx);
        index_unlock(l);
        return r;
}

_public_ int lana_layout_select_manifest(struct lana_layout *l, json_t *desc,
                                         const struct lana_platform *platform, json_t **ret,
                                         struct lana_error **err)
{
        return lana_image_load(l, desc, platform, ret, NULL, NULL, err);
}

int layout_select(struct lana_layout *l, json_t *desc, const struct lana_platform *platform,
                  json_t **ret, struct lana_error **err)
{
        const char *mt;
        struct lana_digest d;
        int r = lana_descriptor_parse(desc, &mt, &d, NULL, err);
        if (r < 0)
                return r;
        if (lana_media_type_is_manifest(mt)) {
                *ret = json_incref(desc);
                return 0;
        }
        if (!lana_media_type_is_index(mt))
                return lana_error_set(err, -EBADMSG, "%s: not an image (mediaType %s)", d.str, mt);
        struct lana_platform host;
        if (!platform) {
                lana_platform_host(&host);
                platform = &host;
        }
        json_t *idx = NULL;
        r = lana_layout_read_json(l, &d, &idx, err);
        if (r < 0)
                return r;
        r = lana_index_validate(idx, err);
        json_t *found = NULL;
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(idx, "manifests"), i, m)
        {
                if (r < 0)
                        break;
                struct lana_platform p;
                if (lana_platform_from_json(json_object_get(m, "platform"), &p) < 0)
                        continue;
                if (lana_platform_equal(&p, platform)) {
                        found = m;
                        break;
                }
        }
        if (r >= 0 && !found) {
                char buf[64];
                r = lana_error_set(err, -ENOENT, "%s: no manifest for platform %s", d.str,
                                   lana_platform_format(platform, buf, sizeof buf));
        }
        if (r >= 0)
                r = layout_select(l, found, platform, ret, err);
        json_decref(idx);
        return r;
}

/* ---- partial blobs ---- */

static char *partial_name(const struct lana_digest *d)
{
        return xasprintf(".partial-%s", d->hex);
}

_public_ int lana_layout_partial_open(struct lana_layout *l, const struct lana_digest *d,
                                      int *ret_fd, uint64_t *ret_size, struct lana_error **err)
{
        _cleanup_free_ char *name = partial_name(d);
        int fd = openat(l->blobsfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return lana_error_setsys(err, -errno, "partial blob %s", d->str);
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return lana_error_setsys(err, r, "partial blob %s", d->str);
        }
        *ret_fd = fd;
        *ret_size = (uint64_t)st.st_size;
        return 0;
}

_public_ int lana_layout_partial_verify(struct lana_layout *l, const struct lana_digest *d, int fd,
                                        struct lana_error **err)
{
        struct lana_digest got;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return lana_error_setsys(err, -errno, "partial blob %s", d->str);
        int r = lana_digest_fd(fd, &got, NULL, err);
        if (r < 0)
                return r;
        if (!lana_digest_equal(&got, d)) {
                lana_layout_partial_discard(l, d);
                return lana_error_set(err, -EBADMSG, "blob %s: content hashes to %s", d->str,
                                      got.str);
        }
        return 0;
}

_public_ int lana_layout_partial_publish(struct lana_layout *l, const struct lana_digest *d, int fd,
                                         struct lana_error **err)
{
        if (fsync(fd) < 0)
                return lana_error_setsys(err, -errno, "sync blob %s", d->str);
        _cleanup_free_ char *name = partial_name(d);
        if (renameat(l->blobsfd, name, l->blobsfd, d->hex) < 0)
                return lana_error_setsys(err, -errno, "publish blob %s", d->str);
        int r = fsync_dirfd(l->blobsfd);
        if (r < 0)
                return lana_error_setsys(err, r, "sync %s/blobs/sha256", l->path);
        return 0;
}

_public_ int lana_layout_partial_commit(struct lana_layout *l, const struct lana_digest *d, int fd,
                                        struct lana_error **err)
{
        int r = lana_layout_partial_verify(l, d, fd, err);
        return r < 0 ? r : lana_layout_partial_publish(l, d, fd, err);
}

_public_ void lana_layout_partial_discard(struct lana_layout *l, const struct lana_digest *d)
{
        _cleanup_free_ char *name = partial_name(d);
        unlinkat(l->blobsfd, name, 0);
}
