/* tasks.c - /tasks: the task list (filtered as Wok does: filter.c), one task, cancel; and
 * /events, the stream of what changes (the HTTP layer sends it: http/stream.c). */
#include <stdint.h>
#include <stdio.h>

#include "../auth/auth.h"
#include "../task/jobs.h"
#include "../util/bus.h"
#include "api_priv.h"

/* GET /events: where the stream starts for this client. A browser's EventSource sends the
 * last id it saw (Last-Event-ID) when it reconnects: the stream goes on from there. */
int api_events(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
               struct api_reply *rep, struct err *e)
{
    (void)p;
    if (!ctx->events)
        return err_set(e, ERR_UNAVAILABLE, M_EVENTS_OFF, "The event stream is not available.");
    const char *last = req->header ? req->header(req->header_cls, "Last-Event-ID") : NULL;
    uint64_t pos = bus_now(ctx->events);
    int known = last && *last ? bus_parse_id(ctx->events, last, &pos) : 1;
    if (known < 0)
        return err_set(e, ERR_INVALID, M_EVENTS_BAD_ID,
                       "The Last-Event-ID header \"%.48s\" is not an id this event stream "
                       "sends (they look like 1795716946209.42). Reconnect without it and "
                       "reload what you show.",
                       last);
    api_cookie_token(req, rep->stream_token, sizeof(rep->stream_token));
    if (req->who) {
        snprintf(rep->stream_user, sizeof(rep->stream_user), "%s", req->who->user);
        rep->stream_admin = req->who->admin;
        snprintf(rep->stream_mark, sizeof(rep->stream_mark), "%s", req->who->pw_mark);
    }
    rep->status = 200;
    rep->stream = true;
    rep->stream_pos = pos;
    rep->stream_reload = known != 0;
    return 0;
}

int api_tasks_list(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                   struct api_reply *rep, struct err *e)
{
    (void)p;
    json_t *list = api_filter(req, task_engine_list(ctx->tasks, NULL, NULL), e);
    return list ? api_reply_json(rep, 200, list, e) : -1;
}

int api_task_get(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                 struct api_reply *rep, struct err *e)
{
    (void)req;
    json_t *t = task_engine_get(ctx->tasks, p[0], e);
    return t ? api_reply_json(rep, 200, t, e) : -1;
}

_Static_assert(sizeof(((struct api_reply *)0)->stream_token) > AUTH_TOKEN_LEN,
               "a session token fits in stream_token");

bool api_stream_allowed(struct api_ctx *ctx, const char *token, const char *user, bool admin,
                        const char *pw_mark)
{
    struct auth_identity who;
    struct err e;
    if (!ctx->auth)
        return true;
    if (!token[0])
        return !user[0] || auth_account_holds(ctx->auth, user, admin, pw_mark);
    return auth_session(ctx->auth, token, false, &who, &e) == 0;
}

/* POST /tasks/:id/cancel (admins, like every change): 202 with the task once it stopped or
 * stops at its next step; 409 saying why it cannot. */
int api_task_cancel(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                    struct api_reply *rep, struct err *e)
{
    const char *user = req->who && req->who->user[0] ? req->who->user : "an administrator";
    if (task_engine_cancel(ctx->tasks, p[0], user, e) < 0)
        return -1;
    json_t *t = task_engine_get(ctx->tasks, p[0], e);
    return t ? api_reply_json(rep, 202, t, e) : -1;
}

/* POST /tasks/:id/recover (admins): the post-copy recovery again for the guest that move left
 * split between two hosts; 202 with the new task; 404 for no such task; 409 when it left
 * nothing split (or a recovery of it runs). */
int api_task_recover(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                     struct api_reply *rep, struct err *e)
{
    (void)req;
    json_t *t = task_submit_recover(ctx->tasks, ctx->virt, p[0], e);
    return t ? api_reply_json(rep, 202, t, e) : -1;
}
