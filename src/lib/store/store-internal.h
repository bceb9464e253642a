/*
 * store-internal.h — what the store's files share: the layout struct and the tree walker.
 */
#pragma once

#include "lana/store.h"

struct lana_layout {
        char *path;
        int dirfd;
        int blobsfd;
};

int layout_walk(struct lana_layout *l, json_t *desc, int depth,
                int (*fn)(struct lana_layout *l, json_t *desc, void *ud), void *ud,
                struct lana_error **err);
/* lana_layout_select_manifest() without the check of the image picked (lana_image_load() makes
 * it). */
int layout_select(struct lana_layout *l, json_t *desc, const struct lana_platform *platform,
                  json_t **ret, struct lana_error **err);
