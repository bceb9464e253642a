/*
 * buf.h — a growable byte buffer with a hard maximum. Every buffer that holds outside input (spec
 * files, JSON documents, registry replies) is one of these, so a hostile input can never make us
 * allocate without bound.
 */
#pragma once

#include <stddef.h>

struct lana_buf {
        char *data; /* always NUL-terminated when non-NULL */
        size_t len;
        size_t cap;
        size_t max;
};

void lana_buf_init(struct lana_buf *b, size_t max);
void lana_buf_release(struct lana_buf *b);
/* Returns 0, or -E2BIG (buffer unchanged) when the result would exceed b->max. */
int lana_buf_append(struct lana_buf *b, const void *data, size_t len);
/* Hands the data to the caller (NUL-terminated, never NULL) and empties the buffer. */
char *lana_buf_steal(struct lana_buf *b, size_t *ret_len);
