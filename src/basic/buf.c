/*
 * buf.c — bounded byte buffer. Doubling growth, capped at the buffer's declared maximum.
 */
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"

void lana_buf_init(struct lana_buf *b, size_t max)
{
        *b = (struct lana_buf){.max = max};
}

void lana_buf_release(struct lana_buf *b)
{
        free(b->data);
        *b = (struct lana_buf){.max = b->max};
}

int lana_buf_append(struct lana_buf *b, const void *data, size_t len)
{
        if (len > b->max || b->len > b->max - len)
                return -E2BIG;
        if (b->len + len + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->len + len + 1)
                        cap *= 2;
                b->data = xrealloc(b->data, cap);
                b->cap = cap;
        }
        if (len)
                memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = '\0';
        return 0;
}

char *lana_buf_steal(struct lana_buf *b, size_t *ret_len)
{
        char *p = b->data ? b->data : xstrdup("");
        if (ret_len)
                *ret_len = b->len;
        *b = (struct lana_buf){.max = b->max};
        return p;
}
