/*
 * cmd-prune.c — `lana-img prune`: garbage-collects blobs unreachable from any name, the files of
 * killed commands, stale cache files and unused snapshots, and says how much of each it removed.
 * Waits for running builds (they hold the store's gc lock shared).
 */
#include <getopt.h>
#include <stdio.h>

#include "lana/runtime.h"
#include "cli.h"

static void help(void)
{
        printf("usage: lana-img [--root DIR] prune\n\n"
               "Deletes every blob no image name reaches, the temporary files of interrupted "
               "commands,\nstale cache files and the snapshots nothing uses, and prints how "
               "many of each it\nremoved, with their sizes. Waits for builds running in the "
               "same store to finish.\n\n"
               "Example:\n  lana-img prune\n"
               "  removed 2 blobs, 1.2 MiB; 3 temporary files, 128.0 MiB; 4 cache files, 1.1 KiB; "
               "1 snapshots, 3.4 MiB;\n  132.7 MiB in all\n\n"
               "Exit codes: 0 done, 1 failure, 2 usage, 3 a --root that is not a store.\n");
}

/* Runs under the store's exclusive gc lock: snapshots are kept when an image still named or a
 * recorded container uses them; when either list cannot be read, nothing is removed. */
static int prune_snapshots(struct lana_store *store, void *ud, struct lana_error **err)
{
        (void)ud;
        json_t *keep = json_object(), *ms = NULL;
        struct lana_record **recs = NULL;
        struct lana_layout *l = lana_store_layout(store);
        int r = lana_layout_list(l, &ms, err);
        if (r >= 0)
                r = lana_record_list(&recs, err);
        if (r >= 0) {
                size_t i;
                json_t *m;
                json_array_foreach(ms, i, m) lana_layout_collect_diff_ids(l, m, keep);
                for (size_t k = 0; recs[k]; k++)
                        for (size_t q = 0; recs[k]->snapshots && recs[k]->snapshots[q]; q++)
                                json_object_set_new(keep, recs[k]->snapshots[q], json_true());
                r = lana_snapshot_gc(store, keep, err);
        }
        json_decref(keep);
        json_decref(ms);
        lana_record_list_free(recs);
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
        struct lana_prune_report rep = {0};
        int r = store ? lana_store_prune_report(store, &rep, prune_snapshots, NULL, &err) : 0;
        lana_store_free(store);
        if (r < 0)
                return cli_fail(err);
        char b[4][32], all[32];
        printf("removed %ju blobs, %s; %ju temporary files, %s; %ju cache files, %s; "
               "%ju snapshots, %s; %s in all\n",
               (uintmax_t)rep.blobs.n, cli_size(rep.blobs.bytes, b[0]), (uintmax_t)rep.temp.n,
               cli_size(rep.temp.bytes, b[1]), (uintmax_t)rep.cache.n,
               cli_size(rep.cache.bytes, b[2]), (uintmax_t)rep.snapshots.n,
               cli_size(rep.snapshots.bytes, b[3]),
               cli_size(rep.blobs.bytes + rep.temp.bytes + rep.cache.bytes + rep.snapshots.bytes,
                        all));
        return EXIT_OK;
}
