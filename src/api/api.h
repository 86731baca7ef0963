/* api.h - Kimchi's REST API as a pure function from a request to a reply, so that it
 * can be tested without HTTP. The HTTP layer fills api_request and sends api_reply. */
#ifndef KIMCHID_API_H
#define KIMCHID_API_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "../util/err.h"

struct virt;
struct task_engine;
struct auth;
struct auth_identity;
struct api_route;
struct json_t;

#define API_PREFIX "/plugins/kimchi"

/* Returns the value of query parameter `key` (borrowed) or NULL. */
typedef const char *(*api_query_fn)(void *cls, const char *key);

/* Calls fn for each query parameter in order; fn returns false to stop. */
typedef void (*api_query_each_fn)(void *cls,
                                  bool (*fn)(void *ctx, const char *key, const char *value),
                                  void *ctx);

/* The longest request path the API reads; the HTTP layer refuses longer ones (400). */
#define API_MAX_PATH 4096

struct api_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* decoded, starting with API_PREFIX */
    const char *body;   /* not NUL-terminated; may be NULL when body_len is 0 */
    size_t body_len;
    api_query_fn query; /* may be NULL */
    void *query_cls;
    api_query_fn header; /* request headers; may be NULL */
    void *header_cls;
    const char *peer;                /* client address, for the login lockout */
    bool tls;                        /* the request came over TLS (cookies get Secure) */
    const struct auth_identity *who; /* set by the gate for handlers */
    api_query_each_fn query_each;    /* every query parameter (with query_cls); may be NULL */
    /* set by the router for handlers: */
    const struct api_route *route; /* the row that matched */
    struct json_t *json;           /* the body parsed and checked against the row (borrowed) */
};

struct api_reply {
    int status;
    char *body;            /* JSON text (owned) or NULL for no body */
    char allow[64];        /* "Allow" header value for 405, else empty */
    char set_cookie[256];  /* "Set-Cookie" header value, else empty */
    long retry_after;      /* "Retry-After" seconds for 429, else 0 */
    bool www_authenticate; /* ask a script for Basic credentials (401) */
    char audit_user[64];   /* for the audit line when no login identifies the caller (login) */
    bool stream;           /* 200 as a text/event-stream of ctx->events from stream_pos */
    unsigned long long stream_pos;
    bool stream_reload;    /* the client must reload what it shows (its id was from elsewhere) */
    char stream_token[80]; /* the session the stream belongs to ("" for Basic credentials) */
    char stream_user[64];  /* who opened it: each user holds a few streams at most */
    bool stream_admin;     /* with which rights (a Basic stream ends when they change) */
    char stream_mark[17];  /* and which password (auth_identity.pw_mark: ends when it changes) */
    const char *shared;    /* instead of body: `shared_len` bytes shared, not copied (the guest
                            * list), released with shared_free(shared_ref) once sent or dropped */
    size_t shared_len;
    void (*shared_free)(void *ref);
    void *shared_ref;
    char etag[32]; /* "ETag" (the client revalidates: If-None-Match, 304), else empty */
    bool gzip;     /* the shared body is gzip'd (Content-Encoding; Vary: Accept-Encoding) */
};

/* Where start-up is: HTTP serves from STARTING on (the pages, /login), the rest of the API
 * from READY (see api_ctx_ready). */
enum api_stage { API_STARTING, API_READY, API_FAILED };

struct api_ctx {
    struct virt *virt;
    struct task_engine *tasks;
    struct auth *auth;   /* NULL: every route that needs a login answers 401 */
    struct trail *audit; /* NULL: no audit trail */
    struct bus *events;  /* NULL: GET /plugins/kimchi/events answers 503 */
    pthread_mutex_t stage_lock;
    pthread_cond_t stage_cond;
    enum api_stage stage;
};

/* kimchid listens before libvirt is open (with 1000 guests that open and the first read of
 * the guests take most of its start), so that the pages load and a login goes through
 * meanwhile. A request that needs libvirt or the tasks waits for api_ctx_ready, at most
 * API_READY_WAIT_MS, then answers 503. api_ctx_init before HTTP starts (auth and audit set);
 * api_ctx_ready once virt, tasks and events are set (they are not read before); api_ctx_failed
 * when start-up gives up (waiting requests get 503 at once; no effect once READY). */
#define API_READY_WAIT_MS 10000
void api_ctx_init(struct api_ctx *ctx);
void api_ctx_ready(struct api_ctx *ctx);
void api_ctx_failed(struct api_ctx *ctx);
void api_ctx_destroy(struct api_ctx *ctx);

/* True when `path` is API_PREFIX or below it, or one of Wok's root resources kimchid answers
 * (/login, /logout, /config, /notifications, /logs, and what is below them). */
bool api_owns_path(const char *path);

/* Tells the virt layer which actions the route table allows in each guest state, so that
 * every VM object lists them. Once, before virt_new. */
void api_actions_define(void);

/* Routes and runs one request. Always fills `rep`; the caller frees it with api_reply_clear.
 * Called from HTTP threads, concurrently. */
void api_handle(struct api_ctx *ctx, const struct api_request *req, struct api_reply *rep);

/* Whether a stream opened with session `token` may go on: the session is still alive (and
 * kept alive by the open page, as its polling did), its account still allowed. An empty
 * token (Basic credentials: no session) asks whether `user`'s account still holds with the
 * rights it had (`admin`): not removed, locked or expired. Blocking (reads the account). */
bool api_stream_allowed(struct api_ctx *ctx, const char *token, const char *user, bool admin,
                        const char *pw_mark);

/* Fills `rep` with Kimchi's error body for `e`. */
void api_reply_error(struct api_reply *rep, const struct err *e);

/* Frees the reply's body. */
void api_reply_clear(struct api_reply *rep);

#endif
