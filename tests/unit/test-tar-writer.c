/*
 * test-tar-writer.c — the deterministic tar stage. A layer's diff_id is the digest of these bytes,
 * so the stream is pinned by a golden sha256 over a fixed set of entries (directory, file,
 * symlink, a path longer than ustar's 100-byte name, a non-ASCII UTF-8 name, setuid mode and a
 * non-root owner, sticky directory), and must not change with the process locale or TZ. The
 * stream is checked structurally (ustar headers with empty uname/gname, PAX records only for
 * fields that do not fit, exactly two zero blocks at the end, no record padding) and read back
 * with libarchive field by field. Error paths: a file that shrinks or grows while being read,
 * and a failing next stage; an unfinished archive must not get a trailer when freed.
 */
#include <errno.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "lana/digest.h"
#include "lana/layer.h"
#include "mem-writer.h"

/* sha256 of the stream written by write_golden(); see the file comment. */
#define GOLDEN_TAR "sha256:fb597e54dff0d03916711329bf2cf78a75943bba9cd095b0ded49b748bac3e59"

#define MTIME 1700000000
#define LONG_NAME                                                                                  \
        "app/deep/"                                                                                \
        "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"   \
        "llllllllllllllllllllllll.txt"
#define UTF8_NAME "app/h\xc3\xa9llo-w\xc3\xb6rld-\xe4\xb8\x96\xe7\x95\x8c.txt"

static int memfd_with(const void *data, size_t len)
{
        int fd = memfd_create("test-tar", MFD_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

/* ---- the golden archive ---- */

struct golden {
        struct lana_tar_entry e;
        const char *data; /* regular files */
};

static char long_content[1000];
static char last_content[512];

static void init_contents(void)
{
        for (size_t i = 0; i < sizeof long_content; i++)
                long_content[i] = (char)('a' + i % 26);
        memset(last_content, 'Z', sizeof last_content);
}

#define DIR_(p, m)                                                                                 \
        {                                                                                          \
                .path = p, .type = LANA_TAR_DIR, .mode = m, .mtime = MTIME                         \
        }
static const struct golden golden[] = {
        {DIR_("app", 0755), NULL},
        {{.path = "app/hello.txt", .type = LANA_TAR_FILE, .mode = 0644, .size = 13, .mtime = MTIME},
         "hello, world\n"},
        {{.path = "app/hello-link",
          .type = LANA_TAR_SYMLINK,
          .mode = 0777,
          .mtime = MTIME,
          .link = "hello.txt"},
         NULL},
        {DIR_("app/deep", 0755), NULL},
        {{.path = LONG_NAME, .type = LANA_TAR_FILE, .mode = 0644, .size = 1000, .mtime = MTIME},
         long_content},
        {{.path = UTF8_NAME, .type = LANA_TAR_FILE, .mode = 0644, .size = 5, .mtime = MTIME},
         "utf8\n"},
        {{.path = "app/suid-bin",
          .type = LANA_TAR_FILE,
          .mode = 04755,
          .uid = 1000,
          .gid = 1000,
          .size = 10,
          .mtime = MTIME},
         "#!/bin/sh\n"},
        {{.path = "app/empty", .type = LANA_TAR_FILE, .mode = 0600, .size = 0, .mtime = MTIME}, ""},
        {DIR_("tmp", 01777), NULL},
        {{.path = "z-last",
          .type = LANA_TAR_FILE,
          .mode = 0640,
          .uid = 1000,
          .gid = 100,
          .size = 512,
          .mtime = MTIME},
         last_content},
};
#define N_GOLDEN (sizeof golden / sizeof *golden)

/* Writes the golden entries; files alternate between the fd and the in-memory entry points. */
static struct mem_writer *write_golden(void)
{
        init_contents();
        struct mem_writer *m = mem_new();
        struct lana_tar_writer *t = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(lana_tar_writer_new(&m->base, &t, &e), 0);
        for (size_t i = 0; i < N_GOLDEN; i++) {
                const struct golden *g = &golden[i];
                int r;
                if (g->e.type == LANA_TAR_FILE && i % 2 == 0) {
                        int fd = memfd_with(g->data, g->e.size);
                        r = lana_tar_writer_add(t, &g->e, fd, &e);
                        close(fd);
                } else if (g->e.type == LANA_TAR_FILE) {
                        r = lana_tar_writer_add_data(t, &g->e, g->data, &e);
                } else {
                        r = lana_tar_writer_add(t, &g->e, -1, &e);
                }
                if (r < 0)
                        fail_msg("add %s: %s", g->e.path, e ? e->msg : "?");
        }
        assert_int_equal(lana_tar_writer_finish(t, &e), 0);
        assert_null(e);
        assert_null(lana_tar_writer_free(t));
        /* finishing the archive does not close the next stage */
        assert_int_equal(m->closes, 0);
        return m;
}

static void digest_str(const struct mem_writer *m, char out[72])
{
        struct lana_digest d;
        lana_digest_buffer(m->data, m->len, &d);
        snprintf(out, 72, "%s", d.str);
}

static void test_golden_bytes(void **state)
{
        (void)state;
        struct mem_writer *m = write_golden();
        char got[72];
        digest_str(m, got);
        if (getenv("LANA_TEST_DUMP")) {
                FILE *f = fopen(getenv("LANA_TEST_DUMP"), "we");
                assert_non_null(f);
                fwrite(m->data, 1, m->len, f);
                fclose(f);
        }
        if (strcmp(got, GOLDEN_TAR) != 0)
                fail_msg("tar golden digest changed: %s (%zu bytes)", got, m->len);
        lana_writer_free(&m->base);
}

static void test_trailer_and_length(void **state)
{
        (void)state;
        struct mem_writer *m = write_golden();
        assert_int_equal(m->len % 512, 0);
        assert_true(m->len > 1024 + 512);
        /* the last entry's data block is all 'Z', then exactly two zero blocks: no padding to a
         * 10 KiB record */
        for (size_t i = m->len - 1024; i < m->len; i++)
                assert_int_equal(m->data[i], 0);
        assert_int_equal(m->data[m->len - 1025], 'Z');
        assert_int_equal(m->data[m->len - 1536], 'Z');
        lana_writer_free(&m->base);
}

static uint64_t octal_field(const unsigned char *f, size_t n)
{
        uint64_t v = 0;
        for (size_t i = 0; i < n && f[i] >= '0' && f[i] <= '7'; i++)
                v = v * 8 + (uint64_t)(f[i] - '0');
        return v;
}

static bool all_zero(const unsigned char *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

/* Walks the raw headers: ustar magic, valid checksums, empty uname/gname everywhere, and PAX
 * records only for fields that can need them. Returns the number of PAX headers. */
static int check_raw_headers(const unsigned char *d, size_t len)
{
        static const char *allowed[] = {"path", "linkpath", "uid", "gid", "size", "mtime"};
        char pid[32];
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        size_t off = 0;
        int pax = 0;
        while (off + 512 <= len && !all_zero(d + off, 512)) {
                const unsigned char *h = d + off;
                assert_memory_equal(h + 257, "ustar\0", 6);
                assert_memory_equal(h + 263, "00", 2);
                assert_true(all_zero(h + 265, 32)); /* uname */
                assert_true(all_zero(h + 297, 32)); /* gname */
                uint64_t sum = 0;
                for (size_t i = 0; i < 512; i++)
                        sum += (i >= 148 && i < 156) ? ' ' : h[i];
                assert_int_equal(octal_field(h + 148, 8), sum);
                assert_int_equal(octal_field(h + 136, 12), MTIME);
                uint64_t size = octal_field(h + 124, 12);
                if (h[156] == 'x') {
                        pax++;
                        /* the header's own name must not carry the pid (reproducibility) */
                        char name[101] = {0};
                        memcpy(name, h, 100);
                        assert_null(strstr(name, pid));
                        const char *rec = (const char *)h + 512, *end = rec + size;
                        while (rec < end) {
                                char *sp;
                                unsigned long rlen = strtoul(rec, &sp, 10);
                                assert_true(*sp == ' ' && rlen > 0);
                                const char *key = sp + 1, *eq = strchr(key, '=');
                                assert_non_null(eq);
                                bool ok = false;
                                for (size_t k = 0; k < sizeof allowed / sizeof *allowed; k++)
                                        if ((size_t)(eq - key) == strlen(allowed[k]) &&
                                            !memcmp(key, allowed[k], strlen(allowed[k])))
                                                ok = true;
                                if (!ok)
                                        fail_msg("unexpected PAX record %.*s", (int)(eq - key),
                                                 key);
                                rec += rlen;
                        }
                } else {
                        assert_true(h[156] == '0' || h[156] == '5' || h[156] == '2');
                }
                off += 512 + (size + 511) / 512 * 512;
        }
        /* the end marker sits exactly at the end */
        assert_int_equal(off + 1024, len);
        return pax;
}

static void test_raw_headers(void **state)
{
        (void)state;
        struct mem_writer *m = write_golden();
        int pax = check_raw_headers(m->data, m->len);
        /* only the long and the non-ASCII names need PAX headers */
        assert_int_equal(pax, 2);
        lana_writer_free(&m->base);
}

static void test_read_back(void **state)
{
        (void)state;
        struct mem_writer *m = write_golden();
        /* the reader converts names to the locale's charset */
        assert_non_null(setlocale(LC_ALL, "C.UTF-8"));
        struct archive *a = archive_read_new();
        assert_non_null(a);
        assert_int_equal(archive_read_support_format_tar(a), ARCHIVE_OK);
        assert_int_equal(archive_read_open_memory(a, m->data, m->len), ARCHIVE_OK);
        struct archive_entry *ae;
        size_t i = 0;
        int r;
        while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
                assert_true(i < N_GOLDEN);
                const struct lana_tar_entry *g = &golden[i].e;
                /* directories come back with tar's conventional trailing slash */
                char want_path[512];
                snprintf(want_path, sizeof want_path, "%s%s", g->path,
                         g->type == LANA_TAR_DIR ? "/" : "");
                assert_string_equal(archive_entry_pathname_utf8(ae), want_path);
                unsigned want_type = g->type == LANA_TAR_FILE  ? AE_IFREG
                                     : g->type == LANA_TAR_DIR ? AE_IFDIR
                                                               : AE_IFLNK;
                assert_int_equal(archive_entry_filetype(ae), want_type);
                assert_int_equal(archive_entry_perm(ae), g->mode);
                assert_int_equal(archive_entry_uid(ae), g->uid);
                assert_int_equal(archive_entry_gid(ae), g->gid);
                const char *un = archive_entry_uname(ae), *gn = archive_entry_gname(ae);
                assert_true(!un || !*un);
                assert_true(!gn || !*gn);
                assert_int_equal(archive_entry_mtime(ae), MTIME);
                assert_int_equal(archive_entry_mtime_nsec(ae), 0);
                assert_false(archive_entry_atime_is_set(ae));
                assert_false(archive_entry_ctime_is_set(ae));
                assert_false(archive_entry_birthtime_is_set(ae));
                assert_int_equal(archive_entry_xattr_count(ae), 0);
                if (g->type == LANA_TAR_SYMLINK)
                        assert_string_equal(archive_entry_symlink_utf8(ae), g->link);
                else
                        assert_null(archive_entry_symlink(ae));
                if (g->type == LANA_TAR_FILE) {
                        assert_int_equal(archive_entry_size(ae), g->size);
                        char *buf = malloc(g->size + 1);
                        assert_non_null(buf);
                        la_ssize_t n = archive_read_data(a, buf, g->size + 1);
                        assert_int_equal(n, (la_ssize_t)g->size);
                        assert_memory_equal(buf, golden[i].data, g->size);
                        free(buf);
                } else {
                        assert_int_equal(archive_entry_size(ae), 0);
                }
                i++;
        }
        assert_int_equal(r, ARCHIVE_EOF);
        assert_int_equal(i, N_GOLDEN);
        archive_read_free(a);
        setlocale(LC_ALL, "C");
        lana_writer_free(&m->base);
}

static void test_locale_and_tz_independent(void **state)
{
        (void)state;
        static const char *locales[] = {"C", "POSIX", "C.UTF-8"};
        static const char *zones[] = {"UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"};
        char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
        struct mem_writer *ref = write_golden();
        for (size_t l = 0; l < 3; l++) {
                for (size_t z = 0; z < 4; z++) {
                        if (!setlocale(LC_ALL, locales[l]))
                                fail_msg("setlocale %s", locales[l]);
                        setenv("TZ", zones[z], 1);
                        tzset();
                        struct mem_writer *m = write_golden();
                        if (m->len != ref->len || memcmp(m->data, ref->data, m->len) != 0)
                                fail_msg("output differs under LC_ALL=%s TZ=%s", locales[l],
                                         zones[z]);
                        lana_writer_free(&m->base);
                }
        }
        setlocale(LC_ALL, "C");
        if (old_tz)
                setenv("TZ", old_tz, 1);
        else
                unsetenv("TZ");
        tzset();
        free(old_tz);
        lana_writer_free(&ref->base);
}

static void test_big_ids_use_pax(void **state)
{
        (void)state;
        struct mem_writer *m = mem_new();
        struct lana_tar_writer *t = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(lana_tar_writer_new(&m->base, &t, &e), 0);
        struct lana_tar_entry ent = {.path = "big",
                                     .type = LANA_TAR_FILE,
                                     .mode = 0644,
                                     .uid = 3000000,
                                     .gid = 4294967294u,
                                     .size = 2,
                                     .mtime = MTIME};
        assert_int_equal(lana_tar_writer_add_data(t, &ent, "hi", &e), 0);
        assert_int_equal(lana_tar_writer_finish(t, &e), 0);
        lana_tar_writer_free(t);
        assert_int_equal(check_raw_headers(m->data, m->len), 1);

        struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        assert_int_equal(archive_read_open_memory(a, m->data, m->len), ARCHIVE_OK);
        struct archive_entry *ae;
        assert_int_equal(archive_read_next_header(a, &ae), ARCHIVE_OK);
        assert_int_equal(archive_entry_uid(ae), 3000000);
        assert_int_equal(archive_entry_gid(ae), 4294967294u);
        assert_int_equal(archive_entry_size(ae), 2);
        assert_int_equal(archive_read_next_header(a, &ae), ARCHIVE_EOF);
        archive_read_free(a);
        lana_writer_free(&m->base);
}

static void test_empty_archive(void **state)
{
        (void)state;
        struct mem_writer *m = mem_new();
        struct lana_tar_writer *t = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(lana_tar_writer_new(&m->base, &t, &e), 0);
        assert_int_equal(lana_tar_writer_finish(t, &e), 0);
        lana_tar_writer_free(t);
        assert_int_equal(m->len, 1024);
        assert_true(all_zero(m->data, 1024));
        lana_writer_free(&m->base);
}

static void test_reads_from_current_offset(void **state)
{
        (void)state;
        struct mem_writer *m = mem_new();
        struct lana_tar_writer *t = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(lana_tar_writer_new(&m->base, &t, &e), 0);
        int fd = memfd_with("skipme-payload", 14);
        assert_int_equal(lseek(fd, 7, SEEK_SET), 7);
        struct lana_tar_entry ent = {
                .path = "p", .type = LANA_TAR_FILE, .mode = 0644, .size = 7, .mtime = MTIME};
        assert_int_equal(lana_tar_writer_add(t, &ent, fd, &e), 0);
        close(fd);
        assert_int_equal(lana_tar_writer_finish(t, &e), 0);
        lana_tar_writer_free(t);
        assert_int_equal(m->len, 512 + 512 + 1024);
        assert_memory_equal(m->data + 512, "payload", 7);
        assert_true(all_zero(m->data + 512 + 7, 512 - 7));
        lana_writer_free(&m->base);
}

/* Adds fd as a regular file `path` declared `declared` bytes long to a fresh tar stream; returns
 * what lana_tar_writer_add() did, with the bytes the stream got in *ret_len. */
static int add_declared(int fd, const char *path, uint64_t declared, size_t *ret_len,
                        struct lana_error **e)
{
        struct mem_writer *m = mem_new();
        struct lana_tar_writer *t = NULL;
        assert_int_equal(lana_tar_writer_new(&m->base, &t, e), 0);
        struct lana_tar_entry ent = {.path = path,
                                     .type = LANA_TAR_FILE,
                                     .mode = 0644,
                                     .size = declared,
                                     .mtime = MTIME};
        int r = lana_tar_writer_add(t, &ent, fd, e);
        *ret_len = m->len;
        lana_tar_writer_free(t);
        lana_writer_free(&m->base);
        return r;
}

static void check_size_mismatch(size_t actual, uint64_t declared, const char *word)
{
        struct lana_error *e = NULL;
        char buf[64];
        memset(buf, 'q', sizeof buf);
        int fd = memfd_with(buf, actual);
        size_t len;
        int r = add_declared(fd, "changing", declared, &len, &e);
        close(fd);
        assert_true(r < 0);
        assert_non_null(e);
        assert_int_equal(e->code, r);
        if (!strstr(e->msg, word) || !strstr(e->msg, "changing"))
                fail_msg("message '%s' lacks '%s' or the path", e->msg, word);
        lana_error_free(e);
}

static void test_file_shrank(void **state)
{
        (void)state;
        check_size_mismatch(10, 20, "shrank");
        check_size_mismatch(0, 1, "shrank");
}

static void test_file_grew(void **state)
{
        (void)state;
        check_size_mismatch(30, 20, "grew");
        check_size_mismatch(1, 0, "grew");
}

/* Around the 1 MiB read size: a file that grows or shrinks by one byte is caught, and one of
 * exactly the declared size (one chunk, or one chunk and a bit) goes through whole. */
static void check_big(size_t actual, uint64_t declared, const char *word)
{
        struct lana_error *e = NULL;
        int fd = memfd_create("test-tar-big", MFD_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)actual), 0);
        size_t len;
        int r = add_declared(fd, "big", declared, &len, &e);
        close(fd);
        if (word) {
                assert_true(r < 0);
                assert_non_null(e);
                if (!strstr(e->msg, word))
                        fail_msg("message '%s' lacks '%s'", e->msg, word);
        } else {
                assert_int_equal(r, 0);
                /* the header and the data (the padding comes with the next entry) */
                assert_int_equal(len, 512 + declared);
        }
        lana_error_free(e);
}

static void test_file_size_at_chunk_boundary(void **state)
{
        (void)state;
        const size_t mib = (size_t)1 << 20;
        check_big(mib, mib, NULL);
        check_big(mib + 1, mib + 1, NULL);
        check_big(2 * mib, 2 * mib, NULL);
        check_big(mib + 1, mib, "grew");
        check_big(mib - 1, mib, "shrank");
        check_big(2 * mib + 1, 2 * mib, "grew");
        check_big(mib, mib + 1, "shrank");
        check_big(mib - 1 + 2, mib - 1, "grew");
}

static void test_next_writer_error(void **state)
{
        (void)state;
        static const size_t budgets[] = {0, 512, 1000};
        for (size_t b = 0; b < 3; b++) {
                struct fail_writer *f = calloc(1, sizeof *f);
                assert_non_null(f);
                f->base.type = &fail_type;
                f->budget = budgets[b];
                struct lana_tar_writer *t = NULL;
                struct lana_error *e = NULL;
                assert_int_equal(lana_tar_writer_new(&f->base, &t, &e), 0);
                char data[2000];
                memset(data, 'd', sizeof data);
                struct lana_tar_entry ent = {.path = "f",
                                             .type = LANA_TAR_FILE,
                                             .mode = 0644,
                                             .size = sizeof data,
                                             .mtime = MTIME};
                int r = lana_tar_writer_add_data(t, &ent, data, &e);
                if (r >= 0)
                        r = lana_tar_writer_finish(t, &e);
                assert_int_equal(r, -ENOSPC);
                assert_non_null(e);
                assert_int_equal(e->code, -ENOSPC);
                assert_non_null(strstr(e->msg, "disk full"));
                lana_error_free(e);
                lana_tar_writer_free(t);
                free(f);
        }
}

static void test_free_unfinished_writes_no_trailer(void **state)
{
        (void)state;
        struct mem_writer *m = mem_new();
        struct lana_tar_writer *t = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(lana_tar_writer_new(&m->base, &t, &e), 0);
        struct lana_tar_entry ent = {
                .path = "f", .type = LANA_TAR_FILE, .mode = 0644, .size = 3, .mtime = MTIME};
        assert_int_equal(lana_tar_writer_add_data(t, &ent, "abc", &e), 0);
        size_t before = m->len;
        assert_null(lana_tar_writer_free(t));
        assert_int_equal(m->len, before);
        assert_null(lana_tar_writer_free(NULL));
        lana_writer_free(&m->base);
}

int main(void)
{
        setlocale(LC_ALL, "C");
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden_bytes),
                cmocka_unit_test(test_trailer_and_length),
                cmocka_unit_test(test_raw_headers),
                cmocka_unit_test(test_read_back),
                cmocka_unit_test(test_locale_and_tz_independent),
                cmocka_unit_test(test_big_ids_use_pax),
                cmocka_unit_test(test_empty_archive),
                cmocka_unit_test(test_reads_from_current_offset),
                cmocka_unit_test(test_file_shrank),
                cmocka_unit_test(test_file_grew),
                cmocka_unit_test(test_file_size_at_chunk_boundary),
                cmocka_unit_test(test_next_writer_error),
                cmocka_unit_test(test_free_unfinished_writes_no_trailer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
