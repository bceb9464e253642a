/*
 * transfer.h — the transfer thread pool shared by push and pull.
 */
#pragma once

#include <stddef.h>

#include "lana/digest.h"
#include "lana/error.h"
#include "lana/registry.h"

/* Calls fn(ud, i) for i in [0, n) on up to `jobs` threads (the caller's included); stops
 * handing out work after the first failure and returns that failure. */
int transfer_run(size_t n, unsigned jobs, int (*fn)(void *ud, size_t i, struct lana_error **err),
                 void *ud, struct lana_error **err);

/* Tells the caller's progress reporter (if any) that one item is done: `what` ("manifest",
 * "layer", ...), its digest and size, and `how` ("uploaded", "exists", "fetched", ...). */
void transfer_note(const struct lana_registry_options *o, const char *what,
                   const struct lana_digest *d, uint64_t bytes, const char *how);
