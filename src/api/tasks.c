/* tasks.c - /tasks: the task list (filters: status, target_uri) and one task. */
#include "../task/task.h"
#include "api_priv.h"

static const char *query(const struct api_request *req, const char *key)
{
    return req->query ? req->query(req->query_cls, key) : NULL;
}

int api_tasks_list(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                   struct api_reply *rep, struct err *e)
{
    (void)p;
    json_t *list = task_engine_list(ctx->tasks, query(req, "status"), query(req, "target_uri"));
    return api_reply_json(rep, 200, list, e);
}

int api_task_get(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                 struct api_reply *rep, struct err *e)
{
    (void)req;
    json_t *t = task_engine_get(ctx->tasks, p[0], e);
    return t ? api_reply_json(rep, 200, t, e) : -1;
}
