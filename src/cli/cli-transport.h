/*
 * cli-transport.h — options and progress shared by the registry commands (push, pull, login,
 * logout): --tls-verify, --cert-dir, --authfile, --jobs, --quiet.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lana/registry.h"

enum {
        OPT_TLS = 1000,
        OPT_CERT_DIR,
        OPT_AUTHFILE,
        OPT_DIGEST_FILE,
        OPT_PLATFORM,
        OPT_ALL,
        OPT_PASSWORD_STDIN,
        OPT_QUIET
};

extern bool transport_quiet;

/* Progress line per blob or manifest. */
void transport_item_done(void *ud, const char *what, const char *digest, uint64_t bytes,
                         const char *how);
/* Bytes moved (live status line on a terminal), and clearing that line at the end. */
void transport_bytes(void *ud, uint64_t n);
void transport_progress_end(void);
/* Handles a transport option; 1 when consumed, 0 when not ours, -EXIT_USAGE on error. */
int transport_opt(const char *cmd, int c, struct lana_registry_options *o);
/* Writes a digest to a file atomically; returns an exit code. */
int transport_write_digest(const char *path, const char *digest);

#define TRANSPORT_OPTIONS                                                                          \
        {"tls-verify", required_argument, NULL, OPT_TLS},                                          \
                {"cert-dir", required_argument, NULL, OPT_CERT_DIR},                               \
                {"authfile", required_argument, NULL, OPT_AUTHFILE},                               \
                {"jobs", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},         \
        {                                                                                          \
                "help", no_argument, NULL, 'h'                                                     \
        }

#define TRANSPORT_HELP                                                                             \
        "      --tls-verify=false   allow plain HTTP and unverified TLS (loopback registries use " \
        "plain\n                           HTTP when they do not speak TLS)\n"                     \
        "      --cert-dir DIR       extra CA certificates (*.crt)\n"                               \
        "      --authfile FILE      credentials file (default: $REGISTRY_AUTH_FILE,\n"             \
        "                           $XDG_RUNTIME_DIR/containers/auth.json, docker config)\n"       \
        "  -j, --jobs N             parallel blob transfers (default 4)\n"                         \
        "  -q, --quiet              no progress lines\n"
