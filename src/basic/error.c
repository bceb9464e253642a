/*
 * error.c — construction and wrapping of struct lana_error. Messages are built with vasprintf and
 * never contain newlines, so the CLI can always print "lana-img: <msg>" as one line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lana/error.h"
#include "alloc.h"

static void flatten(char *s)
{
        for (; *s; s++)
                if (*s == '\n' || *s == '\r')
                        *s = ' ';
}

_public_ enum lana_error_kind lana_error_kind_from_errno(int code)
{
        switch (code < 0 ? -code : code) {
        /* Only EINVAL and ENOENT: the library uses them for exactly these two meanings, while
         * E2BIG, ERANGE or ESRCH also come from the system for other reasons. */
        case EINVAL:
                return LANA_ERR_INVALID;
        case ENOENT:
                return LANA_ERR_NOT_FOUND;
        case EEXIST:
        case EBUSY:
        case ENOTEMPTY:
        case EALREADY:
        case ETXTBSY:
        case ESRCH:
                return LANA_ERR_CONFLICT;
        case EACCES:
        case EPERM:
                return LANA_ERR_PERMISSION;
        case EIO:
        case ENOSPC:
        case EDQUOT:
        case EROFS:
        case EMFILE:
        case ENFILE:
        case ENOMEM:
                return LANA_ERR_IO;
        case EBADMSG:
                return LANA_ERR_INTEGRITY;
        case EOPNOTSUPP:
        case ENOSYS:
        case EAFNOSUPPORT:
                return LANA_ERR_UNSUPPORTED;
        default:
                return LANA_ERR_FAILED;
        }
}

_public_ const char *lana_error_kind_name(enum lana_error_kind kind)
{
        static const char *const names[] = {
                [LANA_ERR_FAILED] = "failed",
                [LANA_ERR_INVALID] = "invalid input",
                [LANA_ERR_NOT_FOUND] = "not found",
                [LANA_ERR_CONFLICT] = "conflict",
                [LANA_ERR_PERMISSION] = "permission denied",
                [LANA_ERR_IO] = "I/O error",
                [LANA_ERR_INTEGRITY] = "integrity",
                [LANA_ERR_UNSUPPORTED] = "unsupported",
                [LANA_ERR_NO_PROGRAM] = "program not found",
                [LANA_ERR_NOT_EXECUTABLE] = "not executable",
        };
        return (size_t)kind < sizeof names / sizeof names[0] && names[kind] ? names[kind]
                                                                            : "failed";
}

static int store_kind(struct lana_error **err, enum lana_error_kind kind, int code, char *msg)
{
        if (code >= 0)
                code = -EIO;
        flatten(msg);
        if (!err) {
                free(msg);
                return code;
        }
        lana_error_free(*err);
        struct lana_error *e = xnew(struct lana_error, 1);
        e->code = code;
        e->kind = kind;
        e->msg = msg;
        *err = e;
        return code;
}

static int store(struct lana_error **err, int code, char *msg)
{
        return store_kind(err, lana_error_kind_from_errno(code >= 0 ? -EIO : code), code, msg);
}

_public_ int lana_error_set_kind(struct lana_error **err, enum lana_error_kind kind, int code,
                                 const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *msg = xvasprintf(fmt, ap);
        va_end(ap);
        return store_kind(err, kind, code, msg);
}

_public_ int lana_error_set(struct lana_error **err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *msg = xvasprintf(fmt, ap);
        va_end(ap);
        return store(err, code, msg);
}

_public_ int lana_error_setsys(struct lana_error **err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *base = xvasprintf(fmt, ap);
        va_end(ap);
        return store(err, code, xasprintf("%s: %s", base, strerror(code < 0 ? -code : EIO)));
}

_public_ int lana_error_wrap(struct lana_error **err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *ctx = xvasprintf(fmt, ap);
        va_end(ap);
        if (code >= 0)
                code = -EIO;
        if (!err)
                return code;
        if (!*err)
                return store(err, code, xasprintf("%s: %s", ctx, strerror(-code)));
        char *msg = xasprintf("%s: %s", ctx, (*err)->msg);
        free((*err)->msg);
        flatten(msg);
        (*err)->msg = msg;
        /* A caller that wraps with another errno reclassifies the failure, unless its kind was
         * given outright (lana_error_set_kind) rather than derived. */
        if (code != (*err)->code && (*err)->kind == lana_error_kind_from_errno((*err)->code))
                (*err)->kind = lana_error_kind_from_errno(code);
        (*err)->code = code;
        return code;
}

_public_ struct lana_error *lana_error_free(struct lana_error *e)
{
        if (!e)
                return NULL;
        free(e->msg);
        free(e);
        return NULL;
}

_public_ void lana_error_freep(struct lana_error **e)
{
        *e = lana_error_free(*e);
}
