/*
 * cmd-images.c — `lana-img images`: the refs in the store, as a table or JSON.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"

static void help(void)
{
        printf("usage: lana-img [--root DIR] images [--format json]\n\n"
               "Lists the images in the store: name, digest, platforms and size.\n\n"
               "Example:\n  lana-img images --format json\n\n"
               "Exit codes: 0 listed, 1 failure, 2 usage, 3 a --root that is not a store.\n");
}

int cmd_images(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                {"format", required_argument, NULL, 'F'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        bool json = false;
        int c;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'F':
                        if (strcmp(optarg, "json") && strcmp(optarg, "table"))
                                return cli_usage_error("images",
                                                       "--format '%s': expected json "
                                                       "or table",
                                                       optarg);
                        json = !strcmp(optarg, "json");
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        }
        if (optind < argc)
                return cli_usage_error("images", "unexpected argument '%s'", argv[optind]);
        struct lana_error *err = NULL;
        struct lana_store *store = NULL;
        if (cli_open_store(cli, false, &store, &err) < 0)
                return cli_fail(err);
        json_t *out = json_array();
        json_t *ms = NULL;
        if (store && lana_layout_list(lana_store_layout(store), &ms, &err) < 0) {
                lana_store_free(store);
                json_decref(out);
                return cli_fail(err);
        }
        size_t i;
        json_t *m;
        int rc = EXIT_OK;
        json_array_foreach(ms, i, m)
        {
                const char *name = json_string_value(
                        json_object_get(json_object_get(m, "annotations"), LANA_ANNOT_REF_NAME));
                json_t *sum = NULL;
                struct lana_error *e = NULL;
                if (lana_layout_image_summary(lana_store_layout(store), m, &sum, &e) < 0) {
                        fprintf(stderr, "lana-img: %s: %s\n", name ? name : "?", e->msg);
                        lana_error_free(e);
                        rc = EXIT_FAIL;
                        continue;
                }
                json_object_set_new(sum, "name", json_string(name ? name : ""));
                json_array_append_new(out, sum);
        }
        json_decref(ms);
        lana_store_free(store);
        if (json) {
                _cleanup_free_ char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
                printf("%s\n", s);
        } else {
                printf("%-50s %-19s %-26s %s\n", "NAME", "DIGEST", "PLATFORMS", "SIZE");
                json_array_foreach(out, i, m)
                {
                        char plats[256];
                        cli_join(json_object_get(m, "platforms"), ",", plats, sizeof plats);
                        char sz[32];
                        printf("%-50s %-19.19s %-26s %s\n",
                               json_string_value(json_object_get(m, "name")),
                               json_string_value(json_object_get(m, "digest")), plats,
                               cli_size((uint64_t)json_integer_value(json_object_get(m, "size")),
                                        sz));
                }
        }
        json_decref(out);
        return rc;
}
