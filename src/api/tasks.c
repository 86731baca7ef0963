/* tasks.c - /tasks: the task list (filtered as Wok does: filter.c), one task, cancel. */
#include "../auth/auth.h"
#include "../task/task.h"
#include "api_priv.h"

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

/* POST /tasks/:id/cancel (admins, like every change): 202 with the task once it stopped or
 * stops at its next step; 409 saying why it cannot. */
int api_task_cancel(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                    struct api_reply *rep, struct err *e)
{
    json_t *none = api_body(req, NULL, 0, e);
    if (!none)
        return -1;
    json_decref(none);
    const char *user = req->who && req->who->user[0] ? req->who->user : "an administrator";
    if (task_engine_cancel(ctx->tasks, p[0], user, e) < 0)
        return -1;
    json_t *t = task_engine_get(ctx->tasks, p[0], e);
    return t ? api_reply_json(rep, 202, t, e) : -1;
}
