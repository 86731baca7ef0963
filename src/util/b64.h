/* b64.h - base64 decoding (RFC 4648, standard alphabet), for HTTP Basic credentials. */
#ifndef KIMCHID_B64_H
#define KIMCHID_B64_H

#include <stddef.h>

/* Decodes `in` into `out` (NUL-terminated). Returns the decoded length, or -1 when the
 * input is not base64 or does not fit in outlen - 1 bytes. */
long b64_decode(const char *in, char *out, size_t outlen);

#endif
