/*
 * lana/registry.h — the registry client: push, pull and login over the OCI distribution API.
 *
 * Authentication follows the registry's WWW-Authenticate challenge: anonymous, Basic, or the
 * Bearer token flow with one token per scope set, cached and refreshed before expiry or on a 401.
 * Credentials come from the containers auth.json, the docker config.json (auths, credHelpers,
 * credsStore) or the caller. Plain HTTP is used only for loopback registries or when TLS
 * verification is turned off; credentials never follow a redirect to another host.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "lana/error.h"
#include "lana/oci.h"
#include "lana/store.h"

struct lana_transfer_progress {
        /* One call per blob or manifest when it is done (skipped, mounted, uploaded, fetched). */
        void (*item_done)(void *ud, const char *what, const char *digest, uint64_t bytes,
                          const char *how);
        /* Blob bytes moved (sent or received), called often and from transfer threads. */
        void (*bytes)(void *ud, uint64_t n);
        void *userdata;
};

struct lana_registry_options {
        bool tls_verify_off;   /* --tls-verify=false: plain HTTP or unverified TLS allowed */
        const char *cert_dir;  /* extra CA certificates (*.crt) */
        const char *auth_file; /* explicit auth.json; NULL: the usual search */
        unsigned jobs;         /* parallel blob transfers (default 4) */
        const struct lana_transfer_progress *progress;
};

struct lana_transfer_stats {
        unsigned blobs_uploaded, blobs_skipped, blobs_mounted, blobs_fetched;
        uint64_t bytes;
        unsigned requests; /* HTTP requests sent, retries and auth round-trips included */
};

/* Pushes the image `desc` of layout `src` to `dest` (a full reference with a tag or no tag:
 * "latest"). Blobs first (in parallel), then manifests, then the index. `store` (may be NULL)
 * remembers where blobs live, for cross-repository mounts. ret_digest gets the pushed digest. */
int lana_push(struct lana_store *store, struct lana_layout *src, json_t *desc, const char *dest,
              const struct lana_registry_options *o, struct lana_digest *ret_digest,
              struct lana_transfer_stats *ret_stats, struct lana_error **err);

/* Pulls `ref` (tag or digest) into the store and names it there. With an index, only the
 * manifest for `platform` (NULL: the host) is fetched, unless `all_platforms`. */
int lana_pull(struct lana_store *store, const char *ref, const struct lana_platform *platform,
              bool all_platforms, const struct lana_registry_options *o,
              struct lana_digest *ret_digest, struct lana_transfer_stats *ret_stats,
              struct lana_error **err);

/* Verifies the credentials against the registry, then saves them in auth.json (mode 0600). */
int lana_login(const char *registry, const char *user, const char *password,
               const struct lana_registry_options *o, char **ret_file, struct lana_error **err);
/* Removes the registry's entry from auth.json; -ENOENT when there was none. */
int lana_logout(const char *registry, const struct lana_registry_options *o, char **ret_file,
                struct lana_error **err);
