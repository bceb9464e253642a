/*
 * transfer.h — the transfer thread pool shared by push and pull.
 */
#pragma once

#include <stddef.h>

#include "lana/error.h"

/* Calls fn(ud, i) for i in [0, n) on up to `jobs` threads (the caller's included); stops
 * handing out work after the first failure and returns that failure. */
int transfer_run(size_t n, unsigned jobs, int (*fn)(void *ud, size_t i, struct lana_error **err),
                 void *ud, struct lana_error **err);
