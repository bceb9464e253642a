/*
 * cmd-push.c — `lana-img push`: uploads an image from the store, a layout or an archive.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "cli-transport.h"
#include "cli.h"
#include "fs-util.h"

int cmd_push(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                TRANSPORT_OPTIONS,
                {"digest-file", required_argument, NULL, OPT_DIGEST_FILE},
                {},
        };
        struct lana_transfer_progress pg = {.item_done = transport_item_done,
                                            .bytes = transport_bytes};
        struct lana_registry_options o = {.progress = &pg};
        const char *digest_file = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "j:qh", opts, NULL)) != -1) {
                int t = transport_opt("push", c, &o);
                if (t < 0)
                        return -t;
                if (t)
                        continue;
                if (c == OPT_DIGEST_FILE) {
                        digest_file = optarg;
                } else if (c == 'h') {
                        printf("usage: lana-img [--root DIR] push [OPTIONS] SRC [DEST]\n\n"
                               "Uploads the image SRC (a store name, oci:DIR[:REF] or "
                               "oci-archive:FILE[:REF]) to DEST\n(default: SRC's own name). "
                               "Blobs the registry has are skipped; blobs known in another\n"
                               "repository of the registry are mounted; a multi-platform "
                               "image pushes every\nmanifest, then the index.\n\n" TRANSPORT_HELP
                               "      --digest-file F      write the pushed digest to F\n\n"
                               "Example:\n  lana-img push registry.example.com/lana/api:1.4\n\n"
                               "Exit codes: 0 pushed, 1 failure (network, registry, auth), 2 "
                               "usage, 3 invalid name,\n4 SRC not found.\n");
                        return EXIT_OK;
                } else {
                        return EXIT_USAGE;
                }
        }
        if (argc - optind < 1 || argc - optind > 2)
                return cli_usage_error("push", "expected SRC [DEST]");
        const char *src = argv[optind];
        const char *dest = argc - optind == 2 ? argv[optind + 1] : NULL;
        if (!dest && (!strncmp(src, "oci:", 4) || !strncmp(src, "oci-archive:", 12)))
                return cli_usage_error("push", "DEST is required when SRC is a layout or archive");
        struct lana_error *err = NULL;
        struct lana_store *store = NULL;
        if (cli_open_store(cli, false, &store, &err) < 0)
                return cli_fail(err);
        struct lana_image img;
        int r = lana_image_open(store, src, &img, &err);
        if (r < 0) {
                lana_store_free(store);
                return cli_fail(err);
        }
        if (!dest && !img.name) {
                lana_image_release(&img);
                lana_store_free(store);
                return cli_usage_error("push", "DEST is required when SRC is named by digest");
        }
        struct lana_digest d;
        struct lana_transfer_stats st = {0};
        r = lana_push(store, img.layout, img.desc, dest ? dest : img.name, &o, &d, &st, &err);
        lana_image_release(&img);
        lana_store_free(store);
        transport_progress_end();
        if (r < 0)
                return cli_fail(err);
        if (!transport_quiet)
                fprintf(stderr, "pushed: %u uploaded, %u mounted, %u already there, %u requests\n",
                        st.blobs_uploaded, st.blobs_mounted, st.blobs_skipped, st.requests);
        printf("%s\n", d.str);
        return digest_file ? transport_write_digest(digest_file, d.str) : EXIT_OK;
}
