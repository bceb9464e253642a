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

static int store(struct lana_error **err, int code, char *msg)
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
        e->msg = msg;
        *err = e;
        return code;
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
