/* net.h - host names and user names from the network: validation, resolution, reachability. */
#ifndef KIMCHID_NET_H
#define KIMCHID_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* A host name (RFC 1123 labels) or a numeric IPv4/IPv6 address; ERR_INVALID otherwise. */
int net_host_check(const char *host, struct err *e);

/* A user name: letter or '_' first, then letters, digits, '_', '.', '-'; at most 32. */
int net_user_check(const char *user, struct err *e);

/* True when `host`, without any lookup, names this machine: "localhost", its host name,
 * a loopback address or one of its interface addresses. */
bool net_names_self(const char *host);

/* True for a numeric IPv4 or IPv6 address. */
bool net_is_ip(const char *s);

/* Resolves `host` (blocking) to a numeric address written into `addr` (len >= 64). */
int net_resolve(const char *host, char *addr, size_t len, struct err *e);

/* The numeric address of an AF_INET or AF_INET6 socket address into `out` ("" for others). */
struct sockaddr;
void net_sockaddr_text(const struct sockaddr *sa, char *out, size_t len);

/* True when numeric `addr` is a loopback address: 127/8, ::1, or ::ffff:127.x.y.z. */
bool net_addr_is_loopback(const char *addr);

/* True when numeric `addr` is loopback or an address of one of this machine's interfaces. */
bool net_addr_is_local(const char *addr);

/* The key of what one site (or one attacker) holds, for counting per client: an IPv4
 * address as it is, an IPv6 address by its /64 ("2001:db8:1:2::/64"), since rotating
 * addresses inside one's own /64 costs nothing. Anything else is copied. */
void net_site_key(const char *addr, char *out, size_t len);

/* Opens and closes a TCP connection to addr:port within timeout_ms. */
int net_probe(const char *host, const char *addr, int port, int timeout_ms, struct err *e);

/* Refuses (400, Kimchi's "migrate to localhost") a `host` that resolved to `addr` on this
 * machine, or that names it. */
int net_refuse_self(const char *host, const char *addr, struct err *e);

/* net_resolve, then net_refuse_self: `host` as another host's address, in `addr`. */
int net_resolve_other(const char *host, char *addr, size_t len, struct err *e);

#endif
