/*
 * reference.c — image reference grammar, following the distribution project's rules: an optional
 * domain (first component containing '.' or ':' or equal to "localhost"), lowercase path
 * components, an optional tag and an optional sha256 digest. Docker Hub shorthands are expanded
 * ("alpine" -> "docker.io/library/alpine") so the store holds one spelling per image.
 */
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

/* host[:port]: dot-separated labels of letters, digits and inner '-', or a bracketed IPv6
 * literal; the port is 1..5 digits. */
static bool domain_valid(const char *s, size_t n)
{
        size_t i = 0;
        if (n > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', n);
                if (!close || close == s + 1)
                        return false;
                for (const char *p = s + 1; p < close; p++)
                        if (!(isxdigit((unsigned char)*p) || *p == ':' || *p == '.'))
                                return false;
                i = (size_t)(close - s) + 1;
        } else {
                bool label_start = true;
                for (; i < n && s[i] != ':'; i++) {
                        unsigned char c = (unsigned char)s[i];
                        if (c == '.') {
                                if (label_start || s[i - 1] == '-')
                                        return false;
                                label_start = true;
                                continue;
                        }
                        if (!(isalnum(c) || (c == '-' && !label_start)))
                                return false;
                        label_start = false;
                }
                if (i == 0 || label_start || s[i - 1] == '-')
                        return false;
        }
        if (i == n)
                return true;
        if (s[i] != ':' || n - i - 1 < 1 || n - i - 1 > 5)
                return false;
        for (size_t k = i + 1; k < n; k++)
                if (!isdigit((unsigned char)s[k]))
                        return false;
        return true;
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
                size_t dl = (size_t)(first_slash - name);
                bool is_domain = memchr(name, '.', dl) || memchr(name, ':', dl) ||
                                 (dl == 9 && !strncmp(name, "localhost", 9));
                for (size_t i = 0; i < dl; i++)
                        if (isupper((unsigned char)name[i]))
                                is_domain = true;
                if (is_domain) {
                        *first_slash = '\0';
                        domain = name;
                        path = first_slash + 1;
                        if (!domain_valid(domain, dl))
                                return lana_error_set(err, -EINVAL,
                                                      "reference '%s': bad registry '%s'", s,
                                                      domain);
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
