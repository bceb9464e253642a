/*
 * mem-writer.c — the memory-capturing writer used by several unit tests.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mem-writer.h"

static int mem_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err)
{
        (void)err;
        struct mem_writer *m = (struct mem_writer *)w;
        if (m->len + len > m->cap) {
                m->cap = (m->len + len) * 2;
                m->data = realloc(m->data, m->cap);
                assert_non_null(m->data);
        }
        memcpy(m->data + m->len, buf, len);
        m->len += len;
        return 0;
}

static int mem_close(struct lana_writer *w, struct lana_error **err)
{
        (void)err;
        ((struct mem_writer *)w)->closes++;
        return 0;
}

static void mem_free(struct lana_writer *w)
{
        free(((struct mem_writer *)w)->data);
        free(w);
}

static const struct lana_writer_type mem_type = {
        .name = "mem", .write = mem_write, .close = mem_close, .free = mem_free};

struct mem_writer *mem_new(void)
{
        struct mem_writer *m = calloc(1, sizeof *m);
        assert_non_null(m);
        m->base.type = &mem_type;
        return m;
}

static int fail_write(struct lana_writer *w, const void *buf, size_t len, struct lana_error **err)
{
        (void)buf;
        struct fail_writer *f = (struct fail_writer *)w;
        if (len > f->budget)
                return lana_error_set(err, -ENOSPC, "disk full");
        f->budget -= len;
        return 0;
}

const struct lana_writer_type fail_type = {.name = "fail", .write = fail_write};
