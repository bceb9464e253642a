/*
 * maintenance.c — garbage collection, fsck and archive import/export of layouts.
 *
 * gc marks everything reachable from index.json and deletes the rest (plus temp files left by
 * killed writers); callers make sure no writer runs meanwhile (the store's gc lock). fsck trusts
 * nothing: it re-hashes every blob and walks every ref down to its layers.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lana/layer.h"
#include "lana/store.h"
#include "alloc.h"
#include "fs-util.h"
#include "store-internal.h"

struct hexset {
        char **v;
        size_t n, cap;
};

static void hexset_add(struct hexset *s, const char *hex)
{
        for (size_t i = 0; i < s->n; i++)
                if (!strcmp(s->v[i], hex))
                        return;
        if (s->n == s->cap) {
                s->cap = s->cap ? 2 * s->cap : 64;
                s->v = xrealloc(s->v, s->cap * sizeof *s->v);
        }
        s->v[s->n++] = xstrdup(hex);
}

static bool hexset_has(const struct hexset *s, const char *hex)
{
        for (size_t i = 0; i < s->n; i++)
                if (!strcmp(s->v[i], hex))
                        return true;
        return false;
}

static void hexset_release(struct hexset *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (struct hexset){0};
}

static int mark_one(struct lana_layout *l, json_t *desc, void *ud)
{
        (void)l;
        struct lana_digest d;
        if (lana_descriptor_parse(desc, NULL, &d, NULL, NULL) < 0)
                return 0;
        hexset_add(ud, d.hex);
        return 0;
}

/* Marks everything reachable that can be read, going on past missing or broken children:
 * garbage collection must never lose a healthy platform because a sibling is damaged. */
static void mark_tolerant(struct lana_layout *l, json_t *desc, struct hexset *live, int depth)
{
        const char *mt;
        struct lana_digest d;
        if (depth > 8 || lana_descriptor_parse(desc, &mt, &d, NULL, NULL) < 0)
                return;
        hexset_add(live, d.hex);
        if (!lana_media_type_is_index(mt) && !lana_media_type_is_manifest(mt))
                return;
        json_t *doc = NULL;
        if (lana_layout_read_json(l, &d, &doc, NULL) < 0)
                return;
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(doc, "manifests"), i, c)
                mark_tolerant(l, c, live, depth + 1);
        json_array_foreach(json_object_get(doc, "layers"), i, c)
                mark_tolerant(l, c, live, depth + 1);
        if (json_object_get(doc, "config"))
                mark_tolerant(l, json_object_get(doc, "config"), live, depth + 1);
        json_decref(doc);
}

static int mark_all(struct lana_layout *l, struct hexset *live, bool tolerate,
                    struct lana_error **err)
{
        json_t *ms = NULL;
        int r = lana_layout_list(l, &ms, err);
        if (r < 0)
                return r;
        size_t i;
        json_t *m;
        json_array_foreach(ms, i, m)
        {
                if (tolerate) {
                        mark_tolerant(l, m, live, 0);
                        continue;
                }
                struct lana_error *e = NULL;
                r = layout_walk(l, m, 0, mark_one, live, &e);
                if (r < 0 && !tolerate) {
                        if (err) {
                                lana_error_free(*err);
                                *err = e;
                        } else {
                                lana_error_free(e);
                        }
                        json_decref(ms);
                        return r;
                }
                lana_error_free(e);
                /* even a broken tree keeps its top-level blob */
                mark_one(l, m, live);
        }
        json_decref(ms);
        return 0;
}

_public_ int lana_layout_gc(struct lana_layout *l, uint64_t *ret_blobs, uint64_t *ret_bytes,
                            struct lana_error **err)
{
        struct hexset live = {0};
        /* A ref whose tree cannot be read keeps what can be reached; never delete on doubt. */
        int r = mark_all(l, &live, true, err);
        if (r < 0)
                return r;
        int fd = openat(l->blobsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                closep(&fd);
                hexset_release(&live);
                return lana_error_setsys(err, -errno, "%s/blobs/sha256", l->path);
        }
        uint64_t blobs = 0, bytes = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (hexset_has(&live, de->d_name))
                        continue;
                struct stat st;
                if (fstatat(l->blobsfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (unlinkat(l->blobsfd, de->d_name, 0) == 0 && de->d_name[0] != '.') {
                        blobs++;
                        bytes += (uint64_t)st.st_size;
                }
        }
        closedir(d);
        hexset_release(&live);
        fsync_dirfd(l->blobsfd);
        if (ret_blobs)
                *ret_blobs = blobs;
        if (ret_bytes)
                *ret_bytes = bytes;
        return 0;
}

struct fsck_ctx {
        lana_fault_fn report;
        void *ud;
        int faults;
        const char *ref;
        json_t *verified; /* "<layer digest> <diff_id>" pairs already read through */
        json_t *corrupt;  /* hex of the blobs whose bytes do not hash to their name */
};

static void fault(struct fsck_ctx *c, const char *fmt, ...) _printf_(2, 3);
static void fault(struct fsck_ctx *c, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = xvasprintf(fmt, ap);
        va_end(ap);
        c->faults++;
        if (c->report)
                c->report(c->ud, msg);
}

/* Whether the blob is there with the descriptor's size and hashes to its name: the faults it
 * has otherwise are reported once, by the blob pass or check_one(). */
static bool blob_sound(struct lana_layout *l, const struct fsck_ctx *c, json_t *desc)
{
        struct lana_digest d;
        uint64_t size;
        struct stat st;
        return lana_descriptor_parse(desc, NULL, &d, &size, NULL) >= 0 &&
               !json_object_get(c->corrupt, d.hex) &&
               fstatat(l->blobsfd, d.hex, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               (uint64_t)st.st_size == size;
}

/* An image a manifest describes: its config validates, lana_image_check() passes (the same limits
 * build and run hold images to), and every layer decompresses to its diff_id, each layer once per
 * fsck. Blobs missing or of the wrong size are check_one()'s to report. */
static void check_image(struct lana_layout *l, json_t *mdesc, struct fsck_ctx *c)
{
        struct lana_error *e = NULL;
        struct lana_digest d;
        json_t *m = NULL, *cfg = NULL;
        int r = lana_descriptor_parse(mdesc, NULL, &d, NULL, &e);
        if (r >= 0)
                r = lana_layout_read_json(l, &d, &m, &e);
        /* a config that is missing, corrupt or of another size is faulted already */
        if (r >= 0 && !blob_sound(l, c, json_object_get(m, "config"))) {
                json_decref(m);
                return;
        }
        if (r >= 0)
                r = lana_layout_check_manifest(l, m, &cfg, &e);
        if (r < 0)
                fault(c, "ref %s: manifest %s: %s", c->ref, d.str, e ? e->msg : "unreadable");
        e = lana_error_free(e);
        json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
        size_t i;
        json_t *x;
        json_array_foreach(r >= 0 ? json_object_get(m, "layers") : NULL, i, x)
        {
                const char *id = json_string_value(json_array_get(ids, i));
                _cleanup_free_ char *pair =
                        xasprintf("%s %s", json_string_value(json_object_get(x, "digest")), id);
                struct lana_digest diff;
                if (json_object_get(c->verified, pair) || !blob_sound(l, c, x) ||
                    lana_digest_parse(id, &diff, NULL) < 0)
                        continue;
                json_object_set_new(c->verified, pair, json_true());
                if (lana_layout_verify_layer(l, x, &diff, &e) < 0)
                        fault(c, "ref %s: %s", c->ref, e ? e->msg : "unreadable layer");
                e = lana_error_free(e);
        }
        json_decref(m);
        json_decref(cfg);
}

static int check_one(struct lana_layout *l, json_t *desc, void *ud)
{
        struct fsck_ctx *c = ud;
        struct lana_digest d;
        uint64_t size;
        const char *mt;
        if (lana_descriptor_parse(desc, &mt, &d, &size, NULL) < 0) {
                fault(c, "ref %s: malformed descriptor", c->ref);
                return 0;
        }
        struct stat st;
        if (fstatat(l->blobsfd, d.hex, &st, AT_SYMLINK_NOFOLLOW) < 0)
                fault(c, "ref %s: blob %s is missing", c->ref, d.str);
        else if ((uint64_t)st.st_size != size)
                fault(c, "ref %s: blob %s has %jd bytes, descriptor says %ju", c->ref, d.str,
                      (intmax_t)st.st_size, (uintmax_t)size);
        else if (lana_media_type_is_manifest(mt))
                check_image(l, desc, c);
        return 0;
}

_public_ int lana_layout_fsck(struct lana_layout *l, lana_fault_fn report, void *userdata,
                              struct lana_error **err)
{
        struct fsck_ctx c = {.report = report, .ud = userdata};
        int fd = openat(l->blobsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
        if (!dir) {
                closep(&fd);
                return lana_error_setsys(err, -errno, "%s/blobs/sha256", l->path);
        }
        c.corrupt = json_object();
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (de->d_name[0] == '.')
                        continue;
                struct lana_digest want;
                _cleanup_free_ char *name = xasprintf("sha256:%s", de->d_name);
                if (lana_digest_parse(name, &want, NULL) < 0) {
                        fault(&c, "blob %s: name is not a sha256 digest", de->d_name);
                        continue;
                }
                _cleanup_close_ int bfd =
                        openat(l->blobsfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                struct lana_digest got;
                if (bfd < 0 || lana_digest_fd(bfd, &got, NULL, NULL) < 0) {
                        fault(&c, "blob %s: cannot be read", want.str);
                        continue;
                }
                if (!lana_digest_equal(&want, &got)) {
                        fault(&c, "blob %s: content hashes to %s", want.str, got.str);
                        json_object_set_new(c.corrupt, want.hex, json_true());
                }
        }
        closedir(dir);

        json_t *ms = NULL;
        int r = lana_layout_list(l, &ms, err);
        if (r < 0) {
                json_decref(c.corrupt);
                return r;
        }
        c.verified = json_object();
        size_t i;
        json_t *m;
        json_array_foreach(ms, i, m)
        {
                const char *n = json_string_value(
                        json_object_get(json_object_get(m, "annotations"), LANA_ANNOT_REF_NAME));
                c.ref = n ? n : "(unnamed)";
                struct lana_error *e = NULL;
                if (layout_walk(l, m, 0, check_one, &c, &e) < 0)
                        fault(&c, "ref %s: %s", c.ref, e ? e->msg : "unreadable");
                lana_error_free(e);
        }
        json_decref(ms);
        json_decref(c.verified);
        json_decref(c.corrupt);
        return c.faults;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

_public_ int lana_layout_export_archive(struct lana_layout *l, const char *path,
                                        struct lana_error **err)
{
        struct hexset live = {0};
        int r = mark_all(l, &live, false, err);
        if (r < 0)
                return r;
        qsort(live.v, live.n, sizeof *live.v, cmp_str);

        _cleanup_free_ char *base = NULL;
        _cleanup_close_ int dfd = open_parent_dir(path, false, &base);
        if (dfd < 0) {
                hexset_release(&live);
                return lana_error_setsys(err, dfd, "%s", path);
        }
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int out = open_tmpfile_at(dfd, base, &tmp, err);
        if (out < 0) {
                hexset_release(&live);
                return out;
        }
        struct lana_writer *fw = lana_fd_writer_new(out);
        struct lana_tar_writer *tw = NULL;
        r = lana_tar_writer_new(fw, &tw, err);
        struct lana_tar_entry e = {.mode = 0755, .type = LANA_TAR_DIR};
        if (r >= 0) {
                e.path = "blobs";
                r = lana_tar_writer_add(tw, &e, -1, err);
        }
        if (r >= 0) {
                e.path = "blobs/sha256";
                r = lana_tar_writer_add(tw, &e, -1, err);
        }
        for (size_t i = 0; r >= 0 && i < live.n; i++) {
                _cleanup_close_ int bfd =
                        openat(l->blobsfd, live.v[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                struct stat st;
                if (bfd < 0 || fstat(bfd, &st) < 0) {
                        r = lana_error_setsys(err, -errno, "blob sha256:%s", live.v[i]);
                        break;
                }
                _cleanup_free_ char *p = xasprintf("blobs/sha256/%s", live.v[i]);
                struct lana_tar_entry f = {.path = p,
                                           .type = LANA_TAR_FILE,
                                           .mode = 0644,
                                           .size = (uint64_t)st.st_size};
                r = lana_tar_writer_add(tw, &f, bfd, err);
        }
        /* manifest.json exists only in docker-archive exports */
        const char *files[] = {"index.json", "manifest.json", "oci-layout"};
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                if (i == 1 && faccessat(l->dirfd, files[i], F_OK, 0) < 0)
                        continue;
                r = read_file_at(l->dirfd, files[i], LANA_OCI_MAX_DOC, &data, &len, err);
                if (r < 0)
                        break;
                struct lana_tar_entry f = {
                        .path = files[i], .type = LANA_TAR_FILE, .mode = 0644, .size = len};
                r = lana_tar_writer_add_data(tw, &f, data, err);
        }
        if (r >= 0)
                r = lana_tar_writer_finish(tw, err);
        lana_tar_writer_free(tw);
        lana_writer_free(fw);
        hexset_release(&live);
        if (r >= 0 && (fchmod(out, 0644) < 0 || fsync(out) < 0))
                r = lana_error_setsys(err, -errno, "sync %s", path);
        if (r >= 0 && renameat(dfd, tmp, dfd, base) < 0)
                r = lana_error_setsys(err, -errno, "rename to %s", path);
        if (r < 0) {
                unlinkat(dfd, tmp, 0);
                return r;
        }
        fsync_dirfd(dfd);
        return 0;
}

static bool layout_member_name(const char *name, char *ret, size_t len)
{
        while (name[0] == '.' && name[1] == '/')
                name += 2;
        if (!strcmp(name, "oci-layout") || !strcmp(name, "index.json")) {
                snprintf(ret, len, "%s", name);
                return true;
        }
        static const char pre[] = "blobs/sha256/";
        if (strncmp(name, pre, sizeof pre - 1) != 0)
                return false;
        const char *hex = name + sizeof pre - 1;
        if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64)
                return false;
        snprintf(ret, len, "%s", name);
        return true;
}

_public_ int lana_layout_import_archive(const char *path, const char *dir, struct lana_error **err)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return lana_error_setsys(err, -errno, "%s", dir);
        int r = mkdir_p_at(dfd, "blobs/sha256", 0755);
        if (r < 0)
                return lana_error_setsys(err, r, "%s/blobs/sha256", dir);
        struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_zstd(a);
        if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK) {
                r = lana_error_set(err, -EINVAL, "%s: %s", path, archive_error_string(a));
                archive_read_free(a);
                return r;
        }
        struct archive_entry *ae;
        bool saw_layout = false;
        char buf[1 << 16];
        int ar = ARCHIVE_OK;
        r = 0;
        while (r >= 0 && (ar = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
                char name[128];
                if (archive_entry_filetype(ae) != AE_IFREG ||
                    !layout_member_name(archive_entry_pathname(ae), name, sizeof name))
                        continue;
                if (!strcmp(name, "oci-layout"))
                        saw_layout = true;
                int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                                0644);
                if (fd < 0) {
                        r = lana_error_setsys(err, -errno, "%s: %s", path, name);
                        break;
                }
                la_ssize_t n;
                r = 0;
                while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
                        if ((r = write_full(fd, buf, (size_t)n)) < 0)
                                break;
                close(fd);
                if (n < 0 || r < 0) {
                        r = lana_error_set(err, -EIO, "%s: %s: %s", path, name,
                                           n < 0 ? archive_error_string(a) : strerror(-r));
                        break;
                }
        }
        if (r >= 0 && ar != ARCHIVE_EOF)
                r = lana_error_set(err, -EBADMSG, "%s: %s", path, archive_error_string(a));
        archive_read_free(a);
        if (r >= 0 && !saw_layout)
                r = lana_error_set(err, -EBADMSG, "%s: not an OCI archive (no oci-layout)", path);
        return r;
}
