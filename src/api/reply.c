/* reply.c - what handlers answer with: JSON replies, the contract's error shape, and the
 * URIs tasks name. */
#include <stdio.h>
#include <stdlib.h>

#include "api_priv.h"

void api_reply_error(struct api_reply *rep, const struct err *e)
{
    struct err fallback;
    if (e->code == ERR_NONE) {
        err_set(&fallback, ERR_INTERNAL, M_API_INTERNAL, "An internal error occurred.");
        e = &fallback;
    }
    rep->status = err_http_status(e->code);
    json_t *o = json_pack("{s:s, s:s}", "code", err_status_line(e->code), "reason", e->msg);
    rep->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
}

void api_reply_clear(struct api_reply *rep)
{
    free(rep->body);
    rep->body = NULL;
    if (rep->shared_free)
        rep->shared_free(rep->shared_ref);
    rep->shared = NULL;
    rep->shared_free = NULL;
}

int api_reply_text(struct api_reply *rep, int status, char *json)
{
    if (!json)
        return -1; /* the producer set the error */
    rep->status = status;
    rep->body = json;
    return 0;
}

int api_reply_json(struct api_reply *rep, int status, json_t *body, struct err *e)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s)
        return err_oom(e);
    rep->status = status;
    rep->body = s;
    return 0;
}
