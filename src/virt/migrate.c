/* migrate.c - checks on the remote libvirt and peer-to-peer migration with progress. */
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/log.h"
#include "virt_priv.h"

#define POLL_MS 500


/* Host UUID and CPU architecture from a connection's capabilities. */
static int host_facts(virConnectPtr c, char *uuid, char *arch, size_t len, struct err *e)
{
    char *caps = virConnectGetCapabilities(c);
    if (!caps)
        return virt_err_libvirt(e, ERR_BACKEND, "KCHVM0070E", "Cannot read host capabilities");
    xmlDocPtr doc = xmlReadMemory(caps, (int)strlen(caps), "caps.xml", NULL, XML_PARSE_NONET);
    free(caps);
    xmlXPathContextPtr ctx = doc ? xmlXPathNewContext(doc) : NULL;
    const char *exprs[2] = {"string(/capabilities/host/uuid)",
                            "string(/capabilities/host/cpu/arch)"};
    char *outs[2] = {uuid, arch};
    for (int i = 0; i < 2; i++) {
        xmlXPathObjectPtr o = ctx ? xmlXPathEvalExpression((const xmlChar *)exprs[i], ctx) : NULL;
        xmlChar *v = o ? xmlXPathCastToString(o) : NULL;
        snprintf(outs[i], len, "%s", v ? (const char *)v : "");
        xmlFree(v);
        xmlXPathFreeObject(o);
    }
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return 0;
}

static int compare_hosts(virConnectPtr local, virConnectPtr remote, const char *host,
                         struct err *e)
{
    char lu[64], la[64], ru[64], ra[64];
    if (host_facts(local, lu, la, 64, e) < 0 || host_facts(remote, ru, ra, 64, e) < 0)
        return -1;
    if (lu[0] && strcmp(lu, ru) == 0)
        return err_set(e, ERR_INVALID, "KCHVM0071E",
                       "\"%s\" has the same libvirt host UUID (%s) as this host: either it is "
                       "this host, or the two were cloned. Set a unique host_uuid in "
                       "/etc/libvirt/libvirtd.conf on one of them and restart libvirtd.",
                       host, lu);
    if (strcmp(la, ra) != 0)
        return err_set(e, ERR_INVALID, "KCHVM0072E",
                       "\"%s\" is a %s host and this one is %s; a guest can move only between "
                       "hosts of the same architecture.",
                       host, ra, la);
    const char *lt = virConnectGetType(local), *rt = virConnectGetType(remote);
    if (lt && rt && strcmp(lt, rt) != 0)
        return err_set(e, ERR_INVALID, "KCHVM0073E",
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
    int rc = remote ? compare_hosts(local, remote, host, e) : -1;
    if (remote)
        virConnectClose(remote);
    virConnectClose(local);
    return rc;
}

static long long param_ll(virTypedParameterPtr p, int n, const char *name)
{
    unsigned long long v;
    return virTypedParamsGetULLong(p, n, name, &v) == 1 ? (long long)v : -1;
}

static void fill_info(virTypedParameterPtr p, int n, struct virt_job_info *i)
{
    i->data_total = param_ll(p, n, VIR_DOMAIN_JOB_DATA_TOTAL);
    i->data_processed = param_ll(p, n, VIR_DOMAIN_JOB_DATA_PROCESSED);
    i->data_remaining = param_ll(p, n, VIR_DOMAIN_JOB_DATA_REMAINING);
    i->memory_bps = param_ll(p, n, VIR_DOMAIN_JOB_MEMORY_BPS);
    i->elapsed_ms = param_ll(p, n, VIR_DOMAIN_JOB_TIME_ELAPSED);
    i->remaining_ms = param_ll(p, n, VIR_DOMAIN_JOB_TIME_REMAINING);
    i->downtime_ms = param_ll(p, n, VIR_DOMAIN_JOB_DOWNTIME);
    if (i->remaining_ms < 0 && i->memory_bps > 0 && i->data_remaining >= 0)
        i->remaining_ms = i->data_remaining * 1000 / i->memory_bps; /* libvirt gives none */
    i->percent = -1;
    if (i->data_total > 0 && i->data_remaining >= 0)
        i->percent = 100.0 * (double)(i->data_total - i->data_remaining) / (double)i->data_total;
    else if (i->data_total > 0 && i->data_processed >= 0)
        i->percent = 100.0 * (double)i->data_processed / (double)i->data_total;
}

static void info_unknown(struct virt_job_info *i)
{
    i->percent = -1;
    i->data_total = i->data_processed = i->data_remaining = -1;
    i->memory_bps = i->elapsed_ms = i->remaining_ms = i->downtime_ms = -1;
}

/* Reads job stats (flags: 0 = the running job, COMPLETED = the last one). 0 when found. */
static int job_stats(virDomainPtr d, unsigned int flags, struct virt_job_info *out)
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

struct poller {
    virDomainPtr dom;
    virt_progress_fn fn;
    void *opaque;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    pthread_t thread;
};

static void *poll_loop(void *arg)
{
    struct poller *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += POLL_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        if (p->done)
            break;
        pthread_mutex_unlock(&p->lock);
        struct virt_job_info info;
        if (job_stats(p->dom, 0, &info) == 0)
            p->fn(p->opaque, &info);
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

/* The completed job's figures: from the source if the guest is still defined there,
 * else from the destination. */
static void completed_stats(struct virt *v, virDomainPtr d, const char *host,
                            struct virt_job_info *final)
{
    if (job_stats(d, VIR_DOMAIN_JOB_STATS_COMPLETED, final) == 0)
        return;
    char uuid[VIR_UUID_BUFLEN];
    virConnectPtr rc =
        virDomainGetUUID(d, (unsigned char *)uuid) == 0 ? virt_remote_get(v, host, NULL) : NULL;
    virDomainPtr rd = rc ? virDomainLookupByUUID(rc, (unsigned char *)uuid) : NULL;
    if (rd) {
        job_stats(rd, VIR_DOMAIN_JOB_STATS_COMPLETED, final);
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
    if (o->bandwidth &&
        virTypedParamsAddULLong(p, n, &max, VIR_MIGRATE_PARAM_BANDWIDTH, o->bandwidth) < 0)
        return -1;
    return 0;
}

static unsigned int migrate_flags(int state, bool persistent, bool delete_source)
{
    unsigned int f = VIR_MIGRATE_PEER2PEER;
    if (state == VIR_DOMAIN_SHUTOFF)
        f |= VIR_MIGRATE_OFFLINE | VIR_MIGRATE_PERSIST_DEST;
    else
        f |= VIR_MIGRATE_LIVE | (persistent ? VIR_MIGRATE_PERSIST_DEST : 0);
    if (delete_source && persistent)
        f |= VIR_MIGRATE_UNDEFINE_SOURCE;
    return f;
}

static int run_migration(virDomainPtr d, const char *name, const struct virt_migrate_opts *o,
                         unsigned int flags, struct poller *p, struct err *e)
{
    virTypedParameterPtr params = NULL;
    int n = 0, rc = -1;
    char dconn[600];
    virt_remote_uri(o->host, dconn, sizeof(dconn));
    bool live = !(flags & VIR_MIGRATE_OFFLINE);
    if (build_params(o, live, &params, &n) < 0)
        return err_set(e, ERR_INTERNAL, "KCHAPI0010E", "Out of memory.");
    p->dom = d;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    bool polling = pthread_create(&p->thread, NULL, poll_loop, p) == 0;
    log_info("migrating \"%s\" to %s (flags 0x%x)", name, dconn, flags);
    if (virDomainMigrateToURI3(d, dconn, params, (unsigned int)n, flags) == 0) {
        rc = 0;
    } else {
        char what[300];
        snprintf(what, sizeof(what), "libvirt could not migrate \"%s\" to \"%s\"", name, o->host);
        virt_err_libvirt(e, ERR_BACKEND, "KCHVM0075E", what);
    }
    if (polling)
        poller_stop(p);
    virTypedParamsFree(params, n);
    return rc;
}

int virt_vm_migrate(struct virt *v, const char *name, const struct virt_migrate_opts *o,
                    virt_progress_fn progress, void *opaque, struct virt_job_info *final,
                    struct err *e)
{
    info_unknown(final);
    virConnectPtr c = virt_conn_get(v, e);
    if (!c)
        return -1;
    int state, reason, rc = -1;
    virDomainPtr d = virt_domain_lookup(c, name, e);
    if (!d)
        goto cleanup;
    int persistent = virDomainIsPersistent(d);
    if (virDomainGetState(d, &state, &reason, 0) < 0 || persistent < 0) {
        virt_err_libvirt(e, ERR_BACKEND, "KCHVM0075E", "Cannot read the guest's state");
        goto cleanup;
    }
    struct poller p = {.fn = progress, .opaque = opaque};
    unsigned int flags = migrate_flags(state, persistent == 1, o->delete_source);
    rc = run_migration(d, name, o, flags, &p, e);
    if (rc == 0)
        completed_stats(v, d, o->host, final);
cleanup:
    if (d)
        virDomainFree(d);
    virConnectClose(c);
    virt_inventory_poke(v);
    return rc;
}
