/*
 * client.c — HTTP for the registry client on libcurl: one easy handle per request (transfer
 * threads each run their own), streaming request bodies from file ranges, streaming responses
 * into sinks, the WWW-Authenticate challenge (Basic and Bearer with per-scope token cache),
 * manual redirects (credentials stay on the registry host), and retries with jittered
 * exponential backoff on 408/429/5xx and broken connections, honouring Retry-After.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "alloc.h"
#include "base64.h"
#include "curl-api.h"
#include "fs-util.h"
#include "registry-internal.h"

#define MAX_ATTEMPTS 5
#define MAX_REDIRECTS 5
#define TOKEN_REPLY_MAX ((size_t)1 << 20)
#define ERROR_BODY_MAX ((size_t)64 << 10)

bool reg_host_is_loopback(const char *host)
{
        size_t n = strcspn(host, ":");
        if (host[0] == '[')
                return !strncmp(host, "[::1]", 5);
        if ((n == 9 && !strncmp(host, "localhost", 9)) || !strncmp(host, "127.", 4))
                return true;
        return false;
}

static char *make_cafile(const char *cert_dir, struct lana_error **err)
{
        DIR *d = opendir(cert_dir);
        if (!d) {
                lana_error_setsys(err, -errno, "--cert-dir %s", cert_dir);
                return NULL;
        }
        char tmpl[] = "/tmp/lana-img-ca-XXXXXX";
        int out = mkostemp(tmpl, O_CLOEXEC);
        if (out < 0) {
                closedir(d);
                lana_error_setsys(err, -errno, "create CA bundle");
                return NULL;
        }
        const char *sys = "/etc/ssl/certs/ca-certificates.crt";
        int in = open(sys, O_RDONLY | O_CLOEXEC);
        if (in >= 0) {
                copy_fd(in, out);
                close(in);
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                if (n < 5 || strcmp(de->d_name + n - 4, ".crt") != 0)
                        continue;
                int f = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
                if (f >= 0) {
                        copy_fd(f, out);
                        write_full(out, "\n", 1);
                        close(f);
                }
        }
        closedir(d);
        close(out);
        return xstrdup(tmpl);
}

int reg_client_new(const char *host, const struct lana_registry_options *o, struct reg_client **ret,
                   struct lana_error **err)
{
        int r = reg_curl_load(err);
        if (r < 0)
                return r;
        struct reg_client *c = xnew(struct reg_client, 1);
        c->o = o;
        c->host = xstrdup(host);
        c->api_host = xstrdup(!strcmp(host, "docker.io") ? "registry-1.docker.io" : host);
        c->insecure = o->tls_verify_off;
        pthread_mutex_init(&c->lock, NULL);
        if (o->cert_dir) {
                c->cafile = make_cafile(o->cert_dir, err);
                if (!c->cafile) {
                        reg_client_free(c);
                        return -EINVAL;
                }
        }
        r = reg_credentials(host, o, &c->user, &c->pass, err);
        if (r < 0) {
                reg_client_free(c);
                return r;
        }
        /* HTTPS first; plain HTTP only for loopback hosts or with --tls-verify=false */
        c->base = xasprintf("https://%s", c->api_host);
        if (reg_host_is_loopback(host) || c->insecure) {
                CURL *h = curl_easy_init();
                _cleanup_free_ char *url = xasprintf("https://%s/v2/", c->api_host);
                curl_easy_setopt(h, CURLOPT_URL, url);
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
                curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
                curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
                if (c->insecure) {
                        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
                }
                if (c->cafile)
                        curl_easy_setopt(h, CURLOPT_CAINFO, c->cafile);
                CURLcode cc = curl_easy_perform(h);
                curl_easy_cleanup(h);
                c->requests++;
                if (cc != CURLE_OK && cc != CURLE_PEER_FAILED_VERIFICATION) {
                        free(c->base);
                        c->base = xasprintf("http://%s", c->api_host);
                }
        }
        *ret = c;
        return 0;
}

void reg_client_free(struct reg_client *c)
{
        if (!c)
                return;
        if (c->cafile) {
                unlink(c->cafile);
                free(c->cafile);
        }
        for (size_t i = 0; i < c->ntokens; i++) {
                free(c->tokens[i].scope);
                free(c->tokens[i].token);
        }
        free(c->tokens);
        free(c->realm);
        free(c->service);
        free(c->host);
        free(c->api_host);
        free(c->base);
        if (c->pass)
                explicit_bzero(c->pass, strlen(c->pass));
        free(c->user);
        free(c->pass);
        lana_error_free(c->sink_err);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

char *reg_url(struct reg_client *c, const char *path, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *suffix = xvasprintf(fmt, ap);
        va_end(ap);
        return xasprintf("%s/v2/%s%s%s", c->base, path ? path : "", path ? "/" : "", suffix);
}

char *reg_resolve(const char *base_url, const char *location)
{
        CURLU *u = curl_url();
        char *out = NULL;
        if (curl_url_set(u, CURLUPART_URL, base_url, 0) == CURLUE_OK &&
            curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK) {
                char *s = NULL;
                if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
                        out = xstrdup(s);
                        curl_free(s);
                }
        }
        curl_url_cleanup(u);
        return out ? out : xstrdup(location);
}

static char *url_host(const char *url)
{
        CURLU *u = curl_url();
        char *host = NULL, *port = NULL, *out = NULL;
        if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
                if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
                        out = xasprintf("%s:%s", host, port);
                else
                        out = xstrdup(host);
        }
        curl_free(host);
        curl_free(port);
        curl_url_cleanup(u);
        return out ? out : xstrdup("");
}

void reg_response_release(struct reg_response *r)
{
        free(r->location);
        free(r->www_authenticate);
        free(r->content_type);
        free(r->docker_digest);
        free(r->retry_after);
        free(r->chunk_min);
        free(r->range);
        *r = (struct reg_response){0};
}

/* ---- one HTTP exchange ---- */

struct xfer {
        CURL *h;
        bool status_checked;
        struct reg_client *c;
        struct reg_request *rq;
        struct reg_response *resp;
        uint64_t body_pos;
        struct lana_buf errbody; /* error replies are kept for the message */
        bool ok_status;
};

static void set_header(char **slot, const char *v, size_t n)
{
        free(*slot);
        while (n && isspace((unsigned char)*v))
                v++, n--;
        while (n && isspace((unsigned char)v[n - 1]))
                n--;
        *slot = xstrndup(v, n);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nitems;
        if (n >= 5 && !strncmp(buf, "HTTP/", 5)) {
                /* a new response (after 100-continue): forget earlier headers */
                long keep = x->resp->status;
                bool refused = x->resp->sink_refused;
                reg_response_release(x->resp);
                x->resp->status = keep;
                x->resp->sink_refused = refused;
                return n;
        }
        const char *colon = memchr(buf, ':', n);
        if (!colon)
                return n;
        size_t kl = (size_t)(colon - buf);
        const char *v = colon + 1;
        size_t vl = n - kl - 1;
        static const struct {
                const char *name;
                size_t off;
        } known[] = {
                {"location", offsetof(struct reg_response, location)},
                {"www-authenticate", offsetof(struct reg_response, www_authenticate)},
                {"content-type", offsetof(struct reg_response, content_type)},
                {"docker-content-digest", offsetof(struct reg_response, docker_digest)},
                {"retry-after", offsetof(struct reg_response, retry_after)},
                {"oci-chunk-min-length", offsetof(struct reg_response, chunk_min)},
                {"range", offsetof(struct reg_response, range)},
        };
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (strlen(known[i].name) == kl && !strncasecmp(buf, known[i].name, kl))
                        set_header((char **)((char *)x->resp + known[i].off), v, vl);
        if (kl == 14 && !strncasecmp(buf, "content-length", 14)) {
                x->resp->content_length = strtoull(v, NULL, 10);
                x->resp->has_content_length = true;
        }
        return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb;
        if (!x->status_checked) {
                /* only 2xx bodies are payload; anything else is kept as an error message */
                long code = 0;
                curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
                x->ok_status = code >= 200 && code < 300;
                x->status_checked = true;
                if (x->ok_status && x->rq->sink_begin &&
                    x->rq->sink_begin(x->rq->sink_ud, code) < 0) {
                        x->resp->sink_refused = true;
                        return 0;
                }
        }
        if (!x->ok_status) {
                /* error replies: keep a bounded copy for the message */
                lana_buf_append(&x->errbody, data,
                                MIN(n, ERROR_BODY_MAX - MIN(ERROR_BODY_MAX, x->errbody.len)));
                return n;
        }
        if (x->rq->buf) {
                if (lana_buf_append(x->rq->buf, data, n) < 0) {
                        x->resp->sink_refused = true;
                        return 0;
                }
                return n;
        }
        if (x->rq->progress && x->rq->progress->bytes && x->rq->sink)
                x->rq->progress->bytes(x->rq->progress->userdata, n);
        if (x->rq->sink && x->rq->sink(x->rq->sink_ud, data, n) < 0) {
                x->resp->sink_refused = true;
                return 0;
        }
        return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
        struct xfer *x = ud;
        const struct reg_body *b = x->rq->body;
        size_t want = size * nitems;
        uint64_t left = b->length - x->body_pos;
        if (want > left)
                want = (size_t)left;
        if (want == 0)
                return 0;
        if (b->fd < 0) {
                memcpy(buf, b->data + x->body_pos, want);
        } else {
                ssize_t n = pread(b->fd, buf, want, (off_t)(b->offset + x->body_pos));
                if (n <= 0)
                        return CURL_READFUNC_ABORT;
                want = (size_t)n;
        }
        x->body_pos += want;
        if (x->rq->progress && x->rq->progress->bytes && b->fd >= 0)
                x->rq->progress->bytes(x->rq->progress->userdata, want);
        return want;
}

static int seek_body(void *ud, curl_off_t off, int origin)
{
        struct xfer *x = ud;
        if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->rq->body->length)
                return CURL_SEEKFUNC_CANTSEEK;
        x->body_pos = (uint64_t)off;
        return CURL_SEEKFUNC_OK;
}

static long stall_seconds(void)
{
        const char *s = getenv("LANA_IMG_HTTP_STALL_TIMEOUT");
        long v = s ? strtol(s, NULL, 10) : 0;
        return v > 0 ? v : 60;
}

/* Performs exactly one HTTP request. Returns 0 with resp filled, or a negative error for
 * transport failures (*transient set when a retry may help). */
static int perform(struct reg_client *c, struct reg_request *rq, const char *url,
                   const char *auth_header, struct reg_response *resp, bool *transient,
                   char **ret_errbody, struct lana_error **err)
{
        *transient = false;
        CURL *h = curl_easy_init();
        if (!h)
                abort();
        struct xfer x = {.h = h, .c = c, .rq = rq, .resp = resp};
        lana_buf_init(&x.errbody, ERROR_BODY_MAX);
        struct curl_slist *hdrs = NULL;
        char *tmp;
        if (auth_header)
                hdrs = curl_slist_append(hdrs, auth_header);
        if (rq->accept) {
                tmp = xasprintf("Accept: %s", rq->accept);
                hdrs = curl_slist_append(hdrs, tmp);
                free(tmp);
        }
        if (rq->body && rq->body->content_type) {
                tmp = xasprintf("Content-Type: %s", rq->body->content_type);
                hdrs = curl_slist_append(hdrs, tmp);
                free(tmp);
        }
        if (rq->body && rq->body->content_range) {
                tmp = xasprintf("Content-Range: %s", rq->body->content_range);
                hdrs = curl_slist_append(hdrs, tmp);
                free(tmp);
        }
        if (rq->range_from > 0) {
                tmp = xasprintf("Range: bytes=%ju-", (uintmax_t)rq->range_from);
                hdrs = curl_slist_append(hdrs, tmp);
                free(tmp);
        }
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "lana-img/" LANA_VERSION);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall_seconds());
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        if (c->insecure) {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (c->cafile)
                curl_easy_setopt(h, CURLOPT_CAINFO, c->cafile);
        const char *m = rq->method;
        if (!strcmp(m, "HEAD")) {
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (!strcmp(m, "GET")) {
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        } else {
                curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
                curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(h, CURLOPT_READDATA, &x);
                curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_body);
                curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
                static const struct reg_body empty = {.fd = -1};
                if (!rq->body)
                        rq->body = &empty;
                curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body->length);
        }
        pthread_mutex_lock(&c->lock);
        c->requests++;
        pthread_mutex_unlock(&c->lock);
        char errbuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        CURLcode cc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        resp->status = status;
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        int r = 0;
        if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && resp->sink_refused)) {
                switch (cc) {
                case CURLE_COULDNT_CONNECT:
                case CURLE_SEND_ERROR:
                case CURLE_RECV_ERROR:
                case CURLE_PARTIAL_FILE:
                case CURLE_OPERATION_TIMEDOUT:
                case CURLE_GOT_NOTHING:
                case CURLE_HTTP2:
                case CURLE_HTTP2_STREAM:
                        *transient = true;
                        break;
                default:
                        break;
                }
                r = lana_error_set(err, -EIO, "%s %s: %s", rq->method, url,
                                   errbuf[0] ? errbuf : curl_easy_strerror(cc));
        }
        if (ret_errbody)
                *ret_errbody = x.errbody.len ? lana_buf_steal(&x.errbody, NULL) : NULL;
        lana_buf_release(&x.errbody);
        return r;
}

/* ---- auth ---- */

/* Extracts param="value" (or param=value) from a challenge; caller frees. */
static char *challenge_param(const char *ch, const char *name)
{
        size_t nl = strlen(name);
        for (const char *p = ch; (p = strcasestr(p, name));) {
                bool start = p == ch || p[-1] == ' ' || p[-1] == ',';
                if (!start || p[nl] != '=') {
                        p += nl;
                        continue;
                }
                const char *v = p + nl + 1;
                if (*v == '"') {
                        const char *e = strchr(v + 1, '"');
                        return e ? xstrndup(v + 1, (size_t)(e - v - 1)) : NULL;
                }
                return xstrndup(v, strcspn(v, ", "));
        }
        return NULL;
}

static char *basic_header(struct reg_client *c)
{
        if (!c->user)
                return NULL;
        _cleanup_free_ char *up = xasprintf("%s:%s", c->user, c->pass ? c->pass : "");
        _cleanup_free_ char *b = base64_encode(up);
        explicit_bzero(up, strlen(up));
        return xasprintf("Authorization: Basic %s", b);
}

static char *cached_token(struct reg_client *c, const char *scope)
{
        time_t now = time(NULL);
        char *out = NULL;
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->ntokens; i++)
                if (!strcmp(c->tokens[i].scope, scope) && c->tokens[i].expires > now + 10)
                        out = xstrdup(c->tokens[i].token);
        pthread_mutex_unlock(&c->lock);
        return out;
}

static void store_token(struct reg_client *c, const char *scope, const char *token, time_t expires)
{
        pthread_mutex_lock(&c->lock);
        size_t i;
        for (i = 0; i < c->ntokens; i++)
                if (!strcmp(c->tokens[i].scope, scope))
                        break;
        if (i == c->ntokens) {
                c->tokens = xrealloc(c->tokens, (c->ntokens + 1) * sizeof *c->tokens);
                c->tokens[c->ntokens++] = (struct reg_token){.scope = xstrdup(scope)};
        }
        free(c->tokens[i].token);
        c->tokens[i].token = xstrdup(token);
        c->tokens[i].expires = expires;
        pthread_mutex_unlock(&c->lock);
}

static void drop_token(struct reg_client *c, const char *scope)
{
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->ntokens; i++)
                if (!strcmp(c->tokens[i].scope, scope))
                        c->tokens[i].expires = 0;
        pthread_mutex_unlock(&c->lock);
}

static int fetch_token(struct reg_client *c, const char *scope, char **ret, struct lana_error **err)
{
        pthread_mutex_lock(&c->lock);
        _cleanup_free_ char *realm = c->realm ? xstrdup(c->realm) : NULL;
        _cleanup_free_ char *service = c->service ? xstrdup(c->service) : NULL;
        pthread_mutex_unlock(&c->lock);
        if (!realm)
                return lana_error_set(err, -EPROTO, "%s: bearer challenge without realm", c->host);
        CURL *esc = curl_easy_init();
        struct lana_buf url;
        lana_buf_init(&url, 64 << 10);
        lana_buf_append(&url, realm, strlen(realm));
        char sep = strchr(realm, '?') ? '&' : '?';
        if (service) {
                char *e = curl_easy_escape(esc, service, 0);
                char *part = xasprintf("%cservice=%s", sep, e);
                lana_buf_append(&url, part, strlen(part));
                free(part);
                curl_free(e);
                sep = '&';
        }
        _cleanup_free_ char *scopes = xstrdup(scope ? scope : "");
        char *save = NULL;
        for (char *s = strtok_r(scopes, " ", &save); s; s = strtok_r(NULL, " ", &save)) {
                char *e = curl_easy_escape(esc, s, 0);
                char *part = xasprintf("%cscope=%s", sep, e);
                lana_buf_append(&url, part, strlen(part));
                free(part);
                curl_free(e);
                sep = '&';
        }
        curl_easy_cleanup(esc);
        _cleanup_free_ char *u = lana_buf_steal(&url, NULL);
        _cleanup_free_ char *realm_host = url_host(u);
        /* the token endpoint gets our password: never in clear text to a remote host */
        if (strncmp(u, "https://", 8) != 0 && !reg_host_is_loopback(realm_host) && !c->insecure)
                return lana_error_set(err, -EPERM,
                                      "%s: refusing to send credentials to the plain-HTTP token "
                                      "endpoint %s",
                                      c->host, realm_host);
        _cleanup_free_ char *basic = basic_header(c);
        struct lana_buf body;
        lana_buf_init(&body, TOKEN_REPLY_MAX);
        struct reg_request rq = {.method = "GET", .url = u, .buf = &body};
        struct reg_response resp = {0};
        bool transient = false;
        _cleanup_free_ char *eb = NULL;
        int r = 0;
        for (int attempt = 0; attempt < 3; attempt++) {
                reg_response_release(&resp);
                lana_buf_release(&body);
                free(eb);
                eb = NULL;
                r = perform(c, &rq, u, basic, &resp, &transient, &eb, err);
                if (r >= 0 && resp.status < 500)
                        break;
                if (r >= 0)
                        transient = true;
                if (!transient)
                        break;
                usleep(200000u << attempt);
        }
        if (r >= 0 && resp.status != 200)
                r = lana_error_set(err, resp.status == 401 || resp.status == 403 ? -EACCES : -EIO,
                                   "%s: token request to %s failed: HTTP %ld%s", c->host,
                                   realm_host, resp.status,
                                   resp.status == 401 ? " (wrong user name or password?)" : "");
        json_t *j = NULL;
        if (r >= 0)
                r = lana_json_parse_object(body.data ? body.data : "", body.len, &j, err);
        if (r >= 0) {
                const char *tok = json_string_value(json_object_get(j, "token"));
                if (!tok)
                        tok = json_string_value(json_object_get(j, "access_token"));
                json_int_t ttl = json_integer_value(json_object_get(j, "expires_in"));
                if (ttl < 60)
                        ttl = 60;
                if (!tok)
                        r = lana_error_set(err, -EPROTO, "%s: token reply without a token",
                                           c->host);
                else {
                        store_token(c, scope ? scope : "", tok, time(NULL) + (time_t)ttl);
                        *ret = xstrdup(tok);
                }
        }
        json_decref(j);
        lana_buf_release(&body);
        reg_response_release(&resp);
        return r;
}

static void learn_challenge(struct reg_client *c, const char *ch)
{
        pthread_mutex_lock(&c->lock);
        if (!strncasecmp(ch, "bearer", 6)) {
                c->auth_kind = 3;
                free(c->realm);
                free(c->service);
                c->realm = challenge_param(ch + 6, "realm");
                c->service = challenge_param(ch + 6, "service");
        } else if (!strncasecmp(ch, "basic", 5)) {
                c->auth_kind = 2;
        }
        pthread_mutex_unlock(&c->lock);
}

/* The Authorization header to send now, fetching a token when needed. */
static int auth_header_for(struct reg_client *c, const char *scope, bool force_new, char **ret,
                           struct lana_error **err)
{
        *ret = NULL;
        pthread_mutex_lock(&c->lock);
        int kind = c->auth_kind;
        pthread_mutex_unlock(&c->lock);
        if (kind == 2) {
                *ret = basic_header(c);
                return 0;
        }
        if (kind != 3)
                return 0;
        const char *sc = scope ? scope : "";
        if (force_new)
                drop_token(c, sc);
        _cleanup_free_ char *tok = cached_token(c, sc);
        if (!tok) {
                int r = fetch_token(c, scope, &tok, err);
                if (r < 0)
                        return r;
        }
        *ret = xasprintf("Authorization: Bearer %s", tok);
        return 0;
}

static unsigned backoff_ms(int attempt, const char *retry_after)
{
        if (retry_after) {
                long s = strtol(retry_after, NULL, 10);
                if (s > 0)
                        return (unsigned)MIN(s, 30L) * 1000u;
        }
        unsigned base = 200u << MIN(attempt, 6);
        unsigned jitter = 0;
        (void)getrandom(&jitter, sizeof jitter, 0);
        return MIN(base, 10000u) + jitter % 100u;
}

static bool retryable_status(long s)
{
        return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static char *error_summary(const char *body)
{
        if (!body)
                return NULL;
        json_t *j = json_loads(body, 0, NULL);
        json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
        char *out = NULL;
        if (e0) {
                const char *code = json_string_value(json_object_get(e0, "code"));
                const char *msg = json_string_value(json_object_get(e0, "message"));
                out = xasprintf("%s%s%s", code ? code : "", code && msg ? ": " : "",
                                msg ? msg : "");
        }
        json_decref(j);
        return out;
}

int reg_request_run(struct reg_client *c, struct reg_request *rq, struct reg_response *resp,
                    struct lana_error **err)
{
        *resp = (struct reg_response){0};
        _cleanup_free_ char *url = xstrdup(rq->url);
        _cleanup_free_ char *reg_host = url_host(url);
        int redirects = 0, auth_tries = 0;
        for (int attempt = 0;;) {
                _cleanup_free_ char *host = url_host(url);
                bool same_host = !strcmp(host, reg_host);
                _cleanup_free_ char *auth = NULL;
                if (same_host) {
                        int r = auth_header_for(c, rq->scope, false, &auth, err);
                        if (r < 0)
                                return r;
                }
                if (rq->buf)
                        lana_buf_release(rq->buf);
                reg_response_release(resp);
                bool transient = false;
                _cleanup_free_ char *errbody = NULL;
                int r = perform(c, rq, url, auth, resp, &transient, &errbody, err);
                if (r < 0 && resp->sink_refused)
                        return r;
                if (r >= 0 && resp->sink_refused) {
                        pthread_mutex_lock(&c->lock);
                        struct lana_error *se = TAKE_PTR(c->sink_err);
                        pthread_mutex_unlock(&c->lock);
                        if (se && err) {
                                lana_error_free(*err);
                                *err = se;
                                return se->code;
                        }
                        lana_error_free(se);
                        return lana_error_set(err, -EFBIG, "%s %s: reply refused (too large)",
                                              rq->method, rq->url);
                }
                if (r >= 0 && resp->status == 401 && same_host && auth_tries < 2) {
                        auth_tries++;
                        if (resp->www_authenticate)
                                learn_challenge(c, resp->www_authenticate);
                        pthread_mutex_lock(&c->lock);
                        int kind = c->auth_kind;
                        pthread_mutex_unlock(&c->lock);
                        if (kind == 2 && !c->user)
                                return lana_error_set(err, -EACCES,
                                                      "%s: authentication required (use "
                                                      "'lana-img login %s')",
                                                      c->host, c->host);
                        if (kind == 3 && auth_tries == 2)
                                drop_token(c, rq->scope ? rq->scope : "");
                        if (kind == 2 || kind == 3)
                                continue;
                }
                if (r >= 0 && resp->status == 401)
                        return lana_error_set(err, -EACCES, "%s %s: HTTP 401 unauthorized%s",
                                              rq->method, rq->url,
                                              c->user ? " (wrong user name or password?)"
                                                      : " (use 'lana-img login')");
                if (r >= 0 && resp->status >= 300 && resp->status < 400 && resp->location &&
                    resp->status != 304) {
                        if (++redirects > MAX_REDIRECTS)
                                return lana_error_set(err, -ELOOP, "%s: too many redirects",
                                                      rq->url);
                        char *next = reg_resolve(url, resp->location);
                        free(url);
                        url = next;
                        _cleanup_free_ char *target = url_host(url);
                        if (!strncmp(url, "http://", 7) && !reg_host_is_loopback(target) &&
                            !c->insecure && !strncmp(rq->url, "https://", 8))
                                return lana_error_set(err, -EPERM,
                                                      "%s: refusing redirect from HTTPS to "
                                                      "plain HTTP",
                                                      rq->url);
                        continue;
                }
                bool retry = (r < 0 && transient) || (r >= 0 && retryable_status(resp->status));
                if (retry && !rq->no_retry && ++attempt < MAX_ATTEMPTS) {
                        usleep(backoff_ms(attempt, resp->retry_after) * 1000u);
                        if (rq->before_retry)
                                rq->before_retry(rq->retry_ud);
                        free(url);
                        url = xstrdup(rq->url);
                        lana_error_freep(err);
                        continue;
                }
                if (r < 0)
                        return r;
                if (resp->status >= 400) {
                        _cleanup_free_ char *sum = error_summary(errbody);
                        int code = resp->status == 404   ? -ENOENT
                                   : resp->status == 403 ? -EACCES
                                                         : -EIO;
                        return lana_error_set(err, code, "%s %s: HTTP %ld%s%s", rq->method, rq->url,
                                              resp->status, sum ? " " : "", sum ? sum : "");
                }
                return 0;
        }
}
