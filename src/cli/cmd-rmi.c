/*
 * cmd-rmi.c — `lana-img rmi`: removes image names. Blobs stay until `prune`, so removing a name
 * never races with a build that shares layers with it.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"

static void help(void)
{
        printf("usage: lana-img [--root DIR] rmi IMAGE...\n\n"
               "Removes the names (store names or oci:DIR:REF). Run 'lana-img prune' to free the "
               "blobs\nno longer referenced.\n\n"
               "Example:\n  lana-img rmi registry.example.com/lana/api:old && lana-img prune\n\n"
               "Exit codes: 0 removed, 1 failure, 2 usage, 3 invalid name, 4 not found.\n");
}

int cmd_rmi(struct cli *cli, int argc, char **argv)
{
        int h = cli_help_only(argc, argv, help);
        if (h >= 0)
                return h;
        if (optind >= argc)
                return cli_usage_error("rmi", "expected at least one IMAGE");
        struct lana_error *err = NULL;
        struct lana_store *store = NULL;
        if (cli_open_store(cli, false, &store, &err) < 0)
                return cli_fail(err);
        int rc = EXIT_OK;
        for (int i = optind; i < argc; i++) {
                if (!strncmp(argv[i], "oci-archive:", 12)) {
                        rc = cli_usage_error("rmi", "'%s': archives cannot be changed in place",
                                             argv[i]);
                        continue;
                }
                struct lana_image img;
                int r = lana_image_open(store, argv[i], &img, &err);
                if (r >= 0 && !img.name)
                        r = lana_error_set(&err, -EINVAL,
                                           "%s: name the image to remove "
                                           "(IMAGE:REF)",
                                           argv[i]);
                if (r >= 0)
                        r = lana_layout_remove_ref(img.layout, img.name, &err);
                if (r >= 0)
                        printf("untagged %s\n", img.name);
                lana_image_release(&img);
                if (r < 0) {
                        rc = cli_fail(err);
                        err = NULL;
                }
        }
        lana_store_free(store);
        return rc;
}
