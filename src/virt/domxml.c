/* domxml.c - reads the facts kimchid shows about a guest from its libvirt XML. */
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/array.h"
#include "virt_priv.h"

static const char *const state_names[] = {
    "nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended",
};

const char *virt_state_name(int state)
{
    if (state < 0 || (size_t)state >= ARRAY_SIZE(state_names))
        return "nostate";
    return state_names[state];
}

int virt_xml_open(struct virt_xml *x, char *xml, const char *expr, struct err *e)
{
    memset(x, 0, sizeof(*x));
    if (!xml)
        return -1;
    x->doc = xmlReadMemory(xml, (int)strlen(xml), "libvirt.xml", NULL, XML_PARSE_NONET);
    free(xml);
    x->ctx = x->doc ? xmlXPathNewContext(x->doc) : NULL;
    if (x->ctx && expr)
        x->set = xmlXPathEvalExpression((const xmlChar *)expr, x->ctx);
    if (!x->ctx || (expr && !x->set)) {
        virt_xml_close(x);
        return err_set(e, ERR_BACKEND, M_VIRT_BAD_XML, "libvirt returned XML kimchid cannot read.");
    }
    x->n = x->set && x->set->nodesetval ? x->set->nodesetval->nodeNr : 0;
    return 0;
}

void virt_xml_close(struct virt_xml *x)
{
    xmlXPathFreeObject(x->set);
    xmlXPathFreeContext(x->ctx);
    xmlFreeDoc(x->doc);
    memset(x, 0, sizeof(*x));
}

char *virt_xpath_str(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    char *s = NULL;
    if (o) {
        xmlChar *v = xmlXPathCastToString(o);
        if (v && *v)
            s = strdup((const char *)v);
        xmlFree(v);
        xmlXPathFreeObject(o);
    }
    return s;
}

/* Every node of `expr` as text, space-separated; NULL when there is none. */
static char *xpath_words(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    char *out = NULL;
    size_t len = 0;
    for (int i = 0; o && o->nodesetval && i < o->nodesetval->nodeNr; i++) {
        xmlChar *v = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
        size_t n = v ? strlen((const char *)v) : 0;
        char *grown = n ? realloc(out, len + n + 2) : out;
        if (n && grown) {
            out = grown;
            if (len)
                out[len++] = ' ';
            memcpy(out + len, v, n + 1);
            len += n;
        }
        xmlFree(v);
    }
    if (o)
        xmlXPathFreeObject(o);
    return out;
}

static unsigned long long unit_factor(const char *unit)
{
    if (!unit || !strcmp(unit, "KiB") || !strcmp(unit, "k") || !strcmp(unit, "K"))
        return 1024ULL;
    if (!strcmp(unit, "b") || !strcmp(unit, "bytes"))
        return 1ULL;
    if (!strcmp(unit, "MiB") || !strcmp(unit, "M"))
        return 1024ULL * 1024;
    if (!strcmp(unit, "GiB") || !strcmp(unit, "G"))
        return 1024ULL * 1024 * 1024;
    if (!strcmp(unit, "KB"))
        return 1000ULL;
    if (!strcmp(unit, "MB"))
        return 1000ULL * 1000;
    if (!strcmp(unit, "GB"))
        return 1000ULL * 1000 * 1000;
    return 1024ULL;
}

/* Memory element `elem` in KiB, 0 when absent. */
static unsigned long long xpath_kib(xmlXPathContextPtr ctx, const char *elem)
{
    char expr[64], uexpr[64];
    snprintf(expr, sizeof(expr), "string(/domain/%s)", elem);
    snprintf(uexpr, sizeof(uexpr), "string(/domain/%s/@unit)", elem);
    char *val = virt_xpath_str(ctx, expr);
    char *unit = virt_xpath_str(ctx, uexpr);
    unsigned long long kib = 0;
    if (val)
        kib = strtoull(val, NULL, 10) * unit_factor(unit) / 1024ULL;
    free(val);
    free(unit);
    return kib;
}

static unsigned int xpath_uint(xmlXPathContextPtr ctx, const char *expr, unsigned int dflt)
{
    char *s = virt_xpath_str(ctx, expr);
    unsigned int v = s ? (unsigned int)strtoul(s, NULL, 10) : dflt;
    free(s);
    return v;
}

static void read_graphics(xmlXPathContextPtr ctx, struct vm_info *info)
{
    info->graphics_type = virt_xpath_str(ctx, "string(/domain/devices/graphics[1]/@type)");
    info->graphics_listen = virt_xpath_str(ctx, "string(/domain/devices/graphics[1]/@listen)");
    char *port = virt_xpath_str(ctx, "string(/domain/devices/graphics[1]/@port)");
    info->graphics_port = port ? atoi(port) : -1;
    if (info->graphics_port <= 0)
        info->graphics_port = -1;
    free(port);
}

int virt_domxml_parse(const char *xml, struct vm_info *info, struct err *e)
{
    memset(info, 0, sizeof(*info));
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    if (!doc)
        return err_set(e, ERR_BACKEND, M_VIRT_BAD_XML, "libvirt returned unreadable guest XML.");
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    if (!ctx) {
        xmlFreeDoc(doc);
        return err_oom(e);
    }
    info->name = virt_xpath_str(ctx, "string(/domain/name)");
    char *uuid = virt_xpath_str(ctx, "string(/domain/uuid)");
    snprintf(info->uuid, sizeof(info->uuid), "%s", uuid ? uuid : "");
    free(uuid);
    info->title = virt_xpath_str(ctx, "string(/domain/title)");
    info->description = virt_xpath_str(ctx, "string(/domain/description)");
    unsigned long long mem = xpath_kib(ctx, "memory");
    unsigned long long cur = xpath_kib(ctx, "currentMemory");
    unsigned long long max = xpath_kib(ctx, "maxMemory");
    info->memory_kib = cur ? cur : mem;
    info->maxmemory_kib = max ? max : mem;
    info->maxvcpus = xpath_uint(ctx, "string(/domain/vcpu)", 1);
    info->vcpus = xpath_uint(ctx, "string(/domain/vcpu/@current)", info->maxvcpus);
    read_graphics(ctx, info);
    info->bootorder = xpath_words(ctx, "/domain/os/boot/@dev");
    char *menu = virt_xpath_str(ctx, "string(/domain/os/bootmenu/@enable)");
    info->bootmenu = menu && strcmp(menu, "yes") == 0;
    free(menu);
    xmlXPathRegisterNs(ctx, (const xmlChar *)"k", (const xmlChar *)VIRT_META_NS);
    info->moved_host = virt_xpath_str(ctx, "string(/domain/metadata/k:moved/@host)");
    info->moved_at = virt_xpath_str(ctx, "string(/domain/metadata/k:moved/@at)");
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    if (!info->name) {
        virt_vm_info_clear(info);
        return err_set(e, ERR_BACKEND, M_VIRT_BAD_XML,
                       "libvirt returned guest XML without a name.");
    }
    return 0;
}

/* The inventory keeps copies of these facts: a string field added to struct vm_info but not
 * to virt_vm_info_clear and virt_vm_info_copy is a leak or a use-after-free. This stops the
 * build until both are updated and the size below with them (tests/unit/test_domxml.c). */
#if __SIZEOF_POINTER__ == 8
_Static_assert(sizeof(struct vm_info) == 144,
               "struct vm_info changed: update virt_vm_info_clear/copy, then this size");
#endif

void virt_vm_info_clear(struct vm_info *info)
{
    free(info->name);
    free(info->title);
    free(info->description);
    free(info->graphics_type);
    free(info->graphics_listen);
    free(info->moved_host);
    free(info->moved_at);
    free(info->bootorder);
    memset(info, 0, sizeof(*info));
}

static bool dup_opt(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return !src || *dst;
}

int virt_vm_info_copy(struct vm_info *dst, const struct vm_info *src)
{
    *dst = *src;
    dst->name = dst->title = dst->description = dst->graphics_type = NULL;
    dst->graphics_listen = dst->moved_host = dst->moved_at = dst->bootorder = NULL;
    bool ok = dup_opt(&dst->name, src->name) && dup_opt(&dst->title, src->title) &&
              dup_opt(&dst->description, src->description) &&
              dup_opt(&dst->graphics_type, src->graphics_type) &&
              dup_opt(&dst->graphics_listen, src->graphics_listen) &&
              dup_opt(&dst->moved_host, src->moved_host) &&
              dup_opt(&dst->moved_at, src->moved_at) && dup_opt(&dst->bootorder, src->bootorder);
    if (!ok)
        virt_vm_info_clear(dst);
    return ok ? 0 : -1;
}
