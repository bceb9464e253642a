/*
 * cmd-login.c — `lana-img login` and `lana-img logout`: the credentials in auth.json.
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

int cmd_login(struct cli *cli, int argc, char **argv)
{
        (void)cli;
        static const struct option opts[] = {
                TRANSPORT_OPTIONS,
                {"username", required_argument, NULL, 'u'},
                {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
                {},
        };
        struct lana_registry_options o = {0};
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
        static const struct option opts[] = {TRANSPORT_OPTIONS, {}};
        struct lana_registry_options o = {0};
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
