/*
 * test-lifecycle.c — create and start as two steps, and the typed container record. A created
 * container's process exists with everything set up but has not run its program; any process
 * that has the record can start it (here a forked child, standing in for another lana-img); it
 * is started once; a created container that is freed instead is killed and leaves no fifo. The
 * record round-trips through its file format and refuses damaged files.
 *
 * The container cases need root (namespaces, mounts, cgroups) and a static busybox; they skip
 * with the reason otherwise. The rootfs is a plain directory (bind-mounted, no overlay).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "fs-util.h"
#include "lana/runtime.h"
#include "tap-skip.h"

struct fixture {
        char dir[64];
        char *rootfs, *state, *fifo, *marker;
};

static int setup(void **state)
{
        struct fixture *f = xnew(struct fixture, 1);
        snprintf(f->dir, sizeof f->dir, "/tmp/lana-test-lifecycle-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->rootfs = xasprintf("%s/rootfs", f->dir);
        f->state = xasprintf("%s/state", f->dir);
        f->marker = xasprintf("%s/started", f->rootfs);
        assert_int_equal(mkdir_p_at(AT_FDCWD, f->rootfs, 0755), 0);
        assert_int_equal(mkdir_p_at(AT_FDCWD, f->state, 0700), 0);
        setenv("LANA_IMG_STATE", f->state, 1);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        rm_rf_at(AT_FDCWD, f->dir);
        free(f->rootfs);
        free(f->state);
        free(f->fifo);
        free(f->marker);
        free(f);
        return 0;
}

static bool exists(const char *p)
{
        struct stat st;
        return lstat(p, &st) == 0;
}

/* A rootfs with a static busybox and the mount points the runtime needs. */
static void make_rootfs(struct fixture *f)
{
        if (geteuid() != 0)
                UNIT_SKIP("containers need root");
        if (access("/bin/busybox", X_OK) != 0)
                UNIT_SKIP("/bin/busybox is missing (install busybox-static)");
        static const char *const dirs[] = {"bin", "dev", "proc", "sys", "tmp", "etc"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *d = xasprintf("%s/%s", f->rootfs, dirs[i]);
                assert_int_equal(mkdir_p_at(AT_FDCWD, d, 0755), 0);
        }
        _cleanup_free_ char *bb = xasprintf("%s/bin/busybox", f->rootfs);
        _cleanup_close_ int in = open("/bin/busybox", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int out = open(bb, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
        assert_true(in >= 0 && out >= 0);
        assert_int_equal(copy_fd(in, out), 0);
}

static struct lana_container *create(struct fixture *f, const char *id)
{
        static char *argv[] = {(char *)"/bin/busybox", (char *)"touch", (char *)"/started", NULL};
        static char *env[] = {(char *)"PATH=/bin", NULL};
        free(f->fifo);
        _cleanup_free_ char *dir = xasprintf("%s/%s", f->state, id);
        assert_int_equal(mkdir_p_at(AT_FDCWD, dir, 0700), 0);
        f->fifo = xasprintf("%s/exec.fifo", dir);
        struct lana_container_spec s = {
                .id = id,
                .rootfs = f->rootfs,
                .caps = LANA_DEFAULT_CAPS,
                .no_new_privs = true,
                .seccomp = LANA_SECCOMP_DEFAULT,
                .argv = argv,
                .env = env,
                .cwd = "/",
                .exec_fifo = f->fifo,
        };
        struct lana_container *c = NULL;
        struct lana_error *e = NULL;
        if (lana_container_create(&s, &c, &e) < 0)
                fail_msg("create: %s", e->msg);
        return c;
}

static void record_created(struct lana_container *c, const char *id)
{
        _cleanup_(lana_record_freep) struct lana_record *r = lana_record_new(id);
        r->status = LANA_CONTAINER_CREATED;
        r->pid = lana_container_pid(c);
        r->pid_start = lana_pid_start_time(r->pid);
        struct lana_error *e = NULL;
        if (lana_record_write(r, &e) < 0)
                fail_msg("record: %s", e->msg);
}

static void test_created_waits_until_started_by_another_process(void **state)
{
        struct fixture *f = *state;
        make_rootfs(f);
        struct lana_container *c = create(f, "lifecycle-a");
        record_created(c, "lifecycle-a");

        /* created: the process is there, its program has not run */
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        assert_true(lana_pid_start_time(lana_container_pid(c)) != 0);
        assert_false(exists(f->marker));
        _cleanup_(lana_record_freep) struct lana_record *rec = NULL;
        assert_int_equal(lana_record_read("lifecycle-a", &rec, NULL), 0);
        assert_int_equal(lana_record_status(rec), LANA_CONTAINER_CREATED);

        /* started from another process, with nothing but the record */
        pid_t other = fork();
        assert_true(other >= 0);
        if (other == 0) {
                struct lana_error *e = NULL;
                _exit(lana_container_start_record(rec, &e) == 0 ? 0 : 1);
        }
        int st;
        assert_int_equal(waitpid(other, &st, 0), other);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_int_equal(lana_container_wait(c, NULL, NULL), 0);
        assert_true(exists(f->marker));
        assert_false(exists(f->fifo));

        /* once only */
        struct lana_error *e = NULL;
        assert_int_equal(lana_container_start_record(rec, &e), -EALREADY);
        assert_int_equal(e->kind, LANA_ERR_CONFLICT);
        lana_error_free(e);
        e = NULL;
        assert_int_equal(lana_container_start(c, &e), -EALREADY);
        lana_error_free(e);
        lana_container_free(c);
        lana_record_remove("lifecycle-a");
}

static void test_start_in_process_reports_exec_failure(void **state)
{
        struct fixture *f = *state;
        make_rootfs(f);
        /* the program is removed between create and start: the exec fails after start, and the
         * starter that created it hears why */
        struct lana_container *c = create(f, "lifecycle-b");
        _cleanup_free_ char *bb = xasprintf("%s/bin/busybox", f->rootfs);
        assert_int_equal(unlink(bb), 0);
        struct lana_error *e = NULL;
        assert_true(lana_container_start(c, &e) < 0);
        assert_int_equal(e->kind, LANA_ERR_NO_PROGRAM);
        assert_non_null(strstr(e->msg, "/bin/busybox"));
        lana_error_free(e);
        lana_container_free(c);
}

static void test_created_then_freed_leaves_nothing(void **state)
{
        struct fixture *f = *state;
        make_rootfs(f);
        struct lana_container *c = create(f, "lifecycle-c");
        pid_t pid = lana_container_pid(c);
        uint64_t start = lana_pid_start_time(pid);
        assert_true(start != 0);
        lana_container_free(c);
        assert_true(lana_pid_start_time(pid) != start);
        assert_false(exists(f->fifo));
        assert_false(exists(f->marker));
}

static void test_record_round_trip_and_damage(void **state)
{
        struct fixture *f = *state;
        _cleanup_(lana_record_freep) struct lana_record *r = lana_record_new("rec-1");
        r->name = xstrdup("web");
        r->image = xstrdup("docker.io/library/busybox:latest");
        r->command = xnew(char *, 3);
        r->command[0] = xstrdup("sleep");
        r->command[1] = xstrdup("1");
        r->status = LANA_CONTAINER_STOPPED;
        r->has_exit_code = true;
        r->exit_code = 137;
        r->oom_killed = true;
        r->created = 1700000000;
        assert_int_equal(lana_record_write(r, NULL), 0);
        _cleanup_(lana_record_freep) struct lana_record *back = NULL;
        assert_int_equal(lana_record_read("rec-1", &back, NULL), 0);
        assert_string_equal(back->name, "web");
        assert_string_equal(back->command[1], "1");
        assert_null(back->command[2]);
        assert_int_equal(back->status, LANA_CONTAINER_STOPPED);
        assert_true(back->has_exit_code && back->exit_code == 137 && back->oom_killed);
        assert_int_equal(back->created, 1700000000);

        /* found by name and by a prefix of 4 or more */
        _cleanup_(lana_record_freep) struct lana_record *by_name = NULL;
        assert_int_equal(lana_record_find("web", &by_name, NULL), 0);
        assert_string_equal(by_name->id, "rec-1");
        struct lana_error *e = NULL;
        struct lana_record *none = NULL;
        assert_int_equal(lana_record_find("nope", &none, &e), -ENOENT);
        assert_int_equal(e->kind, LANA_ERR_NOT_FOUND);
        lana_error_free(e);
        e = NULL;

        /* damaged: a wrong type, an unknown status, an id that is a path */
        static const char *const bad[] = {
                "{\"id\":\"rec-2\",\"status\":\"running\",\"pid\":\"12\"}",
                "{\"id\":\"rec-2\",\"status\":\"paused\"}",
                "{\"id\":\"../x\",\"status\":\"running\"}",
                "{\"id\":\"rec-2\",\"status\":\"stopped\",\"exit_code\":256}",
                "[]",
        };
        _cleanup_free_ char *dir = xasprintf("%s/rec-2", f->state);
        assert_int_equal(mkdir_p_at(AT_FDCWD, dir, 0700), 0);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(write_file_volatile_at(dfd, "state.json", bad[i], strlen(bad[i]),
                                                        0600, NULL),
                                 0);
                struct lana_record *got = NULL;
                assert_int_equal(lana_record_read("rec-2", &got, &e), -EINVAL);
                assert_null(got);
                assert_non_null(strstr(e->msg, "state.json"));
                lana_error_free(e);
                e = NULL;
        }
        /* a listing skips what it cannot read */
        struct lana_record **all = NULL;
        assert_int_equal(lana_record_list(&all, NULL), 0);
        assert_non_null(all[0]);
        assert_string_equal(all[0]->id, "rec-1");
        assert_null(all[1]);
        lana_record_list_free(all);
        assert_false(lana_container_id_valid("../x"));
        assert_false(lana_container_id_valid(".hidden"));
        assert_true(lana_container_id_valid("a.b-c_d"));
}

static int run_all(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_record_round_trip_and_damage, setup, teardown),
                cmocka_unit_test_setup_teardown(test_created_waits_until_started_by_another_process,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_start_in_process_reports_exec_failure, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_created_then_freed_leaves_nothing, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

int main(void)
{
        return unit_run_fixing_skips(run_all);
}
