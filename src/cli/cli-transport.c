/*
 * cli-transport.c — the transport options and progress lines shared by push, pull, login and
 * logout.
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

bool transport_quiet;

void transport_item_done(void *ud, const char *what, const char *digest, uint64_t bytes,
                         const char *how)
{
        (void)ud;
        if (transport_quiet)
                return;
        char b[32];
        fprintf(stderr, "%-8s %.19s %10s %s\n", what, digest, cli_size(bytes, b), how);
}

int transport_opt(const char *cmd, int c, struct lana_registry_options *o)
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
                transport_quiet = true;
                return 1;
        default:
                return 0;
        }
}

int transport_write_digest(const char *path, const char *digest)
{
        _cleanup_free_ char *copy = xstrdup(path);
        char *slash = strrchr(copy, '/');
        const char *name = slash ? slash + 1 : copy;
        if (slash)
                *slash = '\0';
        _cleanup_close_ int dfd =
                open(slash ? (*copy ? copy : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct lana_error *err = NULL;
        if (dfd < 0)
                lana_error_setsys(&err, -errno, "--digest-file %s", path);
        else
                write_file_atomic_at(dfd, name, digest, strlen(digest), 0644, &err);
        return err ? cli_fail(err) : EXIT_OK;
}
