/*
 * test-digest.c — SHA-256 digests: the FIPS 180-2 vectors through every entry point (one-shot,
 * incremental, fd, hashing writer), the strict "sha256:<64 lowercase hex>" grammar with its
 * malformed inputs (each -EINVAL with a message), and the hashing writer's promise to forward
 * bytes to the next stage unchanged, whatever the chunking.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "lana/digest.h"
#include "mem-writer.h"

#define HEX_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define HEX_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define MSG_448 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"

/* ---- one-shot and incremental hashing ---- */

static void test_known_vectors(void **state)
{
        (void)state;
        struct lana_digest d;
        lana_digest_buffer("", 0, &d);
        assert_string_equal(d.hex, HEX_EMPTY);
        assert_string_equal(d.str, "sha256:" HEX_EMPTY);
        lana_digest_buffer("abc", 3, &d);
        assert_string_equal(d.hex, HEX_ABC);
        assert_string_equal(d.str, "sha256:" HEX_ABC);
        assert_int_equal(d.raw[0], 0xba);
        assert_int_equal(d.raw[31], 0xad);
        lana_digest_buffer(MSG_448, strlen(MSG_448), &d);
        assert_string_equal(d.hex, HEX_448);
}

static void test_incremental_matches_one_shot(void **state)
{
        (void)state;
        /* one million 'a' fed in uneven pieces */
        static char a[1000000];
        memset(a, 'a', sizeof a);
        struct lana_sha256 *h = lana_sha256_new();
        size_t off = 0, step = 1;
        while (off < sizeof a) {
                size_t n = step < sizeof a - off ? step : sizeof a - off;
                lana_sha256_update(h, a + off, n);
                off += n;
                step = step * 3 + 1;
        }
        lana_sha256_update(h, a, 0);
        struct lana_digest d;
        lana_sha256_final(h, &d);
        assert_null(lana_sha256_free(h));
        assert_string_equal(d.hex, HEX_MILLION_A);
        struct lana_digest one;
        lana_digest_buffer(a, sizeof a, &one);
        assert_true(lana_digest_equal(&d, &one));
        assert_null(lana_sha256_free(NULL));
}

static void test_from_raw_and_equal(void **state)
{
        (void)state;
        unsigned char raw[LANA_DIGEST_RAW];
        for (int i = 0; i < LANA_DIGEST_RAW; i++)
                raw[i] = (unsigned char)(i * 8 + 0x0f);
        struct lana_digest d;
        lana_digest_from_raw(&d, raw);
        assert_memory_equal(d.raw, raw, sizeof raw);
        assert_string_equal(d.hex,
                            "0f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff07");
        assert_string_equal(d.str + 7, d.hex);
        assert_memory_equal(d.str, "sha256:", 7);
        struct lana_digest e = d;
        assert_true(lana_digest_equal(&d, &e));
        e.raw[31] ^= 1;
        assert_false(lana_digest_equal(&d, &e));
}

/* ---- parsing ---- */

static void test_parse_valid(void **state)
{
        (void)state;
        struct lana_digest d, want;
        struct lana_error *e = NULL;
        assert_int_equal(lana_digest_parse("sha256:" HEX_ABC, &d, &e), 0);
        assert_null(e);
        lana_digest_buffer("abc", 3, &want);
        assert_true(lana_digest_equal(&d, &want));
        assert_string_equal(d.hex, HEX_ABC);
        assert_string_equal(d.str, "sha256:" HEX_ABC);
        /* all hex digits */
        const char *all = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_int_equal(lana_digest_parse(all, &d, NULL), 0);
        assert_string_equal(d.str, all);
        assert_int_equal(d.raw[0], 0x01);
        assert_int_equal(d.raw[7], 0xef);
}

static void expect_parse_fails(const char *s)
{
        struct lana_digest d;
        memset(&d, 0x5a, sizeof d);
        struct lana_error *e = NULL;
        int r = lana_digest_parse(s, &d, &e);
        if (r != -EINVAL)
                fail_msg("digest_parse(\"%s\") returned %d, expected -EINVAL", s ? s : "(null)", r);
        assert_non_null(e);
        assert_int_equal(e->code, -EINVAL);
        assert_non_null(e->msg);
        assert_true(strlen(e->msg) > 0);
        lana_error_free(e);
        /* no error object requested: still fails */
        assert_int_equal(lana_digest_parse(s, &d, NULL), -EINVAL);
}

static void test_parse_rejects_malformed(void **state)
{
        (void)state;
        expect_parse_fails(NULL);
        expect_parse_fails("");
        expect_parse_fails("sha256:");
        expect_parse_fails("sha256");
        expect_parse_fails(HEX_ABC);
        /* uppercase hex and algorithm */
        expect_parse_fails(
                "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
        expect_parse_fails(
                "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015aD");
        expect_parse_fails("SHA256:" HEX_ABC);
        /* short and long */
        expect_parse_fails(
                "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a");
        expect_parse_fails("sha256:" HEX_ABC "0");
        expect_parse_fails("sha256:" HEX_ABC "\n");
        /* other algorithms */
        expect_parse_fails("sha512:" HEX_ABC HEX_ABC);
        expect_parse_fails("sha512:" HEX_ABC);
        expect_parse_fails("md5:900150983cd24fb0d6963f7d28e17f72");
        /* non-hex */
        expect_parse_fails(
                "sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        expect_parse_fails(
                "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2001 ad");
        expect_parse_fails(
                "sha256:-a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        /* surrounding junk */
        expect_parse_fails(" sha256:" HEX_ABC);
        expect_parse_fails("sha256: " HEX_ABC);
}

static void test_parse_message_names_input(void **state)
{
        (void)state;
        struct lana_digest d;
        struct lana_error *e = NULL;
        assert_int_equal(lana_digest_parse("sha512:abc", &d, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "sha512:abc"));
        lana_error_free(e);
}

/* ---- lana_digest_fd ---- */

static int memfd_with(const void *data, size_t len)
{
        int fd = memfd_create("test-digest", MFD_CLOEXEC);
        assert_true(fd >= 0);
        const char *p = data;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                assert_true(n > 0);
                p += n;
                len -= (size_t)n;
        }
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static void test_digest_fd(void **state)
{
        (void)state;
        struct lana_digest d;
        uint64_t size = 12345;
        struct lana_error *e = NULL;

        int fd = memfd_with("", 0);
        assert_int_equal(lana_digest_fd(fd, &d, &size, &e), 0);
        assert_string_equal(d.hex, HEX_EMPTY);
        assert_int_equal(size, 0);
        close(fd);

        /* only the remaining bytes count */
        fd = memfd_with("xyzabc", 6);
        assert_int_equal(lseek(fd, 3, SEEK_SET), 3);
        assert_int_equal(lana_digest_fd(fd, &d, &size, &e), 0);
        assert_string_equal(d.hex, HEX_ABC);
        assert_int_equal(size, 3);
        close(fd);

        /* larger than the internal read buffer, ret_size optional */
        size_t n = (3u << 20) + 17;
        char *big = malloc(n);
        assert_non_null(big);
        for (size_t i = 0; i < n; i++)
                big[i] = (char)(i ^ (i >> 9));
        struct lana_digest want;
        lana_digest_buffer(big, n, &want);
        fd = memfd_with(big, n);
        assert_int_equal(lana_digest_fd(fd, &d, NULL, &e), 0);
        assert_true(lana_digest_equal(&d, &want));
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        assert_int_equal(lana_digest_fd(fd, &d, &size, &e), 0);
        assert_int_equal(size, n);
        close(fd);
        free(big);
        assert_null(e);
}

static void test_digest_fd_error(void **state)
{
        (void)state;
        struct lana_digest d;
        struct lana_error *e = NULL;
        int r = lana_digest_fd(-1, &d, NULL, &e);
        assert_int_equal(r, -EBADF);
        assert_non_null(e);
        assert_int_equal(e->code, -EBADF);
        lana_error_free(e);
}

/* ---- the hashing writer ---- */

static void test_hash_writer_forwards_and_digests(void **state)
{
        (void)state;
        size_t n = 1000003;
        unsigned char *in = malloc(n);
        assert_non_null(in);
        uint32_t x = 12345;
        for (size_t i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                in[i] = (unsigned char)(x >> 16);
        }
        struct mem_writer *m = mem_new();
        struct lana_writer *h = lana_hash_writer_new(&m->base);
        struct lana_error *e = NULL;
        size_t off = 0, step = 1;
        while (off < n) {
                size_t k = step < n - off ? step : n - off;
                assert_int_equal(lana_writer_write(h, in + off, k, &e), 0);
                off += k;
                step = step * 5 + 2;
        }
        assert_int_equal(lana_writer_close(h, &e), 0);
        assert_null(e);
        assert_int_equal(h->bytes_in, n);
        assert_int_equal(m->len, n);
        assert_memory_equal(m->data, in, n);
        /* closing the hash stage does not close the next one */
        assert_int_equal(m->closes, 0);
        struct lana_digest want;
        lana_digest_buffer(in, n, &want);
        assert_true(lana_digest_equal(lana_hash_writer_digest(h), &want));
        assert_string_equal(lana_hash_writer_digest(h)->str, want.str);
        lana_writer_free(h);
        lana_writer_free(&m->base);
        free(in);
}

static void test_hash_writer_without_next(void **state)
{
        (void)state;
        struct lana_writer *h = lana_hash_writer_new(NULL);
        struct lana_error *e = NULL;
        assert_int_equal(lana_writer_write(h, "a", 1, &e), 0);
        assert_int_equal(lana_writer_write(h, "bc", 2, &e), 0);
        assert_int_equal(lana_writer_close(h, &e), 0);
        assert_string_equal(lana_hash_writer_digest(h)->hex, HEX_ABC);
        lana_writer_free(h);

        h = lana_hash_writer_new(NULL);
        assert_int_equal(lana_writer_close(h, &e), 0);
        assert_string_equal(lana_hash_writer_digest(h)->hex, HEX_EMPTY);
        lana_writer_free(h);
}

static void test_hash_writer_propagates_errors(void **state)
{
        (void)state;
        /* budget 0: every write fails, to see errors travel up the chain */
        struct fail_writer *fw = calloc(1, sizeof *fw);
        assert_non_null(fw);
        fw->base.type = &fail_type;
        struct lana_writer *f = &fw->base;
        struct lana_writer *h = lana_hash_writer_new(f);
        struct lana_error *e = NULL;
        int r = lana_writer_write(h, "abc", 3, &e);
        assert_int_equal(r, -ENOSPC);
        assert_non_null(e);
        assert_string_equal(e->msg, "disk full");
        /* a failed write is not counted */
        assert_int_equal(h->bytes_in, 0);
        lana_error_free(e);
        lana_writer_free(h);
        lana_writer_free(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_vectors),
                cmocka_unit_test(test_incremental_matches_one_shot),
                cmocka_unit_test(test_from_raw_and_equal),
                cmocka_unit_test(test_parse_valid),
                cmocka_unit_test(test_parse_rejects_malformed),
                cmocka_unit_test(test_parse_message_names_input),
                cmocka_unit_test(test_digest_fd),
                cmocka_unit_test(test_digest_fd_error),
                cmocka_unit_test(test_hash_writer_forwards_and_digests),
                cmocka_unit_test(test_hash_writer_without_next),
                cmocka_unit_test(test_hash_writer_propagates_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
