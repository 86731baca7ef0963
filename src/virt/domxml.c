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

/* The guest's facts are read by walking the document, not by XPath: an expression is compiled
 * at each evaluation, and the 20 of a guest cost more than libvirt's formatting of its XML (at
 * 1000 guests, most of kimchid's first refresh). What each reads is what the XPath
 * `string(/domain/...)` it replaced gave: elements and attributes outside any namespace, the
 * first of a name, NULL for absent or empty. */

/* The first element child of `n` named `name`, in namespace `ns` (NULL: in none). */
static xmlNodePtr elem(xmlNodePtr n, const char *name, const char *ns)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST name) &&
            (ns ? c->ns && xmlStrEqual(c->ns->href, BAD_CAST ns) : !c->ns))
            return c;
    return NULL;
}

static char *owned(xmlChar *v)
{
    char *s = v && *v ? strdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

/* An element's text, or NULL. */
static char *text(xmlNodePtr n)
{
    return n ? owned(xmlNodeGetContent(n)) : NULL;
}

/* An attribute's value, or NULL. */
static char *attr(xmlNodePtr n, const char *name)
{
    return n ? owned(xmlGetNoNsProp(n, BAD_CAST name)) : NULL;
}

/* Memory element `name` of the domain in KiB, 0 when absent. */
static unsigned long long kib(xmlNodePtr domain, const char *name)
{
    xmlNodePtr n = elem(domain, name, NULL);
    char *val = text(n), *unit = attr(n, "unit");
    unsigned long long k = val ? strtoull(val, NULL, 10) * unit_factor(unit) / 1024ULL : 0;
    free(val);
    free(unit);
    return k;
}

static unsigned int uint_of(char *s, unsigned int dflt)
{
    unsigned int v = s ? (unsigned int)strtoul(s, NULL, 10) : dflt;
    free(s);
    return v;
}

static void read_graphics(xmlNodePtr domain, struct vm_info *info)
{
    xmlNodePtr g = elem(elem(domain, "devices", NULL), "graphics", NULL);
    info->graphics_type = attr(g, "type");
    info->graphics_listen = attr(g, "listen");
    char *port = attr(g, "port");
    info->graphics_port = port ? atoi(port) : -1;
    if (info->graphics_port <= 0)
        info->graphics_port = -1;
    free(port);
}

/* Every <boot dev=...> of <os>, space-separated in order; NULL when there is none. */
static char *boot_order(xmlNodePtr os)
{
    char *out = NULL;
    size_t len = 0;
    for (xmlNodePtr c = os ? os->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || c->ns || !xmlStrEqual(c->name, BAD_CAST "boot"))
            continue;
        char *v = attr(c, "dev");
        size_t n = v ? strlen(v) : 0;
        char *grown = n ? realloc(out, len + n + 2) : out;
        if (n && grown) {
            out = grown;
            if (len)
                out[len++] = ' ';
            memcpy(out + len, v, n + 1);
            len += n;
        }
        free(v);
    }
    return out;
}

int virt_domxml_parse(const char *xml, struct vm_info *info, struct err *e)
{
    memset(info, 0, sizeof(*info));
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    if (!doc)
        return err_set(e, ERR_BACKEND, M_VIRT_BAD_XML, "libvirt returned unreadable guest XML.");
    xmlNodePtr d = xmlDocGetRootElement(doc);
    if (d && (d->ns || !xmlStrEqual(d->name, BAD_CAST "domain")))
        d = NULL;
    info->name = text(elem(d, "name", NULL));
    char *uuid = text(elem(d, "uuid", NULL));
    snprintf(info->uuid, sizeof(info->uuid), "%s", uuid ? uuid : "");
    free(uuid);
    info->title = text(elem(d, "title", NULL));
    info->description = text(elem(d, "description", NULL));
    unsigned long long mem = kib(d, "memory");
    unsigned long long cur = kib(d, "currentMemory");
    unsigned long long max = kib(d, "maxMemory");
    info->memory_kib = cur ? cur : mem;
    info->maxmemory_kib = max ? max : mem;
    xmlNodePtr vcpu = elem(d, "vcpu", NULL);
    info->maxvcpus = uint_of(text(vcpu), 1);
    info->vcpus = uint_of(attr(vcpu, "current"), info->maxvcpus);
    read_graphics(d, info);
    xmlNodePtr os = elem(d, "os", NULL);
    info->bootorder = boot_order(os);
    char *menu = attr(elem(os, "bootmenu", NULL), "enable");
    info->bootmenu = menu && strcmp(menu, "yes") == 0;
    free(menu);
    xmlNodePtr moved = elem(elem(d, "metadata", NULL), "moved", VIRT_META_NS);
    info->moved_host = attr(moved, "host");
    info->moved_at = attr(moved, "at");
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
