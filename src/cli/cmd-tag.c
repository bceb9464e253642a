/*
 * cmd-tag.c — `lana-img tag SRC DST`: names an image again, copying its blobs when SRC and DST
 * are different layouts (for example from oci:DIR into the store, or out to oci:DIR:TAG).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"

static void help(void)
{
        printf("usage: lana-img [--root DIR] tag SRC DST\n\n"
               "Names the image SRC also DST. Either may be a store name, oci:DIR[:REF]; SRC may "
               "also be\noci-archive:FILE[:REF] or sha256:DIGEST. Blobs are copied when the two "
               "live apart.\n\n"
               "Example:\n  lana-img tag registry.example.com/lana/api:1.4 "
               "registry.example.com/lana/api:stable\n\n"
               "Exit codes: 0 tagged, 1 failure, 2 usage, 3 invalid name, 4 SRC not found.\n");
}

int cmd_tag(struct cli *cli, int argc, char **argv)
{
        int h = cli_help_only(argc, argv, help);
        if (h >= 0)
                return h;
        if (argc - optind != 2)
                return cli_usage_error("tag", "expected SRC and DST");
        const char *src = argv[optind], *dst = argv[optind + 1];
        struct lana_error *err = NULL;
        if (!strncmp(dst, "oci-archive:", 12) || !strncmp(dst, "docker-archive:", 15))
                return cli_usage_error("tag",
                                       "DST '%s': archives cannot be tagged in place; "
                                       "use a store name or oci:DIR[:TAG]",
                                       dst);
        bool dst_oci = !strncmp(dst, "oci:", 4);
        struct lana_store *store = NULL;
        if (cli_open_store(cli, !dst_oci, &store, &err) < 0)
                return cli_fail(err);
        struct lana_image img;
        int r = lana_image_open(store, src, &img, &err);
        if (r < 0) {
                lana_store_free(store);
                return cli_fail(err);
        }
        struct lana_layout *target = NULL;
        _cleanup_free_ char *name = NULL;
        if (dst_oci) {
                const char *spec = dst + 4;
                const char *colon = strrchr(spec, ':');
                _cleanup_free_ char *path = NULL;
                if (colon && !strchr(colon + 1, '/') && colon[1]) {
                        path = xstrndup(spec, (size_t)(colon - spec));
                        name = xstrdup(colon + 1);
                } else {
                        path = xstrdup(spec);
                        name = xstrdup("latest");
                }
                if (!lana_tag_valid(name))
                        r = lana_error_set(&err, -EINVAL, "%s: '%s' is not a valid tag", dst, name);
                else
                        r = lana_layout_open(path, true, &target, &err);
        } else {
                struct lana_reference ref;
                r = lana_reference_parse(dst, "latest", &ref, &err);
                if (r >= 0) {
                        if (ref.digest)
                                r = lana_error_set(&err, -EINVAL,
                                                   "%s: a name to tag cannot hold a digest", dst);
                        name = lana_reference_format(&ref);
                        lana_reference_release(&ref);
                }
                if (r >= 0)
                        r = lana_layout_open(lana_layout_path(lana_store_layout(store)), false,
                                             &target, &err);
        }
        if (r >= 0)
                r = lana_layout_copy_tree(target, img.layout, img.desc, &err);
        if (r >= 0) {
                json_t *d = json_deep_copy(img.desc);
                json_object_del(d, "annotations");
                r = lana_layout_set_ref(target, name, d, &err);
                json_decref(d);
        }
        lana_layout_free(target);
        lana_image_release(&img);
        lana_store_free(store);
        if (r < 0)
                return cli_fail(err);
        return EXIT_OK;
}
