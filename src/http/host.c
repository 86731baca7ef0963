/* host.c - which Host headers kimchid answers. A page on another site can point its own DNS
 * name at kimchid's address (DNS rebinding) and then talk to kimchid as that site, Origin
 * check included; refusing Host names kimchid was not told it has stops that. Addresses are
 * always answered: a browser that sends one was pointed at the address itself. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_priv.h"

/* The host part of a Host header value, without port or trailing dot. False when malformed. */
static bool host_part(const char *value, char *out, size_t len, bool *bracketed)
{
    const char *end;
    *bracketed = value[0] == '[';
    if (*bracketed) {
        end = strchr(value, ']');
        if (!end || (end[1] && end[1] != ':'))
            return false;
        value++;
    } else {
        end = strchr(value, ':');
        end = end ? end : value + strlen(value);
    }
    size_t n = (size_t)(end - value);
    if (n > 0 && value[n - 1] == '.' && !*bracketed)
        n--;
    if (n == 0 || n >= len)
        return false;
    memcpy(out, value, n);
    out[n] = 0;
    return true;
}

/* Whether `name` is one of the comma-separated `names` (case does not matter). */
static bool listed(const char *name, const char *names)
{
    size_t n = strlen(name);
    for (const char *p = names; p && *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && strncasecmp(p, name, n) == 0)
            return true;
        p += k + (p[k] == ',');
    }
    return false;
}

bool http_host_allowed(const char *host, const char *hostname, const char *names)
{
    if (!host)
        return true; /* HTTP/1.0 without Host: not a browser */
    char name[256];
    bool bracketed;
    if (!host_part(host, name, sizeof(name), &bracketed))
        return false;
    unsigned char addr[16];
    if (bracketed)
        return inet_pton(AF_INET6, name, addr) == 1;
    if (inet_pton(AF_INET, name, addr) == 1 || strcasecmp(name, "localhost") == 0)
        return true;
    size_t short_len = strcspn(hostname, ".");
    if (strcasecmp(name, hostname) == 0 ||
        (strlen(name) == short_len && strncasecmp(name, hostname, short_len) == 0))
        return true;
    return listed(name, names);
}
