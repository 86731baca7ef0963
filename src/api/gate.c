/* gate.c - every API request passes here before its handler: who is asking (a session
 * cookie, or HTTP Basic for scripts), whether the request really comes from kimchid's own
 * pages (Origin, and a custom header or a JSON body with a cookie), and whether the role
 * allows it (only admins change anything). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../auth/auth.h"
#include "../util/b64.h"
#include "api_priv.h"

#define COOKIE_NAME "kimchid_session="

const char *api_header(const struct api_request *req, const char *name)
{
    return req->header ? req->header(req->header_cls, name) : NULL;
}

void api_cookie_token(const struct api_request *req, char *out, size_t len)
{
    const char *c = api_header(req, "Cookie");
    out[0] = '\0';
    for (const char *p = c; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t n = strcspn(p, ";");
        if (strncmp(p, COOKIE_NAME, strlen(COOKIE_NAME)) == 0) {
            size_t vlen = n - strlen(COOKIE_NAME);
            if (vlen < len) {
                memcpy(out, p + strlen(COOKIE_NAME), vlen);
                out[vlen] = '\0';
            }
            return;
        }
        p += n;
    }
}

static bool changes_state(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* Basic credentials: checked like a login (lockout included), no session; credentials PAM
 * accepted are remembered a while (auth/basic.c). */
static int basic(struct api_ctx *ctx, const struct api_request *req, const char *value,
                 struct auth_identity *who, struct api_reply *rep, struct err *e)
{
    char decoded[512];
    int rc = -1;
    long got =
        strncasecmp(value, "Basic ", 6) == 0 ? b64_decode(value + 6, decoded, sizeof(decoded)) : -1;
    char *colon = got > 0 ? strchr(decoded, ':') : NULL;
    if (!colon) {
        err_set(e, ERR_AUTH, M_AUTH_BAD_BASIC,
                "The Authorization header must be HTTP Basic credentials (user:password).");
    } else if (memchr(decoded, '\0', (size_t)got)) { /* PAM would see only a prefix of it */
        err_set(e, ERR_AUTH, M_AUTH_BAD_BASIC,
                "The Basic credentials hold a NUL byte, which no user name or password can "
                "contain.");
    } else {
        *colon = '\0';
        rc = auth_basic(ctx->auth, decoded, colon + 1, req->peer, changes_state(req->method), who,
                        &rep->retry_after, e);
    }
    explicit_bzero(decoded, sizeof(decoded));
    return rc;
}

static int identify(struct api_ctx *ctx, const struct api_request *req, struct auth_identity *who,
                    bool *by_cookie, struct api_reply *rep, struct err *e)
{
    char token[AUTH_TOKEN_LEN + 2];
    const char *authz = api_header(req, "Authorization");
    api_cookie_token(req, token, sizeof(token));
    *by_cookie = token[0] != '\0';
    if (ctx->auth && token[0])
        return auth_session(ctx->auth, token, changes_state(req->method), who, e);
    if (ctx->auth && authz)
        return basic(ctx, req, authz, who, rep, e);
    rep->www_authenticate = !api_header(req, "X-Requested-With"); /* scripts, not the UI */
    return err_set(e, ERR_AUTH, M_AUTH_REQUIRED,
                   "Log in first: POST /login with your user name and password, or send HTTP "
                   "Basic credentials.");
}

/* A state-changing request must not come from another site. */
static int same_origin(const struct api_request *req, bool by_cookie, struct err *e)
{
    const char *origin = api_header(req, "Origin"), *host = api_header(req, "Host");
    char expect[300];
    snprintf(expect, sizeof(expect), "%s://%s", req->tls ? "https" : "http", host ? host : "");
    if (origin && strcmp(origin, expect) != 0)
        return err_set(e, ERR_FORBIDDEN, M_AUTH_CROSS_SITE,
                       "Cross-site request refused: it comes from \"%.100s\", not from kimchid's "
                       "own pages.",
                       origin);
    const char *ct = api_header(req, "Content-Type");
    bool json = ct && strncasecmp(ct, "application/json", 16) == 0;
    if (by_cookie && !json && !api_header(req, "X-Requested-With"))
        return err_set(e, ERR_FORBIDDEN, M_AUTH_CROSS_SITE,
                       "Cross-site request refused: send \"X-Requested-With\" or a JSON body "
                       "with a session cookie.");
    return 0;
}

int api_gate(struct api_ctx *ctx, const struct api_request *req, const struct api_route *r,
             struct auth_identity *who, struct api_reply *rep, struct err *e)
{
    bool by_cookie = false;
    memset(who, 0, sizeof(*who));
    if (r->access == API_PUBLIC)
        return changes_state(req->method) ? same_origin(req, false, e) : 0;
    if (identify(ctx, req, who, &by_cookie, rep, e) < 0)
        return -1;
    if (r->access == API_ADMIN && !who->admin)
        return err_set(e, ERR_FORBIDDEN, M_API_FORBIDDEN,
                       "User \"%s\" may not read the activity log: it needs an administrator "
                       "(root, or a member of the admin group).",
                       who->user);
    if (!changes_state(req->method))
        return 0;
    if (same_origin(req, by_cookie, e) < 0)
        return -1;
    if (!who->admin)
        return err_set(e, ERR_FORBIDDEN, M_API_FORBIDDEN,
                       "User \"%s\" may only look: starting, stopping, cloning, migrating and "
                       "deleting guests need an administrator (root, or a member of the admin "
                       "group).",
                       who->user);
    return 0;
}
