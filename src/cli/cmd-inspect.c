/*
 * cmd-inspect.c — `lana-img inspect`: manifest (or index), config and layers as JSON.
 */
#include <getopt.h>
#include <stdio.h>

#include "alloc.h"
#include "cli.h"

static void help(void)
{
        printf("usage: lana-img [--root DIR] inspect IMAGE\n\n"
               "Prints the image's manifest (or index and every manifest), config and layers as "
               "JSON.\nIMAGE is a store name, sha256:DIGEST, oci:DIR[:REF] or "
               "oci-archive:FILE[:REF].\n\n"
               "Example:\n  lana-img inspect registry.example.com/lana/api:latest\n\n"
               "Exit codes: 0 shown, 1 failure (corrupt image), 2 usage, 3 invalid name, "
               "4 not found.\n");
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
        int h = cli_help_only(argc, argv, help);
        if (h >= 0)
                return h;
        if (argc - optind != 1)
                return cli_usage_error("inspect", "expected one IMAGE");
        struct lana_error *err = NULL;
        struct lana_store *store = NULL;
        if (cli_open_store(cli, false, &store, &err) < 0)
                return cli_fail(err);
        struct lana_image img;
        int r = lana_image_open(store, argv[optind], &img, &err);
        json_t *out = NULL;
        if (r >= 0) {
                r = lana_layout_image_describe(img.layout, img.desc, &out, &err);
                if (r >= 0)
                        json_object_set_new(out, "name", json_string(img.display));
                lana_image_release(&img);
        }
        lana_store_free(store);
        if (r < 0)
                return cli_fail(err);
        _cleanup_free_ char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s);
        json_decref(out);
        return EXIT_OK;
}
