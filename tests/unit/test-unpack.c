/*
 * test-unpack.c — the errors of the safe layer reader (lana_layer_unpack) on broken layers: each
 * must name the entry where the layer breaks and say what is wrong with it, not just "No such
 * file or directory" or "Input/output error" (the caller adds the layer's digest). Cases: a
 * hardlink to a target no earlier entry made; a plain tar and a gzip layer cut inside a file's
 * data; a tar cut inside the next header. A well-formed layer with a hardlink after its target
 * unpacks, as the control.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "lana/layer.h"
#include "fs-util.h"

/* big enough for the cut of a gzip layer to fall inside y's data, after libarchive's read-ahead */
#define BIG (4 << 20)

struct layer {
        char *buf;
        size_t len;
};

/* Data that gzip cannot shrink much, so a cut in the compressed stream lands inside it. */
static void noise(char *p, size_t n)
{
        uint32_t x = 2463534242u;
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                p[i] = (char)x;
        }
}

static void add(struct archive *a, const char *path, const char *hardlink, const char *data,
                size_t size)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        if (hardlink) {
                archive_entry_set_hardlink(e, hardlink);
                size = 0;
        }
        archive_entry_set_size(e, (la_int64_t)size);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (size)
                assert_int_equal(archive_write_data(a, data, size), (la_ssize_t)size);
        archive_entry_free(e);
}

/* A layer of: "x" (10 bytes), "y" (BIG bytes of noise) and, with `link`, a hardlink "b" to it. */
static struct layer make_layer(bool gzip, const char *link)
{
        size_t cap = 2 * BIG + 65536;
        struct layer l = {.buf = malloc(cap)};
        assert_non_null(l.buf);
        char *big = malloc(BIG);
        assert_non_null(big);
        noise(big, BIG);
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        if (gzip)
                assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        archive_write_set_bytes_in_last_block(a, 1);
        assert_int_equal(archive_write_open_memory(a, l.buf, cap, &l.len), ARCHIVE_OK);
        add(a, "x", NULL, "0123456789", 10);
        add(a, "y", NULL, big, BIG);
        if (link)
                add(a, "b", link, NULL, 0);
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        free(big);
        return l;
}

static int memfd_with(const char *data, size_t len)
{
        int fd = memfd_create("test-unpack", MFD_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static char root_template[] = "/tmp/lana-test-unpack-XXXXXX";

static int setup(void **state)
{
        (void)state;
        return mkdtemp(root_template) ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf_at(AT_FDCWD, root_template) < 0 ? -1 : 0;
}

/* Unpacks len bytes of the layer into a fresh directory; returns the result, *ret_err the error. */
static int unpack(const struct layer *l, size_t len, struct lana_error **ret_err)
{
        static int n;
        char dir[256];
        snprintf(dir, sizeof dir, "%s/%d", root_template, n++);
        assert_int_equal(mkdir(dir, 0755), 0);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        int fd = memfd_with(l->buf, len);
        *ret_err = NULL;
        int r = lana_layer_unpack(fd, dfd, NULL, NULL, NULL, ret_err);
        close(fd);
        close(dfd);
        return r;
}

static void expect_error(const struct layer *l, size_t len, const char *want1, const char *want2)
{
        struct lana_error *e = NULL;
        int r = unpack(l, len, &e);
        assert_int_equal(r, -EINVAL);
        assert_non_null(e);
        assert_int_equal(e->code, -EINVAL);
        if (!strstr(e->msg, want1) || (want2 && !strstr(e->msg, want2)))
                fail_msg("message '%s' lacks '%s'%s%s", e->msg, want1, want2 ? " or " : "",
                         want2 ? want2 : "");
        assert_null(strstr(e->msg, "Input/output error"));
        lana_error_free(e);
}

static void test_good_layer_with_hardlink(void **state)
{
        (void)state;
        struct layer l = make_layer(true, "y");
        struct lana_error *e = NULL;
        if (unpack(&l, l.len, &e) < 0)
                fail_msg("good layer refused: %s", e ? e->msg : "?");
        free(l.buf);
}

static void test_hardlink_to_missing_target(void **state)
{
        (void)state;
        struct layer l = make_layer(false, "missing");
        expect_error(&l, l.len, "layer entry 'b': hardlink to 'missing'", "no earlier entry");
        free(l.buf);
}

static void test_tar_cut_inside_data(void **state)
{
        (void)state;
        struct layer l = make_layer(false, NULL);
        /* x: header + 1 block; y: header, then half its data */
        expect_error(&l, 3 * 512 + BIG / 2, "layer entry 'y': ", "truncated or corrupt layer");
        free(l.buf);
}

static void test_gzip_cut_inside_data(void **state)
{
        (void)state;
        struct layer l = make_layer(true, NULL);
        assert_true(l.len > BIG / 2);
        expect_error(&l, l.len / 2, "layer entry 'y': ", "truncated or corrupt layer");
        free(l.buf);
}

static void test_tar_cut_inside_header(void **state)
{
        (void)state;
        struct layer l = make_layer(false, NULL);
        /* x: header + 1 block, then 100 bytes of y's header */
        expect_error(&l, 2 * 512 + 100, "layer: after entry 'x': ", NULL);
        free(l.buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good_layer_with_hardlink),
                cmocka_unit_test(test_hardlink_to_missing_target),
                cmocka_unit_test(test_tar_cut_inside_data),
                cmocka_unit_test(test_gzip_cut_inside_data),
                cmocka_unit_test(test_tar_cut_inside_header),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
