/*
 * test-error.c — the error model every liblana function relies on: lana_error_set() stores the
 * code and a one-line message, lana_error_setsys() appends strerror, lana_error_wrap() prefixes
 * context on the way up (synthesising a message when there is none), non-negative codes become
 * -EIO, newlines never survive into a message, and a NULL `err` is always accepted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lana/error.h"

static void test_set_stores_code_and_message(void **state)
{
        (void)state;
        struct lana_error *e = NULL;
        int r = lana_error_set(&e, -EINVAL, "bad %s %d", "thing", 42);
        assert_int_equal(r, -EINVAL);
        assert_non_null(e);
        assert_int_equal(e->code, -EINVAL);
        assert_string_equal(e->msg, "bad thing 42");
        lana_error_free(e);
}

static void test_set_replaces_previous(void **state)
{
        (void)state;
        struct lana_error *e = NULL;
        lana_error_set(&e, -EINVAL, "first");
        int r = lana_error_set(&e, -ENOENT, "second");
        assert_int_equal(r, -ENOENT);
        assert_int_equal(e->code, -ENOENT);
        assert_string_equal(e->msg, "second");
        lana_error_free(e);
}

static void test_set_null_err_returns_code(void **state)
{
        (void)state;
        assert_int_equal(lana_error_set(NULL, -EPERM, "ignored %d", 1), -EPERM);
        assert_int_equal(lana_error_setsys(NULL, -EPERM, "ignored"), -EPERM);
        assert_int_equal(lana_error_wrap(NULL, -EPERM, "ignored"), -EPERM);
}

static void test_nonnegative_code_becomes_eio(void **state)
{
        (void)state;
        struct lana_error *e = NULL;
        assert_int_equal(lana_error_set(&e, 0, "zero"), -EIO);
        assert_int_equal(e->code, -EIO);
        assert_int_equal(lana_error_set(&e, 5, "positive"), -EIO);
        assert_int_equal(e->code, -EIO);
        assert_int_equal(lana_error_wrap(&e, 0, "ctx"), -EIO);
        assert_int_equal(e->code, -EIO);
        lana_error_free(e);
}

static void test_setsys_appends_strerror(void **state)
{
        (void)state;
        struct lana_error *e = NULL;
        int r = lana_error_setsys(&e, -ENOENT, "open %s", "x");
        assert_int_equal(r, -ENOENT);
        char want[256];
        snprintf(want, sizeof want, "open x: %s", strerror(ENOENT));
        assert_string_equal(e->msg, want);
        lana_error_free(e);
}

static void test_wrap_prefixes_context(void **state)
{
        (void)state;
        struct lana_error *e = NULL;
        lana_error_set(&e, -EBADMSG, "blob sha256:ab: content hashes to sha256:cd");
        int r = lana_error_wrap(&e, -EBADMSG, "pull %s", "ghcr.io/x/api:1.2");
        assert_int_equal(r, -EBADMSG);
        assert_string_equal(e->msg,
                            "pull ghcr.io/x/api:1.2: blob sha256:ab: content hashes to sha256:cd");
        /* the code may be changed on the way up */
        r = lana_error_wrap(&e, -EIO, "build");
        assert_int_equal(r, -EIO);
        assert_int_equal(e->code, -EIO);
        assert_string_equal(e->msg, "build: pull ghcr.io/x/api:1.2: blob sha256:ab: content "
                                    "hashes to sha256:cd");
        lana_error_free(e);
}

static void test_wrap_without_error_synthesises(void **state)
{
        (void)state;
        struct lana_error *e = NULL;
        int r = lana_error_wrap(&e, -EACCES, "open %s", "/root");
        assert_int_equal(r, -EACCES);
        assert_non_null(e);
        char want[256];
        snprintf(want, sizeof want, "open /root: %s", strerror(EACCES));
        assert_string_equal(e->msg, want);
        lana_error_free(e);
}

static void test_messages_are_one_line(void **state)
{
        (void)state;
        struct lana_error *e = NULL;
        lana_error_set(&e, -EINVAL, "line one\nline two\r\n");
        assert_null(strchr(e->msg, '\n'));
        assert_null(strchr(e->msg, '\r'));
        assert_string_equal(e->msg, "line one line two  ");
        lana_error_wrap(&e, -EINVAL, "ctx\nmore");
        assert_null(strchr(e->msg, '\n'));
        assert_string_equal(e->msg, "ctx more: line one line two  ");
        lana_error_free(e);
}

static void test_kind_derived_from_errno(void **state)
{
        (void)state;
        struct lana_error *e = NULL;
        lana_error_set(&e, -EINVAL, "bad");
        assert_int_equal(e->kind, LANA_ERR_INVALID);
        lana_error_set(&e, -ENOENT, "gone");
        assert_int_equal(e->kind, LANA_ERR_NOT_FOUND);
        lana_error_setsys(&e, -EACCES, "open x");
        assert_int_equal(e->kind, LANA_ERR_PERMISSION);
        lana_error_set(&e, -EBADMSG, "digest");
        assert_int_equal(e->kind, LANA_ERR_INTEGRITY);
        lana_error_set(&e, -EBUSY, "in use");
        assert_int_equal(e->kind, LANA_ERR_CONFLICT);
        lana_error_set(&e, -ENOSPC, "full");
        assert_int_equal(e->kind, LANA_ERR_IO);
        lana_error_set(&e, -ECONNREFUSED, "net");
        assert_int_equal(e->kind, LANA_ERR_FAILED);
        lana_error_set(&e, 5, "nonnegative");
        assert_int_equal(e->kind, LANA_ERR_IO);
        assert_string_equal(lana_error_kind_name(LANA_ERR_NO_PROGRAM), "program not found");
        assert_string_equal(lana_error_kind_name((enum lana_error_kind)999), "failed");
        lana_error_free(e);
}

/* An explicit kind survives wrapping, whatever errno the wrapper passes; a derived one follows
 * the wrapper's errno (it reclassifies the failure). */
static void test_kind_through_wrap(void **state)
{
        (void)state;
        struct lana_error *e = NULL;
        lana_error_set_kind(&e, LANA_ERR_NO_PROGRAM, -ENOENT, "exec %s: not found", "x");
        assert_int_equal(lana_error_wrap(&e, -ENOENT, "run"), -ENOENT);
        assert_int_equal(e->kind, LANA_ERR_NO_PROGRAM);
        lana_error_wrap(&e, -EIO, "outer");
        assert_int_equal(e->kind, LANA_ERR_NO_PROGRAM);
        assert_int_equal(e->code, -EIO);
        assert_string_equal(e->msg, "outer: run: exec x: not found");

        lana_error_set(&e, -ENOENT, "blob");
        lana_error_wrap(&e, -ENOENT, "pull");
        assert_int_equal(e->kind, LANA_ERR_NOT_FOUND);
        lana_error_wrap(&e, -EINVAL, "image");
        assert_int_equal(e->kind, LANA_ERR_INVALID);
        lana_error_free(e);
}

static void test_free_accepts_null(void **state)
{
        (void)state;
        assert_null(lana_error_free(NULL));
        struct lana_error *e = NULL;
        lana_error_freep(&e);
        assert_null(e);
        lana_error_set(&e, -EINVAL, "x");
        lana_error_freep(&e);
        assert_null(e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_set_stores_code_and_message),
                cmocka_unit_test(test_set_replaces_previous),
                cmocka_unit_test(test_set_null_err_returns_code),
                cmocka_unit_test(test_nonnegative_code_becomes_eio),
                cmocka_unit_test(test_setsys_appends_strerror),
                cmocka_unit_test(test_wrap_prefixes_context),
                cmocka_unit_test(test_wrap_without_error_synthesises),
                cmocka_unit_test(test_messages_are_one_line),
                cmocka_unit_test(test_kind_derived_from_errno),
                cmocka_unit_test(test_kind_through_wrap),
                cmocka_unit_test(test_free_accepts_null),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
