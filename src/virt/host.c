/* host.c - this host as Kimchi describes it: its architecture and CPU topology. */
#include <jansson.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

#include "virt_priv.h"

static char *dump(json_t *o, struct err *e)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        err_set(e, ERR_INTERNAL, M_API_INTERNAL, "Out of memory.");
    return s;
}

char *virt_host_json(struct virt *v, struct err *e)
{
    virConnectPtr c = virt_conn_get(v, e);
    if (!c)
        return NULL;
    virNodeInfo info;
    int rc = virNodeGetInfo(c, &info);
    if (rc < 0)
        virt_err_libvirt(e, ERR_BACKEND, M_HOST_INFO, "Cannot read this host's facts");
    virConnectClose(c);
    return rc < 0 ? NULL : dump(json_pack("{s:s}", "arch", info.model), e);
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
    /* Kimchi on x86: guest threads always possible, every present core available */
    return dump(json_pack("{s:b, s:i, s:i, s:i, s:i, s:i}", "guest_threads_enabled", sockets > 0,
                          "sockets", sockets, "cores_per_socket", cores, "cores_present",
                          sockets * cores, "cores_available", sockets * cores, "threads_per_core",
                          threads),
                e);
}
