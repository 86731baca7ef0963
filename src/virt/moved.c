/* moved.c - the mark kimchid leaves in a moved guest's old definition (in libvirt's own domain
 * metadata, so it outlives kimchid's state): where and when the guest went, so that starting
 * the stale copy by mistake is refused while the guest runs elsewhere. */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "virt_priv.h"

#define META_KEY "kimchid"

static void attr_value(const char *xml, const char *name, char *out, size_t len)
{
    char key[32];
    snprintf(key, sizeof(key), "%s=", name);
    const char *p = strstr(xml, key);
    out[0] = 0;
    if (!p || (p[strlen(key)] != '"' && p[strlen(key)] != '\''))
        return;
    char quote = p[strlen(key)];
    const char *v = p + strlen(key) + 1, *end = strchr(v, quote);
    if (end)
        snprintf(out, len, "%.*s", (int)(end - v), v);
}

int virt_moved_read(virDomainPtr d, char *host, size_t hostlen, char *at, size_t atlen)
{
    char *xml = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, VIRT_META_NS,
                                     VIR_DOMAIN_AFFECT_CONFIG);
    if (!xml)
        return 0; /* no mark (or a transient guest, which has no config to mark) */
    attr_value(xml, "host", host, hostlen);
    attr_value(xml, "at", at, atlen);
    free(xml);
    return host[0] ? 1 : 0;
}

int virt_moved_set(virDomainPtr d, const char *host, struct err *e)
{
    char xml[512] = "";
    if (host) {
        char at[32];
        time_t now = time(NULL);
        struct tm tm;
        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        /* host names are validated (letters, digits, '-', '.', ':'): nothing to escape */
        snprintf(xml, sizeof(xml), "<moved host='%s' at='%s'/>", host, at);
    }
    if (virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, host ? xml : NULL,
                             host ? META_KEY : NULL, VIRT_META_NS, VIR_DOMAIN_AFFECT_CONFIG) < 0)
        return virt_err_libvirt(e, ERR_BACKEND, M_MIG_MARK,
                                "Cannot record where the guest moved in its old definition");
    return 0;
}
