/*
 * reference.c — image reference grammar, following the distribution project's rules: an optional
 * domain (first component containing '.' or ':' or equal to "localhost"), lowercase path
 * components, an optional tag and an optional sha256 digest. Docker Hub shorthands are expanded
 * ("alpine" -> "docker.io/library/alpine") so the store holds one spelling per image.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "lana/oci.h"
#include "alloc.h"

#define MAX_REFERENCE 4096

static bool path_component_valid(const char *s, size_t n)
{
        /* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
        if (n == 0 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
                return false;
        size_t i = 0;
        while (i < n) {
                while (i < n && (islower((unsigned char)s[i]) || isdigit((unsigned char)s[i])))
                        i++;
                if (i == n)
                        return true;
                size_t sep = i;
                if (s[i] == '.')
                        i++;
                else if (s[i] == '_')
                        i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
                else if (s[i] == '-')
                        while (i < n && s[i] == '-')
                                i++;
                else
                        return false;
                if (i == sep || i == n ||
                    !(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i])))
                        return false;
        }
        return true;
}

/* host[:port]: dot-separated labels of letters, digits and inner '-' (each at most 63
 * characters, the host at most 253), or a bracketed IPv6 literal; the port is 1..65535 without
 * leading zeros, so that one registry has one spelling. Returns NULL when valid, else why not. */
static const char *domain_invalid(const char *s, size_t n)
{
        size_t i = 0;
        if (n > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', n);
                char addr[INET6_ADDRSTRLEN];
                struct in6_addr a6;
                size_t al = close ? (size_t)(close - s) - 1 : 0;
                if (!close || al == 0 || al >= sizeof addr)
                        return "not an IPv6 address in brackets";
                memcpy(addr, s + 1, al);
                addr[al] = '\0';
                if (inet_pton(AF_INET6, addr, &a6) != 1)
                        return "not an IPv6 address in brackets";
                i = al + 2;
        } else {
                size_t label = 0;
                for (; i < n && s[i] != ':'; i++) {
                        unsigned char c = (unsigned char)s[i];
                        if (c == '.') {
                                if (label == 0 || s[i - 1] == '-')
                                        return "empty host label, or one ending in '-'";
                                label = 0;
                                continue;
                        }
                        if (!(isalnum(c) || (c == '-' && label > 0)))
                                return "a host holds only letters, digits, inner '-' and '.'";
                        if (++label > 63)
                                return "host label longer than 63 characters";
                }
                if (label == 0 || s[i - 1] == '-')
                        return "empty host label, or one ending in '-'";
                if (i > 253)
                        return "host name longer than 253 characters";
        }
        if (i == n)
                return NULL;
        if (s[i] != ':')
                return "junk after the IPv6 address";
        const char *port = s + i + 1;
        size_t pl = n - i - 1;
        if (pl == 0 || pl > 5 || port[0] == '0')
                return "port must be a number 1..65535";
        unsigned long v = 0;
        for (size_t k = 0; k < pl; k++) {
                if (!isdigit((unsigned char)port[k]))
                        return "port must be a number 1..65535";
                v = v * 10 + (unsigned long)(port[k] - '0');
        }
        return v > 65535 ? "port must be a number 1..65535" : NULL;
}

_public_ bool lana_tag_valid(const char *tag)
{
        size_t n = strlen(tag);
        if (n == 0 || n > 128)
                return false;
        if (!(isalnum((unsigned char)tag[0]) || tag[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++) {
                unsigned char c = (unsigned char)tag[i];
                if (!(isalnum(c) || c == '_' || c == '.' || c == '-'))
                        return false;
        }
        return true;
}

_public_ int lana_reference_parse(const char *s, const char *default_tag,
                                  struct lana_reference *ret, struct lana_error **err)
{
        *ret = (struct lana_reference){0};
        size_t len = strlen(s);
        if (len == 0)
                return lana_error_set(err, -EINVAL, "reference: empty");
        if (len > MAX_REFERENCE)
                return lana_error_set(err, -EINVAL, "reference: longer than %d bytes",
                                      MAX_REFERENCE);
        _cleanup_free_ char *work = xstrdup(s);
        char *digest = NULL, *tag = NULL;
        char *at = strchr(work, '@');
        if (at) {
                *at = '\0';
                digest = at + 1;
                struct lana_digest d;
                if (lana_digest_parse(digest, &d, NULL) < 0)
                        return lana_error_set(err, -EINVAL, "reference '%s': bad digest '%s'", s,
                                              digest);
        }
        char *slash = strrchr(work, '/');
        char *colon = strrchr(slash ? slash : work, ':');
        if (colon) {
                *colon = '\0';
                tag = colon + 1;
                if (!lana_tag_valid(tag))
                        return lana_error_set(err, -EINVAL, "reference '%s': bad tag '%s'", s, tag);
        }
        char *name = work;
        const char *domain = "docker.io";
        char *first_slash = strchr(name, '/');
        char *path = name;
        if (first_slash) {
                /* The first component is a registry when it looks like a host: it has a '.' or
                 * a ':port', or is "localhost". Docker also takes one with an uppercase letter
                 * for a registry ("UPPER/case" would name the host UPPER); that hides a
                 * mistyped repository behind a lookup of a registry nobody has, so here it is
                 * an invalid (uppercase) repository name instead. */
                size_t dl = (size_t)(first_slash - name);
                bool is_domain = memchr(name, '.', dl) || memchr(name, ':', dl) ||
                                 (dl == 9 && !strncmp(name, "localhost", 9));
                if (is_domain) {
                        *first_slash = '\0';
                        domain = name;
                        path = first_slash + 1;
                        const char *why = domain_invalid(domain, dl);
                        if (why)
                                return lana_error_set(err, -EINVAL,
                                                      "reference '%s': bad registry '%s': %s", s,
                                                      domain, why);
                        /* Docker's old spelling of Docker Hub */
                        if (!strcmp(domain, "index.docker.io"))
                                domain = "docker.io";
                }
        }
        if (*path == '\0')
                return lana_error_set(err, -EINVAL, "reference '%s': missing repository", s);
        for (char *c = path, *end;; c = end + 1) {
                end = strchr(c, '/');
                size_t n = end ? (size_t)(end - c) : strlen(c);
                if (!path_component_valid(c, n))
                        return lana_error_set(err, -EINVAL,
                                              "reference '%s': repository name must be lowercase "
                                              "letters, digits and separators",
                                              s);
                if (!end)
                        break;
        }
        ret->domain = xstrdup(domain);
        if (!strcmp(domain, "docker.io") && !strchr(path, '/'))
                ret->path = xasprintf("library/%s", path);
        else
                ret->path = xstrdup(path);
        if (tag)
                ret->tag = xstrdup(tag);
        else if (!digest && default_tag)
                ret->tag = xstrdup(default_tag);
        if (digest)
                ret->digest = xstrdup(digest);
        return 0;
}

_public_ char *lana_reference_format(const struct lana_reference *r)
{
        return xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "",
                         r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}

_public_ char *lana_reference_repository(const struct lana_reference *r)
{
        return xasprintf("%s/%s", r->domain, r->path);
}

_public_ void lana_reference_release(struct lana_reference *r)
{
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        *r = (struct lana_reference){0};
}
