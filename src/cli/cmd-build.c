/*
 * cmd-build.c — `lana-img build`: options, progress lines, digest output.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lana/build.h"
#include "lana/registry.h"
#include "alloc.h"
#include "cli.h"
#include "fs-util.h"

static void help(void)
{
        printf("usage: lana-img [--root DIR] build [OPTIONS] [DIR]\n\n"
               "Builds the image described by DIR/lana-img.yaml (DIR defaults to '.').\n\n"
               "  -f, --file SPEC          the spec file (default DIR/lana-img.yaml)\n"
               "  -t, --tag REF            also name the image REF (repeatable)\n"
               "      --platform P[,P...]  platforms to build (overrides the spec)\n"
               "      --compression ALGO   gzip, zstd or none (overrides the spec)\n"
               "      --level N            compression level\n"
               "  -j, --jobs N             compression threads (default: CPUs); output does "
               "not depend on it\n"
               "  -o, --output DEST        oci:DIR, oci-archive:FILE or docker-archive:FILE "
               "instead of the store\n"
               "      --digest-file F      write the image digest to F\n"
               "      --no-cache           neither use nor fill the layer cache\n"
               "      --push               push every name to its registry after building\n"
               "      --tls-verify=false, --authfile F, --cert-dir D   as for 'lana-img push'\n"
               "  -q, --quiet              no progress lines\n\n"
               "SOURCE_DATE_EPOCH sets every timestamp (default 0).\n"
               "Prints the digest of the manifest (one platform) or index (several).\n\n"
               "Example:\n"
               "  lana-img build -t registry.example.com/lana/api:1.4 --platform "
               "linux/amd64,linux/arm64 .\n\n"
               "Exit codes: 0 built, 1 failure, 2 usage, 3 invalid spec or input, 4 base image "
               "not found.\n");
}

static bool quiet;

/* Progress: on a terminal one live line per layer, rewritten in place; otherwise one plain line
 * when each layer is done. */
struct progress_state {
        bool tty;
        char label[128];
        uint64_t total;
        double start;
};

static double mono_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pg_start(void *ud, const char *platform, const char *layer, uint64_t bytes)
{
        struct progress_state *p = ud;
        snprintf(p->label, sizeof p->label, "%s %s", platform, layer);
        p->total = bytes;
        p->start = mono_now();
        if (p->tty) {
                fprintf(stderr, "\r\033[K%s: starting", p->label);
                fflush(stderr);
        }
}

static void pg_bytes(void *ud, uint64_t in, uint64_t out)
{
        struct progress_state *p = ud;
        if (!p->tty)
                return;
        char a[32], b[32];
        double dt = mono_now() - p->start;
        fprintf(stderr, "\r\033[K%s: %s in, %s out, %.0f MB/s", p->label, cli_size(in, a),
                cli_size(out, b), dt > 0 ? (double)in / dt / 1e6 : 0.0);
        fflush(stderr);
}

static void pg_done(void *ud, const char *platform, const char *layer, uint64_t in, uint64_t out,
                    const char *digest, double seconds)
{
        struct progress_state *p = ud;
        char a[32], b[32];
        if (p->tty)
                fputs("\r\033[K", stderr);
        if (in == 0 && out > 0) {
                fprintf(stderr, "%s %s: cached, %s %.19s\n", platform, layer, cli_size(out, b),
                        digest);
                return;
        }
        double mbs = seconds > 0 ? (double)in / seconds / 1e6 : 0;
        fprintf(stderr, "%s %s: %s -> %s in %.2fs (%.0f MB/s) %.19s\n", platform, layer,
                cli_size(in, a), cli_size(out, b), seconds, mbs, digest);
}

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (!*s || *end || errno || v == 0 || v > max)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static int parse_epoch(int64_t *ret, struct lana_error **err)
{
        const char *s = getenv("SOURCE_DATE_EPOCH");
        *ret = 0;
        if (!s || !*s)
                return 0;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (*end || errno || v < 0 || v > 253402300799LL)
                return lana_error_set(err, -EINVAL, "SOURCE_DATE_EPOCH '%s' is not a Unix time", s);
        *ret = v;
        return 0;
}

static const char *find_rootfs(void)
{
        const char *env = getenv("LANA_IMG_ROOTFS");
        if (env && *env)
                return env;
        struct stat st;
        if (stat(LANA_DATADIR "/rootfs", &st) == 0)
                return LANA_DATADIR "/rootfs";
        return LANA_SOURCE_ROOTFS;
}

int cmd_build(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                {"file", required_argument, NULL, 'f'},
                {"tag", required_argument, NULL, 't'},
                {"platform", required_argument, NULL, 'P'},
                {"compression", required_argument, NULL, 'C'},
                {"level", required_argument, NULL, 'L'},
                {"jobs", required_argument, NULL, 'j'},
                {"output", required_argument, NULL, 'o'},
                {"digest-file", required_argument, NULL, 'D'},
                {"quiet", no_argument, NULL, 'q'},
                {"no-cache", no_argument, NULL, 'N'},
                {"push", no_argument, NULL, 'U'},
                {"tls-verify", required_argument, NULL, 'T'},
                {"authfile", required_argument, NULL, 'A'},
                {"cert-dir", required_argument, NULL, 'E'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        struct lana_build_options o = {.output = LANA_OUTPUT_STORE};
        _cleanup_free_ char **tags = xnew(char *, (size_t)argc + 1);
        size_t ntags = 0;
        const char *spec = NULL, *digest_file = NULL, *output = NULL;
        bool push = false;
        struct lana_registry_options ro = {0};
        unsigned level = 0;
        int c;
        while ((c = getopt_long(argc, argv, "f:t:j:o:qh", opts, NULL)) != -1) {
                switch (c) {
                case 'f':
                        spec = optarg;
                        break;
                case 't':
                        tags[ntags++] = optarg;
                        break;
                case 'P':
                        o.platforms = optarg;
                        break;
                case 'C':
                        o.compression = optarg;
                        break;
                case 'L':
                        if (parse_uint(optarg, 22, &level) < 0)
                                return cli_usage_error("build", "--level '%s': expected 1..22",
                                                       optarg);
                        o.level = (int)level;
                        break;
                case 'j':
                        if (parse_uint(optarg, 256, &o.jobs) < 0)
                                return cli_usage_error("build", "--jobs '%s': expected 1..256",
                                                       optarg);
                        break;
                case 'o':
                        output = optarg;
                        break;
                case 'D':
                        digest_file = optarg;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'N':
                        o.no_cache = true;
                        break;
                case 'U':
                        push = true;
                        break;
                case 'T':
                        if (strcmp(optarg, "true") && strcmp(optarg, "false"))
                                return cli_usage_error("build",
                                                       "--tls-verify '%s': expected "
                                                       "true or false",
                                                       optarg);
                        ro.tls_verify_off = !strcmp(optarg, "false");
                        break;
                case 'A':
                        ro.auth_file = optarg;
                        break;
                case 'E':
                        ro.cert_dir = optarg;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        }
        if (argc - optind > 1)
                return cli_usage_error("build", "expected at most one DIR");
        const char *dir = optind < argc ? argv[optind] : ".";
        _cleanup_free_ char *spec_path = spec ? xstrdup(spec) : xasprintf("%s/lana-img.yaml", dir);
        o.spec_path = spec_path;
        o.tags = ntags ? tags : NULL;
        o.rootfs_dir = find_rootfs();
        struct lana_error *err = NULL;
        _cleanup_free_ char *out_path = NULL;
        if (output && lana_output_parse(output, &o.output, &out_path, &err) < 0)
                return cli_fail(err);
        o.output_path = out_path;
        if (parse_epoch(&o.epoch, &err) < 0)
                return cli_fail(err);
        struct progress_state ps = {.tty = isatty(STDERR_FILENO) == 1};
        struct lana_build_progress pg = {.layer_start = pg_start,
                                         .layer_bytes = pg_bytes,
                                         .layer_done = pg_done,
                                         .userdata = &ps};
        o.progress = quiet ? NULL : &pg;

        /* check where the digest goes before building, not after */
        _cleanup_close_ int digest_dfd = -1;
        _cleanup_free_ char *digest_name = NULL;
        if (digest_file) {
                digest_dfd = open_parent_dir(digest_file, false, &digest_name);
                if (digest_dfd < 0)
                        return cli_usage_error("build", "--digest-file %s: %s", digest_file,
                                               digest_dfd == -EINVAL ? "not a file name"
                                                                     : strerror(-digest_dfd));
        }
        if (push && output)
                return cli_usage_error("build", "--push works with the store, not --output");
        /* an existing store is opened for its bases and cache; a missing one is created by
         * lana_build once the spec is planned, so a failed build leaves no store behind */
        struct lana_store *store = NULL;
        int r = cli_open_store(cli, false, &store, &err);
        if (r < 0)
                return cli_fail(err);
        _cleanup_free_ char *root = cli_store_root(cli);
        o.store = store;
        o.store_root = root;
        struct lana_build_result res;
        r = lana_build(&o, &res, &err);
        if (r >= 0 && push && !store)
                r = cli_open_store(cli, false, &store, &err);
        for (size_t i = 0; r >= 0 && push && res.refs && res.refs[i]; i++) {
                struct lana_image img;
                r = lana_image_open(store, res.refs[i], &img, &err);
                if (r < 0)
                        break;
                struct lana_digest pd;
                r = lana_push(store, img.layout, img.desc, res.refs[i], &ro, &pd, NULL, &err);
                lana_image_release(&img);
                if (r >= 0 && !quiet)
                        fprintf(stderr, "pushed %s\n", res.refs[i]);
        }
        lana_store_free(store);
        if (r < 0) {
                if (res.refs)
                        lana_build_result_release(&res);
                return cli_fail(err);
        }
        if (digest_file) {
                r = write_file_atomic_at(digest_dfd, digest_name, res.digest.str,
                                         strlen(res.digest.str), 0644, &err);
                if (r < 0) {
                        lana_build_result_release(&res);
                        return cli_fail(err);
                }
        }
        if (!quiet)
                for (size_t i = 0; res.refs && res.refs[i]; i++)
                        fprintf(stderr, "tagged %s\n", res.refs[i]);
        printf("%s\n", res.digest.str);
        lana_build_result_release(&res);
        return EXIT_OK;
}
