/* guard.c - slow clients hold up nobody. libmicrohttpd's own timeout is for idleness only: a
 * client that sends one header line every few seconds (slowloris), or stalls in the TLS
 * handshake, keeps its connection, and enough of them fill every slot. The guard gives each
 * request a deadline from the moment the connection opened (or its previous request ended)
 * to a complete header, and then to a complete body; when the server fills up, unfinished
 * requests (header or body) get a much shorter one, so a new client still finds a free slot.
 * Connections from one address (an IPv6 /64) are capped here too; behind the trusted proxy, the
 * address is the client's the proxy forwards (known once a request's header is in), and the proxy
 * itself may hold every connection. It ends a connection by shutting down a duplicate of its
 * socket, which makes libmicrohttpd's own thread see the end and close it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "../util/net.h"
#include "http_priv.h"

void http_peer_address(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    net_sockaddr_text(ci ? ci->client_addr : NULL, out, len);
    if (len && !out[0])
        snprintf(out, len, "?");
}

struct slot {
    int fd;                /* our duplicate of the connection's socket */
    struct timespec since; /* when the current request's clock started */
    bool headers;          /* the header is in: the body's deadline runs */
    bool serving;          /* kimchid's handler runs: never cut */
    bool cut;
    bool proxied;                   /* from the trusted proxy: its client counts, per request */
    char key[INET6_ADDRSTRLEN + 8]; /* the address, or an IPv6 /64 */
};

struct guard {
    pthread_mutex_t lock;
    pthread_cond_t stop_cv;
    bool stopping;
    pthread_t thread;
    struct slot **slots;
    size_t n, cap;
    struct guard_limits lim;
    char trusted_proxy[INET6_ADDRSTRLEN]; /* "" when none */
    unsigned long cut_total;
};

/* One site's connections count together (an IPv6 /64: util/net.c). */
static bool address_key(const struct guard *g, struct MHD_Connection *c, char *out, size_t len)
{
    char peer[INET6_ADDRSTRLEN];
    http_peer_address(c, peer, sizeof(peer));
    net_site_key(peer, out, len);
    return g->trusted_proxy[0] && strcmp(peer, g->trusted_proxy) == 0;
}

/* Connections other than `s` counted for `key`; with g->lock held. */
static size_t same_key_locked(const struct guard *g, const struct slot *s, const char *key)
{
    size_t same = 0;
    for (size_t i = 0; i < g->n; i++)
        same += g->slots[i] != s && !g->slots[i]->cut && strcmp(g->slots[i]->key, key) == 0;
    return same;
}

/* Ends the connection (its thread closes it); called with g->lock held. */
static void cut_locked(struct guard *g, struct slot *s, const char *why)
{
    if (s->cut)
        return;
    s->cut = true;
    g->cut_total++;
    shutdown(s->fd, SHUT_RDWR);
    log_debug("http: closed a connection from %s: %s", s->key, why);
}

static void add(struct guard *g, struct MHD_Connection *c, void **socket_context)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct slot *s = calloc(1, sizeof(*s));
    if (!s || !ci || (s->fd = dup(ci->connect_fd)) < 0) {
        free(s);
        return; /* unguarded: libmicrohttpd's idle timeout still holds */
    }
    clock_gettime(CLOCK_MONOTONIC, &s->since);
    s->proxied = address_key(g, c, s->key, sizeof(s->key));
    pthread_mutex_lock(&g->lock);
    size_t same = s->proxied ? 0 : same_key_locked(g, s, s->key);
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        struct slot **n = realloc(g->slots, cap * sizeof(*n));
        if (n) {
            g->slots = n;
            g->cap = cap;
        }
    }
    if (g->n < g->cap) {
        g->slots[g->n++] = s;
        *socket_context = s;
        if (same >= (size_t)g->lim.per_address)
            cut_locked(g, s, "too many connections from its address");
    } else {
        close(s->fd);
        free(s);
    }
    pthread_mutex_unlock(&g->lock);
}

static void drop(struct guard *g, struct slot *s)
{
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; i < g->n; i++)
        if (g->slots[i] == s) {
            g->slots[i] = g->slots[--g->n];
            break;
        }
    pthread_mutex_unlock(&g->lock);
    close(s->fd);
    free(s);
}

void guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                  enum MHD_ConnectionNotificationCode toe)
{
    struct guard *g = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        add(g, c, socket_context);
    else if (*socket_context)
        drop(g, *socket_context);
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        *socket_context = NULL;
}

static struct slot *slot_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void guard_mark(struct guard *g, struct MHD_Connection *c, enum guard_phase phase)
{
    struct slot *s = slot_of(c);
    if (!s)
        return;
    pthread_mutex_lock(&g->lock);
    if (phase == GUARD_HEADERS) {
        s->headers = true;
        clock_gettime(CLOCK_MONOTONIC, &s->since);
    } else if (phase == GUARD_SERVING) {
        s->serving = true;
    } else { /* GUARD_DONE: the next request on this connection starts its own clock */
        s->headers = s->serving = false;
        clock_gettime(CLOCK_MONOTONIC, &s->since);
    }
    pthread_mutex_unlock(&g->lock);
}

bool guard_client(struct guard *g, struct MHD_Connection *c, const char *client)
{
    struct slot *s = slot_of(c);
    if (!s || !s->proxied)
        return true; /* a direct client was counted when it connected */
    char key[sizeof(s->key)];
    net_site_key(client, key, sizeof(key));
    pthread_mutex_lock(&g->lock);
    snprintf(s->key, sizeof(s->key), "%s", key);
    bool room = same_key_locked(g, s, key) < (size_t)g->lim.per_address;
    pthread_mutex_unlock(&g->lock);
    return room;
}

static void sweep_locked(struct guard *g)
{
    /* why[header in][pressed]: what the log says when limit_ms[header in] passes */
    static const char *const why[2][2] = {
        {"no complete request header in time", "no complete request header in time, server busy"},
        {"no complete request body in time", "no complete request body in time, server busy"}};
    bool pressed = g->n * 4 >= (size_t)g->lim.max_connections * 3;
    long limit_ms[2] = {(pressed ? g->lim.pressed_seconds : g->lim.header_seconds) * 1000L,
                        (pressed ? g->lim.pressed_seconds : g->lim.body_seconds) * 1000L};
    for (size_t i = 0; i < g->n; i++) {
        struct slot *s = g->slots[i];
        if (!s->serving && !s->cut && clock_ms_since(&s->since) > limit_ms[s->headers])
            cut_locked(g, s, why[s->headers][pressed]);
    }
}

static void *watch(void *arg)
{
    struct guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        struct timespec until = clock_after(CLOCK_MONOTONIC, 250);
        pthread_cond_timedwait(&g->stop_cv, &g->lock, &until);
        if (!g->stopping)
            sweep_locked(g);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

struct guard *guard_new(const struct guard_limits *lim, const char *trusted_proxy)
{
    struct guard *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->lim = *lim;
    snprintf(g->trusted_proxy, sizeof(g->trusted_proxy), "%s", trusted_proxy ? trusted_proxy : "");
    pthread_mutex_init(&g->lock, NULL);
    clock_cond_init(&g->stop_cv);
    if (pthread_create(&g->thread, NULL, watch, g) != 0) {
        pthread_cond_destroy(&g->stop_cv);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
    }
    return g;
}

/* After the daemon stopped (every connection closed and dropped). */
void guard_free(struct guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->stop_cv);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    for (size_t i = 0; i < g->n; i++) {
        close(g->slots[i]->fd);
        free(g->slots[i]);
    }
    free(g->slots);
    pthread_cond_destroy(&g->stop_cv);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
