/*
 * cache.c — the build cache: small JSON files under $ROOT/cache/layers/<key> holding a layer
 * descriptor, its diff_id and the builder's notes on its files, and marker files under
 * $ROOT/cache/slots/. Writes are atomic; lookups verify that the blob still exists with the
 * recorded size, so a stale entry degrades to a miss, never to a manifest naming a missing blob.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lana/store.h"
#include "alloc.h"
#include "fs-util.h"
#include "store-internal.h"

#define CACHE_ENTRY_MAX ((size_t)64 << 10)

static int cache_dir(struct lana_store *s, const char *sub, bool create)
{
        _cleanup_free_ char *p = xasprintf("%s/cache/%s", lana_store_root(s), sub);
        int r = create ? mkdir_p_at(AT_FDCWD, p, 0700) : 0;
        if (r < 0)
                return r;
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

_public_ int lana_store_cache_lookup(struct lana_store *s, const struct lana_digest *key,
                                     json_t **ret_desc, struct lana_digest *ret_diff_id,
                                     json_t **ret_notes)
{
        if (ret_notes)
                *ret_notes = NULL;
        _cleanup_close_ int dfd = cache_dir(s, "layers", false);
        if (dfd < 0)
                return -ENOENT;
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (read_file_at(dfd, key->hex, CACHE_ENTRY_MAX, &data, &len, NULL) < 0)
                return -ENOENT;
        json_t *entry = NULL;
        if (lana_json_parse_object(data, len, &entry, NULL) < 0)
                return -ENOENT;
        json_t *desc = json_object_get(entry, "desc");
        struct lana_digest d, diff;
        uint64_t size;
        int r = -ENOENT;
        if (lana_descriptor_parse(desc, NULL, &d, &size, NULL) >= 0 &&
            lana_digest_parse(json_string_value(json_object_get(entry, "diff_id")), &diff, NULL) >=
                    0) {
                struct stat st;
                struct lana_layout *l = lana_store_layout(s);
                if (fstatat(l->blobsfd, d.hex, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISREG(st.st_mode) && (uint64_t)st.st_size == size) {
                        *ret_desc = json_incref(desc);
                        *ret_diff_id = diff;
                        json_t *notes = json_object_get(entry, "notes");
                        if (ret_notes && json_is_object(notes))
                                *ret_notes = json_incref(notes);
                        r = 0;
                }
        }
        json_decref(entry);
        return r;
}

_public_ int lana_store_cache_record(struct lana_store *s, const struct lana_digest *key,
                                     json_t *desc, const struct lana_digest *diff_id, json_t *notes,
                                     struct lana_error **err)
{
        _cleanup_close_ int dfd = cache_dir(s, "layers", true);
        if (dfd < 0)
                return lana_error_setsys(err, dfd, "%s/cache/layers", lana_store_root(s));
        json_t *entry = json_pack("{s:O,s:s}", "desc", desc, "diff_id", diff_id->str);
        if (notes)
                json_object_set(entry, "notes", notes);
        size_t len;
        _cleanup_free_ char *text = lana_json_canonical(entry, &len);
        json_decref(entry);
        /* the cache is an optimisation: no fsync of the directory needed for correctness, but
         * the atomic rename keeps readers from seeing half an entry */
        return write_file_atomic_at(dfd, key->hex, text, len, 0600, err);
}

_public_ bool lana_store_cache_slot_known(struct lana_store *s, const struct lana_digest *slot)
{
        _cleanup_close_ int dfd = cache_dir(s, "slots", false);
        return dfd >= 0 && faccessat(dfd, slot->hex, F_OK, 0) == 0;
}

_public_ int lana_store_cache_slot_mark(struct lana_store *s, const struct lana_digest *slot,
                                        struct lana_error **err)
{
        _cleanup_close_ int dfd = cache_dir(s, "slots", true);
        if (dfd < 0)
                return lana_error_setsys(err, dfd, "%s/cache/slots", lana_store_root(s));
        if (faccessat(dfd, slot->hex, F_OK, 0) == 0)
                return 0;
        return write_file_atomic_at(dfd, slot->hex, "", 0, 0600, err);
}

_public_ int lana_store_cache_gc(struct lana_store *s, struct lana_error **err)
{
        int fd = cache_dir(s, "layers", false);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return lana_error_setsys(err, fd, "%s/cache/layers", lana_store_root(s));
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return lana_error_setsys(err, -errno, "%s/cache/layers", lana_store_root(s));
        }
        int removed = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.') {
                        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                                unlinkat(dirfd(d), de->d_name, 0); /* stale temp file */
                        continue;
                }
                struct lana_digest key;
                _cleanup_free_ char *name = xasprintf("sha256:%s", de->d_name);
                json_t *desc = NULL;
                struct lana_digest diff;
                if (lana_digest_parse(name, &key, NULL) < 0 ||
                    lana_store_cache_lookup(s, &key, &desc, &diff, NULL) < 0) {
                        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                                removed++;
                        continue;
                }
                json_decref(desc);
        }
        closedir(d);
        return removed;
}
