/* migrate.c - POST /vms/:name/migrate: synchronous validation with the RFC's messages,
 * then a task. The password is copied once, the parsed copy wiped, and never logged. */
#include <stdlib.h>
#include <string.h>

#include "../auth/auth.h"
#include "../sshc/sshc.h"
#include "../task/evacplan.h"
#include "../task/jobs.h"
#include "../util/array.h"
#include "../util/esc.h"
#include "../util/maint.h"
#include "../util/net.h"
#include "../util/timers.h"
#include "../virt/virt.h"
#include "api_priv.h"

#define MAX_PASSWORD 1024

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

/* An integer field's value (the route table checked its bounds), or `dflt` when absent. */
static long long int_field(json_t *body, const char *key, long long dflt)
{
    json_t *v = json_object_get(body, key);
    return v ? json_integer_value(v) : dflt;
}

/* The time budget: completion_timeout (the route table checked its bounds; absent: kimchid's
 * --completion-timeout) and what to do past it. */
static int check_budget(json_t *body, struct virt_policy *p, struct err *e)
{
    const char *action = jsonv_str(body, "completion_action");
    p->completion_s = (int)int_field(body, "completion_timeout", -1);
    p->completion_postcopy = action && !strcmp(action, "postcopy");
    if (action && strcmp(action, "abort") && !p->completion_postcopy)
        return err_set(e, ERR_INVALID, M_MIG_COMPLETION_ACTION,
                       "\"completion_action\" must be \"abort\" (stop the move past its time "
                       "budget; the guest stays) or \"postcopy\" (switch to post-copy).");
    if (p->completion_postcopy && !p->postcopy)
        return err_set(e, ERR_INVALID, M_MIG_COMPLETION_ACTION,
                       "\"completion_action\": \"postcopy\" needs \"postcopy\": true (post-copy "
                       "is used only when the request allows it).");
    return 0;
}

/* The convergence fields (see docs/API.md): auto-converge unless refused, post-copy only when
 * asked, since a network failure during post-copy loses the guest. */
static int check_policy(json_t *body, struct virt_policy *p, struct err *e)
{
    long long bw = int_field(body, "bandwidth", 0), downtime = int_field(body, "max_downtime", 0),
              parallel = int_field(body, "parallel", 1);
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
    return check_budget(body, p, e);
}

/* An address of the destination (the task checks that it is one of its addresses). */
static int check_migration_address(const char *a, struct err *e)
{
    if (!a)
        return 0;
    if (!net_is_ip(a))
        return err_set(
            e, ERR_INVALID, M_MIG_ADDRESS,
            "The parameter \"migration_address\" must be an IP address of the "
            "destination on the network for migrations (e.g. 198.19.0.2), not \"%.64s\".",
            a);
    if (net_addr_is_local(a))
        return err_set(e, ERR_INVALID, M_MIG_ADDRESS,
                       "migration_address %s is an address of this host. Give the destination's "
                       "address on the network for migrations.",
                       a);
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
    r->migration_address = jsonv_str(body, "migration_address");
    return check_host_key(r->host_key, e) < 0 ? -1
                                              : check_migration_address(r->migration_address, e);
}

/* What is quick and safe before the 202 (as Kimchi checked before its task): the host
 * resolves, is not this host, and answers on its ssh port, within timers.knock_s: Kimchi's UI
 * sees only failures answered on the POST or on a task that is still running when it looks.
 * The task checks again. */
static int check_reach(const char *host, char *addr, size_t len, struct err *e)
{
    if (net_resolve_other(host, addr, len, e) < 0)
        return -1;
    return net_probe(host, addr, 22, (int)(timers.knock_s * 1000), e);
}

int api_vm_migrate(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                   struct api_reply *rep, struct err *e)
{
    struct task_migrate_req r = {.name = p[0]};
    json_t *body = req->json; /* the router wipes its password */
    /* check_only: every check, each answered there; nothing moves, no task */
    bool check_only = json_is_true(json_object_get(body, "check_only"));
    if (check_fields(body, &r, e) < 0 ||
        (!check_only &&
         (virt_busy_check(ctx->virt, p[0], e) < 0 || virt_vm_job_check(ctx->virt, p[0], e) < 0 ||
          check_reach(r.remote_host, r.reached, sizeof(r.reached), e) < 0)))
        return -1;
    if (r.user && !(r.password = strdup(jsonv_str(body, "password"))))
        return err_oom(e);
    char uri[1024];
    esc_vm_uri(p[0], "migrate", uri, sizeof(uri));
    json_t *out = check_only ? task_migrate_check(ctx->virt, &r, e) /* steals the password */
                             : task_submit_migrate(ctx->tasks, ctx->virt, &r, uri, e);
    return out ? api_reply_json(rep, check_only ? 200 : 202, out, e) : -1;
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
    char addr[64];
    if (net_host_check(host, e) < 0 || check_reach(host, addr, sizeof(addr), e) < 0 ||
        sshc_host_key(host, fp, sizeof(fp), &known, e) < 0)
        return -1;
    return api_reply_json(
        rep, 200, json_pack("{s:s, s:s, s:b}", "host", host, "fingerprint", fp, "known", known), e);
}

/* ---- POST /host/evacuate ---- */

/* A destination of an evacuation: a host name kimchid may log in to, not this host, named
 * once. */
static int check_dest(const char *h, const char *const *seen, size_t n, struct err *e)
{
    if (blank(h))
        return err_set(e, ERR_INVALID, M_EVAC_DEST,
                       "\"destinations\" must list host names or addresses, none of them blank.");
    if (net_host_check(h, e) < 0)
        return -1;
    if (net_names_self(h))
        return err_set(e, ERR_INVALID, M_EVAC_DEST,
                       "\"%s\" is this host: an evacuation moves guests to other hosts. Remove it "
                       "from \"destinations\".",
                       h);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(seen[i], h))
            return err_set(e, ERR_INVALID, M_EVAC_DEST, "\"destinations\" names \"%s\" twice.", h);
    return 0;
}

/* The request's destinations (strings in the body, borrowed). */
static int given_dests(json_t *list, const char **out, size_t *n, struct err *e)
{
    size_t i;
    json_t *h;
    if (json_array_size(list) == 0)
        return err_set(e, ERR_INVALID, M_EVAC_DEST,
                       "\"destinations\" is empty: name at least one host, or leave it out to use "
                       "the hosts kimchid already logs in to.");
    json_array_foreach(list, i, h)
    {
        if (!json_is_string(h))
            return err_set(e, ERR_INVALID, M_EVAC_DEST,
                           "\"destinations\" must be a list of host names (strings).");
        if (check_dest(json_string_value(h), out, *n, e) < 0)
            return -1;
        out[(*n)++] = json_string_value(h);
    }
    return 0;
}

/* Whether `host` resolves to an address one of the first n peers resolved to (a host kimchid
 * logged in to by name and by address is one destination). */
static bool same_host(const char *host, char addrs[][64], size_t n)
{
    struct err ignore;
    if (net_resolve(host, addrs[n], sizeof(addrs[n]), &ignore) < 0) {
        addrs[n][0] = '\0';
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(addrs[i], addrs[n]))
            return true;
    return false;
}

/* The hosts kimchid logs in to with its key (sshc's peers, one a line in `text`, cut in
 * place), but this host, each host once. */
static int peer_dests(char *text, const char **out, size_t *n, struct err *e)
{
    char addrs[EVAC_DESTS_MAX][64];
    for (char *l = text, *next; l && *l && *n < EVAC_DESTS_MAX; l = next) {
        next = strchr(l, '\n');
        if (next)
            *next++ = '\0';
        if (!blank(l) && !net_names_self(l) && check_dest(l, out, *n, e) == 0 &&
            !same_host(l, addrs, *n))
            out[(*n)++] = l;
        err_clear(e);
    }
    if (*n == 0)
        return err_set(e, ERR_INVALID, M_EVAC_NO_DEST,
                       "kimchid logs in to no other host yet, so it has nowhere to move the "
                       "guests: name them in \"destinations\" after moving one guest to each "
                       "(the Migrate dialog sets up the login), or set up the ssh trust there.");
    return 0;
}

int api_host_evacuate(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                      struct api_reply *rep, struct err *e)
{
    (void)p;
    json_t *body = req->json, *list = json_object_get(body, "destinations");
    const char *dests[EVAC_DESTS_MAX];
    size_t nd = 0;
    char *peers = list ? NULL : sshc_peers_text();
    if (!list && !peers)
        return err_oom(e);
    int rc = list ? given_dests(list, dests, &nd, e) : peer_dests(peers, dests, &nd, e);
    struct task_evacuate_req q = {dests, nd, (int)int_field(body, "max_parallel", 2),
                                  !json_is_false(json_object_get(body, "include_shutoff"))};
    json_t *out = NULL;
    bool check_only = json_is_true(json_object_get(body, "check_only"));
    if (rc == 0 && check_only)
        out = task_evacuate_plan(ctx->virt, &q, e);
    else if (rc == 0 && maint_set(true, req->who ? req->who->user : NULL, e) == 0)
        out = task_submit_evacuate(ctx->tasks, ctx->virt, &q, e); /* in maintenance from now */
    free(peers);
    return out ? api_reply_json(rep, check_only ? 200 : 202, out, e) : -1;
}
