/*
 * cmd-prune.c — `lana-img prune`: garbage-collects blobs unreachable from any name. Waits for
 * running builds (they hold the store's gc lock shared).
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static void help(void)
{
        printf("usage: lana-img [--root DIR] prune\n\n"
               "Deletes every blob no image name reaches, and temporary files of interrupted "
               "commands.\nWaits for builds running in the same store to finish.\n\n"
               "Example:\n  lana-img prune\n\n"
               "Exit codes: 0 done, 1 failure, 2 usage.\n");
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
        if (store && lana_store_prune(store, &blobs, &bytes, &err) < 0) {
                lana_store_free(store);
                return cli_fail(err);
        }
        lana_store_free(store);
        char buf[32];
        printf("removed %ju blobs, %s\n", (uintmax_t)blobs, cli_size(bytes, buf));
        return EXIT_OK;
}
