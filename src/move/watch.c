/* watch.c - one libvirt migration call and its watching: the job's figures every
 * VIRT_POLL_MS on a thread of its own, the stall rule, convergence, and a destination's hung
 * incoming copy ended (unstick). */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>
#include <unistd.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "../util/timers.h"
#include "move_priv.h"

static long long param_ll(virTypedParameterPtr p, int n, const char *name)
{
    unsigned long long v;
    return virTypedParamsGetULLong(p, n, name, &v) == 1 ? (long long)v : -1;
}

/* Time left from what remains and the current rate, where libvirt gives none. */
void virt_job_estimate(struct virt_job_info *i)
{
    if (i->remaining_ms < 0 && i->memory_bps > 0 && i->data_remaining >= 0)
        i->remaining_ms = i->data_remaining * 1000 / i->memory_bps;
}

static void fill_info(virTypedParameterPtr p, int n, struct virt_job_info *i)
{
    i->data_total = param_ll(p, n, VIR_DOMAIN_JOB_DATA_TOTAL);
    i->data_processed = param_ll(p, n, VIR_DOMAIN_JOB_DATA_PROCESSED);
    i->data_remaining = param_ll(p, n, VIR_DOMAIN_JOB_DATA_REMAINING);
    i->disk_total = param_ll(p, n, VIR_DOMAIN_JOB_DISK_TOTAL);
    i->disk_processed = param_ll(p, n, VIR_DOMAIN_JOB_DISK_PROCESSED);
    i->memory_total = param_ll(p, n, VIR_DOMAIN_JOB_MEMORY_TOTAL);
    i->memory_processed = param_ll(p, n, VIR_DOMAIN_JOB_MEMORY_PROCESSED);
    i->memory_bps = param_ll(p, n, VIR_DOMAIN_JOB_MEMORY_BPS);
    i->elapsed_ms = param_ll(p, n, VIR_DOMAIN_JOB_TIME_ELAPSED);
    i->remaining_ms = param_ll(p, n, VIR_DOMAIN_JOB_TIME_REMAINING);
    i->downtime_ms = param_ll(p, n, VIR_DOMAIN_JOB_DOWNTIME);
    i->expected_downtime_ms = -1;
    i->iteration = param_ll(p, n, VIR_DOMAIN_JOB_MEMORY_ITERATION);
    long long dirty = param_ll(p, n, VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE); /* pages/s */
    long long page = param_ll(p, n, VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE);
    i->dirty_bps = dirty >= 0 ? dirty * (page > 0 ? page : 4096) : -1;
    int throttle = -1;
    i->throttle_pct =
        virTypedParamsGetInt(p, n, VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE, &throttle) == 1 ? throttle
                                                                                          : -1;
    i->converging = -1;
    long long disk_bps = param_ll(p, n, VIR_DOMAIN_JOB_DISK_BPS);
    /* libvirt mirrors the disks first; memory starts moving once they are in sync */
    i->phase = i->memory_processed > 0 ? "memory" : i->disk_total > 0 ? "disks" : "setup";
    if (strcmp(i->phase, "disks") == 0 && disk_bps > 0)
        i->memory_bps = disk_bps; /* the rate of what is moving now */
    virt_job_estimate(i);
    i->percent = -1;
    if (i->data_total > 0 && i->data_remaining >= 0)
        i->percent = 100.0 * (double)(i->data_total - i->data_remaining) / (double)i->data_total;
    else if (i->data_total > 0 && i->data_processed >= 0)
        i->percent = 100.0 * (double)i->data_processed / (double)i->data_total;
}

void virt_job_unknown(struct virt_job_info *i)
{
    i->phase = "setup";
    i->percent = -1;
    i->data_total = i->data_processed = i->data_remaining = -1;
    i->disk_total = i->disk_processed = i->memory_total = i->memory_processed = -1;
    i->memory_bps = i->elapsed_ms = i->remaining_ms = i->downtime_ms = -1;
    i->expected_downtime_ms = i->iteration = i->dirty_bps = -1;
    i->throttle_pct = i->converging = -1;
}

int virt_job_stats(virDomainPtr d, unsigned int flags, struct virt_job_info *out)
{
    virTypedParameterPtr p = NULL;
    int n = 0, type = VIR_DOMAIN_JOB_NONE;
    if (virDomainGetJobStats(d, &type, &p, &n, flags) < 0 || type == VIR_DOMAIN_JOB_NONE) {
        virTypedParamsFree(p, n);
        return -1;
    }
    fill_info(p, n, out);
    virTypedParamsFree(p, n);
    return 0;
}

/* libvirt gives no rate for the disk mirror: the average since the disk phase began. */
static void disk_rate(struct virt_watch *p, struct virt_job_info *i)
{
    if (strcmp(i->phase, "disks") != 0 || i->disk_processed < 0)
        return;
    if (p->disk_first < 0) {
        p->disk_first = i->disk_processed;
        clock_gettime(CLOCK_MONOTONIC, &p->disk_first_at);
        return;
    }
    long long ms = clock_ms_since(&p->disk_first_at);
    if (i->memory_bps < 0 && ms > 0 && i->disk_processed > p->disk_first)
        i->memory_bps = (i->disk_processed - p->disk_first) * 1000 / ms;
    virt_job_estimate(i);
}

/* Stops a job the stall rule says moves no data (policy.c): the guest stays. */
static void stall_check(struct virt_stall *s, virDomainPtr d, const struct virt_job_info *info)
{
    long long now = clock_now_ms();
    if (!virt_stall_decide(s, info ? info->data_processed : -1, now))
        return;
    if (virDomainAbortJob(d) == 0) {
        s->stalled = true;
        s->stalled_at = now;
        log_warn("migration of \"%s\" moved no data for %ld s: stopped", virDomainGetName(d),
                 s->stall_ms / 1000);
    }
}

int virt_stall_error(struct err *e, const char *host, long stall_ms)
{
    return err_set(e, ERR_BACKEND, M_MIG_STALLED,
                   "The migration stalled: no data moved to \"%s\" for %ld s (the network to it, "
                   "or its libvirt, may be down or hung), so kimchid stopped it. Check \"%s\" "
                   "and try again.",
                   host, stall_ms / 1000, host);
}

/* libvirt cannot end a stopped move while the destination's QEMU hangs (its Finish step waits
 * on that QEMU's monitor, without a timeout), so the call would never return. That copy is
 * only an incoming one (the stop was accepted before the switch-over, so the guest runs
 * here): kill it there, which libvirt does without the monitor. */
static void unstick(struct virt_watch *p)
{
    if (!virt_unstick_due(&p->stall, p->unstuck, clock_now_ms()))
        return;
    p->unstuck = true;
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainPtr rd =
        virDomainGetUUIDString(p->dom, uuid) == 0 ? virt_lookup_uuid(p->v, p->host, uuid) : NULL;
    int state = -1, reason;
    if (rd && virDomainGetState(rd, &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED) {
        log_warn("the stopped move of \"%s\" did not end in %d s: killing its hung incoming "
                 "copy on %s",
                 virDomainGetName(p->dom), VIRT_UNSTICK_AFTER_MS / 1000, p->host);
        virDomainDestroy(rd);
    }
    if (rd)
        virDomainFree(rd);
}

void virt_watch_start(struct virt_watch *w, struct virt *v, virDomainPtr d, const char *host,
                      const struct virt_policy *policy, virt_progress_fn fn, void *opaque)
{
    *w = (struct virt_watch){
        .v = v, .dom = d, .host = host, .fn = fn, .opaque = opaque, .disk_first = -1};
    long long now = clock_now_ms();
    virt_stall_start(&w->stall, v->mover->stall_ms, now);
    const struct virt_policy none = {0};
    virt_converge_start(&w->converge, policy ? policy : &none, v->mover->converge_ms,
                        v->mover->completion_s, now);
}

bool virt_watch_once(struct virt_watch *w)
{
    struct virt_job_info info;
    bool have = virt_job_stats(w->dom, 0, &info) == 0;
    if (have) {
        /* a running job's downtime is libvirt's estimate; the real one comes at the end */
        info.expected_downtime_ms = info.downtime_ms;
        info.downtime_ms = -1;
        disk_rate(w, &info);
        virt_converge_check(&w->converge, w->dom, &info);
        w->phase = info.phase;
        w->fn(w->opaque, &info);
    }
    stall_check(&w->stall, w->dom, have ? &info : NULL);
    unstick(w);
    return have;
}

static void *poll_loop(void *arg)
{
    struct poller *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->done) {
        struct timespec ts = clock_after(CLOCK_REALTIME, VIRT_POLL_MS);
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        if (p->done)
            break;
        pthread_mutex_unlock(&p->lock);
        virt_watch_once(&p->w);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void poller_stop(struct poller *p)
{
    pthread_mutex_lock(&p->lock);
    p->done = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
}

void virt_completed_stats(struct virt *v, virDomainPtr d, const char *host,
                          struct virt_job_info *final)
{
    if (virt_job_stats(d, VIR_DOMAIN_JOB_STATS_COMPLETED, final) == 0)
        return;
    char uuid[VIR_UUID_BUFLEN]; /* only over a live cached connection: figures never hold the
                                 * task's end up on a host that stopped answering */
    virConnectPtr remote =
        virDomainGetUUID(d, (unsigned char *)uuid) == 0 ? virt_remote_cached(v, host) : NULL;
    virDomainPtr rd = remote ? virDomainLookupByUUID(remote, (unsigned char *)uuid) : NULL;
    if (rd) {
        virt_job_stats(rd, VIR_DOMAIN_JOB_STATS_COMPLETED, final);
        virDomainFree(rd);
    }
    if (remote)
        virConnectClose(remote);
}

static int build_params(const struct virt_migrate_opts *o, bool live, virTypedParameterPtr *p,
                        int *n)
{
    int max = 0;
    char uri[128];
    bool v6 = strchr(o->addr, ':') != NULL;
    snprintf(uri, sizeof(uri), "tcp://%s%s%s", v6 ? "[" : "", o->addr, v6 ? "]" : "");
    if (live && virTypedParamsAddString(p, n, &max, VIR_MIGRATE_PARAM_URI, uri) < 0)
        return -1;
    const struct virt_policy *pol = &o->policy;
    /* TLS checks the destination's certificate against its name (or the address it was
     * reached at), not against the address the stream goes to (a migration network's) */
    if (live && pol->encrypted &&
        virTypedParamsAddString(p, n, &max, VIR_MIGRATE_PARAM_TLS_DESTINATION, o->host) < 0)
        return -1;
    if (pol->bandwidth &&
        virTypedParamsAddULLong(p, n, &max, VIR_MIGRATE_PARAM_BANDWIDTH, pol->bandwidth) < 0)
        return -1;
    /* the cap holds after a switch to post-copy too (libvirt's default there: none), in bytes */
    if (live && pol->bandwidth && pol->postcopy &&
        virTypedParamsAddULLong(p, n, &max, VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY,
                                (unsigned long long)pol->bandwidth << 20) < 0)
        return -1;
    if (live && pol->parallel > 1 &&
        virTypedParamsAddInt(p, n, &max, VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS, pol->parallel) < 0)
        return -1;
    if (live && pol->compression &&
        virTypedParamsAddString(p, n, &max, VIR_MIGRATE_PARAM_COMPRESSION, "xbzrle") < 0)
        return -1;
    for (size_t i = 0; live && o->storage && i < o->storage->n; i++)
        if (virt_disk_copied(&o->storage->disks[i]) &&
            virTypedParamsAddString(p, n, &max, VIR_MIGRATE_PARAM_MIGRATE_DISKS,
                                    o->storage->disks[i].target) < 0)
            return -1;
    return 0;
}

/* "disk vda (\"/path\")" for each copied disk, for messages. */
static void disk_list(const struct virt_storage *s, char *out, size_t len)
{
    out[0] = 0;
    for (size_t i = 0; s && i < s->n; i++) {
        if (!virt_disk_copied(&s->disks[i]))
            continue;
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%sdisk \"%s\" (\"%s\")", used ? " and " : "",
                 s->disks[i].target, s->disks[i].path);
    }
}

int virt_migration_run(struct virt *v, virDomainPtr d, const char *name,
                       const struct virt_migrate_opts *o, unsigned int flags, struct poller *p,
                       struct err *e)
{
    virTypedParameterPtr params = NULL;
    int n = 0, rc = -1;
    char dconn[600];
    virt_remote_uri(v, o->host, dconn, sizeof(dconn));
    bool live = !(flags & VIR_MIGRATE_OFFLINE);
    virConnectPtr local = virDomainGetConnect(d); /* now: a call after the failure would reset
                                                   * libvirt's error */
    if (build_params(o, live, &params, &n) < 0)
        return err_oom(e);
    /* a recovery resumes what the switch-over began: no convergence to steer, and no stall
     * rule (libvirt cannot stop a post-copy move); its bound is the caller's */
    bool resuming = flags & VIR_MIGRATE_POSTCOPY_RESUME;
    virt_watch_start(&p->w, v, d, o->host, live && !resuming ? &o->policy : NULL, p->w.fn,
                     p->w.opaque);
    if (resuming)
        p->w.stall.stall_ms = 0;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    bool polling = pthread_create(&p->thread, NULL, poll_loop, p) == 0;
    if (o->calling)
        o->calling(p->w.opaque);
    log_info("migrating \"%s\" to %s (flags 0x%x)", name, dconn, flags);
    p->called = true;
    long long called_ms = clock_now_ms();
    int mrc = virDomainMigrateToURI3(d, dconn, params, (unsigned int)n, flags);
    log_debug("libvirt's migration call for \"%s\" returned %d after %lld ms (where kimchid's "
              "own time in a move is not)",
              name, mrc, clock_now_ms() - called_ms);
    if (mrc == 0) {
        rc = 0;
        if (p->w.converge.over_budget && o->note) {
            size_t used = strlen(o->note);
            snprintf(o->note + used, o->note_len - used,
                     "; switched to post-copy when it ran past its time budget of %.0f s",
                     (double)p->w.converge.budget_ms / 1000.0);
        }
    } else {
        char what[400], disks[256] = "";
        if (p->w.phase && strcmp(p->w.phase, "disks") == 0)
            disk_list(o->storage, disks, sizeof(disks));
        snprintf(what, sizeof(what), "libvirt could not migrate \"%s\" to \"%s\"%s%s", name,
                 o->host, disks[0] ? " while copying " : "", disks);
        virt_err_connection(e, local, o->host, o->addr, M_MIG_FAILED, what);
        if (p->w.stall.stalled)
            virt_stall_error(e, o->host, p->w.stall.stall_ms);
        else if (p->w.converge.gave_up)
            virt_converge_error(e, &p->w.converge, o->host);
        else if (p->w.converge.over_budget && !p->w.converge.switched)
            virt_budget_error(e, &p->w.converge);
        if (p->w.unstuck) {
            size_t used = strlen(e->msg);
            snprintf(e->msg + used, sizeof(e->msg) - used,
                     " Its incoming copy on \"%s\" hung, so kimchid killed it there.", o->host);
        }
    }
    if (polling)
        poller_stop(p);
    virTypedParamsFree(params, n);
    return rc;
}

int virt_migrate_call(struct virt *v, virDomainPtr d, const struct virt_migrate_opts *o,
                      unsigned int flags, virt_progress_fn fn, void *opaque, struct err *e)
{
    struct poller p = {.w = {.fn = fn, .opaque = opaque}};
    return virt_migration_run(v, d, virDomainGetName(d), o, flags, &p, e);
}

void virt_set_stall_timeout(struct virt *v, long seconds)
{
    v->mover->stall_ms = seconds * 1000;
}
