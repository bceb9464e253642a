/*
 * mem-writer.h — test helpers shared by the unit tests of writer chains: a writer that appends
 * everything to memory and counts closes, and one that fails with -ENOSPC ("disk full") once a
 * byte budget is spent.
 */
#pragma once

#include <stddef.h>

#include "lana/writer.h"

struct mem_writer {
        struct lana_writer base;
        unsigned char *data;
        size_t len, cap;
        int closes;
};

/* A new, empty memory writer; free it with lana_writer_free(&m->base). */
struct mem_writer *mem_new(void);

/* Fails with -ENOSPC once `budget` bytes have been accepted: {.base.type = &fail_type, ...}. */
struct fail_writer {
        struct lana_writer base;
        size_t budget;
};

extern const struct lana_writer_type fail_type;
