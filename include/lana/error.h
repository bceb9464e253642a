/*
 * lana/error.h — the error model shared by every liblana function.
 *
 * A function that can fail returns a negative errno-style value and, when `err` is not NULL,
 * stores a heap-allocated struct lana_error describing the failure. Callers add context on the
 * way up with lana_error_wrap(), which prefixes the message ("pull x: blob y: ..."). Only the CLI
 * prints errors.
 */
#pragma once

#include <stdarg.h>

struct lana_error {
        int code;  /* negative errno value */
        char *msg; /* one line, no trailing newline */
};

/* Stores a new error in *err (replacing any previous one) and returns `code` (negative). */
int lana_error_set(struct lana_error **err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Like lana_error_set() with ": strerror(-code)" appended. */
int lana_error_setsys(struct lana_error **err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prefixes the message of *err with the formatted context ("ctx: old message") and returns
 * `code`. If *err is NULL, a message is synthesised from strerror(-code). */
int lana_error_wrap(struct lana_error **err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Frees an error; accepts NULL; returns NULL. */
struct lana_error *lana_error_free(struct lana_error *e);
void lana_error_freep(struct lana_error **e);
