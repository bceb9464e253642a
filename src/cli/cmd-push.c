/*
 * cmd-push.c — `lana-img push`, `pull`, `login` and `logout`: the registry commands. They share
 * the transport options (--tls-verify, --cert-dir, --authfile, --jobs) and progress lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lana/registry.h"
#include "alloc.h"
#include "cli.h"
#include "fs-util.h"

enum { OPT_TLS = 1000, OPT_CERT_DIR, OPT_AUTHFILE, OPT_DIGEST_FILE, OPT_PLATFORM, OPT_ALL,
       OPT_PASSWORD_STDIN, OPT_QUIET };

static bool quiet;

static void item_done(void *ud, const char *what, const char *digest, uint64_t bytes,
                      const char *how)
{
        (void)ud;
        if (quiet)
                return;
        char b[32];
        fprintf(stderr, "%-8s %.19s %10s %s\n", what, digest, cli_size(bytes, b), how);
}

/* Handles a transport option; returns 1 when consumed, 0 when not ours, EXIT_USAGE on error. */
static int transport_opt(const char *cmd, int c, struct lana_registry_options *o)
{
        switch (c) {
        case OPT_TLS:
                if (!strcmp(optarg, "false"))
                        o->tls_verify_off = true;
                else if (!strcmp(optarg, "true"))
                        o->tls_verify_off = false;
                else
                        return -cli_usage_error(cmd, "--tls-verify '%s': expected true or false",
                                                optarg);
                return 1;
        case OPT_CERT_DIR:
                o->cert_dir = optarg;
                return 1;
        case OPT_AUTHFILE:
                o->auth_file = optarg;
                return 1;
        case 'j': {
                char *end;
                long v = strtol(optarg, &end, 10);
                if (*end || v < 1 || v > 64)
                        return -cli_usage_error(cmd, "--jobs '%s': expected 1..64", optarg);
                o->jobs = (unsigned)v;
                return 1;
        }
        case 'q':
                quiet = true;
                return 1;
        default:
                return 0;
        }
}

#define TRANSPORT_OPTIONS                                                                          \
        { "tls-verify", required_argument, NULL, OPT_TLS },                                        \
                { "cert-dir", required_argument, NULL, OPT_CERT_DIR },                             \
                { "authfile", required_argument, NULL, OPT_AUTHFILE },                             \
                { "jobs", required_argument, NULL, 'j' },                                          \
                { "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' }

#define TRANSPORT_HELP                                                                             \
        "      --tls-verify=false   allow plain HTTP and unverified TLS (loopback registries use " \
        "plain\n                           HTTP when they do not speak TLS)\n"                     \
        "      --cert-dir DIR       extra CA certificates (*.crt)\n"                               \
        "      --authfile FILE      credentials file (default: $REGISTRY_AUTH_FILE,\n"             \
        "                           $XDG_RUNTIME_DIR/containers/auth.json, docker config)\n"       \
        "  -j, --jobs N             parallel blob transfers (default 4)\n"                         \
        "  -q, --quiet              no progress lines\n"

static int write_digest(const char *path, const char *digest)
{
        _cleanup_free_ char *copy = xstrdup(path);
        char *slash = strrchr(copy, '/');
        const char *name = slash ? slash + 1 : copy;
        if (slash)
                *slash = '\0';
        _cleanup_close_ int dfd = open(slash ? (*copy ? copy : "/") : ".",
                                       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct lana_error *err = NULL;
        if (dfd < 0)
                lana_error_setsys(&err, -errno, "--digest-file %s", path);
        else
                write_file_atomic_at(dfd, name, digest, strlen(digest), 0644, &err);
        return err ? cli_fail(err) : EXIT_OK;
}

int cmd_push(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                TRANSPORT_OPTIONS,
                { "digest-file", required_argument, NULL, OPT_DIGEST_FILE },
                {},
        };
        struct lana_transfer_progress pg = { .item_done = item_done };
        struct lana_registry_options o = { .progress = &pg };
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
        struct lana_digest d;
        struct lana_transfer_stats st = { 0 };
        r = lana_push(store, img.layout, img.desc, dest ? dest : img.name, &o, &d, &st, &err);
        lana_image_release(&img);
        lana_store_free(store);
        if (r < 0)
                return cli_fail(err);
        if (!quiet)
                fprintf(stderr, "pushed: %u uploaded, %u mounted, %u already there, %u requests\n",
                        st.blobs_uploaded, st.blobs_mounted, st.blobs_skipped, st.requests);
        printf("%s\n", d.str);
        return digest_file ? write_digest(digest_file, d.str) : EXIT_OK;
}

int cmd_pull(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                TRANSPORT_OPTIONS,
                { "platform", required_argument, NULL, OPT_PLATFORM },
                { "all-platforms", no_argument, NULL, OPT_ALL },
                { "digest-file", required_argument, NULL, OPT_DIGEST_FILE },
                {},
        };
        struct lana_transfer_progress pg = { .item_done = item_done };
        struct lana_registry_options o = { .progress = &pg };
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
        struct lana_transfer_stats st = { 0 };
        int r = lana_pull(store, argv[optind], pp, all, &o, &d, &st, &err);
        lana_store_free(store);
        if (r < 0)
                return cli_fail(err);
        if (!quiet)
                fprintf(stderr, "pulled: %u blobs fetched, %u requests\n", st.blobs_fetched,
                        st.requests);
        printf("%s\n", d.str);
        return digest_file ? write_digest(digest_file, d.str) : EXIT_OK;
}

int cmd_login(struct cli *cli, int argc, char **argv)
{
        (void)cli;
        static const struct option opts[] = {
                TRANSPORT_OPTIONS,
                { "username", required_argument, NULL, 'u' },
                { "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
                {},
        };
        struct lana_registry_options o = { 0 };
        const char *user = NULL;
        bool from_stdin = false;
        int c;
        while ((c = getopt_long(argc, argv, "u:j:qh", opts, NULL)) != -1) {
                int t = transport_opt("login", c, &o);
                if (t < 0)
                        return -t;
                if (t)
                        continue;
                if (c == 'u') {
                        user = optarg;
                } else if (c == OPT_PASSWORD_STDIN) {
                        from_stdin = true;
                } else if (c == 'h') {
                        printf("usage: lana-img login REGISTRY -u USER --password-stdin "
                               "[OPTIONS]\n\n"
                               "Checks the credentials against REGISTRY, then stores them in "
                               "auth.json (mode 0600).\n\n" TRANSPORT_HELP
                               "\nExample:\n  echo \"$TOKEN\" | lana-img login ghcr.io -u ci "
                               "--password-stdin\n\n"
                               "Exit codes: 0 logged in, 1 failure (wrong credentials, "
                               "network), 2 usage.\n");
                        return EXIT_OK;
                } else {
                        return EXIT_USAGE;
                }
        }
        if (argc - optind != 1)
                return cli_usage_error("login", "expected one REGISTRY");
        if (!user || !from_stdin)
                return cli_usage_error("login", "give -u USER and --password-stdin");
        const char *registry = argv[optind];
        if (strchr(registry, '/'))
                return cli_usage_error("login", "'%s': give the registry host only", registry);
        char buf[4096];
        ssize_t n = read_full(STDIN_FILENO, buf, sizeof buf - 1);
        if (n < 0)
                return cli_usage_error("login", "cannot read the password from stdin");
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (!*buf)
                return cli_usage_error("login", "empty password on stdin");
        struct lana_error *err = NULL;
        _cleanup_free_ char *file = NULL;
        int r = lana_login(registry, user, buf, &o, &file, &err);
        explicit_bzero(buf, sizeof buf);
        if (r < 0)
                return cli_fail(err);
        printf("login succeeded; credentials saved in %s\n", file);
        return EXIT_OK;
}

int cmd_logout(struct cli *cli, int argc, char **argv)
{
        (void)cli;
        static const struct option opts[] = { TRANSPORT_OPTIONS, {} };
        struct lana_registry_options o = { 0 };
        int c;
        while ((c = getopt_long(argc, argv, "j:qh", opts, NULL)) != -1) {
                int t = transport_opt("logout", c, &o);
                if (t < 0)
                        return -t;
                if (t)
                        continue;
                if (c == 'h') {
                        printf("usage: lana-img logout REGISTRY [--authfile FILE]\n\n"
                               "Removes REGISTRY's credentials from auth.json.\n\n"
                               "Exit codes: 0 removed, 1 failure, 2 usage, 4 not logged in.\n");
                        return EXIT_OK;
                }
                return EXIT_USAGE;
        }
        if (argc - optind != 1)
                return cli_usage_error("logout", "expected one REGISTRY");
        struct lana_error *err = NULL;
        _cleanup_free_ char *file = NULL;
        if (lana_logout(argv[optind], &o, &file, &err) < 0)
                return cli_fail(err);
        printf("removed credentials for %s from %s\n", argv[optind], file);
        return EXIT_OK;
}
