/*
 * cli-transport.c — the transport options and progress lines shared by push, pull, login and
 * logout.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
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

/* On a terminal one status line (bytes so far, rate) is kept under the per-blob lines. */
static pthread_mutex_t progress_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t progress_bytes;
static double progress_start, progress_drawn;
static int progress_tty = -1;

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void draw_status(bool force)
{
        double t = now_s();
        if (!force && t - progress_drawn < 0.1)
                return;
        progress_drawn = t;
        char b[32];
        double dt = t - progress_start;
        fprintf(stderr, "\r\033[K%s transferred, %.1f MB/s", cli_size(progress_bytes, b),
                dt > 0 ? (double)progress_bytes / dt / 1e6 : 0.0);
        fflush(stderr);
}

void transport_bytes(void *ud, uint64_t n)
{
        (void)ud;
        pthread_mutex_lock(&progress_lock);
        if (progress_tty < 0) {
                progress_tty = !transport_quiet && isatty(STDERR_FILENO);
                progress_start = now_s();
        }
        progress_bytes += n;
        if (progress_tty)
                draw_status(false);
        pthread_mutex_unlock(&progress_lock);
}

void transport_item_done(void *ud, const char *what, const char *digest, uint64_t bytes,
                         const char *how)
{
        (void)ud;
        if (transport_quiet)
                return;
        char b[32];
        pthread_mutex_lock(&progress_lock);
        if (progress_tty > 0)
                fputs("\r\033[K", stderr);
        fprintf(stderr, "%-8s %.19s %10s %s\n", what, digest, cli_size(bytes, b), how);
        if (progress_tty > 0)
                draw_status(true);
        pthread_mutex_unlock(&progress_lock);
}

void transport_progress_end(void)
{
        pthread_mutex_lock(&progress_lock);
        if (progress_tty > 0)
                fputs("\r\033[K", stderr);
        pthread_mutex_unlock(&progress_lock);
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
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dfd = open_parent_dir(path, false, &name);
        struct lana_error *err = NULL;
        if (dfd < 0)
                lana_error_setsys(&err, dfd, "--digest-file %s", path);
        else
                write_file_atomic_at(dfd, name, digest, strlen(digest), 0644, &err);
        return err ? cli_fail(err) : EXIT_OK;
}
