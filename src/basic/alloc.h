/*
 * alloc.h — the one allocation family. Allocation failure is not recoverable in this program, so
 * every x* function aborts with a message instead of returning NULL; callers never check.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "macro.h"

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);
/* Frees a NULL-terminated array of strings and the strings; accepts NULL. */
void strv_free(char **v);
#define xnew(type, n) ((type *)xcalloc((n), sizeof(type)))
