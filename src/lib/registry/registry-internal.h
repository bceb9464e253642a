/*
 * registry-internal.h — the HTTP client under push/pull/login: one reg_client per registry host,
 * shared by the transfer threads (token cache and counters under a mutex), and a request type
 * that can stream a body from a file range and stream a response into a writer.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "lana/registry.h"
#include "buf.h"

struct reg_body {
        const char *data; /* memory body, or */
        int fd;           /* a file range (fd >= 0) */
        uint64_t offset;
        uint64_t length;
        const char *content_type;
        const char *content_range; /* "start-end" for chunked uploads */
};

struct reg_response {
        long status;
        char *location;
        char *www_authenticate;
        char *content_type;
        char *docker_digest;
        char *retry_after;
        char *chunk_min;
        char *range;
        uint64_t content_length;
        bool has_content_length;
        bool sink_refused; /* the sink returned an error (too large, digest mismatch, I/O) */
};

struct reg_request {
        const char *method; /* GET HEAD PUT POST PATCH DELETE */
        char *url;          /* absolute; owned by the caller */
        const char *scope;  /* token scope(s), space separated */
        const char *accept; /* Accept header or NULL */
        const struct reg_body *body;
        /* response body sink: a bounded buffer or a callback (return < 0 to abort);
         * sink_begin is told the status before the first byte of a 2xx body */
        struct lana_buf *buf;
        int (*sink_begin)(void *ud, long status);
        int (*sink)(void *ud, const void *data, size_t len);
        void *sink_ud;
        uint64_t range_from; /* > 0: ask for bytes from here on */
        /* called before a transient-error retry (e.g. to set range_from); may be NULL */
        void (*before_retry)(void *ud);
        void *retry_ud;
        bool no_retry;
        /* blob bytes moved, for progress (may be NULL) */
        const struct lana_transfer_progress *progress;
};

struct reg_token {
        char *scope;
        char *token;
        time_t expires;
};

struct reg_client {
        char *host;     /* as in the reference: "localhost:5000", "docker.io" */
        char *api_host; /* where to connect: registry-1.docker.io for docker.io */
        char *base;     /* "https://api_host" or "http://api_host" */
        bool insecure;
        char *cafile; /* system bundle + --cert-dir certificates, or NULL */
        char *user, *pass;
        const struct lana_registry_options *o;
        pthread_mutex_t lock;
        int auth_kind; /* 0 unknown, 1 none, 2 basic, 3 bearer */
        char *realm, *service;
        struct reg_token *tokens;
        size_t ntokens;
        unsigned requests;
        struct lana_error *sink_err; /* last error a sink reported (guarded by lock) */
};

int reg_client_new(const char *host, const struct lana_registry_options *o, struct reg_client **ret,
                   struct lana_error **err);
void reg_client_free(struct reg_client *c);
/* Runs a request with auth negotiation, redirects and (unless no_retry) transient retries. */
int reg_request_run(struct reg_client *c, struct reg_request *rq, struct reg_response *resp,
                    struct lana_error **err);
void reg_response_release(struct reg_response *r);
/* Loopback hosts may use plain HTTP. */
bool reg_host_is_loopback(const char *host);
/* "https://host/v2/<path>/<suffix>" */
char *reg_url(struct reg_client *c, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Resolves a Location header against the request URL. */
char *reg_resolve(const char *base_url, const char *location);
/* Looks up credentials for host: auth.json files, docker config, credential helpers. */
int reg_credentials(const char *host, const struct lana_registry_options *o, char **ret_user,
                    char **ret_pass, struct lana_error **err);
/* The auth.json file login writes to. */
char *reg_auth_file_path(const struct lana_registry_options *o);
/* Records / looks up which repositories of a host hold a blob (for mounts). */
void reg_blob_location_add(struct lana_store *s, const char *host, const char *repo,
                           const struct lana_digest *d);
char *reg_blob_location_find(struct lana_store *s, const char *host, const char *not_repo,
                             const struct lana_digest *d);
