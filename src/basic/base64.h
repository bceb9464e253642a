/*
 * base64.h — standard base64 (RFC 4648, with padding) for HTTP Basic credentials and auth files.
 */
#pragma once

/* Encodes a NUL-terminated string; caller frees. */
char *base64_encode(const char *s);
/* Decodes; ignores '=' and newlines; -EINVAL on other characters. *ret is NUL-terminated. */
int base64_decode(const char *in, char **ret);
