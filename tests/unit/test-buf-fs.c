/*
 * test-buf-fs.c — the basic layer everything else stands on: the bounded buffer (its maximum is
 * the only thing between a hostile input and unbounded allocation, so an over-long append must
 * fail with -E2BIG and leave the buffer as it was) and the fd-first filesystem helpers: atomic
 * replace without leftovers, bounded whole-file reads, temp file naming, mkdir -p, copy_fd, and
 * rm -rf that never follows a symlink out of the tree it removes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "buf.h"
#include "fs-util.h"

/* ---- fixture: a temporary directory and an fd on it ---- */

struct fx {
        char dir[256];
        int dfd;
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof *f);
        assert_non_null(f);
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof f->dir, "%s/lana-test-fs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->dfd >= 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        close(f->dfd);
        rm_rf_at(AT_FDCWD, f->dir);
        free(f);
        return 0;
}

static int count_entries_at(int dfd, const char *path)
{
        int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        DIR *d = fdopendir(fd);
        assert_non_null(d);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void put_file(int dfd, const char *name, const char *content)
{
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write_full(fd, content, strlen(content)), 0);
        close(fd);
}

static bool exists_at(int dfd, const char *name)
{
        struct stat st;
        return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ---- lana_buf ---- */

static void test_buf_max(void **state)
{
        (void)state;
        struct lana_buf b;
        lana_buf_init(&b, 10);
        assert_null(b.data);
        assert_int_equal(lana_buf_append(&b, "abcdef", 6), 0);
        assert_int_equal(b.len, 6);
        assert_string_equal(b.data, "abcdef");
        char *before = b.data;
        size_t cap = b.cap;

        /* one byte too many: refused, nothing changed */
        assert_int_equal(lana_buf_append(&b, "ghijk", 5), -E2BIG);
        assert_int_equal(b.len, 6);
        assert_ptr_equal(b.data, before);
        assert_int_equal(b.cap, cap);
        assert_string_equal(b.data, "abcdef");

        /* exactly to the maximum is fine */
        assert_int_equal(lana_buf_append(&b, "ghij", 4), 0);
        assert_int_equal(b.len, 10);
        assert_memory_equal(b.data, "abcdefghij", 11);
        assert_int_equal(lana_buf_append(&b, "k", 1), -E2BIG);
        assert_int_equal(lana_buf_append(&b, "", 0), 0);
        assert_int_equal(b.len, 10);

        /* lengths that would overflow size_t arithmetic */
        assert_int_equal(lana_buf_append(&b, "x", SIZE_MAX), -E2BIG);
        assert_int_equal(lana_buf_append(&b, "x", SIZE_MAX - 5), -E2BIG);
        assert_int_equal(b.len, 10);
        assert_string_equal(b.data, "abcdefghij");
        lana_buf_release(&b);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        /* the maximum survives a release */
        assert_int_equal(b.max, 10);
        assert_int_equal(lana_buf_append(&b, "0123456789x", 11), -E2BIG);
        lana_buf_release(&b);
}

static void test_buf_zero_max(void **state)
{
        (void)state;
        struct lana_buf b;
        lana_buf_init(&b, 0);
        assert_int_equal(lana_buf_append(&b, "a", 1), -E2BIG);
        assert_null(b.data);
        assert_int_equal(lana_buf_append(&b, "", 0), 0);
        size_t len = 99;
        char *s = lana_buf_steal(&b, &len);
        assert_string_equal(s, "");
        assert_int_equal(len, 0);
        free(s);
}

static void test_buf_growth_and_steal(void **state)
{
        (void)state;
        struct lana_buf b;
        lana_buf_init(&b, 1 << 20);
        char chunk[1000];
        for (size_t i = 0; i < sizeof chunk; i++)
                chunk[i] = (char)('a' + i % 26);
        for (int i = 0; i < 300; i++)
                assert_int_equal(lana_buf_append(&b, chunk, sizeof chunk), 0);
        assert_int_equal(b.len, 300000);
        assert_true(b.cap > b.len);
        assert_int_equal(b.data[b.len], '\0');
        for (int i = 0; i < 300; i++)
                assert_memory_equal(b.data + i * 1000, chunk, 1000);
        size_t len = 0;
        char *s = lana_buf_steal(&b, &len);
        assert_int_equal(len, 300000);
        assert_int_equal(s[len], '\0');
        /* stolen: the buffer is empty and reusable, with the same maximum */
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        assert_int_equal(b.max, 1 << 20);
        free(s);
        assert_int_equal(lana_buf_append(&b, "x", 1), 0);
        s = lana_buf_steal(&b, NULL);
        assert_string_equal(s, "x");
        free(s);
}

/* ---- write/read helpers ---- */

static void test_write_read_full(void **state)
{
        (void)state;
        int fd = memfd_create("test-fs", MFD_CLOEXEC);
        assert_true(fd >= 0);
        static char big[1 << 20];
        for (size_t i = 0; i < sizeof big; i++)
                big[i] = (char)(i * 31);
        assert_int_equal(write_full(fd, big, sizeof big), 0);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        static char back[(1 << 20) + 10];
        /* short file: returns what there is */
        assert_int_equal(read_full(fd, back, sizeof back), (ssize_t)sizeof big);
        assert_memory_equal(back, big, sizeof big);
        assert_int_equal(read_full(fd, back, 10), 0);
        close(fd);
        assert_int_equal(write_full(-1, "x", 1), -EBADF);
        assert_int_equal(read_full(-1, back, 1), -EBADF);
}

static void test_read_file_at(void **state)
{
        struct fx *f = *state;
        put_file(f->dfd, "f", "0123456789");
        char *data = NULL;
        size_t len = 0;
        struct lana_error *e = NULL;
        assert_int_equal(read_file_at(f->dfd, "f", 10, &data, &len, &e), 0);
        assert_int_equal(len, 10);
        assert_string_equal(data, "0123456789");
        free(data);
        data = NULL;
        assert_int_equal(read_file_at(f->dfd, "f", 9, &data, &len, &e), -E2BIG);
        assert_null(data);
        assert_non_null(e);
        assert_non_null(strstr(e->msg, "f"));
        e = lana_error_free(e);
        assert_int_equal(read_file_at(f->dfd, "missing", 9, &data, &len, &e), -ENOENT);
        assert_non_null(strstr(e->msg, "missing"));
        lana_error_free(e);
}

static void test_write_file_atomic_at(void **state)
{
        struct fx *f = *state;
        struct lana_error *e = NULL;
        put_file(f->dfd, "target", "old content that is longer");
        assert_int_equal(write_file_atomic_at(f->dfd, "target", "new", 3, 0600, &e), 0);
        char *data = NULL;
        size_t len = 0;
        assert_int_equal(read_file_at(f->dfd, "target", 100, &data, &len, &e), 0);
        assert_int_equal(len, 3);
        assert_string_equal(data, "new");
        free(data);
        struct stat st;
        assert_int_equal(fstatat(f->dfd, "target", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        /* no temp file left behind */
        assert_int_equal(count_entries_at(f->dfd, "."), 1);

        /* a new file, empty content */
        assert_int_equal(write_file_atomic_at(f->dfd, "fresh", "", 0, 0644, &e), 0);
        assert_int_equal(fstatat(f->dfd, "fresh", &st, 0), 0);
        assert_int_equal(st.st_size, 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(count_entries_at(f->dfd, "."), 2);
        assert_null(e);

        /* a symlink at the name is replaced, its target untouched */
        put_file(f->dfd, "victim", "keep");
        assert_int_equal(symlinkat("victim", f->dfd, "link"), 0);
        assert_int_equal(write_file_atomic_at(f->dfd, "link", "replaced", 8, 0644, &e), 0);
        assert_int_equal(fstatat(f->dfd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(read_file_at(f->dfd, "victim", 100, &data, &len, &e), 0);
        assert_string_equal(data, "keep");
        free(data);
}

static void test_write_file_atomic_at_failure_cleans_up(void **state)
{
        struct fx *f = *state;
        struct lana_error *e = NULL;
        /* the name is a non-empty directory: rename fails */
        assert_int_equal(mkdirat(f->dfd, "dir", 0755), 0);
        put_file(f->dfd, "dir/inner", "x");
        int r = write_file_atomic_at(f->dfd, "dir", "data", 4, 0644, &e);
        assert_true(r < 0);
        assert_non_null(e);
        assert_int_equal(e->code, r);
        assert_non_null(strstr(e->msg, "dir"));
        lana_error_free(e);
        /* the temp file was removed */
        assert_int_equal(count_entries_at(f->dfd, "."), 1);
        assert_int_equal(count_entries_at(f->dfd, "dir"), 1);
}

static void test_open_tmpfile_at(void **state)
{
        struct fx *f = *state;
        char *n1 = NULL, *n2 = NULL;
        struct lana_error *e = NULL;
        int a = open_tmpfile_at(f->dfd, "blob", &n1, &e);
        int b = open_tmpfile_at(f->dfd, "blob", &n2, &e);
        assert_true(a >= 0 && b >= 0);
        assert_string_not_equal(n1, n2);
        /* hidden and recognisable, so gc can find leftovers */
        assert_int_equal(strncmp(n1, ".blob.tmp-", 10), 0);
        assert_int_equal(strlen(n1), 10 + 12);
        assert_true(exists_at(f->dfd, n1));
        assert_true(fcntl(a, F_GETFD) & FD_CLOEXEC);
        close(a);
        close(b);
        free(n1);
        free(n2);
        assert_null(e);
}

static void test_copy_fd(void **state)
{
        (void)state;
        int in = memfd_create("in", MFD_CLOEXEC), out = memfd_create("out", MFD_CLOEXEC);
        size_t n = 200001;
        char *data = malloc(n);
        assert_non_null(data);
        for (size_t i = 0; i < n; i++)
                data[i] = (char)(i ^ 0x5a);
        assert_int_equal(write_full(in, data, n), 0);
        assert_int_equal(lseek(in, 1, SEEK_SET), 1);
        assert_int_equal(copy_fd(in, out), 0);
        assert_int_equal(lseek(out, 0, SEEK_END), (off_t)n - 1);
        char *back = malloc(n);
        assert_int_equal(pread(out, back, n, 0), (ssize_t)n - 1);
        assert_memory_equal(back, data + 1, n - 1);
        free(back);
        free(data);
        close(in);
        close(out);
}

/* ---- mkdir_p_at ---- */

static void test_mkdir_p_at(void **state)
{
        struct fx *f = *state;
        assert_int_equal(mkdir_p_at(f->dfd, "a/b/c", 0755), 0);
        struct stat st;
        assert_int_equal(fstatat(f->dfd, "a/b/c", &st, 0), 0);
        assert_true(S_ISDIR(st.st_mode));
        /* existing directories are fine, also with redundant slashes */
        assert_int_equal(mkdir_p_at(f->dfd, "a/b/c", 0755), 0);
        assert_int_equal(mkdir_p_at(f->dfd, "a//b/d/", 0755), 0);
        assert_int_equal(fstatat(f->dfd, "a/b/d", &st, 0), 0);
        assert_true(S_ISDIR(st.st_mode));
        /* several missing parents, runs of slashes, a ".." inside */
        assert_int_equal(mkdir_p_at(f->dfd, "p//q///r/", 0755), 0);
        assert_int_equal(fstatat(f->dfd, "p/q/r", &st, 0), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(mkdir_p_at(f->dfd, "m/n/../o", 0755), 0);
        assert_int_equal(fstatat(f->dfd, "m/o", &st, 0), 0);
        assert_true(S_ISDIR(st.st_mode));
        /* absolute paths ignore dirfd */
        char abs[512];
        snprintf(abs, sizeof abs, "%s/x/y", f->dir);
        assert_int_equal(mkdir_p_at(AT_FDCWD, abs, 0700), 0);
        assert_int_equal(fstatat(f->dfd, "x/y", &st, 0), 0);
        assert_true(S_ISDIR(st.st_mode));
        /* a file in the way of an inner component */
        put_file(f->dfd, "a/file", "x");
        assert_int_equal(mkdir_p_at(f->dfd, "a/file/z", 0755), -ENOTDIR);
}

static void test_mkdir_p_at_file_in_the_way(void **state)
{
        struct fx *f = *state;
        /* "Existing directories are fine" — an existing file is not a directory */
        put_file(f->dfd, "plain", "x");
        int r = mkdir_p_at(f->dfd, "plain", 0755);
        assert_true(r == -EEXIST || r == -ENOTDIR);
}

/* ---- rm_rf_at ---- */

static void test_rm_rf_at_does_not_follow_symlinks(void **state)
{
        struct fx *f = *state;
        /* outside/ holds a file that must survive */
        assert_int_equal(mkdirat(f->dfd, "outside", 0755), 0);
        put_file(f->dfd, "outside/precious", "keep me");
        /* tree/ with nested content and symlinks pointing out of it */
        assert_int_equal(mkdir_p_at(f->dfd, "tree/sub/deeper", 0755), 0);
        put_file(f->dfd, "tree/file", "1");
        put_file(f->dfd, "tree/sub/deeper/file", "2");
        char outside[512];
        snprintf(outside, sizeof outside, "%s/outside", f->dir);
        assert_int_equal(symlinkat(outside, f->dfd, "tree/link-abs"), 0);
        assert_int_equal(symlinkat("../../outside", f->dfd, "tree/sub/link-rel"), 0);
        assert_int_equal(symlinkat("../outside/precious", f->dfd, "tree/link-file"), 0);
        assert_int_equal(symlinkat("/nonexistent", f->dfd, "tree/dangling"), 0);

        assert_int_equal(rm_rf_at(f->dfd, "tree"), 0);
        assert_false(exists_at(f->dfd, "tree"));
        assert_true(exists_at(f->dfd, "outside/precious"));
        char *data = NULL;
        size_t len;
        assert_int_equal(read_file_at(f->dfd, "outside/precious", 100, &data, &len, NULL), 0);
        assert_string_equal(data, "keep me");
        free(data);
}

static void test_rm_rf_at_symlink_itself(void **state)
{
        struct fx *f = *state;
        assert_int_equal(mkdirat(f->dfd, "outside", 0755), 0);
        put_file(f->dfd, "outside/precious", "keep me");
        assert_int_equal(symlinkat("outside", f->dfd, "link"), 0);
        /* removing the link removes the link only */
        assert_int_equal(rm_rf_at(f->dfd, "link"), 0);
        assert_false(exists_at(f->dfd, "link"));
        assert_true(exists_at(f->dfd, "outside/precious"));
        /* missing paths are not an error; plain files are removed */
        assert_int_equal(rm_rf_at(f->dfd, "never-existed"), 0);
        assert_int_equal(rm_rf_at(f->dfd, "outside/precious"), 0);
        assert_false(exists_at(f->dfd, "outside/precious"));
        assert_true(exists_at(f->dfd, "outside"));
}

/* In a child (the test process keeps its descriptors): opens descriptors at 10, 20 and 30,
 * optionally makes close_range(2) fail with ENOSYS (a seccomp filter, as an old kernel would),
 * keeps 20 and 0-2, and reports which of 10, 20, 30 and 2 are still open as a bit mask. */
static int close_all_in_child(bool no_close_range)
{
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (dup2(2, 10) < 0 || dup2(2, 20) < 0 || dup2(2, 30) < 0)
                        _exit(100);
                if (no_close_range) {
                        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
                        if (!ctx ||
                            seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(close_range),
                                             0) < 0 ||
                            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_load(ctx) < 0)
                                _exit(101);
                        if (syscall(SYS_close_range, 40, 41, 0) == 0 || errno != ENOSYS)
                                _exit(102);
                }
                const int keep[] = {20, -1, 1};
                if (close_all_fds_except(keep, 3) < 0)
                        _exit(103);
                int open_mask = 0;
                const int probe[] = {10, 20, 30, 2};
                for (int i = 0; i < 4; i++)
                        if (fcntl(probe[i], F_GETFD) >= 0)
                                open_mask |= 1 << i;
                _exit(open_mask);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        return WEXITSTATUS(st);
}

static void test_close_all_fds_except(void **state)
{
        (void)state;
        /* 20 and stdio stay; 10 and 30 go */
        assert_int_equal(close_all_in_child(false), (1 << 1) | (1 << 3));
        /* the same through the fallback walk */
        assert_int_equal(close_all_in_child(true), (1 << 1) | (1 << 3));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_buf_max),
                cmocka_unit_test(test_close_all_fds_except),
                cmocka_unit_test(test_buf_zero_max),
                cmocka_unit_test(test_buf_growth_and_steal),
                cmocka_unit_test(test_write_read_full),
                cmocka_unit_test_setup_teardown(test_read_file_at, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_file_atomic_at, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_file_atomic_at_failure_cleans_up, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_open_tmpfile_at, setup, teardown),
                cmocka_unit_test(test_copy_fd),
                cmocka_unit_test_setup_teardown(test_mkdir_p_at, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mkdir_p_at_file_in_the_way, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rm_rf_at_does_not_follow_symlinks, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_rm_rf_at_symlink_itself, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
