/*
 * utf8.h — well-formedness check for UTF-8 (no overlong forms, surrogates or values past
 * U+10FFFF), used wherever outside text must be UTF-8: spec files, names that go into tar
 * headers and JSON.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

bool utf8_valid(const char *data, size_t len);
