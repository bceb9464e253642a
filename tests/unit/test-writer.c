/*
 * test-writer.c — the writer-chain dispatch every pipeline stage goes through: bytes_in counting,
 * zero-length writes, write-after-close (-EPIPE), idempotent close, free of NULL, and the two
 * trivial sinks (fd writer, null writer), including an fd writer's error on a bad descriptor.
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
#include <unistd.h>

#include <cmocka.h>

#include "lana/writer.h"

/* A writer type that counts calls, so dispatch rules can be observed. */
struct probe_writer {
        struct lana_writer base;
        int writes, closes, frees;
        size_t bytes;
};

static int probe_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err)
{
        (void)buf, (void)err;
        struct probe_writer *p = (struct probe_writer *)w;
        p->writes++;
        p->bytes += len;
        return 0;
}

static int probe_close(struct lana_writer *w, struct lana_error **err)
{
        (void)err;
        ((struct probe_writer *)w)->closes++;
        return 0;
}

static int *probe_freed;

static void probe_free(struct lana_writer *w)
{
        if (probe_freed)
                (*probe_freed)++;
        free(w);
}

static const struct lana_writer_type probe_type = {
        .name = "probe",
        .write = probe_write,
        .close = probe_close,
        .free = probe_free,
};

static struct probe_writer *probe_new(void)
{
        struct probe_writer *p = calloc(1, sizeof *p);
        assert_non_null(p);
        p->base.type = &probe_type;
        return p;
}

static void test_bytes_in_and_zero_length(void **state)
{
        (void)state;
        struct probe_writer *p = probe_new();
        struct lana_error *e = NULL;
        assert_int_equal(lana_writer_write(&p->base, "abc", 3, &e), 0);
        assert_int_equal(lana_writer_write(&p->base, "", 0, &e), 0);
        assert_int_equal(lana_writer_write(&p->base, "defgh", 5, &e), 0);
        assert_null(e);
        assert_int_equal(p->base.bytes_in, 8);
        assert_int_equal(p->bytes, 8);
        /* an empty write never reaches the stage */
        assert_int_equal(p->writes, 2);
        lana_writer_free(&p->base);
}

static void test_write_after_close_fails(void **state)
{
        (void)state;
        struct probe_writer *p = probe_new();
        struct lana_error *e = NULL;
        assert_int_equal(lana_writer_close(&p->base, &e), 0);
        assert_int_equal(lana_writer_close(&p->base, &e), 0);
        assert_int_equal(p->closes, 1);
        int r = lana_writer_write(&p->base, "x", 1, &e);
        assert_int_equal(r, -EPIPE);
        assert_non_null(e);
        assert_int_equal(e->code, -EPIPE);
        assert_non_null(strstr(e->msg, "probe"));
        assert_int_equal(p->writes, 0);
        assert_int_equal(p->base.bytes_in, 0);
        lana_error_free(e);
        lana_writer_free(&p->base);
}

static void test_free_calls_type_free_and_accepts_null(void **state)
{
        (void)state;
        int freed = 0;
        probe_freed = &freed;
        struct probe_writer *p = probe_new();
        assert_null(lana_writer_free(&p->base));
        assert_int_equal(freed, 1);
        assert_null(lana_writer_free(NULL));
        struct lana_writer *w = NULL;
        lana_writer_freep(&w);
        assert_null(w);
        w = &probe_new()->base;
        lana_writer_freep(&w);
        assert_null(w);
        assert_int_equal(freed, 2);
        probe_freed = NULL;
}

static void test_fd_writer_writes_everything(void **state)
{
        (void)state;
        int fd = memfd_create("test-writer", MFD_CLOEXEC);
        assert_true(fd >= 0);
        struct lana_writer *w = lana_fd_writer_new(fd);
        struct lana_error *e = NULL;
        static char big[300000];
        for (size_t i = 0; i < sizeof big; i++)
                big[i] = (char)(i * 7 + 3);
        assert_int_equal(lana_writer_write(w, "head", 4, &e), 0);
        assert_int_equal(lana_writer_write(w, big, sizeof big, &e), 0);
        assert_int_equal(lana_writer_close(w, &e), 0);
        assert_int_equal(w->bytes_in, 4 + sizeof big);
        lana_writer_free(w);
        /* the fd is not owned: still open, and it holds exactly the bytes */
        assert_int_equal(lseek(fd, 0, SEEK_END), 4 + (off_t)sizeof big);
        static char back[sizeof big + 4];
        assert_int_equal(pread(fd, back, sizeof back, 0), (ssize_t)sizeof back);
        assert_memory_equal(back, "head", 4);
        assert_memory_equal(back + 4, big, sizeof big);
        close(fd);
}

static void test_fd_writer_error(void **state)
{
        (void)state;
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct lana_writer *w = lana_fd_writer_new(fd);
        struct lana_error *e = NULL;
        int r = lana_writer_write(w, "x", 1, &e);
        assert_int_equal(r, -EBADF);
        assert_non_null(e);
        assert_int_equal(e->code, -EBADF);
        assert_int_equal(w->bytes_in, 0);
        lana_error_free(e);
        lana_writer_free(w);
        close(fd);
}

static void test_null_writer_counts(void **state)
{
        (void)state;
        struct lana_writer *w = lana_null_writer_new();
        struct lana_error *e = NULL;
        assert_int_equal(lana_writer_write(w, "abcdef", 6, &e), 0);
        assert_int_equal(lana_writer_write(w, "gh", 2, &e), 0);
        assert_int_equal(lana_writer_close(w, &e), 0);
        assert_int_equal(w->bytes_in, 8);
        assert_null(e);
        lana_writer_free(w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bytes_in_and_zero_length),
                cmocka_unit_test(test_write_after_close_fails),
                cmocka_unit_test(test_free_calls_type_free_and_accepts_null),
                cmocka_unit_test(test_fd_writer_writes_everything),
                cmocka_unit_test(test_fd_writer_error),
                cmocka_unit_test(test_null_writer_counts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
