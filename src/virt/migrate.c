/* migrate.c - checks on the remote libvirt and peer-to-peer migration with progress. */
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "../util/timers.h"
#include "virt_priv.h"

/* Host UUID and CPU architecture from a connection's capabilities. */
static int host_facts(virConnectPtr c, char *uuid, char *arch, size_t len, struct err *e)
{
    char *caps = virConnectGetCapabilities(c);
    if (!caps)
        return virt_err_libvirt(e, ERR_BACKEND, M_HOST_INFO, "Cannot read host capabilities");
    struct virt_xml x;
    if (virt_xml_open(&x, caps, NULL, e) < 0)
        return -1;
    const char *exprs[2] = {"string(/capabilities/host/uuid)",
                            "string(/capabilities/host/cpu/arch)"};
    char *outs[2] = {uuid, arch};
    for (int i = 0; i < 2; i++) {
        char *v = virt_xpath_str(x.ctx, exprs[i]);
        snprintf(outs[i], len, "%s", v ? v : "");
        free(v);
    }
    virt_xml_close(&x);
    return 0;
}

static bool facts_find(struct virt *v, virConnectPtr c, char *uuid, char *arch, size_t len)
{
    bool found = false;
    pthread_mutex_lock(&v->facts_lock);
    for (size_t i = 0; i < v->nfacts && !found; i++)
        if (v->facts[i].conn == c) {
            snprintf(uuid, len, "%s", v->facts[i].uuid);
            snprintf(arch, len, "%s", v->facts[i].arch);
            found = true;
        }
    pthread_mutex_unlock(&v->facts_lock);
    return found;
}

static void facts_add(struct virt *v, virConnectPtr c, const char *uuid, const char *arch)
{
    virConnectPtr evicted = NULL;
    pthread_mutex_lock(&v->facts_lock);
    if (v->nfacts == VIRT_FACTS_MAX) { /* the oldest goes */
        evicted = v->facts[0].conn;
        memmove(&v->facts[0], &v->facts[1], (VIRT_FACTS_MAX - 1) * sizeof(v->facts[0]));
        v->nfacts--;
    }
    struct facts_entry *f = &v->facts[v->nfacts++];
    f->conn = c;
    virConnectRef(c);
    snprintf(f->uuid, sizeof(f->uuid), "%s", uuid);
    snprintf(f->arch, sizeof(f->arch), "%s", arch);
    pthread_mutex_unlock(&v->facts_lock);
    if (evicted)
        virConnectClose(evicted);
}

void virt_facts_clear(struct virt *v)
{
    pthread_mutex_lock(&v->facts_lock);
    for (size_t i = 0; i < v->nfacts; i++)
        virConnectClose(v->facts[i].conn);
    v->nfacts = 0;
    pthread_mutex_unlock(&v->facts_lock);
}

/* host_facts, once per connection (see struct facts_entry). */
static int host_facts_cached(struct virt *v, virConnectPtr c, char *uuid, char *arch, size_t len,
                             struct err *e)
{
    if (facts_find(v, c, uuid, arch, len))
        return 0;
    if (host_facts(c, uuid, arch, len, e) < 0)
        return -1;
    facts_add(v, c, uuid, arch);
    return 0;
}

static int compare_hosts(struct virt *v, virConnectPtr local, virConnectPtr remote,
                         const char *host, struct err *e)
{
    char lu[64], la[64], ru[64], ra[64];
    if (host_facts_cached(v, local, lu, la, 64, e) < 0 ||
        host_facts_cached(v, remote, ru, ra, 64, e) < 0)
        return -1;
    if (lu[0] && strcmp(lu, ru) == 0)
        return err_set(e, ERR_INVALID, M_MIG_SAME_UUID,
                       "\"%s\" has the same libvirt host UUID (%s) as this host: either it is "
                       "this host, or the two were cloned. Set a unique host_uuid in "
                       "/etc/libvirt/libvirtd.conf on one of them and restart libvirtd.",
                       host, lu);
    if (strcmp(la, ra) != 0)
        return err_set(e, ERR_INVALID, M_MIG_ARCH,
                       "\"%s\" is a %s host and this one is %s; a guest can move only between "
                       "hosts of the same architecture.",
                       host, ra, la);
    const char *lt = virConnectGetType(local), *rt = virConnectGetType(remote);
    if (lt && rt && strcmp(lt, rt) != 0)
        return err_set(e, ERR_INVALID, M_MIG_HYPERVISOR,
                       "\"%s\" runs the %s hypervisor and this host %s; both must be the same.",
                       host, rt, lt);
    return 0;
}

int virt_remote_check(struct virt *v, const char *host, struct err *e)
{
    virConnectPtr local = virt_conn_get(v, e);
    if (!local)
        return -1;
    virConnectPtr remote = virt_remote_get(v, host, e);
    int rc = remote ? compare_hosts(v, local, remote, host, e) : -1;
    if (remote)
        virConnectClose(remote);
    virConnectClose(local);
    return rc;
}

/* A guest on the destination that the move would collide with: another guest of the same
 * name (libvirt would refuse with a cryptic error), or this very guest already active there
 * (a second running copy). A shut-off definition of this guest there is replaced. */
static int remote_collision(virConnectPtr rc, virDomainPtr d, const char *host, struct err *e)
{
    const char *name = virDomainGetName(d);
    char uuid[VIR_UUID_STRING_BUFLEN], ruuid[VIR_UUID_STRING_BUFLEN] = "";
    if (virDomainGetUUIDString(d, uuid) < 0)
        return virt_err_libvirt(e, ERR_BACKEND, M_VM_READ, "Cannot read the guest's UUID");
    virDomainPtr same_name = virDomainLookupByName(rc, name);
    virDomainPtr same_uuid = virDomainLookupByUUIDString(rc, uuid);
    int rcode = 0;
    if (same_name && virDomainGetUUIDString(same_name, ruuid) == 0 && strcmp(ruuid, uuid) != 0)
        rcode = err_set(e, ERR_CONFLICT, M_MIG_NAME_TAKEN,
                        "\"%s\" already has another guest named \"%s\" (UUID %s; this one is "
                        "%s). Rename or remove one of them, then try again.",
                        host, name, ruuid, uuid);
    else if (same_uuid && virDomainIsActive(same_uuid) == 1)
        rcode = err_set(e, ERR_CONFLICT, M_MIG_RUNS_THERE,
                        "\"%s\" is already running a guest with the UUID of \"%s\" (%s, named "
                        "\"%s\" there): a copy of this guest runs there. Find out which copy is "
                        "current and stop the other before moving it.",
                        host, name, uuid, virDomainGetName(same_uuid));
    else if (same_uuid && strcmp(virDomainGetName(same_uuid), name) != 0)
        rcode = err_set(e, ERR_CONFLICT, M_MIG_UUID_THERE,
                        "\"%s\" has this guest's UUID (%s) under another name, \"%s\". Remove "
                        "that definition there (virsh undefine %s) or rename it, then try again.",
                        host, uuid, virDomainGetName(same_uuid), virDomainGetName(same_uuid));
    if (same_name)
        virDomainFree(same_name);
    if (same_uuid)
        virDomainFree(same_uuid);
    return rcode;
}

struct collision_arg {
    struct virt *v;
    const char *host;
};

static int collision_fn(virConnectPtr c, virDomainPtr d, void *arg, struct err *e)
{
    (void)c;
    const struct collision_arg *a = arg;
    virConnectPtr rc = virt_remote_get(a->v, a->host, e);
    int rcode = rc ? remote_collision(rc, d, a->host, e) : -1;
    if (rc)
        virConnectClose(rc);
    return rcode;
}

int virt_remote_guest_check(struct virt *v, const char *host, const char *name, struct err *e)
{
    struct collision_arg a = {v, host};
    return virt_with_domain(v, name, collision_fn, &a, e);
}

static long long param_ll(virTypedParameterPtr p, int n, const char *name)
{
    unsigned long long v;
    return virTypedParamsGetULLong(p, n, name, &v) == 1 ? (long long)v : -1;
}

/* Time left from what remains and the current rate, where libvirt gives none. */
static void estimate_remaining(struct virt_job_info *i)
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
    estimate_remaining(i);
    i->percent = -1;
    if (i->data_total > 0 && i->data_remaining >= 0)
        i->percent = 100.0 * (double)(i->data_total - i->data_remaining) / (double)i->data_total;
    else if (i->data_total > 0 && i->data_processed >= 0)
        i->percent = 100.0 * (double)i->data_processed / (double)i->data_total;
}

static void info_unknown(struct virt_job_info *i)
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

/* The watch of a running migration call, on its own thread. */
struct poller {
    struct virt_watch w;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    bool called; /* libvirt's migration call was made: something may have moved */
    pthread_t thread;
};

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
    estimate_remaining(i);
}

static void stall_start(struct virt_stall *s, long stall_ms)
{
    s->stall_ms = stall_ms;
    s->moved = 0;
    s->stalled = false;
    clock_gettime(CLOCK_MONOTONIC, &s->last_change);
}

/* Slow but moving is fine; nothing moved for stall_ms (a dead link, a hung peer, a job that
 * never started) is not: libvirt's job is stopped, and the guest stays. */
static void stall_check(struct virt_stall *s, virDomainPtr d, const struct virt_job_info *info)
{
    long long moved = info ? info->data_processed : -1;
    if (moved > s->moved) {
        s->moved = moved;
        clock_gettime(CLOCK_MONOTONIC, &s->last_change);
        return;
    }
    if (s->stalled || s->stall_ms <= 0 || clock_ms_since(&s->last_change) < s->stall_ms)
        return;
    if (virDomainAbortJob(d) == 0) {
        s->stalled = true;
        clock_gettime(CLOCK_MONOTONIC, &s->stalled_at);
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

/* How long libvirt gets to end a move after the stall rule stopped it. */
#define UNSTICK_AFTER_MS 15000

/* libvirt cannot end a stopped move while the destination's QEMU hangs (its Finish step waits
 * on that QEMU's monitor, without a timeout), so the call would never return. That copy is
 * only an incoming one (the stop was accepted before the switch-over, so the guest runs
 * here): kill it there, which libvirt does without the monitor. */
static void unstick(struct virt_watch *p)
{
    if (!p->stall.stalled || p->unstuck || clock_ms_since(&p->stall.stalled_at) < UNSTICK_AFTER_MS)
        return;
    p->unstuck = true;
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainPtr rd =
        virDomainGetUUIDString(p->dom, uuid) == 0 ? virt_lookup_uuid(p->v, p->host, uuid) : NULL;
    int state = -1, reason;
    if (rd && virDomainGetState(rd, &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED) {
        log_warn("the stopped move of \"%s\" did not end in %d s: killing its hung incoming "
                 "copy on %s",
                 virDomainGetName(p->dom), UNSTICK_AFTER_MS / 1000, p->host);
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
    stall_start(&w->stall, v->stall_ms);
    const struct virt_policy none = {0};
    virt_converge_start(&w->converge, policy ? policy : &none, v->converge_ms);
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
    virConnectPtr rc =
        virDomainGetUUID(d, (unsigned char *)uuid) == 0 ? virt_remote_cached(v, host) : NULL;
    virDomainPtr rd = rc ? virDomainLookupByUUID(rc, (unsigned char *)uuid) : NULL;
    if (rd) {
        virt_job_stats(rd, VIR_DOMAIN_JOB_STATS_COMPLETED, final);
        virDomainFree(rd);
    }
    if (rc)
        virConnectClose(rc);
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

static unsigned int migrate_flags(int state, bool persistent, const struct virt_migrate_opts *o)
{
    unsigned int f = VIR_MIGRATE_PEER2PEER;
    if (state == VIR_DOMAIN_SHUTOFF)
        f |= VIR_MIGRATE_OFFLINE | VIR_MIGRATE_PERSIST_DEST;
    else
        f |= VIR_MIGRATE_LIVE | (persistent ? VIR_MIGRATE_PERSIST_DEST : 0) |
             (o->policy.auto_converge ? VIR_MIGRATE_AUTO_CONVERGE : 0) |
             (o->policy.postcopy ? VIR_MIGRATE_POSTCOPY : 0) |
             (o->policy.parallel > 1 ? VIR_MIGRATE_PARALLEL : 0) |
             (o->policy.compression ? VIR_MIGRATE_COMPRESSED : 0) |
             (o->policy.encrypted ? VIR_MIGRATE_TLS : 0);
    if (state != VIR_DOMAIN_SHUTOFF && o->storage && virt_storage_copies(o->storage))
        f |= VIR_MIGRATE_NON_SHARED_DISK; /* exactly the disks named in MIGRATE_DISKS */
    if (o->delete_source && persistent)
        f |= VIR_MIGRATE_UNDEFINE_SOURCE;
    return f;
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

static int run_migration(struct virt *v, virDomainPtr d, const char *name,
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
        return err_set(e, ERR_INTERNAL, M_API_INTERNAL, "Out of memory.");
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
    if (virDomainMigrateToURI3(d, dconn, params, (unsigned int)n, flags) == 0) {
        rc = 0;
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

static int storage_fn(virConnectPtr c, virDomainPtr d, void *s, struct err *e)
{
    return virt_storage_plan(c, d, s, e);
}

int virt_vm_storage(struct virt *v, const char *name, struct virt_storage *s, struct err *e)
{
    memset(s, 0, sizeof(*s));
    return virt_with_domain(v, name, storage_fn, s, e);
}

/* Progress of an offline copy through the storage API, in the job's shape. */
struct stream_progress {
    struct virt_job_info info;
    struct timespec start;
    virt_progress_fn fn;
    void *opaque;
    struct timespec last;
};

static void on_copied(void *opaque, unsigned long long bytes)
{
    struct stream_progress *sp = opaque;
    struct virt_job_info *i = &sp->info;
    i->disk_processed += (long long)bytes;
    i->data_processed = i->disk_processed;
    i->data_remaining = i->data_total > i->data_processed ? i->data_total - i->data_processed : 0;
    i->elapsed_ms = clock_ms_since(&sp->start);
    i->memory_bps = i->elapsed_ms > 0 ? i->disk_processed * 1000 / i->elapsed_ms : -1;
    i->remaining_ms = -1;
    estimate_remaining(i);
    i->percent = i->data_total > 0 ? 100.0 * (double)i->data_processed / (double)i->data_total : -1;
    if (clock_ms_since(&sp->last) >= VIRT_POLL_MS) {
        clock_gettime(CLOCK_MONOTONIC, &sp->last);
        sp->fn(sp->opaque, i);
    }
}

static int copy_offline(virConnectPtr c, virConnectPtr rc, const struct virt_migrate_opts *o,
                        virt_progress_fn fn, void *opaque, struct err *e)
{
    struct stream_progress sp = {.fn = fn, .opaque = opaque};
    info_unknown(&sp.info);
    sp.info.phase = "disks";
    sp.info.disk_total = sp.info.disk_processed = 0;
    for (size_t i = 0; i < o->storage->n; i++)
        if (virt_disk_copied(&o->storage->disks[i]))
            sp.info.disk_total += (long long)o->storage->disks[i].physical;
    sp.info.data_total = sp.info.disk_total;
    clock_gettime(CLOCK_MONOTONIC, &sp.start);
    sp.last = sp.start;
    fn(opaque, &sp.info); /* the disk phase starts now */
    int rcode = virt_storage_stream_copy(c, rc, o->host, o->storage, on_copied, &sp, e);
    if (rcode == 0)
        fn(opaque, &sp.info); /* and its final figures */
    return rcode;
}

/* Creates the copied disks' volumes on the destination and, for a shut-off guest, fills
 * them; then migrates. On failure every created volume is removed again. */
static int move(struct virt *v, virConnectPtr c, virDomainPtr d, int state, unsigned int flags,
                const struct virt_migrate_opts *o, struct poller *p, struct err *e)
{
    const char *name = virDomainGetName(d);
    if (!o->storage || virt_storage_copies(o->storage) == 0)
        return run_migration(v, d, name, o, flags, p, e);
    virConnectPtr rc = virt_remote_get(v, o->host, e);
    if (!rc)
        return -1;
    int result = virt_storage_prepare(rc, o->host, o->storage, e);
    if (result == 0 && state == VIR_DOMAIN_SHUTOFF) {
        if (o->calling)
            o->calling(p->w.opaque);
        result = copy_offline(c, rc, o, p->w.fn, p->w.opaque, e);
    }
    virConnectClose(rc);
    if (result == 0)
        result = run_migration(v, d, name, o, flags, p, e);
    if (result < 0) {
        char left[1024];
        virt_storage_unprepare(v, o->host, o->storage, left, sizeof(left));
        if (left[0]) {
            size_t used = strlen(e->msg);
            snprintf(e->msg + used, sizeof(e->msg) - used,
                     " kimchid could not remove the copies it had started on \"%s\": %s; "
                     "remove them there.",
                     o->host, left);
        }
    }
    return result;
}

/* After a move with copied disks and delete_source: once the destination confirms it has
 * the guest (running, or defined for a shut-off one), remove this host's stale copies. What
 * happened goes into o->removed as the end of a sentence; the move itself has succeeded. */
static void remove_stale_copies(struct virt *v, virConnectPtr c, virDomainPtr d, int state,
                                const struct virt_migrate_opts *o)
{
    unsigned char uuid[VIR_UUID_BUFLEN];
    virConnectPtr rc = virDomainGetUUID(d, uuid) == 0 ? virt_remote_get(v, o->host, NULL) : NULL;
    virDomainPtr rd = rc ? virDomainLookupByUUID(rc, uuid) : NULL;
    int rstate = -1, reason;
    if (rd && virDomainGetState(rd, &rstate, &reason, 0) < 0)
        rstate = -1;
    bool there = rd && (state == VIR_DOMAIN_SHUTOFF || rstate == VIR_DOMAIN_RUNNING ||
                        rstate == VIR_DOMAIN_PAUSED);
    if (rd)
        virDomainFree(rd);
    if (rc)
        virConnectClose(rc);
    char removed[1024];
    struct err e = {0};
    if (!there)
        snprintf(o->removed, o->removed_len,
                 "; \"%s\" did not confirm that the guest runs there, so this host's disk "
                 "copies were kept",
                 o->host);
    else if (virt_storage_remove_source(c, o->storage, removed, sizeof(removed), &e) < 0)
        snprintf(o->removed, o->removed_len, "; removed %s; %s", removed[0] ? removed : "nothing",
                 e.msg);
    else
        snprintf(o->removed, o->removed_len, "; removed this host's stale disk copies %s", removed);
}

static int abort_fn(virConnectPtr c, virDomainPtr d, void *arg, struct err *e)
{
    (void)c;
    (void)arg;
    if (virDomainAbortJob(d) == 0)
        return 0;
    return virt_err_libvirt(e, ERR_CONFLICT, M_MIG_PAST_RETURN,
                            "the move is past the point where it can be stopped");
}

int virt_vm_abort_job(struct virt *v, const char *name, struct err *e)
{
    return virt_with_domain(v, name, abort_fn, NULL, e);
}

/* d looked up again over the current local connection (new reference, or NULL): d's own may
 * have closed with a libvirtd that was restarted during the move. */
static virDomainPtr relookup(struct virt *v, virDomainPtr d)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    return virDomainGetUUIDString(d, uuid) == 0 ? virt_lookup_uuid(v, NULL, uuid) : NULL;
}

void virt_mark_moved(struct virt *v, virDomainPtr d, const char *host)
{
    struct err e = {0};
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainPtr fd = relookup(v, d);
    if (!fd)
        log_warn("could not mark the old definition of \"%s\" as moved to %s: it cannot be "
                 "looked up here",
                 virDomainGetName(d), host);
    else if (virDomainIsPersistent(fd) == 1 && virt_moved_set(fd, host, &e) < 0)
        log_warn("%s", e.msg);
    if (fd)
        virDomainFree(fd);
    if (virDomainGetUUIDString(d, uuid) == 0)
        virt_inventory_mark_stale(v, uuid);
}

int virt_migrate_call(struct virt *v, virDomainPtr d, const struct virt_migrate_opts *o,
                      unsigned int flags, virt_progress_fn fn, void *opaque, struct err *e)
{
    struct poller p = {.w = {.fn = fn, .opaque = opaque}};
    return run_migration(v, d, virDomainGetName(d), o, flags, &p, e);
}

/* The call failed: find out where the guest runs. 0 when the move completed after all (the
 * error goes into o->note), -1 with e (plus what kimchid found or did) when it did not. */
static int settle(struct virt *v, virDomainPtr d, const struct virt_migrate_opts *o,
                  unsigned int flags, const struct poller *p, struct virt_incoming *incoming,
                  struct err *e)
{
    char note[1024], uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(d, uuid) < 0)
        return -1;
    log_info("the move of \"%s\" failed (%s); asking both hosts where the guest is",
             virDomainGetName(d), e->msg);
    enum virt_where w = virt_migration_settle(v, uuid, virDomainGetName(d), o->host, false, o->say,
                                              p->w.opaque, note, sizeof(note));
    if (w == VIRT_WHERE_DEST && !note[0] && p->w.phase && strcmp(p->w.phase, "postcopy") == 0)
        snprintf(note, sizeof(note), /* it completed on QEMU's own connection before settling */
                 "post-copy was interrupted for %lld s, and the move completed once the network "
                 "was back (QEMU's own connection resumed)",
                 clock_ms_since(&p->w.stall.last_change) / 1000);
    if (w == VIRT_WHERE_SPLIT)
        w = virt_postcopy_recover(v, uuid, virDomainGetName(d), o, flags, &p->w.stall.last_change,
                                  incoming, p->w.fn, p->w.opaque, note, sizeof(note));
    if (o->where)
        *o->where = w;
    if (w == VIRT_WHERE_DEST) {
        if (o->note)
            snprintf(o->note, o->note_len,
                     "; libvirt reported an error (%s), but the guest runs on \"%s\"%s%s",
                     err_text(e), o->host, note[0] ? ": " : "", note);
        virDomainPtr fd = o->delete_source ? relookup(v, d) : NULL;
        if (fd && virDomainIsPersistent(fd) == 1)
            virDomainUndefine(fd); /* what UNDEFINE_SOURCE would have done */
        if (fd)
            virDomainFree(fd);
        err_clear(e);
        return 0;
    }
    if (!note[0] && w == VIRT_WHERE_SOURCE)
        snprintf(note, sizeof(note), "The guest runs on this host.");
    if (note[0]) {
        size_t used = strlen(e->msg);
        snprintf(e->msg + used, sizeof(e->msg) - used, " %s", note);
    }
    return -1;
}

int virt_vm_migrate(struct virt *v, const char *name, const struct virt_migrate_opts *o,
                    virt_progress_fn progress, void *opaque, struct virt_job_info *final,
                    struct err *e)
{
    info_unknown(final);
    if (o->removed)
        o->removed[0] = 0;
    if (o->note)
        o->note[0] = 0;
    if (o->where)
        *o->where = VIRT_WHERE_SOURCE; /* until libvirt's call or settling says otherwise */
    virConnectPtr c = virt_conn_get(v, e);
    if (!c)
        return -1;
    int state, reason, rc = -1;
    virDomainPtr d = virt_domain_lookup(c, name, e);
    if (!d)
        goto cleanup;
    int persistent = virDomainIsPersistent(d);
    if (virDomainGetState(d, &state, &reason, 0) < 0 || persistent < 0) {
        virt_err_libvirt(e, ERR_BACKEND, M_MIG_FAILED, "Cannot read the guest's state");
        goto cleanup;
    }
    struct poller p = {.w = {.fn = progress, .opaque = opaque}};
    unsigned int flags = migrate_flags(state, persistent == 1, o);
    /* a post-copy move may break in its switch-over: whether the destination ever ran the
     * guest is then learnt from libvirt's events there, watched from before the move */
    char uuid[VIR_UUID_STRING_BUFLEN];
    struct virt_incoming incoming;
    bool watch = (flags & VIR_MIGRATE_POSTCOPY) && virDomainGetUUIDString(d, uuid) == 0;
    if (watch)
        virt_incoming_watch(v, o->host, uuid, &incoming);
    rc = move(v, c, d, state, flags, o, &p, e);
    if (rc < 0 && p.called && state != VIR_DOMAIN_SHUTOFF)
        rc = settle(v, d, o, flags, &p, watch ? &incoming : NULL, e);
    if (watch)
        virt_incoming_unwatch(&incoming);
    if (rc == 0 && o->where)
        *o->where = VIRT_WHERE_DEST;
    if (rc == 0)
        virt_completed_stats(v, d, o->host, final);
    if (rc == 0 && persistent == 1 && !(flags & VIR_MIGRATE_UNDEFINE_SOURCE))
        virt_mark_moved(v, d, o->host);
    if (rc == 0 && o->delete_source && o->storage && virt_storage_copies(o->storage) && o->removed)
        remove_stale_copies(v, c, d, state, o);
cleanup:
    if (d)
        virDomainFree(d);
    virConnectClose(c);
    /* the guest list sees the move now, while the job still claims the guest: stream clients
     * learn it went away "while migrating", not after */
    virt_inventory_refresh(v, NULL);
    return rc;
}

struct recover_args {
    struct virt *v;
    const struct virt_migrate_opts *o;
    virt_progress_fn fn;
    void *opaque;
    char *note;
    size_t len;
    enum virt_where where;
};

static int recover_fn(virConnectPtr c, virDomainPtr d, void *arg, struct err *e)
{
    (void)c;
    struct recover_args *ra = arg;
    char uuid[VIR_UUID_STRING_BUFLEN];
    int persistent = virDomainIsPersistent(d);
    if (virDomainGetUUIDString(d, uuid) < 0 || persistent < 0)
        return virt_err_libvirt(e, ERR_BACKEND, M_MIG_FAILED, "Cannot read the guest");
    unsigned int flags = migrate_flags(VIR_DOMAIN_PAUSED, persistent == 1, ra->o);
    ra->where = virt_postcopy_recover(ra->v, uuid, virDomainGetName(d), ra->o, flags, NULL, NULL,
                                      ra->fn, ra->opaque, ra->note, ra->len);
    if (ra->where != VIRT_WHERE_DEST)
        return 0;
    if (persistent == 1 && ra->o->delete_source) {
        virDomainPtr fd = relookup(ra->v, d);
        if (fd && virDomainIsPersistent(fd) == 1)
            virDomainUndefine(fd);
        if (fd)
            virDomainFree(fd);
    } else if (persistent == 1) {
        virt_mark_moved(ra->v, d, ra->o->host);
    }
    return 0;
}

enum virt_where virt_vm_postcopy_recover(struct virt *v, const char *name,
                                         const struct virt_migrate_opts *o, virt_progress_fn fn,
                                         void *opaque, char *note, size_t len, struct err *e)
{
    struct recover_args ra = {v, o, fn, opaque, note, len, VIRT_WHERE_SPLIT};
    note[0] = 0;
    if (virt_with_domain(v, name, recover_fn, &ra, e) < 0)
        return VIRT_WHERE_UNKNOWN;
    virt_inventory_refresh(v, NULL);
    return ra.where;
}

void virt_set_stall_timeout(struct virt *v, long seconds)
{
    v->stall_ms = seconds * 1000;
}
