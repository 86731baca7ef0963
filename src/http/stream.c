/* stream.c - GET /plugins/kimchi/events as Server-Sent Events: a response of unknown length
 * whose reader waits on the event bus. With one thread per connection (server.c) a waiting
 * reader blocks only its own client. Every stream starts with a "ready" frame carrying the
 * current position as its id, so a client that reconnects before anything happened still
 * resumes where it was; "ready" says "reload": true when the client must fetch what it shows
 * again (first connection, an id from before a restart, or frames it missed).
 * Each user keeps at most STREAMS_PER_USER streams (pages left open, a script that never
 * closes its streams): opening one more closes that user's oldest with a final "closed"
 * event, which tells the page not to reconnect. A stream opened with Basic credentials has
 * no session to end with it: its account is read again every auth_recheck_seconds(). */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/api.h"
#include "../auth/auth.h"
#include "../util/bus.h"
#include "../util/clock.h"
#include "../util/err.h"
#include "http_priv.h"

#define KEEPALIVE_MS 15000 /* a comment line this often: proxies and MHD's 30 s timeout */
#define CHECK_MS 5000      /* the session is looked at least this often (and on logout) */
/* The most one read sends (MHD allocates it for each stream): frames are a few KiB; a larger
 * one is a gap (the client reloads). */
#define BLOCK (8 * 1024)
#define RETRY_MS 1000 /* how soon a browser reconnects */
#define STREAMS_PER_USER 8

enum ending { GOING, SUPERSEDED, ACCOUNT_CHANGED, ENDED };

struct sse {
    struct bus *bus;
    struct api_ctx *api;
    struct streams *list;
    char token[80]; /* the session the stream belongs to: it ends with it */
    char user[64];
    bool admin;
    char pw_mark[17];
    uint64_t pos;
    bool greeted;
    bool reload;
    atomic_int ending;       /* enum ending: set by another stream's opening (SUPERSEDED) */
    struct timespec wrote;   /* the last write, for keep-alives */
    struct timespec checked; /* Basic: the account's last reading */
};

/* The open streams, oldest first. */
struct streams {
    pthread_mutex_t lock;
    struct sse **v;
    size_t n, cap;
};

struct streams *streams_new(void)
{
    struct streams *l = calloc(1, sizeof(*l));
    if (l)
        pthread_mutex_init(&l->lock, NULL);
    return l;
}

void streams_free(struct streams *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l->v);
    free(l);
}

/* Adds `s` as the newest stream; the user's oldest beyond the cap is told to end. */
static bool streams_add(struct streams *l, struct sse *s)
{
    pthread_mutex_lock(&l->lock);
    bool ok = l->n < l->cap;
    if (!ok) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct sse **v = realloc(l->v, cap * sizeof(*v));
        if ((ok = v != NULL)) {
            l->v = v;
            l->cap = cap;
        }
    }
    if (ok) {
        size_t mine = 0;
        for (size_t i = 0; i < l->n; i++)
            mine += strcmp(l->v[i]->user, s->user) == 0 && atomic_load(&l->v[i]->ending) == GOING;
        for (size_t i = 0; i < l->n && s->user[0] && mine >= STREAMS_PER_USER; i++) {
            int going = GOING;
            if (strcmp(l->v[i]->user, s->user) == 0 &&
                atomic_compare_exchange_strong(&l->v[i]->ending, &going, SUPERSEDED))
                mine--;
        }
        l->v[l->n++] = s;
    }
    pthread_mutex_unlock(&l->lock);
    return ok;
}

/* libmicrohttpd's free callback: the stream's connection ended. */
static void sse_free(void *cls)
{
    struct sse *s = cls;
    struct streams *l = s->list;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == s) {
            memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
            l->n--;
            break;
        }
    pthread_mutex_unlock(&l->lock);
    free(s);
}

/* The last frame of a stream kimchid ends while its client is still there: a "closed" event
 * the page acts on (it stops reconnecting and says why). */
static ssize_t closed_frame(struct sse *s, enum ending why, char *buf, size_t max)
{
    struct err e;
    if (why == SUPERSEDED)
        err_set(&e, ERR_CONFLICT, M_EVENTS_SUPERSEDED,
                "This live view was closed: \"%s\" opened more than %d event streams, and "
                "kimchid keeps the newest %d. Close pages you no longer use, then reload this "
                "one.",
                s->user, STREAMS_PER_USER, STREAMS_PER_USER);
    else
        err_set(&e, ERR_AUTH, M_EVENTS_ACCOUNT,
                "This live view was closed: the account \"%s\" was removed, locked or expired, "
                "or its rights or password changed, since the stream opened.",
                s->user);
    json_t *j = json_pack("{s:s, s:s, s:s}", "reason",
                          why == SUPERSEDED ? "too many streams" : "account changed", "code", e.id,
                          "message", e.msg);
    char *data = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    int n = data ? snprintf(buf, max, "event: closed\ndata: %s\n\n", data) : -1;
    free(data);
    return n > 0 && (size_t)n < max ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Whether the stream may go on: its session (or, for Basic, its account) still holds. */
static enum ending still_allowed(struct sse *s)
{
    if (s->token[0] || !s->user[0])
        return api_stream_allowed(s->api, s->token, "", false, "") ? GOING : ENDED;
    if (clock_ms_since(&s->checked) <
        (s->api->auth ? auth_recheck_seconds(s->api->auth) : AUTH_RECHECK_SECONDS) * 1000L)
        return GOING;
    clock_gettime(CLOCK_MONOTONIC, &s->checked);
    return api_stream_allowed(s->api, "", s->user, s->admin, s->pw_mark) ? GOING : ACCOUNT_CHANGED;
}

static ssize_t ready_frame(struct sse *s, char *buf, size_t max, bool reload)
{
    char id[48];
    bus_format_id(s->bus, s->pos, id, sizeof(id));
    int n = snprintf(buf, max, "retry: %d\nid: %s\nevent: ready\ndata: {\"reload\":%s}\n\n",
                     RETRY_MS, id, reload ? "true" : "false");
    return n > 0 && (size_t)n < max ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static ssize_t keepalive(char *buf)
{
    static const char line[] = ": keep-alive\n\n"; /* a comment: clients ignore it */
    memcpy(buf, line, sizeof(line) - 1);
    return (ssize_t)sizeof(line) - 1;
}

static ssize_t sse_read(void *cls, uint64_t offset, char *buf, size_t max)
{
    (void)offset;
    struct sse *s = cls;
    if (!s->greeted) {
        s->greeted = true;
        return ready_frame(s, buf, max, s->reload);
    }
    for (;;) {
        int why = atomic_load(&s->ending);
        if (why == SUPERSEDED || why == ACCOUNT_CHANGED) {
            atomic_store(&s->ending, ENDED);
            return closed_frame(s, why, buf, max);
        }
        if (why == ENDED)
            return MHD_CONTENT_READER_END_OF_STREAM;
        bool gap;
        ssize_t n = bus_read(s->bus, &s->pos, buf, max, CHECK_MS, &gap);
        enum ending now = n < 0 ? ENDED : still_allowed(s);
        if (now == ENDED)
            return MHD_CONTENT_READER_END_OF_STREAM; /* kimchid stops, or the session ended */
        int going = GOING;
        if (now == ACCOUNT_CHANGED)
            atomic_compare_exchange_strong(&s->ending, &going, ACCOUNT_CHANGED);
        if (atomic_load(&s->ending) != GOING)
            continue; /* its closing frame comes next */
        if (gap || n > 0 || clock_ms_since(&s->wrote) >= KEEPALIVE_MS) {
            clock_gettime(CLOCK_MONOTONIC, &s->wrote);
            return gap ? ready_frame(s, buf, max, true) : n > 0 ? n : keepalive(buf);
        }
    }
}

enum MHD_Result http_stream_events(struct MHD_Connection *c, struct api_ctx *api, struct streams *l,
                                   const struct api_reply *rep)
{
    struct sse *s = calloc(1, sizeof(*s));
    if (!s)
        return MHD_NO;
    s->bus = api->events;
    s->api = api;
    s->list = l;
    snprintf(s->token, sizeof(s->token), "%s", rep->stream_token);
    snprintf(s->user, sizeof(s->user), "%s", rep->stream_user);
    s->admin = rep->stream_admin;
    snprintf(s->pw_mark, sizeof(s->pw_mark), "%s", rep->stream_mark);
    s->pos = rep->stream_pos;
    s->reload = rep->stream_reload;
    atomic_init(&s->ending, GOING);
    clock_gettime(CLOCK_MONOTONIC, &s->wrote);
    s->checked = s->wrote;
    if (!streams_add(l, s)) {
        free(s);
        return MHD_NO;
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK, sse_read, s, sse_free);
    if (!r) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* nginx: pass each frame on */
    http_add_common_headers(c, r);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}
