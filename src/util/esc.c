/* esc.c - escaping untrusted values for one-line records. */
#include "esc.h"

#include <stdbool.h>
#include <string.h>

size_t esc_controls(const char *in, char *out, size_t room, const char *also)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        bool control = *p < 0x20 || *p == 0x7f;
        bool quoted = !control && also && strchr(also, *p);
        if (o + (control ? 4 : quoted ? 2 : 1) > room)
            break;
        if (control) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
            continue;
        }
        if (quoted)
            out[o++] = '\\';
        out[o++] = (char)*p;
    }
    return o;
}

void esc_percent(const char *in, const char *keep, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr(keep, *p);
        if (o + (plain ? 1 : 3) >= len)
            break;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (len)
        out[o] = 0;
}
