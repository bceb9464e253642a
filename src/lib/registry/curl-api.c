/*
 * curl-api.c — loads libcurl.so.4 with dlopen and fills the table of curl-api.h.
 */
#define LANA_CURL_API_DEFINE 1
#include "curl-api.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* libcurl's soname (Debian's libcurl4, built on OpenSSL), and the GnuTLS build's, tried next */
#define LIBCURL_SONAME "libcurl.so.4"
#define LIBCURL_GNUTLS_SONAME "libcurl-gnutls.so.4"
#define LIBCURL_MIN_VERSION 0x075500 /* 7.85.0 */

struct lana_curl_api lana_curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char *load_error; /* NULL once loaded */

static void load(void)
{
        const char *name = getenv("LANA_IMG_LIBCURL");
        bool given = name && *name;
        if (!given)
                name = LIBCURL_SONAME;
        void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (!h && !given) {
                h = dlopen(LIBCURL_GNUTLS_SONAME, RTLD_NOW | RTLD_LOCAL);
                if (h)
                        name = LIBCURL_GNUTLS_SONAME;
                else
                        (void)dlopen(name, RTLD_NOW | RTLD_LOCAL); /* dlerror() names the first */
        }
        if (!h) {
                load_error = xasprintf("cannot load libcurl (%s): %s; install libcurl4", name,
                                       dlerror());
                return;
        }
#define LANA_CURL_RESOLVE(ret, fn, params)                                                         \
        if (!load_error) {                                                                         \
                void *p = dlsym(h, #fn);                                                           \
                if (p)                                                                             \
                        memcpy(&lana_curl.fn, &p, sizeof(p));                                      \
                else                                                                               \
                        load_error = xasprintf("%s has no %s: libcurl 7.85 or newer is needed",    \
                                               name, #fn);                                         \
        }
        LANA_CURL_FUNCTIONS(LANA_CURL_RESOLVE)
#undef LANA_CURL_RESOLVE
        if (!load_error) {
                const curl_version_info_data *v = lana_curl.curl_version_info(CURLVERSION_NOW);
                if (!v || v->version_num < LIBCURL_MIN_VERSION)
                        load_error = xasprintf("%s is libcurl %s: 7.85 or newer is needed", name,
                                               v ? v->version : "(unknown)");
        }
        if (!load_error && lana_curl.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                load_error = xasprintf("%s: curl_global_init failed", name);
        if (load_error) {
                memset(&lana_curl, 0, sizeof(lana_curl));
                dlclose(h);
        }
        /* on success the library stays loaded for the life of the process */
}

int reg_curl_load(struct lana_error **err)
{
        pthread_once(&load_once, load);
        if (load_error) {
                lana_error_set(err, -ENOPKG, "%s", load_error);
                return -ENOPKG;
        }
        return 0;
}
