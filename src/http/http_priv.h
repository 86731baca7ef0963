/* http_priv.h - shared between the files of the http module. */
#ifndef KIMCHID_HTTP_PRIV_H
#define KIMCHID_HTTP_PRIV_H

#include <microhttpd.h>
#include <stdbool.h>

/* host.c: whether to answer a request whose Host header is `host` (NULL: none): any IP
 * address, localhost, this machine's `hostname` (or its first label), or one of the
 * comma-separated `names` (--server-name). */
bool http_host_allowed(const char *host, const char *hostname, const char *names);

/* server.c: the client's numeric address ("?" when unknown). */
void http_peer_address(struct MHD_Connection *c, char *out, size_t len);

/* guard.c: deadlines for slow clients and a per-address cap (see guard.c). */
struct guard_limits {
    int max_connections; /* libmicrohttpd's limit: at 3/4 of it, `pressed_seconds` applies */
    int per_address;     /* connections from one address (an IPv6 /64) */
    long header_seconds; /* from connect (or the previous request's end) to a whole header */
    long body_seconds;   /* from the header to the whole body */
    long pressed_seconds;
};
enum guard_phase { GUARD_HEADERS, GUARD_SERVING, GUARD_DONE };
struct guard;
/* `trusted_proxy`: the numeric address of --trusted-proxy, or NULL. */
struct guard *guard_new(const struct guard_limits *lim, const char *trusted_proxy);
void guard_free(struct guard *g);
/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback (cls: the guard). */
void guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                  enum MHD_ConnectionNotificationCode toe);
/* The client a request on `c` comes from, as the trusted proxy forwards it: false when that
 * client already holds as many connections as one address may (the request is refused). */
bool guard_client(struct guard *g, struct MHD_Connection *c, const char *client);
/* Where the connection's current request is. */
void guard_mark(struct guard *g, struct MHD_Connection *c, enum guard_phase phase);

/* Serves a file below ui_dir for GET/HEAD of `url`; queues the response. */
enum MHD_Result http_static_serve(struct MHD_Connection *c, const char *ui_dir, const char *url,
                                  const char *method);

struct api_ctx;
struct api_reply;
/* stream.c: queues the event stream `rep` asks for (rep->stream), read from api->events for
 * as long as its session lives. */
struct streams;
struct streams *streams_new(void);
void streams_free(struct streams *l); /* after every stream ended */
enum MHD_Result http_stream_events(struct MHD_Connection *c, struct api_ctx *api, struct streams *l,
                                   const struct api_reply *rep);

/* Queues a small text response with the security headers. */
enum MHD_Result http_queue_text(struct MHD_Connection *c, unsigned int status, const char *text);

/* Adds headers every response carries (and HSTS on HTTPS). */
void http_add_common_headers(struct MHD_Connection *c, struct MHD_Response *r);

/* Resolves `url` below `ui_dir`, refusing anything that leaves it. New string or NULL. */
char *http_static_resolve(const char *ui_dir, const char *url);

#endif
