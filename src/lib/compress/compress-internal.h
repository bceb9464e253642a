/*
 * compress-internal.h — constructors of the concrete compressing writers.
 */
#pragma once

#include "lana/compress.h"

int gzip_writer_new(const struct lana_compress_profile *p, unsigned jobs, struct lana_writer *next,
                    struct lana_writer **ret, struct lana_error **err);
int zstd_writer_new(const struct lana_compress_profile *p, unsigned jobs, struct lana_writer *next,
                    struct lana_writer **ret, struct lana_error **err);
