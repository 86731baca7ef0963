/* cidr.h - networks in CIDR notation, and the addresses a Linux host lists as its own in
 * /proc/net/fib_trie and /proc/net/if_inet6 (read over SFTP from another host: no command
 * is run there). Pure functions. */
#ifndef KIMCHID_CIDR_H
#define KIMCHID_CIDR_H

#include <stdbool.h>
#include <stddef.h>

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned int bits;
};

/* "198.19.0.0/24" or "fd00:19::/64" into *out: 0, or -1 when it is not one. */
int cidr_parse(const char *text, struct cidr *out);

/* True when numeric address `addr` lies in `c`. */
bool cidr_contains(const struct cidr *c, const char *addr);

/* The host's own unicast addresses: IPv4 from /proc/net/fib_trie's "/32 host LOCAL" entries
 * (loopback left out), IPv6 of global scope from /proc/net/if_inet6; either text may be NULL.
 * Written space-separated into `out`, each once. Returns how many. */
size_t cidr_host_addrs(const char *fib_trie, const char *if_inet6, char *out, size_t len);

/* True when `addr` is one of the space-separated addresses in `list`. */
bool cidr_addr_listed(const char *list, const char *addr);

#endif
