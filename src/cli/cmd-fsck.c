/*
 * cmd-fsck.c — `lana-img fsck`: re-hashes every blob and walks every name; one line per fault.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void help(void)
{
        printf("usage: lana-img [--root DIR] fsck [oci:DIR]\n\n"
               "Re-hashes every blob and checks that every image name reaches complete images.\n"
               "Prints one line per fault. Checks the store, or the OCI layout given.\n\n"
               "Example:\n  lana-img fsck\n\n"
               "Exit codes: 0 clean, 1 faults found (or the check failed), 2 usage, 3 a --root "
               "that is not a store,\n4 no such layout.\n");
}

static void report(void *ud, const char *fault)
{
        (void)ud;
        printf("fault: %s\n", fault);
}

int cmd_fsck(struct cli *cli, int argc, char **argv)
{
        int h = cli_help_only(argc, argv, help);
        if (h >= 0)
                return h;
        if (argc - optind > 1)
                return cli_usage_error("fsck", "expected at most one oci:DIR");
        struct lana_error *err = NULL;
        struct lana_store *store = NULL;
        struct lana_layout *l = NULL;
        int r;
        if (optind < argc) {
                const char *a = argv[optind];
                if (strncmp(a, "oci:", 4) != 0)
                        return cli_usage_error("fsck", "'%s': expected oci:DIR", a);
                r = lana_layout_open(a + 4, false, &l, &err);
        } else {
                r = cli_open_store(cli, false, &store, &err);
                if (r >= 0 && store)
                        r = lana_layout_open(lana_layout_path(lana_store_layout(store)), false, &l,
                                             &err);
        }
        if (r < 0) {
                lana_store_free(store);
                return cli_fail(err);
        }
        int faults = l ? lana_layout_fsck(l, report, NULL, &err) : 0;
        lana_layout_free(l);
        lana_store_free(store);
        if (faults < 0) {
                cli_fail(err);
                return EXIT_FAIL;
        }
        if (faults > 0) {
                fprintf(stderr, "lana-img: fsck: %d fault%s\n", faults, faults == 1 ? "" : "s");
                return EXIT_FAIL;
        }
        printf("ok\n");
        return EXIT_OK;
}
