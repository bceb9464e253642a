/*
 * cmd-prune.c — `lana-img prune`: garbage-collects blobs unreachable from any name. Waits for
 * running builds (they hold the store's gc lock shared).
 */
#include <getopt.h>
#include <stdio.h>

#include "lana/runtime.h"
#include "cli.h"

static void help(void)
{
        printf("usage: lana-img [--root DIR] prune\n\n"
               "Deletes every blob no image name reaches, and temporary files of interrupted "
               "commands.\nWaits for builds running in the same store to finish.\n\n"
               "Example:\n  lana-img prune\n\n"
               "Exit codes: 0 done, 1 failure, 2 usage.\n");
}

/* Runs under the store's exclusive gc lock: snapshots are kept when an image still named or a
 * recorded container uses them; when either list cannot be read, nothing is removed. */
static int prune_snapshots(struct lana_store *store, void *ud, struct lana_error **err)
{
        int *ret_count = ud;
        json_t *keep = json_object(), *ms = NULL, *states = NULL;
        struct lana_layout *l = lana_store_layout(store);
        int r = lana_layout_list(l, &ms, err);
        if (r >= 0)
                r = lana_state_list(&states, err);
        if (r >= 0) {
                size_t i;
                json_t *m;
                json_array_foreach(ms, i, m) lana_layout_collect_diff_ids(l, m, keep);
                json_array_foreach(states, i, m)
                {
                        size_t k;
                        json_t *hx;
                        json_array_foreach(json_object_get(m, "snapshots"), k, hx)
                                json_object_set_new(keep, json_string_value(hx), json_true());
                }
                r = lana_snapshot_gc(store, keep, err);
                if (r >= 0)
                        *ret_count = r;
        }
        json_decref(keep);
        json_decref(ms);
        json_decref(states);
        return r < 0 ? r : 0;
}

int cmd_prune(struct cli *cli, int argc, char **argv)
{
        int h = cli_help_only(argc, argv, help);
        if (h >= 0)
                return h;
        if (optind < argc)
                return cli_usage_error("prune", "unexpected argument '%s'", argv[optind]);
        struct lana_error *err = NULL;
        struct lana_store *store = NULL;
        if (cli_open_store(cli, false, &store, &err) < 0)
                return cli_fail(err);
        uint64_t blobs = 0, bytes = 0;
        int snaps = 0;
        if (store && lana_store_prune(store, &blobs, &bytes, prune_snapshots, &snaps, &err) < 0) {
                lana_store_free(store);
                return cli_fail(err);
        }
        lana_store_free(store);
        char buf[32];
        printf("removed %ju blobs, %s; %d snapshots\n", (uintmax_t)blobs, cli_size(bytes, buf),
               snaps);
        return EXIT_OK;
}
