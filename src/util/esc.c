/* esc.c - escaping untrusted values for one-line records. */
#include "esc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

size_t esc_utf8_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (p[0] < 0x80)
        return p[0] ? 1 : 0;
    size_t n = p[0] >= 0xc2 && p[0] <= 0xdf   ? 2
               : p[0] >= 0xe0 && p[0] <= 0xef ? 3
               : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                              : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    /* the second byte's range rules out overlong forms, surrogates and code points past U+10FFFF */
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;
    return n;
}

void esc_utf8_fix(char *s)
{
    while (*s) {
        size_t n = esc_utf8_len(s);
        if (n == 0)
            *s++ = '?';
        else
            s += n;
    }
}

size_t esc_controls(const char *in, char *out, size_t room, const char *also)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const char *p = in; *p;) {
        unsigned char c = (unsigned char)*p;
        size_t len = esc_utf8_len(p);
        bool raw = len == 0 || c < 0x20 || c == 0x7f; /* a control byte, or not UTF-8 */
        bool quoted = !raw && len == 1 && also && strchr(also, c);
        size_t need = raw ? 4 : quoted ? 2 : len;
        if (o + need > room)
            break;
        if (raw) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
            p++;
            continue;
        }
        if (quoted)
            out[o++] = '\\';
        memcpy(out + o, p, len);
        o += len;
        p += len;
    }
    return o;
}

void esc_vm_uri(const char *name, const char *action, char *out, size_t len)
{
    char enc[3 * 256 + 1];
    esc_percent(name, "-._~", enc, sizeof(enc));
    snprintf(out, len, "/plugins/kimchi/vms/%s%s%s", enc, action ? "/" : "", action ? action : "");
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
