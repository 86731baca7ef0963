/* vms.c - /vms: list, one guest, lifecycle actions, delete and clone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../task/jobs.h"
#include "../util/array.h"
#include "../util/esc.h"
#include "../util/maint.h"
#include "../virt/virt.h"
#include "api_priv.h"

/* The next item of a comma-separated header value after the one at `p`, or NULL. */
static const char *next_item(const char *p)
{
    const char *comma = strchr(p, ',');
    return comma ? comma + 1 : NULL;
}

/* Whether an Accept-Encoding header value accepts gzip (a "gzip" or "x-gzip" token whose q is
 * not 0). */
static bool accepts_gzip(const char *ae)
{
    for (const char *p = ae; p && *p; p = next_item(p)) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, " \t;,");
        bool gz =
            (n == 4 && !strncasecmp(p, "gzip", 4)) || (n == 6 && !strncasecmp(p, "x-gzip", 6));
        const char *q = strstr(p, "q="), *end = next_item(p);
        bool zero = q && (!end || q < end) && strtod(q + 2, NULL) == 0.0;
        if (gz && !zero)
            return true;
    }
    return false;
}

/* Whether If-None-Match names `etag` (or is "*"); a weak W/ prefix compares the same. */
static bool etag_matches(const char *inm, const char *etag)
{
    size_t n = strlen(etag);
    for (const char *p = inm; p && *p; p = next_item(p)) {
        p += strspn(p, " \t");
        if (!strncmp(p, "W/", 2))
            p += 2;
        if (*p == '*' || (!strncmp(p, etag, n) && strchr(" \t,", p[n])))
            return true;
    }
    return false;
}

/* The list is built once per change and served as it is (not copied), gzip'd when the
 * client accepts it, with an ETag: a client that has it gets a 304. */
int api_vms_list(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                 struct api_reply *rep, struct err *e)
{
    (void)p, (void)e;
    const char *ae = req->header ? req->header(req->header_cls, "Accept-Encoding") : NULL;
    const char *inm = req->header ? req->header(req->header_cls, "If-None-Match") : NULL;
    struct virt_body b;
    virt_vms_body(ctx->virt, ae && accepts_gzip(ae), &b);
    /* each encoding is its own representation, with its own tag */
    snprintf(rep->etag, sizeof(rep->etag), "\"g%llu%s\"", b.gen, b.gzip ? "-gz" : "");
    if (inm && etag_matches(inm, rep->etag)) {
        virt_body_release(b.ref);
        rep->status = 304;
        return 0;
    }
    rep->status = 200;
    rep->shared = b.data;
    rep->shared_len = b.len;
    rep->shared_free = virt_body_release;
    rep->shared_ref = b.ref;
    rep->gzip = b.gzip;
    return 0;
}

int api_vm_get(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
               struct api_reply *rep, struct err *e)
{
    (void)req;
    return api_reply_text(rep, 200, virt_vm_json(ctx->virt, p[0], e));
}

int api_vm_delete(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                  struct api_reply *rep, struct err *e)
{
    (void)req;
    if (virt_vm_delete(ctx->virt, p[0], e) < 0)
        return -1;
    rep->status = 204;
    return 0;
}

static int run_action(struct api_ctx *ctx, const char *name, enum virt_action act,
                      struct api_reply *rep, struct err *e)
{
    if (virt_vm_action(ctx->virt, name, act, e) < 0)
        return -1;
    return api_reply_text(rep, 200, virt_vm_json(ctx->virt, name, e));
}

int api_vm_act(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
               struct api_reply *rep, struct err *e)
{
    return run_action(ctx, p[0], (enum virt_action)req->route->vm.act, rep, e);
}

/* {"force": true} starts a moved guest's old definition anyway, and a guest while this host
 * is in maintenance */
int api_vm_start(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                 struct api_reply *rep, struct err *e)
{
    bool force = json_is_true(json_object_get(req->json, "force"));
    struct maint m;
    maint_get(&m);
    if (m.on && !force)
        return err_set(e, ERR_CONFLICT, M_HOST_MAINT_START,
                       "This host is in maintenance (since %s, by %s): guests are not started "
                       "here. Start \"%s\" on another host, end maintenance (POST "
                       "/plugins/kimchi/host/maintenance {\"enabled\": false}), or start it with "
                       "{\"force\": true}.",
                       m.since, m.by, p[0]);
    return run_action(ctx, p[0], force ? VIRT_START_FORCE : VIRT_START, rep, e);
}

/* Reserves the clone's name: the one asked for (extension), else "<name>-clone-<n>". */
static int reserve_clone_name(struct api_ctx *ctx, const char *name, const char *asked, char *out,
                              size_t outlen, struct err *e)
{
    if (!asked)
        return virt_clone_name_reserve(ctx->virt, name, out, outlen, e);
    if (virt_name_check(asked, e) < 0)
        return -1;
    snprintf(out, outlen, "%s", asked);
    return virt_name_reserve(ctx->virt, out, e);
}

static int clone_checked(struct api_ctx *ctx, const char *name, const char *asked, char *new_name,
                         struct api_reply *rep, struct err *e)
{
    if (reserve_clone_name(ctx, name, asked, new_name, 256, e) < 0)
        return -1;
    char uri[1024];
    esc_vm_uri(new_name, "clone", uri, sizeof(uri)); /* Kimchi's: the new guest's, + /clone */
    json_t *task = task_submit_clone(ctx->tasks, ctx->virt, name, new_name, uri, e);
    return task ? api_reply_json(rep, 202, task, e) : -1;
}

int api_vm_clone(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                 struct api_reply *rep, struct err *e)
{
    char new_name[256];
    if (virt_busy_check(ctx->virt, p[0], e) < 0)
        return -1;
    return clone_checked(ctx, p[0], jsonv_str(req->json, "name"), new_name, rep, e);
}
