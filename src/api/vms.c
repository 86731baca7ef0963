/* vms.c - /vms: list, one guest, lifecycle actions, delete and clone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../task/task.h"
#include "../util/array.h"
#include "../virt/virt.h"
#include "api_priv.h"

/* Actions and DELETE take no parameters: an empty body or {} only. */
static int no_params(const struct api_request *req, struct err *e)
{
    json_t *o = api_body(req, NULL, 0, e);
    json_decref(o);
    return o ? 0 : -1;
}

int api_vms_list(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                 struct api_reply *rep, struct err *e)
{
    (void)req;
    (void)p;
    return api_reply_text(rep, 200, virt_vms_json(ctx->virt, e));
}

int api_vm_get(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
               struct api_reply *rep, struct err *e)
{
    (void)req;
    if (virt_name_check(p[0], e) < 0)
        return -1;
    return api_reply_text(rep, 200, virt_vm_json(ctx->virt, p[0], e));
}

int api_vm_delete(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                  struct api_reply *rep, struct err *e)
{
    if (virt_name_check(p[0], e) < 0 || no_params(req, e) < 0 ||
        virt_vm_delete(ctx->virt, p[0], e) < 0)
        return -1;
    rep->status = 204;
    return 0;
}

static int action(struct api_ctx *ctx, const struct api_request *req, const char *name,
                  enum virt_action a, struct api_reply *rep, struct err *e)
{
    if (virt_name_check(name, e) < 0 || no_params(req, e) < 0 ||
        virt_vm_action(ctx->virt, name, a, e) < 0)
        return -1;
    return api_reply_text(rep, 200, virt_vm_json(ctx->virt, name, e));
}

#define ACTION_HANDLER(fn, act)                                                                    \
    int fn(struct api_ctx *ctx, const struct api_request *req, const char *const *p,               \
           struct api_reply *rep, struct err *e)                                                   \
    {                                                                                              \
        return action(ctx, req, p[0], act, rep, e);                                                \
    }

/* start takes one optional field: {"force": true} starts a moved guest's old definition. */
static const struct jsonv_field start_fields[] = {{"force", JSONV_BOOL, false}};

int api_vm_start(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                 struct api_reply *rep, struct err *e)
{
    json_t *body = NULL;
    if (virt_name_check(p[0], e) < 0 ||
        !(body = api_body(req, start_fields, ARRAY_SIZE(start_fields), e)))
        return -1;
    json_t *force = json_object_get(body, "force");
    enum virt_action act = json_is_true(force) ? VIRT_START_FORCE : VIRT_START;
    json_decref(body);
    if (virt_vm_action(ctx->virt, p[0], act, e) < 0)
        return -1;
    return api_reply_text(rep, 200, virt_vm_json(ctx->virt, p[0], e));
}
ACTION_HANDLER(api_vm_poweroff, VIRT_POWEROFF)
ACTION_HANDLER(api_vm_shutdown, VIRT_SHUTDOWN)
ACTION_HANDLER(api_vm_reset, VIRT_RESET)
ACTION_HANDLER(api_vm_suspend, VIRT_SUSPEND)
ACTION_HANDLER(api_vm_resume, VIRT_RESUME)

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

static int clone_checked(struct api_ctx *ctx, const char *name, const char *state,
                         const char *asked, char *new_name, struct api_reply *rep, struct err *e)
{
    if (strcmp(state, "shutoff") != 0)
        return err_set(e, ERR_STATE, M_VM_CLONE_STATE,
                       "Virtual machine \"%s\" must be shut off before it can be cloned (its "
                       "state is \"%s\").",
                       name, state);
    if (reserve_clone_name(ctx, name, asked, new_name, 256, e) < 0)
        return -1;
    char uri[1024];
    api_vm_uri(new_name, "clone", uri, sizeof(uri)); /* Kimchi's: the new guest's, + /clone */
    json_t *task = task_submit_clone(ctx->tasks, ctx->virt, name, new_name, uri, e);
    return task ? api_reply_json(rep, 202, task, e) : -1;
}

static const struct jsonv_field clone_fields[] = {{"name", JSONV_STRING, false}};

int api_vm_clone(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                 struct api_reply *rep, struct err *e)
{
    char state[16], new_name[256];
    json_t *body = NULL;
    if (virt_name_check(p[0], e) < 0 ||
        !(body = api_body(req, clone_fields, ARRAY_SIZE(clone_fields), e)))
        return -1;
    int rc = -1;
    if (virt_vm_state(ctx->virt, p[0], state, e) == 0 && virt_busy_check(ctx->virt, p[0], e) == 0)
        rc = clone_checked(ctx, p[0], state, jsonv_str(body, "name"), new_name, rep, e);
    json_decref(body);
    return rc;
}
