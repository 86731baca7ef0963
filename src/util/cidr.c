/* cidr.c - see cidr.h. */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cidr_parse(const char *text, struct cidr *out)
{
    char ip[64];
    const char *slash = text ? strchr(text, '/') : NULL;
    if (!slash || (size_t)(slash - text) >= sizeof(ip) || !slash[1])
        return -1;
    memcpy(ip, text, (size_t)(slash - text));
    ip[slash - text] = '\0';
    char *end;
    unsigned long bits = strtoul(slash + 1, &end, 10);
    if (*end || slash[1] < '0' || slash[1] > '9')
        return -1;
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, ip, out->addr) == 1 && bits <= 32)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, ip, out->addr) == 1 && bits <= 128)
        out->family = AF_INET6;
    else
        return -1;
    out->bits = (unsigned int)bits;
    return 0;
}

bool cidr_contains(const struct cidr *c, const char *addr)
{
    unsigned char a[16];
    if (inet_pton(c->family, addr, a) != 1)
        return false;
    unsigned int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(a, c->addr, full) != 0)
        return false;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return rest == 0 || (a[full] & mask) == (c->addr[full] & mask);
}

bool cidr_addr_listed(const char *list, const char *addr)
{
    size_t n = strlen(addr);
    for (const char *p = list; p && (p = strstr(p, addr)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static size_t add(char *out, size_t len, const char *addr, size_t count)
{
    if (cidr_addr_listed(out, addr))
        return count;
    size_t used = strlen(out);
    int n = snprintf(out + used, len - used, "%s%s", used ? " " : "", addr);
    if (n < 0 || (size_t)n >= len - used) {
        out[used] = '\0'; /* no room: a cut address would be a wrong one */
        return count;
    }
    return count + 1;
}

/* fib_trie lists each route's key ("|-- 198.18.0.2") followed by its entries ("/32 host
 * LOCAL"): a key whose entry is a /32 host LOCAL is an address of this host. */
static size_t fib_addrs(const char *text, char *out, size_t len, size_t count)
{
    char key[64] = "";
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        char buf[128];
        snprintf(buf, sizeof(buf), "%.*s", (int)(n < sizeof(buf) ? n : sizeof(buf) - 1), line);
        const char *k = strstr(buf, "|-- ");
        if (k)
            snprintf(key, sizeof(key), "%s", k + 4);
        else if (key[0] && strstr(buf, "/32 host LOCAL") && strncmp(key, "127.", 4) != 0)
            count = add(out, len, key, count);
        line = eol ? eol + 1 : NULL;
    }
    return count;
}

/* if_inet6: "fd000000000000000000000000000002 04 40 00 82 eth0": address, index, prefix
 * length, scope (00: global), flags, name. */
static size_t inet6_addrs(const char *text, char *out, size_t len, size_t count)
{
    for (const char *line = text; line && *line;) {
        char hex[33], dev[32];
        unsigned int idx, plen, scope, flags;
        if (sscanf(line, "%32s %x %x %x %x %31s", hex, &idx, &plen, &scope, &flags, dev) == 6 &&
            strlen(hex) == 32 && scope == 0) {
            unsigned char a[16];
            char text6[INET6_ADDRSTRLEN];
            for (int i = 0; i < 16; i++) {
                unsigned int byte;
                sscanf(hex + 2 * i, "%2x", &byte);
                a[i] = (unsigned char)byte;
            }
            if (inet_ntop(AF_INET6, a, text6, sizeof(text6)))
                count = add(out, len, text6, count);
        }
        const char *eol = strchr(line, '\n');
        line = eol ? eol + 1 : NULL;
    }
    return count;
}

size_t cidr_host_addrs(const char *fib_trie, const char *if_inet6, char *out, size_t len)
{
    if (!len)
        return 0;
    out[0] = '\0';
    size_t count = fib_trie ? fib_addrs(fib_trie, out, len, 0) : 0;
    return if_inet6 ? inet6_addrs(if_inet6, out, len, count) : count;
}
