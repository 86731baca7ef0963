/* migrate_job.c - the migration task: each step sets the message; on failure the message
 * names the step and the cause; the password is used once and wiped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sshc/sshc.h"
#include "../util/net.h"
#include "../util/secret.h"
#include "../virt/virt.h"
#include "task.h"

#define PROBE_TIMEOUT_MS 10000

struct migrate_arg {
    struct virt *virt;
    char *name;
    char *host;
    char *user;
    char *password;
    bool delete_source;
    unsigned long long bandwidth;
    bool claimed;     /* holds the guest's busy claim */
    const char *step; /* the step running now, for the failure message */
    char addr[64];
};

static void wipe_password(struct migrate_arg *a)
{
    secret_free(a->password);
    a->password = NULL;
}

static void migrate_arg_free(void *p)
{
    struct migrate_arg *a = p;
    if (!a)
        return;
    wipe_password(a);
    if (a->claimed)
        virt_busy_release(a->virt, a->name);
    free(a->name);
    free(a->host);
    free(a->user);
    free(a);
}

static void step(struct task_ctx *ctx, struct migrate_arg *a, const char *what)
{
    a->step = what;
    task_ctx_message(ctx, "%s", what);
}

static json_t *num_or_null(long long v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

static json_t *progress_json(const struct virt_job_info *i)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "percent",
                     i->percent >= 0 ? json_integer((json_int_t)(i->percent + 0.5)) : json_null(),
                     "data_total", num_or_null(i->data_total), "data_processed",
                     num_or_null(i->data_processed), "data_remaining",
                     num_or_null(i->data_remaining), "memory_bps", num_or_null(i->memory_bps),
                     "elapsed_ms", num_or_null(i->elapsed_ms), "remaining_ms",
                     num_or_null(i->remaining_ms), "downtime_ms", num_or_null(i->downtime_ms));
}

static void on_progress(void *opaque, const struct virt_job_info *info)
{
    task_ctx_progress(opaque, progress_json(info));
}

/* Resolves the host and refuses this same host by name or address, then probes ssh. */
static int reach(struct task_ctx *ctx, struct migrate_arg *a, struct err *e)
{
    step(ctx, a, "resolving the remote host");
    if (net_resolve(a->host, a->addr, sizeof(a->addr), e) < 0)
        return -1;
    if (net_names_self(a->host) || net_addr_is_local(a->addr))
        return err_set(e, ERR_INVALID, "KCHVM0064E",
                       "\"%s\" (%s) is this host. Choose another host to migrate to.", a->host,
                       a->addr);
    step(ctx, a, "connecting to the remote host");
    return net_probe(a->host, a->addr, 22, PROBE_TIMEOUT_MS, e);
}

static int setup_trust(struct task_ctx *ctx, struct migrate_arg *a, struct err *e)
{
    char pub[1024];
    step(ctx, a, "setting up password-less ssh login");
    int rc = sshc_key_ensure(pub, sizeof(pub), e);
    if (rc == 0)
        rc = sshc_trust_setup(a->host, a->user, a->password, pub, e);
    wipe_password(a); /* used for this one login only */
    return rc;
}

static void finish_message(struct task_ctx *ctx, struct migrate_arg *a,
                           const struct virt_job_info *f)
{
    char speed[64] = "", downtime[64] = "";
    if (f->elapsed_ms > 0 && f->data_processed >= 0)
        snprintf(speed, sizeof(speed), ", average %.1f MiB/s",
                 (double)f->data_processed / 1048576.0 / ((double)f->elapsed_ms / 1000.0));
    if (f->downtime_ms >= 0)
        snprintf(downtime, sizeof(downtime), ", downtime %lld ms", f->downtime_ms);
    if (f->elapsed_ms >= 0)
        task_ctx_message(ctx, "OK: \"%s\" migrated to \"%s\" in %.1f s%s%s%s", a->name, a->host,
                         (double)f->elapsed_ms / 1000.0, speed, downtime,
                         a->delete_source ? "; source definition removed" : "");
    else
        task_ctx_message(ctx, "OK: \"%s\" migrated to \"%s\"%s", a->name, a->host,
                         a->delete_source ? "; source definition removed" : "");
    if (f->elapsed_ms >= 0)
        task_ctx_progress(ctx, progress_json(f));
}

/* Connecting to the remote libvirt as root proves key login too, so the libssh check runs
 * only to explain a failure (unknown or changed host key, key refused); after it passes
 * (it may have recorded the host key on first contact) the connection is tried once more. */
static int check_remote(struct task_ctx *ctx, struct migrate_arg *a, struct err *e)
{
    step(ctx, a, "checking libvirt on the remote host");
    if (virt_remote_check(a->virt, a->host, e) == 0)
        return 0;
    step(ctx, a, "checking root's key login on the remote host");
    if (sshc_key_login_check(a->host, e) < 0)
        return -1;
    step(ctx, a, "checking libvirt on the remote host");
    return virt_remote_check(a->virt, a->host, e);
}

static int migrate_steps(struct task_ctx *ctx, struct migrate_arg *a, struct err *e)
{
    if (reach(ctx, a, e) < 0 || (a->user && setup_trust(ctx, a, e) < 0) ||
        check_remote(ctx, a, e) < 0)
        return -1;
    step(ctx, a, "migrating");
    struct virt_migrate_opts o = {a->host, a->addr, a->delete_source, a->bandwidth};
    struct virt_job_info final;
    if (virt_vm_migrate(a->virt, a->name, &o, on_progress, ctx, &final, e) < 0)
        return -1;
    finish_message(ctx, a, &final);
    return 0;
}

/* Rewrites "ID: cause" as "ID: Migration of ... failed while <step>: cause". */
static void name_the_step(struct migrate_arg *a, struct err *e)
{
    char cause[512];
    const char *colon = strstr(e->msg, ": ");
    size_t idlen = colon ? (size_t)(colon - e->msg) : 0;
    snprintf(cause, sizeof(cause), "%s", colon ? colon + 2 : e->msg);
    char id[32];
    snprintf(id, sizeof(id), "%.*s", (int)(idlen && idlen < 31 ? idlen : 11),
             idlen ? e->msg : "KCHVM0090E");
    err_set(e, e->code, id, "Migration of \"%s\" to \"%s\" failed while %s: %s", a->name,
            a->host, a->step, cause);
}

static int run_migrate(struct task_ctx *ctx, void *p, struct err *e)
{
    struct migrate_arg *a = p;
    int rc = migrate_steps(ctx, a, e);
    wipe_password(a);
    if (rc < 0)
        name_the_step(a, e);
    return rc;
}

static struct migrate_arg *arg_new(struct virt *v, const struct task_migrate_req *r)
{
    struct migrate_arg *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->virt = v;
    a->name = strdup(r->name);
    a->host = strdup(r->remote_host);
    a->user = r->user ? strdup(r->user) : NULL;
    a->delete_source = r->delete_source;
    a->bandwidth = r->bandwidth;
    a->step = "queued";
    if (!a->name || !a->host || (r->user && !a->user)) {
        migrate_arg_free(a);
        return NULL;
    }
    return a;
}

json_t *task_submit_migrate(struct task_engine *t, struct virt *v, struct task_migrate_req *r,
                            struct err *e)
{
    struct migrate_arg *a = arg_new(v, r);
    if (a) {
        a->password = r->password; /* stolen */
        r->password = NULL;
    } else {
        secret_free(r->password);
        r->password = NULL;
    }
    if (!a) {
        err_set(e, ERR_INTERNAL, "KCHAPI0010E", "Out of memory.");
        return NULL;
    }
    if (virt_busy_claim(v, a->name, "migrating", e) < 0) {
        migrate_arg_free(a);
        return NULL;
    }
    a->claimed = true;
    char uri[512];
    snprintf(uri, sizeof(uri), "/plugins/kimchi/vms/%s/migrate", a->name);
    return task_engine_submit(t, uri, run_migrate, a, migrate_arg_free, e);
}
