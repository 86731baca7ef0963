/* login.c - POST /login, POST /logout and GET /plugins/kimchi/session. */
#include <stdio.h>
#include <string.h>

#include "../auth/auth.h"
#include "../util/array.h"
#include "../util/bus.h"
#include "api_priv.h"

static json_t *identity_json(const struct auth_identity *who)
{
    json_t *groups = json_loads(who->groups, 0, NULL);
    return json_pack("{s:s, s:o, s:s}", "username", who->user, "groups",
                     groups ? groups : json_array(), "role", who->admin ? "admin" : "user");
}

static void set_cookie(struct api_ctx *ctx, const struct api_request *req, struct api_reply *rep,
                       const char *token)
{
    snprintf(rep->set_cookie, sizeof(rep->set_cookie),
             "kimchid_session=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s", token,
             token[0] ? auth_lifetime(ctx->auth) : 0L, req->tls ? "; Secure" : "");
}

int api_login(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
              struct api_reply *rep, struct err *e)
{
    (void)p;
    json_t *body = req->json;
    char token[AUTH_TOKEN_LEN + 1];
    struct auth_identity who;
    int rc = -1;
    snprintf(rep->audit_user, sizeof(rep->audit_user), "%s", jsonv_str(body, "username"));
    if (!ctx->auth)
        err_set(e, ERR_UNAVAILABLE, M_AUTH_UNAVAILABLE, "Logins are not available.");
    else
        rc = auth_login(ctx->auth, jsonv_str(body, "username"), jsonv_str(body, "password"),
                        req->peer, token, &who, &rep->retry_after, e);
    jsonv_wipe(body, "password");
    if (rc < 0)
        return -1;
    set_cookie(ctx, req, rep, token);
    explicit_bzero(token, sizeof(token));
    return api_reply_json(rep, 200, identity_json(&who), e);
}

int api_logout(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
               struct api_reply *rep, struct err *e)
{
    (void)p;
    char token[AUTH_TOKEN_LEN + 2];
    api_cookie_token(req, token, sizeof(token));
    if (ctx->auth && token[0]) /* the trail names whose session ended (none: no line) */
        auth_logout(ctx->auth, token, rep->audit_user, sizeof(rep->audit_user));
    bus_wake(ctx->events); /* its streams see the session ended, and end */
    set_cookie(ctx, req, rep, "");
    return api_reply_json(rep, 200, json_object(), e); /* Wok answers 200 {} */
}

int api_session_get(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                    struct api_reply *rep, struct err *e)
{
    (void)ctx;
    (void)p;
    return api_reply_json(rep, 200, identity_json(req->who), e);
}
