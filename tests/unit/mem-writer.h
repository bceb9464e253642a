/*
 * mem-writer.h — test helper: a writer that appends everything to memory and counts closes,
 * shared by the unit tests that need to look at a writer chain's output bytes.
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
