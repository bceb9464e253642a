/*
 * curl-api.h — libcurl, loaded on first use.
 *
 * Only the registry commands talk HTTP, and libcurl pulls in some thirty shared libraries
 * (TLS, Kerberos, LDAP, IDN, ...). Linking it would make every start of lana-img, including
 * each `run`, pay for loading and relocating them, so the registry code calls libcurl through
 * this table, filled by reg_curl_load() from libcurl.so.4 (or libcurl-gnutls.so.4). The macros
 * below keep the call sites spelled as the libcurl API.
 */
#pragma once

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "lana/error.h"

/* X(return type, name, parameter list) for every libcurl function the registry code uses */
#define LANA_CURL_FUNCTIONS(X)                                                                     \
        X(CURLcode, curl_global_init, (long flags))                                                \
        X(CURL *, curl_easy_init, (void))                                                          \
        X(CURLcode, curl_easy_setopt, (CURL * h, CURLoption opt, ...))                             \
        X(CURLcode, curl_easy_perform, (CURL * h))                                                 \
        X(CURLcode, curl_easy_getinfo, (CURL * h, CURLINFO info, ...))                             \
        X(void, curl_easy_cleanup, (CURL * h))                                                     \
        X(const char *, curl_easy_strerror, (CURLcode code))                                       \
        X(char *, curl_easy_escape, (CURL * h, const char *s, int len))                            \
        X(void, curl_free, (void *p))                                                              \
        X(struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s))          \
        X(void, curl_slist_free_all, (struct curl_slist * l))                                      \
        X(CURLU *, curl_url, (void))                                                               \
        X(void, curl_url_cleanup, (CURLU * u))                                                     \
        X(CURLUcode, curl_url_set, (CURLU * u, CURLUPart part, const char *s, unsigned flags))     \
        X(CURLUcode, curl_url_get, (const CURLU *u, CURLUPart part, char **s, unsigned flags))     \
        X(curl_version_info_data *, curl_version_info, (CURLversion v))

#define LANA_CURL_POINTER(ret, name, params) ret(*name) params;
struct lana_curl_api {
        LANA_CURL_FUNCTIONS(LANA_CURL_POINTER)
};
#undef LANA_CURL_POINTER

extern struct lana_curl_api lana_curl;

/* Loads libcurl and initialises it, once per process; later calls return the first result.
 * Fails with -ENOPKG and a one-line message naming the library when it cannot be loaded or is
 * older than 7.85 (the oldest libcurl whose API this code needs). */
int reg_curl_load(struct lana_error **err);

#ifndef LANA_CURL_API_DEFINE
/* curl.h defines these two as function-like macros that check the argument count */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init (*lana_curl.curl_global_init)
#define curl_easy_init (*lana_curl.curl_easy_init)
#define curl_easy_setopt (*lana_curl.curl_easy_setopt)
#define curl_easy_perform (*lana_curl.curl_easy_perform)
#define curl_easy_getinfo (*lana_curl.curl_easy_getinfo)
#define curl_easy_cleanup (*lana_curl.curl_easy_cleanup)
#define curl_easy_strerror (*lana_curl.curl_easy_strerror)
#define curl_easy_escape (*lana_curl.curl_easy_escape)
#define curl_free (*lana_curl.curl_free)
#define curl_slist_append (*lana_curl.curl_slist_append)
#define curl_slist_free_all (*lana_curl.curl_slist_free_all)
#define curl_url (*lana_curl.curl_url)
#define curl_url_cleanup (*lana_curl.curl_url_cleanup)
#define curl_url_set (*lana_curl.curl_url_set)
#define curl_url_get (*lana_curl.curl_url_get)
#define curl_version_info (*lana_curl.curl_version_info)
#endif
