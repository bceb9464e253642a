/*
 * cmd-pull.c — `lana-img pull`: fetches an image into the store.
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

int cmd_pull(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                TRANSPORT_OPTIONS,
                {"platform", required_argument, NULL, OPT_PLATFORM},
                {"all-platforms", no_argument, NULL, OPT_ALL},
                {"digest-file", required_argument, NULL, OPT_DIGEST_FILE},
                {},
        };
        struct lana_transfer_progress pg = {.item_done = transport_item_done,
                                            .bytes = transport_bytes};
        struct lana_registry_options o = {.progress = &pg};
        const char *platform = NULL, *digest_file = NULL;
        bool all = false;
        int c;
        while ((c = getopt_long(argc, argv, "j:qh", opts, NULL)) != -1) {
                int t = transport_opt("pull", c, &o);
                if (t < 0)
                        return -t;
                if (t)
                        continue;
                if (c == OPT_PLATFORM) {
                        platform = optarg;
                } else if (c == OPT_ALL) {
                        all = true;
                } else if (c == OPT_DIGEST_FILE) {
                        digest_file = optarg;
                } else if (c == 'h') {
                        printf("usage: lana-img [--root DIR] pull [OPTIONS] REF\n\n"
                               "Fetches REF (name:tag or name@sha256:...) into the store. From "
                               "a multi-platform image\nonly the host's (or --platform's) "
                               "manifest is fetched and named, unless --all-platforms.\n"
                               "Everything is verified before anything is stored; an "
                               "interrupted pull resumes.\n\n" TRANSPORT_HELP
                               "      --platform P         os/arch[/variant] to fetch\n"
                               "      --all-platforms      fetch every platform and keep the "
                               "index\n"
                               "      --digest-file F      write the pulled digest to F\n\n"
                               "Example:\n  lana-img pull docker.io/library/postgres:16\n\n"
                               "Exit codes: 0 pulled, 1 failure (network, registry, auth, "
                               "verification), 2 usage,\n3 invalid reference, 4 not found.\n");
                        return EXIT_OK;
                } else {
                        return EXIT_USAGE;
                }
        }
        if (argc - optind != 1)
                return cli_usage_error("pull", "expected one REF");
        struct lana_error *err = NULL;
        struct lana_platform p, *pp = NULL;
        if (platform) {
                if (lana_platform_parse(platform, &p, &err) < 0)
                        return cli_fail(err);
                pp = &p;
        }
        struct lana_store *store = NULL;
        if (cli_open_store(cli, true, &store, &err) < 0)
                return cli_fail(err);
        struct lana_digest d;
        struct lana_transfer_stats st = {0};
        int r = lana_pull(store, argv[optind], pp, all, &o, &d, &st, &err);
        lana_store_free(store);
        transport_progress_end();
        if (r < 0)
                return cli_fail(err);
        if (!transport_quiet)
                fprintf(stderr, "pulled: %u blobs fetched, %u requests\n", st.blobs_fetched,
                        st.requests);
        printf("%s\n", d.str);
        return digest_file ? transport_write_digest(digest_file, d.str) : EXIT_OK;
}
