/*
 * base64.c — the base64 codec used for credentials. Small inputs only (user:password pairs).
 */
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const char *s)
{
        size_t n = strlen(s);
        char *out = xmalloc(4 * ((n + 2) / 3) + 1), *o = out;
        const unsigned char *u = (const unsigned char *)s;
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned)u[i] << 16 | (i + 1 < n ? (unsigned)u[i + 1] << 8 : 0) |
                             (i + 2 < n ? u[i + 2] : 0);
                *o++ = alphabet[v >> 18 & 63];
                *o++ = alphabet[v >> 12 & 63];
                *o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? alphabet[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

int base64_decode(const char *in, char **ret)
{
        size_t n = strlen(in);
        char *out = xmalloc(n + 1);
        size_t o = 0;
        unsigned v = 0;
        int bits = 0;
        for (size_t i = 0; i < n; i++) {
                if (in[i] == '=' || in[i] == '\n')
                        continue;
                const char *p = strchr(alphabet, in[i]);
                if (!p || !in[i]) {
                        free(out);
                        return -EINVAL;
                }
                v = v << 6 | (unsigned)(p - alphabet);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (char)(v >> bits & 0xff);
                }
        }
        out[o] = '\0';
        *ret = out;
        return 0;
}
