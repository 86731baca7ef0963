/* server.c - libmicrohttpd set-up, body accumulation, and turning api replies into HTTP. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../api/api.h"
#include "../util/buf.h"
#include "../util/log.h"
#include "../util/net.h"
#include "http.h"
#include "http_priv.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct api_ctx *api;
    const char *ui_dir;
    bool tls;
    char trusted_proxy[INET6_ADDRSTRLEN]; /* empty: none */
    char hostname[256];                   /* this machine's, read at start */
    const char *server_names;             /* --server-name, or NULL */
    struct guard *guard;
    struct streams *streams; /* the open event streams, for the per-user cap */
};

/* Room for everyone: a few addresses cannot take all connections (32 x 32 are needed), slow
 * clients are cut at their deadline, and sooner when 3/4 of the connections are taken. */
/* Each connection's memory pool (request line and headers, response headers). 24 KiB takes
 * headers of about 20 KiB (browsers send 1-2); an open event stream holds its pool for hours,
 * and 100 of them must cost little (bench/events.sh). */
#define CONNECTION_POOL (24 * 1024)

static const struct guard_limits LIMITS = {.max_connections = 1024,
                                           .per_address = 32,
                                           .header_seconds = 10,
                                           .body_seconds = 30,
                                           .pressed_seconds = 2};

/* Per-request state: the body so far. Freed in on_completed. */
struct req_state {
    struct buf body;
    bool too_large;
    char peer[INET6_ADDRSTRLEN]; /* the client: the connection's, or the one the proxy forwards */
    bool tls;                    /* how the client reached us (the proxy's word, behind it) */
};

static const char *query_value(void *cls, const char *key)
{
    return MHD_lookup_connection_value(cls, MHD_GET_ARGUMENT_KIND, key);
}

struct each_arg {
    bool (*fn)(void *ctx, const char *key, const char *value);
    void *ctx;
};

static enum MHD_Result each_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    struct each_arg *a = cls;
    return a->fn(a->ctx, key, value ? value : "") ? MHD_YES : MHD_NO;
}

static void query_each(void *cls, bool (*fn)(void *ctx, const char *key, const char *value),
                       void *ctx)
{
    struct each_arg a = {fn, ctx};
    MHD_get_connection_values(cls, MHD_GET_ARGUMENT_KIND, each_value, &a);
}

static const char *header_value(void *cls, const char *key)
{
    return MHD_lookup_connection_value(cls, MHD_HEADER_KIND, key);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct api_reply *rep)
{
    struct MHD_Response *r;
    if (rep->shared) { /* the response releases it once sent */
        r = MHD_create_response_from_buffer_with_free_callback_cls(
            rep->shared_len, (void *)rep->shared, rep->shared_free, rep->shared_ref);
        if (r)
            rep->shared = NULL, rep->shared_free = NULL;
    } else if (rep->body) {
        r = MHD_create_response_from_buffer(strlen(rep->body), rep->body, MHD_RESPMEM_MUST_FREE);
        if (r)
            rep->body = NULL; /* now owned by the response */
    } else {
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return MHD_NO;
    if (rep->status != 204 && rep->status != 304)
        MHD_add_response_header(r, "Content-Type", "application/json");
    if (rep->allow[0])
        MHD_add_response_header(r, "Allow", rep->allow);
    if (rep->set_cookie[0])
        MHD_add_response_header(r, "Set-Cookie", rep->set_cookie);
    if (rep->www_authenticate)
        MHD_add_response_header(r, "WWW-Authenticate",
                                "Basic realm=\"kimchid\", charset=\"UTF-8\"");
    if (rep->retry_after > 0) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%ld", rep->retry_after);
        MHD_add_response_header(r, "Retry-After", secs);
    }
    if (rep->etag[0]) { /* kept only to revalidate: If-None-Match gets a 304 */
        MHD_add_response_header(r, "ETag", rep->etag);
        MHD_add_response_header(r, "Cache-Control", "private, no-cache");
        MHD_add_response_header(r, "Vary", "Accept-Encoding, Cookie, Authorization");
    } else {
        MHD_add_response_header(r, "Cache-Control", "no-store");
    }
    if (rep->gzip)
        MHD_add_response_header(r, "Content-Encoding", "gzip");
    http_add_common_headers(c, r);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned int)rep->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, enum err_code code, enum msg id,
                                  const char *msg)
{
    struct err e;
    struct api_reply rep;
    memset(&rep, 0, sizeof(rep));
    err_set(&e, code, id, "%s", msg);
    api_reply_error(&rep, &e);
    enum MHD_Result ret = send_reply(c, &rep);
    api_reply_clear(&rep);
    return ret;
}

static enum MHD_Result too_large(struct MHD_Connection *c)
{
    return send_error(c, ERR_TOO_LARGE, M_API_TOO_LARGE,
                      "The request body is larger than 64 KiB. Send a smaller request.");
}

static enum MHD_Result keep_last_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    if (key && value && strcasecmp(key, "X-Forwarded-For") == 0)
        *(const char **)cls = value;
    return MHD_YES;
}

/* Behind the proxy named with --trusted-proxy, the client is the last address of the last
 * X-Forwarded-For line (nginx and Apache append the address they see to the line the client
 * sent; HAProxy adds a line of its own after it), and the scheme is the one it was reached by
 * (X-Forwarded-Proto). From anyone else these headers are ignored: a client can write anything
 * there. Returns -1 with `bad` set to the entry when the proxy's entry is not an IP address
 * (a port, brackets, a name): answered 400, never taken for the proxy's own address. */
static int forwarded(const struct http_server *s, struct MHD_Connection *c, char *peer, size_t len,
                     bool *tls, char *bad, size_t badlen)
{
    if (!s->trusted_proxy[0] || strcmp(peer, s->trusted_proxy) != 0)
        return 0;
    const char *proto = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto");
    if (proto && strcasecmp(proto, "https") == 0)
        *tls = true;
    else if (proto && strcasecmp(proto, "http") == 0)
        *tls = false;
    const char *xff = NULL;
    MHD_get_connection_values(c, MHD_HEADER_KIND, keep_last_xff, &xff);
    if (!xff)
        return 0; /* the proxy's own request */
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    last += strspn(last, " \t");
    size_t n = strcspn(last, " \t");
    char addr[INET6_ADDRSTRLEN];
    if (n > 0 && n < sizeof(addr) && last[n + strspn(last + n, " \t")] == '\0') {
        memcpy(addr, last, n);
        addr[n] = '\0';
        if (net_is_ip(addr)) {
            snprintf(peer, len, "%s", addr);
            return 0;
        }
    }
    snprintf(bad, badlen, "%.64s", last);
    for (char *b = bad; *b; b++) /* the entry goes into a message: printable ASCII only */
        if ((unsigned char)*b < 0x20 || (unsigned char)*b > 0x7e)
            *b = '?';
    return -1;
}

static enum MHD_Result bad_forwarded(struct MHD_Connection *c, const char *entry)
{
    char msg[400];
    snprintf(msg, sizeof(msg),
             "The trusted proxy's X-Forwarded-For ends in \"%s\", which is not an IP address. "
             "Have the proxy add the client's address alone (README, \"Reverse proxy\").",
             entry);
    return send_error(c, ERR_INVALID, M_API_BAD_FORWARDED, msg);
}

static enum MHD_Result client_full(struct MHD_Connection *c, const char *client)
{
    char msg[400];
    snprintf(msg, sizeof(msg),
             "The client %s already holds %d connections to kimchid through the proxy, as many "
             "as one address may. Close some of its pages or event streams, then try again.",
             client, LIMITS.per_address);
    return send_error(c, ERR_UNAVAILABLE, M_API_CLIENT_FULL, msg);
}

static enum MHD_Result wrong_host(struct MHD_Connection *c, const char *host)
{
    char msg[600];
    snprintf(msg, sizeof(msg),
             "This server does not answer to the name \"%.200s\" (the request's Host). If "
             "that is how you reach kimchid, start it with --server-name NAME (the name "
             "without the port); else use its address.",
             host);
    return send_error(c, ERR_INVALID, M_API_WRONG_HOST, msg);
}

static enum MHD_Result dispatch(struct http_server *s, struct MHD_Connection *c, const char *url,
                                const char *method, struct req_state *st)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!http_host_allowed(host, s->hostname, s->server_names))
        return wrong_host(c, host);
    if (!api_owns_path(url))
        return http_static_serve(c, s->ui_dir, url, method);
    if (strlen(url) > API_MAX_PATH)
        return send_error(c, ERR_INVALID, M_API_URI_TOO_LONG, "The URI is too long.");
    struct api_request req = {.method = method,
                              .path = url,
                              .body = st->body.data,
                              .body_len = st->body.len,
                              .query = query_value,
                              .query_cls = c,
                              .header = header_value,
                              .header_cls = c,
                              .peer = st->peer,
                              .tls = st->tls,
                              .query_each = query_each};
    struct api_reply rep;
    api_handle(s->api, &req, &rep);
    log_debug("%s %s -> %d", method, url, rep.status);
    enum MHD_Result ret =
        rep.stream ? http_stream_events(c, s->api, s->streams, &rep) : send_reply(c, &rep);
    api_reply_clear(&rep);
    return ret;
}

static bool declared_too_large(struct MHD_Connection *c)
{
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && strtoull(cl, NULL, 10) > HTTP_MAX_BODY;
}

/* Once the header is in, before any of the body is read: who the client is, and whether it
 * may hold one more connection (so a client's slow bodies hold at most its own share). */
static enum MHD_Result admit(struct http_server *s, struct MHD_Connection *c, struct req_state *st)
{
    char bad[80];
    st->tls = s->tls;
    http_peer_address(c, st->peer, sizeof(st->peer));
    if (forwarded(s, c, st->peer, sizeof(st->peer), &st->tls, bad, sizeof(bad)) < 0)
        return bad_forwarded(c, bad);
    if (!guard_client(s->guard, c, st->peer))
        return client_full(c, st->peer);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct req_state *st = *con_cls;
    struct http_server *s = cls;
    if (!st) {
        guard_mark(s->guard, c, GUARD_HEADERS);
        if (declared_too_large(c))
            return too_large(c); /* answered before reading the body */
        if (!(st = calloc(1, sizeof(*st))))
            return MHD_NO;
        buf_init(&st->body, HTTP_MAX_BODY);
        *con_cls = st;
        return admit(s, c, st);
    }
    if (*upload_data_size) {
        if (!st->too_large && buf_append(&st->body, upload_data, *upload_data_size) < 0)
            st->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_large)
        return too_large(c);
    guard_mark(s->guard, c, GUARD_SERVING);
    return dispatch(s, c, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct http_server *s = cls;
    guard_mark(s->guard, c, GUARD_DONE);
    struct req_state *st = *con_cls;
    if (!st)
        return;
    if (st->body.data) /* bodies may carry passwords */
        explicit_bzero(st->body.data, st->body.len);
    buf_free(&st->body);
    free(st);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("http: %s", line);
}

static int make_addr(const char *addr, int port, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    *v6 = false;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return 0;
    }
    return -1;
}

/* TLS 1.2 or newer, AEAD ciphers with forward secrecy only. */
#define TLS_PRIORITIES                                                                             \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"         \
    "+CHACHA20-POLY1305:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

struct http_server *http_server_start(const struct http_config *cfg, struct api_ctx *api,
                                      struct err *e)
{
    struct sockaddr_storage ss;
    bool v6;
    if (make_addr(cfg->addr, cfg->port, &ss, &v6) < 0) {
        err_set(e, ERR_INVALID, M_D_LISTEN_ADDR, "The listen address \"%s\" is not a numeric IP.",
                cfg->addr);
        return NULL;
    }
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s) {
        err_oom(e);
        return NULL;
    }
    s->api = api;
    s->ui_dir = cfg->ui_dir;
    s->tls = cfg->cert_pem != NULL;
    snprintf(s->trusted_proxy, sizeof(s->trusted_proxy), "%s",
             cfg->trusted_proxy ? cfg->trusted_proxy : "");
    if (gethostname(s->hostname, sizeof(s->hostname) - 1) < 0)
        s->hostname[0] = 0;
    s->server_names = cfg->server_names;
    if (!(s->guard = guard_new(&LIMITS, s->trusted_proxy)) || !(s->streams = streams_new())) {
        err_oom(e);
        guard_free(s->guard);
        free(s);
        return NULL;
    }
    /* behind the trusted proxy, the guard counts each client it forwards instead */
    unsigned int per_ip = s->trusted_proxy[0] ? 0u : (unsigned int)LIMITS.per_address;
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_AUTO | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) |
                         (cfg->cert_pem ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, guard_notify, s->guard, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)LIMITS.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_POOL, MHD_OPTION_ARRAY, cfg->cert_pem ? tls : &tls[3], MHD_OPTION_END);
    if (!s->daemon) {
        err_set(e, ERR_INTERNAL, M_D_LISTEN,
                "Cannot listen on %s port %d (is another process using it?).", cfg->addr,
                cfg->port);
        guard_free(s->guard);
        streams_free(s->streams);
        free(s);
        return NULL;
    }
    return s;
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    guard_free(s->guard);
    streams_free(s->streams);
    free(s);
}
