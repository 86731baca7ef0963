/* router.c - the one static route table and the single entry every request passes. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/auth.h"
#include "../task/evacplan.h"
#include "../util/array.h"
#include "../util/clock.h"
#include "../util/jsonv.h"
#include "../util/trail.h"
#include "../virt/virt.h"
#include "api_priv.h"

/* What each body may hold. */
static const struct jsonv_field login_fields[] = {
    {.name = "username", .type = JSONV_STRING, .required = true},
    {.name = "password", .type = JSONV_STRING, .required = true},
};
/* {"force": true} starts a moved guest's old definition, or a guest while this host is in
 * maintenance */
static const struct jsonv_field start_fields[] = {{.name = "force", .type = JSONV_BOOL}};
static const struct jsonv_field maintenance_fields[] = {
    {.name = "enabled", .type = JSONV_BOOL, .required = true}};
static const struct jsonv_field evacuate_fields[] = {
    {.name = "destinations", .type = JSONV_ARRAY, .hi = EVAC_DESTS_MAX, .bounds_id = M_EVAC_DEST},
    {.name = "max_parallel",
     .type = JSONV_INT,
     .lo = 1,
     .hi = 8,
     .bounds_id = M_EVAC_PARALLEL,
     .unit = "guests moving from this host at once"},
    {.name = "include_shutoff", .type = JSONV_BOOL},
    {.name = "check_only", .type = JSONV_BOOL},
};
static const struct jsonv_field clone_fields[] = {{.name = "name", .type = JSONV_STRING}};
static const struct jsonv_field migrate_fields[] = {
    {.name = "remote_host", .type = JSONV_STRING},
    {.name = "user", .type = JSONV_STRING},
    {.name = "password", .type = JSONV_STRING},
    {.name = "delete_source", .type = JSONV_BOOL},
    {.name = "bandwidth",
     .type = JSONV_INT,
     .lo = 1,
     .hi = 100000,
     .bounds_id = M_MIG_BANDWIDTH,
     .unit = "MiB/s"},
    {.name = "enable_rdma", .type = JSONV_BOOL},
    {.name = "max_downtime",
     .type = JSONV_INT,
     .lo = 1,
     .hi = 60000,
     .bounds_id = M_MIG_DOWNTIME,
     .unit = "milliseconds the guest may pause at the switch-over"},
    {.name = "auto_converge", .type = JSONV_BOOL},
    {.name = "postcopy", .type = JSONV_BOOL},
    {.name = "parallel",
     .type = JSONV_INT,
     .lo = 1,
     .hi = 16,
     .bounds_id = M_MIG_PARALLEL,
     .unit = "connections"},
    {.name = "compression", .type = JSONV_BOOL},
    {.name = "encrypted", .type = JSONV_BOOL},
    {.name = "host_key", .type = JSONV_STRING},
    {.name = "check_only", .type = JSONV_BOOL},
    {.name = "completion_timeout",
     .type = JSONV_INT,
     .lo = 0,
     .hi = 3600,
     .bounds_id = M_MIG_COMPLETION_TIMEOUT,
     .unit = "seconds per GiB of guest memory and copied disks; 0: no budget"},
    {.name = "completion_action", .type = JSONV_STRING, .hi = 16},
    {.name = "migration_address", .type = JSONV_STRING, .hi = 64},
};

#define P API_PREFIX
#define BODY(fields) fields, ARRAY_SIZE(fields)
#define NO_BODY NULL, 0
#define DOWN (VIRT_BIT(VIRT_ST_SHUTOFF) | VIRT_BIT(VIRT_ST_CRASHED))
#define MOVABLE (VIRT_UP | VIRT_BIT(VIRT_ST_PAUSED) | VIRT_BIT(VIRT_ST_SHUTOFF))
/* A guest's actions, in the order of the guests' menu: the path's last segment names the
 * action, the label is the menu's item, the states those that allow it (a 400 with the
 * id and reason given otherwise). */
#define VM(label, states, refused, why, act)                                                       \
    {                                                                                              \
        label, states, refused, why, act                                                           \
    }
#define NOT_UP "it is not running"
// clang-format off
static const struct api_route routes[] = {
    {"POST", "/login", api_login, API_PUBLIC, BODY(login_fields), {0}},
    {"POST", "/logout", api_logout, API_PUBLIC, NO_BODY, {0}},
    {"GET", "/config", api_wok_config, API_PUBLIC, NO_BODY, {0}},
    {"GET", "/config/plugins", api_wok_plugins, API_PUBLIC, NO_BODY, {0}}, /* Wok: the login page shows them */
    {"GET", "/notifications", api_wok_notifications, API_LOGIN, NO_BODY, {0}},
    {"GET", "/notifications/:", api_wok_notification, API_LOGIN, NO_BODY, {0}},
    {"DELETE", "/notifications/:", api_wok_notification, API_LOGIN, NO_BODY, {0}},
    {"GET", "/logs", api_wok_logs, API_ADMIN, NO_BODY, {0}},
    {"GET", P "/config", api_kimchi_config, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/config/capabilities", api_kimchi_capabilities, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/host", api_host_get, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/host/cpuinfo", api_host_cpuinfo, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/host/sshkey", api_host_sshkey, API_ADMIN, NO_BODY, {0}},
    {"POST", P "/host/maintenance", api_host_maintenance, API_ADMIN, BODY(maintenance_fields), {0}},
    {"POST", P "/host/evacuate", api_host_evacuate, API_ADMIN, BODY(evacuate_fields), {0}},
    {"GET", P "/templates", api_templates_list, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/vms/:/storages", api_vm_storages_list, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/vms/:/storages/:", api_vm_storages_get, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/vms/:/ifaces", api_vm_ifaces_list, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/vms/:/ifaces/:", api_vm_ifaces_get, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/vms/:/snapshots", api_vm_snapshots_list, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/vms/:/snapshots/:", api_vm_snapshots_get, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/session", api_session_get, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/vms", api_vms_list, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/vms/:", api_vm_get, API_LOGIN, NO_BODY, {0}},
    {"POST", P "/vms/:/start", api_vm_start, API_LOGIN, BODY(start_fields), VM("Start", DOWN, M_VM_START_STATE, "it is already running", VIRT_START)},
    {"POST", P "/vms/:/shutdown", api_vm_act, API_LOGIN, NO_BODY, VM("Shut down", VIRT_UP, M_VM_SHUTDOWN_STATE, NOT_UP, VIRT_SHUTDOWN)},
    {"POST", P "/vms/:/poweroff", api_vm_act, API_LOGIN, NO_BODY, VM("Power off", VIRT_ACTIVE | VIRT_BIT(VIRT_ST_CRASHED), M_VM_POWEROFF_STATE, NOT_UP, VIRT_POWEROFF)},
    {"POST", P "/vms/:/reset", api_vm_act, API_LOGIN, NO_BODY, VM("Reset", VIRT_UP | VIRT_BIT(VIRT_ST_PAUSED), M_VM_RESET_STATE, NOT_UP, VIRT_RESET)},
    {"POST", P "/vms/:/reboot", api_vm_act, API_LOGIN, NO_BODY, VM("Reboot", VIRT_UP, M_VM_REBOOT_STATE, NOT_UP, VIRT_REBOOT)},
    {"POST", P "/vms/:/suspend", api_vm_act, API_LOGIN, NO_BODY, VM("Suspend", VIRT_UP, M_VM_SUSPEND_STATE, NOT_UP, VIRT_SUSPEND)},
    {"POST", P "/vms/:/resume", api_vm_act, API_LOGIN, NO_BODY, VM("Resume", VIRT_BIT(VIRT_ST_PAUSED), M_VM_RESUME_STATE, "it is not paused", VIRT_RESUME)},
    {"POST", P "/vms/:/clone", api_vm_clone, API_LOGIN, BODY(clone_fields), VM("Clone", VIRT_BIT(VIRT_ST_SHUTOFF), M_VM_CLONE_STATE, "it must be shut off first", 0)},
    {"POST", P "/vms/:/migrate", api_vm_migrate, API_LOGIN, BODY(migrate_fields), VM("Migrate", MOVABLE, M_MIG_STATE, "only a running, paused or shut-off guest can move: start it or shut it off first", 0)},
    {"DELETE", P "/vms/:", api_vm_delete, API_LOGIN, NO_BODY, VM("Delete", VIRT_ANY_STATE, 0, NULL, 0)},
    {"GET", P "/events", api_events, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/tasks", api_tasks_list, API_LOGIN, NO_BODY, {0}},
    {"GET", P "/tasks/:", api_task_get, API_LOGIN, NO_BODY, {0}},
    {"POST", P "/tasks/:/cancel", api_task_cancel, API_LOGIN, NO_BODY, {0}},
    {"POST", P "/tasks/:/recover", api_task_recover, API_LOGIN, NO_BODY, {0}},
};
// clang-format on
#undef P

/* Wok's root resources kimchid answers besides API_PREFIX */
static const char *const root_resources[] = {"/login", "/logout", "/config", "/notifications",
                                             "/logs"};

bool api_owns_path(const char *path)
{
    size_t n = strlen(API_PREFIX);
    if (strncmp(path, API_PREFIX, n) == 0 && (path[n] == '\0' || path[n] == '/'))
        return true;
    for (size_t i = 0; i < ARRAY_SIZE(root_resources); i++) {
        size_t r = strlen(root_resources[i]);
        if (strncmp(path, root_resources[i], r) == 0 && (path[r] == '\0' || path[r] == '/'))
            return true;
    }
    return false;
}

/* Matches one pattern; fills params. Returns true on a match. */
static bool match(const char *pattern, const char *path, char params[API_MAX_PARAMS][256])
{
    int np = 0;
    while (*pattern && *path) {
        if (*pattern++ != '/' || *path++ != '/')
            return false;
        const char *end = strchr(path, '/');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len == 0)
            return false;
        if (*pattern == ':') {
            if (np == API_MAX_PARAMS || len >= 256)
                return false;
            memcpy(params[np], path, len);
            params[np++][len] = '\0';
            pattern++;
        } else {
            size_t plen = strcspn(pattern, "/");
            if (plen != len || strncmp(pattern, path, len) != 0)
                return false;
            pattern += plen;
        }
        path += len;
    }
    return !*pattern && !*path;
}

static void allow_add(char *allow, size_t len, const char *method)
{
    if (strstr(allow, method))
        return;
    size_t n = strlen(allow);
    snprintf(allow + n, len - n, "%s%s", n ? ", " : "", method);
}

const struct api_route *api_route_match(const char *method, const char *path,
                                        char params[API_MAX_PARAMS][256], char *allow,
                                        size_t allowlen, struct err *e)
{
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    allow[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        if (!match(routes[i].pattern, path, params))
            continue;
        if (strcmp(routes[i].method, m) == 0)
            return &routes[i];
        allow_add(allow, allowlen, routes[i].method);
        if (!strcmp(routes[i].method, "GET"))
            allow_add(allow, allowlen, "HEAD");
    }
    if (allow[0])
        err_set(e, ERR_METHOD, M_API_METHOD, "Method %.16s is not allowed here; use %s.", method,
                allow);
    else
        err_set(e, ERR_NOT_FOUND, M_API_NO_RESOURCE,
                "There is no such resource. Check the URI against docs/API.md.");
    return NULL;
}

/* One audit line per request that changes something (and per login or logout): who, from
 * where, what, and the answer (with the error id, or the task it started). */
static void audit_request(struct api_ctx *ctx, const struct api_request *req,
                          const struct auth_identity *who, const struct api_reply *rep,
                          const struct err *e)
{
    if (!ctx->audit || !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"))
        return;
    char what[2100], outcome[128];
    snprintf(what, sizeof(what), "%s %s", req->method, req->path);
    json_t *body = rep->status == 202 && rep->body ? json_loads(rep->body, 0, NULL) : NULL;
    const char *task = json_string_value(json_object_get(body, "id"));
    if (task)
        snprintf(outcome, sizeof(outcome), "202 task %.32s", task);
    else
        snprintf(outcome, sizeof(outcome), "%d%s%s", rep->status, e->id[0] ? " " : "", e->id);
    json_decref(body);
    if (who->user[0] || (rep->audit_user[0] && rep->status < 400)) /* a login, or someone's */
        trail_event(ctx->audit, who->user[0] ? who->user : rep->audit_user, req->peer, what,
                    outcome);
    else if (!strcmp(req->path, "/logout") && rep->status < 400)
        return; /* nobody's session ended: nothing happened */
    else        /* from nobody logged in, which anyone can send as fast as they like */
        trail_refused(ctx->audit,
                      !strcmp(req->path, "/login") ? TRAIL_LOGIN_FAILED : TRAIL_ANONYMOUS,
                      rep->audit_user, req->peer, what, outcome);
}

/* "start" for POST /vms/:/start; "delete" for DELETE /vms/:. */
static const char *action_name(const struct api_route *r)
{
    return strcmp(r->method, "DELETE") == 0 ? "delete" : strrchr(r->pattern, '/') + 1;
}

static bool is_vm_path(const char *pattern)
{
    static const char vm[] = API_PREFIX "/vms/:";
    return !strncmp(pattern, vm, sizeof(vm) - 1);
}

/* The guest's state allows the row's action; 404 when there is no such guest. */
static int state_allows(struct api_ctx *ctx, const struct api_route *r, const char *name,
                        struct err *e)
{
    if (!r->vm.label || r->vm.states == VIRT_ANY_STATE)
        return 0;
    int state = virt_vm_state_id(ctx->virt, name, e);
    if (state < 0)
        return -1;
    if (r->vm.states & VIRT_BIT(state))
        return 0;
    char verb[32];
    snprintf(verb, sizeof(verb), "%s", r->vm.label);
    verb[0] = (char)tolower((unsigned char)verb[0]); /* "Power off": "power off" */
    return err_set(e, ERR_STATE, r->vm.refused,
                   "Cannot %s virtual machine \"%s\" because %s (its state is \"%s\").", verb, name,
                   r->vm.why, virt_state_name(state));
}

/* What the row says of a request, checked before its handler: the guest's name, the body's
 * fields (into req->json), the guest's state. */
static int prepare(struct api_ctx *ctx, struct api_request *req, const char *const *params,
                   struct err *e)
{
    const struct api_route *r = req->route;
    if (is_vm_path(r->pattern) && virt_name_check(params[0], e) < 0)
        return -1;
    if (strcmp(r->method, "GET") != 0) {
        json_t *o = jsonv_parse_object(req->body, req->body_len, e);
        if (!o)
            return -1;
        req->json = o;
        if (jsonv_check(o, r->fields, r->nfields, e) < 0)
            return -1;
    }
    return is_vm_path(r->pattern) ? state_allows(ctx, r, params[0], e) : 0;
}

void api_actions_define(void)
{
    struct virt_action_def defs[ARRAY_SIZE(routes)];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++)
        if (routes[i].vm.label)
            defs[n++] = (struct virt_action_def){action_name(&routes[i]), routes[i].vm.label,
                                                 routes[i].vm.states};
    virt_actions_define(defs, n);
}

void api_ctx_init(struct api_ctx *ctx)
{
    pthread_mutex_init(&ctx->stage_lock, NULL);
    clock_cond_init(&ctx->stage_cond);
    ctx->stage = API_STARTING;
}

/* Start-up ends once, READY or FAILED: a start-up that went through stays READY until HTTP
 * stops (stop() calls api_ctx_failed on every shutdown). */
static void end_start(struct api_ctx *ctx, enum api_stage stage)
{
    pthread_mutex_lock(&ctx->stage_lock);
    if (ctx->stage == API_STARTING) {
        ctx->stage = stage;
        pthread_cond_broadcast(&ctx->stage_cond);
    }
    pthread_mutex_unlock(&ctx->stage_lock);
}

void api_ctx_ready(struct api_ctx *ctx)
{
    end_start(ctx, API_READY);
}

void api_ctx_failed(struct api_ctx *ctx)
{
    end_start(ctx, API_FAILED);
}

void api_ctx_destroy(struct api_ctx *ctx)
{
    pthread_mutex_destroy(&ctx->stage_lock);
    pthread_cond_destroy(&ctx->stage_cond);
}

/* Every route but the public ones (login, logout, Wok's config) reads libvirt or the tasks:
 * while kimchid starts it waits for them, boundedly. The lock also orders the fields main()
 * set before api_ctx_ready before this request's reads. */
static int wait_ready(struct api_ctx *ctx, struct api_reply *rep, struct err *e)
{
    struct timespec until = clock_after(CLOCK_MONOTONIC, API_READY_WAIT_MS);
    pthread_mutex_lock(&ctx->stage_lock);
    while (ctx->stage == API_STARTING &&
           pthread_cond_timedwait(&ctx->stage_cond, &ctx->stage_lock, &until) == 0)
        ;
    enum api_stage stage = ctx->stage;
    pthread_mutex_unlock(&ctx->stage_lock);
    if (stage == API_READY)
        return 0;
    rep->retry_after = 5;
    return err_set(e, ERR_UNAVAILABLE, M_API_STARTING,
                   stage == API_STARTING
                       ? "kimchid is still starting: libvirt has not answered yet. Try again in "
                         "a few seconds; if this lasts, check that libvirtd is running."
                       : "kimchid could not open libvirt and is stopping; see its log, and check "
                         "that libvirtd is running.");
}

void api_handle(struct api_ctx *ctx, const struct api_request *req, struct api_reply *rep)
{
    struct err e;
    char params[API_MAX_PARAMS][256];
    const char *ptrs[API_MAX_PARAMS];
    struct auth_identity who;
    memset(&who, 0, sizeof(who));
    err_clear(&e);
    memset(rep, 0, sizeof(*rep));
    const char *path = req->path;
    char trimmed[API_MAX_PATH + 1];
    size_t plen = strlen(path);
    if (plen >= sizeof(trimmed)) {
        err_set(&e, ERR_NOT_FOUND, M_API_NO_RESOURCE, "There is no such resource.");
        goto fail;
    }
    memcpy(trimmed, path, plen + 1);
    if (plen > 1 && trimmed[plen - 1] == '/')
        trimmed[plen - 1] = '\0'; /* "/vms/" is "/vms" */
    const struct api_route *r =
        api_route_match(req->method, trimmed, params, rep->allow, sizeof(rep->allow), &e);
    /* the one place every API request passes before its handler */
    if (!r || api_gate(ctx, req, r, &who, rep, &e) < 0 ||
        (r->access != API_PUBLIC && wait_ready(ctx, rep, &e) < 0))
        goto fail;
    for (int i = 0; i < API_MAX_PARAMS; i++)
        ptrs[i] = params[i];
    struct api_request call = *req;
    call.who = &who;
    call.route = r;
    int rc = prepare(ctx, &call, ptrs, &e);
    if (rc == 0)
        rc = r->handler(ctx, &call, ptrs, rep, &e);
    jsonv_wipe(call.json, "password"); /* whatever a handler did with it */
    json_decref(call.json);
    if (rc == 0) {
        audit_request(ctx, req, &who, rep, &e);
        return;
    }
fail:
    api_reply_clear(rep);
    api_reply_error(rep, &e);
    audit_request(ctx, req, &who, rep, &e);
}
