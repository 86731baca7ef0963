/* net.c - validation, resolution and reachability of remote hosts. */
#include "net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

bool net_is_ip(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool label_ok(const char *p, size_t len)
{
    if (len == 0 || len > 63 || p[0] == '-' || p[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)p[i]) && p[i] != '-')
            return false;
    return true;
}

int net_host_check(const char *host, struct err *e)
{
    size_t len = strlen(host);
    if (net_is_ip(host))
        return 0;
    bool ok = len > 0 && len <= 253;
    for (const char *p = host; ok && *p;) {
        size_t l = strcspn(p, ".");
        ok = label_ok(p, l);
        p += l;
        if (*p == '.')
            p++, ok = ok && *p; /* no empty last label */
    }
    if (ok)
        return 0;
    return err_set(e, ERR_INVALID, M_MIG_BAD_HOSTNAME,
                   "\"%.64s\" is not a valid host name or IP address. Use a name such as "
                   "\"host-b\" or \"host-b.example.com\", or an address.",
                   host);
}

int net_user_check(const char *user, struct err *e)
{
    size_t len = strlen(user);
    bool ok = len > 0 && len <= 32 && (isalpha((unsigned char)user[0]) || user[0] == '_');
    for (size_t i = 1; ok && i < len; i++)
        ok = isalnum((unsigned char)user[i]) || user[i] == '_' || user[i] == '.' || user[i] == '-';
    if (ok)
        return 0;
    return err_set(e, ERR_INVALID, M_MIG_BAD_USER,
                   "\"%.40s\" is not a valid user name: use letters, digits, '_', '.' and '-', "
                   "starting with a letter, at most 32 characters.",
                   user);
}

void net_sockaddr_text(const struct sockaddr *sa, char *out, size_t len)
{
    if (len)
        out[0] = '\0';
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

static bool same_addr(const struct sockaddr *sa, const char *addr)
{
    char buf[INET6_ADDRSTRLEN];
    net_sockaddr_text(sa, buf, sizeof(buf));
    return buf[0] && strcmp(buf, addr) == 0;
}

/* ::ffff:a.b.c.d is the IPv4 host a.b.c.d: its IPv4 text into v4, or false. */
static bool v4_mapped(const char *addr, char *v4, size_t len)
{
    struct in6_addr a6;
    return inet_pton(AF_INET6, addr, &a6) == 1 && IN6_IS_ADDR_V4MAPPED(&a6) &&
           inet_ntop(AF_INET, &a6.s6_addr[12], v4, (socklen_t)len);
}

bool net_addr_is_loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;
    char v4[INET_ADDRSTRLEN];
    if (v4_mapped(addr, v4, sizeof(v4)))
        return net_addr_is_loopback(v4);
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, addr, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

bool net_addr_is_local(const char *addr)
{
    struct in6_addr a6;
    char v4[INET_ADDRSTRLEN];
    if (v4_mapped(addr, v4, sizeof(v4)))
        return net_addr_is_local(v4);
    if (net_addr_is_loopback(addr) || strcmp(addr, "0.0.0.0") == 0 ||
        (inet_pton(AF_INET6, addr, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6)))
        return true;
    struct ifaddrs *ifs = NULL, *i;
    bool local = false;
    if (getifaddrs(&ifs) == 0)
        for (i = ifs; i && !local; i = i->ifa_next)
            local = i->ifa_addr && same_addr(i->ifa_addr, addr);
    freeifaddrs(ifs);
    return local;
}

bool net_names_self(const char *host)
{
    char me[256] = "";
    gethostname(me, sizeof(me) - 1);
    size_t short_len = strcspn(me, ".");
    if (!strcasecmp(host, "localhost") || !strncasecmp(host, "localhost.", 10) ||
        !strcasecmp(host, me) || (strlen(host) == short_len && !strncasecmp(host, me, short_len)))
        return true;
    return net_is_ip(host) && net_addr_is_local(host);
}

int net_resolve(const char *host, char *addr, size_t len, struct err *e)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0)
        return err_set(e, ERR_INVALID, M_MIG_RESOLVE,
                       "Cannot resolve \"%s\": %s. Check the host name.", host, gai_strerror(rc));
    net_sockaddr_text(res->ai_addr, addr, len);
    freeaddrinfo(res);
    return 0;
}

static int connect_wait(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n = poll(&p, 1, timeout_ms);
    if (n == 0)
        return ETIMEDOUT;
    if (n < 0)
        return errno;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    return soerr;
}

int net_probe(const char *host, const char *addr, int port, int timeout_ms, struct err *e)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    socklen_t sl = sizeof(*a4);
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*a6);
    } else {
        return err_set(e, ERR_INVALID, M_MIG_NOT_ADDRESS, "\"%s\" is not an address.", addr);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(e, ERR_INTERNAL, M_D_SOCKET, "Cannot open a socket: %s.", strerror(errno));
    int rc = connect(fd, (struct sockaddr *)&ss, sl) == 0 ? 0 : errno;
    if (rc == EINPROGRESS)
        rc = connect_wait(fd, timeout_ms);
    close(fd);
    if (rc == 0)
        return 0;
    char why[64]; /* the wait this call made, not a figure written beside it */
    if (rc == ETIMEDOUT)
        snprintf(why, sizeof(why), "no answer within %d.%d s", timeout_ms / 1000,
                 timeout_ms % 1000 / 100);
    else
        snprintf(why, sizeof(why), "%s", strerror(rc));
    return err_set(e, ERR_BACKEND, M_MIG_UNREACHABLE,
                   "Cannot reach \"%s\" (%s) on port %d: %s. Check the address, the network, "
                   "and that sshd runs there.",
                   host, addr, port, why);
}

void net_site_key(const char *addr, char *out, size_t len)
{
    struct in6_addr a6;
    if (addr && inet_pton(AF_INET6, addr, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
        memset(&a6.s6_addr[8], 0, 8);
        char net[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a6, net, sizeof(net));
        snprintf(out, len, "%s/64", net);
        return;
    }
    snprintf(out, len, "%.64s", addr ? addr : "?");
}

int net_refuse_self(const char *host, const char *addr, struct err *e)
{
    if (net_names_self(host) || net_addr_is_local(addr))
        return err_set(e, ERR_INVALID, M_MIG_LOCALHOST,
                       "\"%s\" (%s) is this host. Choose another host to migrate to.", host, addr);
    return 0;
}

int net_resolve_other(const char *host, char *addr, size_t len, struct err *e)
{
    return net_resolve(host, addr, len, e) < 0 ? -1 : net_refuse_self(host, addr, e);
}
