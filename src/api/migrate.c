/* migrate.c - POST /vms/:name/migrate: synchronous validation with the RFC's messages,
 * then a task. The password is copied once, the parsed copy wiped, and never logged. */
#include <stdlib.h>
#include <string.h>

#include "../sshc/sshc.h"
#include "../task/task.h"
#include "../util/array.h"
#include "../util/net.h"
#include "../util/timers.h"
#include "../virt/virt.h"
#include "api_priv.h"

#define MAX_PASSWORD 1024
/* The POST knocks on the remote ssh port at most timers.knock_s: Kimchi's UI sees only
 * failures answered on the POST or on a task that is still running when it looks. */
#define MAX_BANDWIDTH 100000
#define MAX_DOWNTIME_MS 60000
#define MAX_PARALLEL 16

static const struct jsonv_field migrate_fields[] = {
    {"remote_host", JSONV_STRING, false}, {"user", JSONV_STRING, false},
    {"password", JSONV_STRING, false},    {"delete_source", JSONV_BOOL, false},
    {"bandwidth", JSONV_INT, false},      {"enable_rdma", JSONV_BOOL, false},
    {"max_downtime", JSONV_INT, false},   {"auto_converge", JSONV_BOOL, false},
    {"postcopy", JSONV_BOOL, false},      {"parallel", JSONV_INT, false},
    {"compression", JSONV_BOOL, false},   {"encrypted", JSONV_BOOL, false},
    {"host_key", JSONV_STRING, false},
};

/* "SHA256:" and 43 characters of unpadded base64: what ssh-keygen -l prints for a key. */
static int check_host_key(const char *k, struct err *e)
{
    size_t n = k ? strlen(k) : 0;
    if (!k ||
        (n == 50 && !strncmp(k, "SHA256:", 7) &&
         strspn(k + 7, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") == 43))
        return 0;
    return err_set(e, ERR_INVALID, M_MIG_HOST_KEY,
                   "The parameter \"host_key\" must be an ssh key fingerprint as ssh-keygen -l "
                   "prints it: SHA256: and 43 characters, e.g. "
                   "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s.");
}

/* An integer field that must be in [lo, hi] when present; `dflt` when absent. */
static int int_field(json_t *body, const char *key, long long lo, long long hi, long long dflt,
                     long long *out)
{
    json_t *v = json_object_get(body, key);
    *out = v ? json_integer_value(v) : dflt;
    return !v || (*out >= lo && *out <= hi) ? 0 : -1;
}

/* The convergence fields (see docs/API.md): auto-converge unless refused, post-copy only when
 * asked, since a network failure during post-copy loses the guest. */
static int check_policy(json_t *body, struct virt_policy *p, struct err *e)
{
    long long bw, downtime, parallel;
    if (int_field(body, "bandwidth", 1, MAX_BANDWIDTH, 0, &bw) < 0)
        return err_set(e, ERR_INVALID, M_MIG_BANDWIDTH,
                       "The parameter \"bandwidth\" must be from 1 to %d (MiB/s).", MAX_BANDWIDTH);
    if (int_field(body, "max_downtime", 1, MAX_DOWNTIME_MS, 0, &downtime) < 0)
        return err_set(e, ERR_INVALID, M_MIG_DOWNTIME,
                       "The parameter \"max_downtime\" must be from 1 to %d (milliseconds the "
                       "guest may pause at the switch-over).",
                       MAX_DOWNTIME_MS);
    if (int_field(body, "parallel", 1, MAX_PARALLEL, 1, &parallel) < 0)
        return err_set(e, ERR_INVALID, M_MIG_PARALLEL,
                       "The parameter \"parallel\" must be from 1 to %d (connections).",
                       MAX_PARALLEL);
    json_t *ac = json_object_get(body, "auto_converge");
    *p = (struct virt_policy){.bandwidth = (unsigned long long)bw,
                              .max_downtime_ms = (int)downtime,
                              .auto_converge = !ac || json_is_true(ac),
                              .postcopy = json_is_true(json_object_get(body, "postcopy")),
                              .parallel = (int)parallel,
                              .compression = json_is_true(json_object_get(body, "compression")),
                              .encrypted = !json_is_false(json_object_get(body, "encrypted"))};
    if (p->compression && p->parallel > 1)
        return err_set(e, ERR_INVALID, M_MIG_COMPRESSION,
                       "\"compression\" (XBZRLE) and \"parallel\" connections cannot be combined "
                       "in this QEMU: choose one.");
    return 0;
}

static bool blank(const char *s)
{
    if (!s)
        return true;
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0';
}

static int check_password(const char *pw, struct err *e)
{
    size_t len = strlen(pw);
    if (len > MAX_PASSWORD)
        return err_set(e, ERR_INVALID, M_MIG_BAD_PASSWORD,
                       "The password is longer than %d characters.", MAX_PASSWORD);
    if (strpbrk(pw, "\r\n"))
        return err_set(e, ERR_INVALID, M_MIG_BAD_PASSWORD,
                       "The password cannot contain line breaks.");
    return 0;
}

static int check_fields(json_t *body, struct task_migrate_req *r, struct err *e)
{
    const char *user = jsonv_str(body, "user"), *pw = jsonv_str(body, "password");
    r->remote_host = jsonv_str(body, "remote_host");
    if (blank(r->remote_host))
        return err_set(e, ERR_INVALID, M_MIG_NO_HOST,
                       "remote host field cannot be blank. Give the name or address of the "
                       "host to migrate to.");
    if ((user && *user) != (pw && *pw))
        return err_set(e, ERR_INVALID, M_MIG_USER_PASSWORD,
                       "both user and password fields must be filled. Fill in both to set up "
                       "password-less login, or neither to use the existing one.");
    if (net_host_check(r->remote_host, e) < 0 || (user && *user && net_user_check(user, e) < 0) ||
        (pw && *pw && check_password(pw, e) < 0))
        return -1;
    if (json_is_true(json_object_get(body, "enable_rdma")))
        return err_set(e, ERR_INVALID, M_MIG_RDMA,
                       "Migration over RDMA is not supported by kimchid: send \"enable_rdma\": "
                       "false, or leave it out, to migrate over TCP.");
    if (check_policy(body, &r->policy, e) < 0)
        return -1;
    if (net_names_self(r->remote_host))
        return err_set(e, ERR_INVALID, M_MIG_LOCALHOST,
                       "\"%s\" is this host. Choose another host to migrate to.", r->remote_host);
    r->user = user && *user ? user : NULL;
    r->delete_source = json_is_true(json_object_get(body, "delete_source"));
    r->host_key = jsonv_str(body, "host_key");
    return check_host_key(r->host_key, e);
}

/* What is quick and safe before the 202 (as Kimchi checked before its task): the host
 * resolves, is not this host, and answers on its ssh port. The task checks again. */
static int check_reach(const char *host, struct err *e)
{
    char addr[64];
    if (net_resolve_other(host, addr, sizeof(addr), e) < 0)
        return -1;
    return net_probe(host, addr, 22, (int)(timers.knock_s * 1000), e);
}

static int check_state(struct api_ctx *ctx, const char *name, struct err *e)
{
    char state[16];
    if (virt_vm_state(ctx->virt, name, state, e) < 0)
        return -1;
    if (!strcmp(state, "running") || !strcmp(state, "paused") || !strcmp(state, "blocked") ||
        !strcmp(state, "shutoff"))
        return 0;
    return err_set(e, ERR_STATE, M_MIG_STATE,
                   "Virtual machine \"%s\" cannot be migrated while its state is \"%s\". Start "
                   "it or shut it off first.",
                   name, state);
}

int api_vm_migrate(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                   struct api_reply *rep, struct err *e)
{
    struct task_migrate_req r = {.name = p[0]};
    json_t *body = NULL, *task = NULL;
    if (virt_name_check(p[0], e) < 0 ||
        !(body = api_body(req, migrate_fields, ARRAY_SIZE(migrate_fields), e)))
        goto cleanup;
    /* an unknown guest is 404 before anything about the host, as in Kimchi */
    if (check_state(ctx, p[0], e) < 0 || check_fields(body, &r, e) < 0 ||
        virt_busy_check(ctx->virt, p[0], e) < 0 || virt_vm_job_check(ctx->virt, p[0], e) < 0 ||
        check_reach(r.remote_host, e) < 0)
        goto cleanup;
    if (r.user && !(r.password = strdup(jsonv_str(body, "password")))) {
        err_set(e, ERR_INTERNAL, M_API_INTERNAL, "Out of memory.");
        goto cleanup;
    }
    char uri[1024];
    api_vm_uri(p[0], "migrate", uri, sizeof(uri));
    task = task_submit_migrate(ctx->tasks, ctx->virt, &r, uri, e);
cleanup:
    if (body)
        jsonv_wipe(body, "password");
    json_decref(body);
    return task ? api_reply_json(rep, 202, task, e) : -1;
}

/* GET /host/sshkey?host=NAME (administrators): the fingerprint of the ssh host key NAME
 * presents, and whether kimchid knows it, so that a person can compare it with the host's
 * own before the first move there (the Migrate dialog shows it). Nothing is recorded. */
int api_host_sshkey(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                    struct api_reply *rep, struct err *e)
{
    (void)ctx, (void)p;
    const char *host = req->query ? req->query(req->query_cls, "host") : NULL;
    if (blank(host))
        return err_set(e, ERR_INVALID, M_MIG_NO_HOST,
                       "remote host field cannot be blank. Give the name or address of the "
                       "host whose ssh key to show: ?host=NAME.");
    char fp[128];
    bool known = false;
    if (net_host_check(host, e) < 0 || check_reach(host, e) < 0 ||
        sshc_host_key(host, fp, sizeof(fp), &known, e) < 0)
        return -1;
    return api_reply_json(
        rep, 200, json_pack("{s:s, s:s, s:b}", "host", host, "fingerprint", fp, "known", known), e);
}
