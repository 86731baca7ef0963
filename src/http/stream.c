/* stream.c - GET /plugins/kimchi/events as Server-Sent Events: a response of unknown length
 * whose reader waits on the event bus. With one thread per connection (server.c) a waiting
 * reader blocks only its own client. Every stream starts with a "ready" frame carrying the
 * current position as its id, so a client that reconnects before anything happened still
 * resumes where it was; "ready" says "reload": true when the client must fetch what it shows
 * again (first connection, an id from before a restart, or frames it missed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/api.h"
#include "../util/bus.h"
#include "../util/clock.h"
#include "http_priv.h"

#define KEEPALIVE_MS 15000 /* a comment line this often: proxies and MHD's 30 s timeout */
#define CHECK_MS 5000      /* the session is looked at least this often (and on logout) */
/* The most one read sends (MHD allocates it for each stream): frames are a few KiB; a larger
 * one is a gap (the client reloads). */
#define BLOCK (8 * 1024)
#define RETRY_MS 1000 /* how soon a browser reconnects */

struct sse {
    struct bus *bus;
    struct api_ctx *api;
    char token[80]; /* the session the stream belongs to: it ends with it */
    uint64_t pos;
    bool greeted;
    bool reload;
    struct timespec wrote; /* the last write, for keep-alives */
};

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
        bool gap;
        ssize_t n = bus_read(s->bus, &s->pos, buf, max, CHECK_MS, &gap);
        if (n < 0 || !api_stream_allowed(s->api, s->token))
            return MHD_CONTENT_READER_END_OF_STREAM; /* kimchid stops, or the session ended */
        if (gap || n > 0 || clock_ms_since(&s->wrote) >= KEEPALIVE_MS) {
            clock_gettime(CLOCK_MONOTONIC, &s->wrote);
            return gap ? ready_frame(s, buf, max, true) : n > 0 ? n : keepalive(buf);
        }
    }
}

enum MHD_Result http_stream_events(struct MHD_Connection *c, struct api_ctx *api,
                                   const struct api_reply *rep)
{
    struct sse *s = calloc(1, sizeof(*s));
    if (!s)
        return MHD_NO;
    s->bus = api->events;
    s->api = api;
    snprintf(s->token, sizeof(s->token), "%s", rep->stream_token);
    s->pos = rep->stream_pos;
    s->reload = rep->stream_reload;
    clock_gettime(CLOCK_MONOTONIC, &s->wrote);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK, sse_read, s, free);
    if (!r) {
        free(s);
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
