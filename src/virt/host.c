/* host.c - this host as Kimchi describes it (its architecture and CPU topology), and what
 * kimchid's page shows of it. */
#include <jansson.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virt_priv.h"

static char *dump(json_t *o, struct err *e)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        err_oom(e);
    return s;
}

/* "9.0.0" from libvirt's encoded version (major * 1000000 + minor * 1000 + release). */
static json_t *version_json(int rc, unsigned long v)
{
    char out[32];
    snprintf(out, sizeof(out), "%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000);
    return rc == 0 ? json_string(out) : json_null();
}

/* Memory in use (MiB): total less free, buffers and page cache, as `free` counts it. */
static json_t *memory_used_json(virConnectPtr c)
{
    int n = 0;
    if (virNodeGetMemoryStats(c, VIR_NODE_MEMORY_STATS_ALL_CELLS, NULL, &n, 0) < 0 || n <= 0)
        return json_null();
    virNodeMemoryStatsPtr st = calloc((size_t)n, sizeof(*st));
    unsigned long long total = 0, unused = 0;
    if (st && virNodeGetMemoryStats(c, VIR_NODE_MEMORY_STATS_ALL_CELLS, st, &n, 0) == 0)
        for (int i = 0; i < n; i++) {
            if (!strcmp(st[i].field, VIR_NODE_MEMORY_STATS_TOTAL))
                total = st[i].value;
            else if (!strcmp(st[i].field, VIR_NODE_MEMORY_STATS_FREE) ||
                     !strcmp(st[i].field, VIR_NODE_MEMORY_STATS_BUFFERS) ||
                     !strcmp(st[i].field, VIR_NODE_MEMORY_STATS_CACHED))
                unused += st[i].value;
        }
    free(st);
    return total ? json_integer((json_int_t)((total - (unused < total ? unused : total)) / 1024))
                 : json_null();
}

/* Kimchi's "arch", and for kimchid's page what a person wants to know about this host:
 * its name, CPUs, memory (MiB: total and in use), libvirt's and QEMU's versions. */
char *virt_host_json(struct virt *v, struct err *e)
{
    virConnectPtr c = virt_conn_get(v, e);
    if (!c)
        return NULL;
    virNodeInfo info;
    int rc = virNodeGetInfo(c, &info);
    if (rc < 0) {
        virt_err_libvirt(e, ERR_BACKEND, M_HOST_INFO, "Cannot read this host's facts");
        virConnectClose(c);
        return NULL;
    }
    unsigned long lib = 0, hv = 0;
    int lib_rc = virConnectGetLibVersion(c, &lib), hv_rc = virConnectGetVersion(c, &hv);
    char *name = virConnectGetHostname(c);
    json_t *o =
        json_pack("{s:s, s:s?, s:i, s:{s:I, s:o}, s:o, s:o}", "arch", info.model, "name", name,
                  "cpus", (int)info.cpus, "memory", "total", (json_int_t)(info.memory / 1024),
                  "used", memory_used_json(c), "libvirt_version", version_json(lib_rc, lib),
                  "qemu_version", version_json(hv_rc, hv));
    free(name);
    virConnectClose(c);
    return dump(o, e);
}

/* A number from the host's capabilities XML, or 0. */
static int topology(xmlXPathContextPtr ctx, const char *attr)
{
    char expr[96];
    snprintf(expr, sizeof(expr), "string(/capabilities/host/cpu/topology/@%s)", attr);
    char *s = virt_xpath_str(ctx, expr);
    int n = s ? atoi(s) : 0;
    free(s);
    return n;
}

char *virt_cpuinfo_json(struct virt *v, struct err *e)
{
    virConnectPtr c = virt_conn_get(v, e);
    if (!c)
        return NULL;
    char *xml = virConnectGetCapabilities(c);
    virNodeInfo info;
    if (!xml || virNodeGetInfo(c, &info) < 0) {
        virt_err_libvirt(e, ERR_BACKEND, M_HOST_INFO, "Cannot read this host's capabilities");
        free(xml);
        xml = NULL;
    }
    virConnectClose(c);
    struct virt_xml x;
    if (virt_xml_open(&x, xml, NULL, e) < 0)
        return NULL;
    int sockets = topology(x.ctx, "sockets"), cores = topology(x.ctx, "cores");
    int threads = topology(x.ctx, "threads");
    virt_xml_close(&x);
    if (sockets <= 0) { /* no topology in the capabilities (the test driver): the node's */
        sockets = (int)(info.nodes * info.sockets);
        cores = (int)info.cores;
        threads = (int)info.threads;
    }
    /* Kimchi's answer on x86: guest threads always possible, every present core available */
    return dump(json_pack("{s:b, s:i, s:i, s:i}", "threading_enabled", sockets > 0, "sockets",
                          sockets, "cores", sockets * cores, "threads_per_core", threads),
                e);
}
