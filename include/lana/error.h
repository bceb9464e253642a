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

/* What went wrong, for the caller's decisions (exit codes, retries), independent of the message.
 * lana_error_set() derives it from the errno value; lana_error_set_kind() says it outright where
 * the errno alone would mislead (a program that is not found vs. an image that is not found). */
enum lana_error_kind {
        LANA_ERR_FAILED = 0,     /* anything else: the operation failed */
        LANA_ERR_INVALID,        /* invalid input: spec, reference, platform, config, option */
        LANA_ERR_NOT_FOUND,      /* no such image, container, file the user named */
        LANA_ERR_CONFLICT,       /* exists already, in use, busy, wrong state */
        LANA_ERR_PERMISSION,     /* not allowed */
        LANA_ERR_IO,             /* the system failed us: I/O, full disk, read-only */
        LANA_ERR_INTEGRITY,      /* content does not match its digest or descriptor */
        LANA_ERR_UNSUPPORTED,    /* valid, but not something this build or kernel does */
        LANA_ERR_NO_PROGRAM,     /* a container's program does not exist (exit 127) */
        LANA_ERR_NOT_EXECUTABLE, /* a container's program cannot be executed (exit 126) */
};

struct lana_error {
        int code;                  /* negative errno value */
        enum lana_error_kind kind; /* kept by lana_error_wrap() */
        char *msg;                 /* one line, no trailing newline */
};

/* The kind an errno value stands for when nothing more is known. */
enum lana_error_kind lana_error_kind_from_errno(int code);
/* A short name of the kind ("invalid input", "not found", ...). */
const char *lana_error_kind_name(enum lana_error_kind kind);
/* Like lana_error_set(), with the kind given instead of derived from `code`. */
int lana_error_set_kind(struct lana_error **err, enum lana_error_kind kind, int code,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

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
