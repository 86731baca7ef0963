/* clone.c - clones a shut-off guest: new name, UUID and MACs, copies of its pool volumes.
 * All disks are resolved to pool volumes before anything is created, and everything
 * created is removed again if a later step fails. */
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "virt_priv.h"

struct clone_disk {
    xmlNodePtr source;    /* <source> element to rewrite (borrowed from the doc) */
    const char *attr;     /* "file", "dev" or "volume" */
    virStorageVolPtr vol; /* the source volume */
    virStoragePoolPtr pool;
    virStorageVolPtr copy; /* created copy, NULL until made */
};

struct clone_job {
    virConnectPtr conn;
    const char *name;
    const char *new_name;
    xmlDocPtr doc;
    struct clone_disk *disks;
    size_t ndisks;
};

static void set_child_text(xmlNodePtr root, const char *child, const char *text)
{
    for (xmlNodePtr n = root->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !xmlStrcmp(n->name, (const xmlChar *)child)) {
            xmlNodeSetContent(n, NULL);
            xmlNodeAddContent(n, (const xmlChar *)text);
        }
}

/* Removes every node matching `expr`. */
static void remove_nodes(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr o = ctx ? xmlXPathEvalExpression((const xmlChar *)expr, ctx) : NULL;
    for (int i = 0; o && o->nodesetval && i < o->nodesetval->nodeNr; i++) {
        xmlNodePtr n = o->nodesetval->nodeTab[i];
        xmlUnlinkNode(n);
        xmlFreeNode(n);
        o->nodesetval->nodeTab[i] = NULL;
    }
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
}

static char *attr(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    char *s = v ? strdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

static int not_in_pool(struct clone_job *j, const char *what, struct err *e)
{
    return err_set(e, ERR_INVALID, M_VM_CLONE_FAILED,
                   "The disk \"%s\" of virtual machine \"%s\" is not in a storage pool; kimchid "
                   "can clone only disks that live in a storage pool.",
                   what, j->name);
}

/* Finds the pool volume behind one <disk>'s <source>. */
static int resolve_disk(struct clone_job *j, xmlNodePtr src, struct clone_disk *d, struct err *e)
{
    d->source = src;
    char *pool = attr(src, "pool"), *vol = attr(src, "volume");
    char *path = attr(src, "file");
    d->attr = "file";
    if (!path && (path = attr(src, "dev")))
        d->attr = "dev";
    int rc = -1;
    if (pool && vol) {
        d->attr = "volume";
        d->pool = virStoragePoolLookupByName(j->conn, pool);
        d->vol = d->pool ? virStorageVolLookupByName(d->pool, vol) : NULL;
    } else if (path) {
        d->vol = virStorageVolLookupByPath(j->conn, path);
        d->pool = d->vol ? virStoragePoolLookupByVolume(d->vol) : NULL;
    }
    if (d->vol && d->pool)
        rc = 0;
    else
        not_in_pool(j, path ? path : vol ? vol : "(no source)", e);
    free(pool);
    free(vol);
    free(path);
    return rc;
}

static int resolve_disks(struct clone_job *j, struct err *e)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(j->doc);
    xmlXPathObjectPtr o = xmlXPathEvalExpression(
        (const xmlChar *)"/domain/devices/disk[(@device='disk' or not(@device)) and "
                         "not(readonly) and not(shareable)]/source",
        ctx);
    int rc = 0, n = (o && o->nodesetval) ? o->nodesetval->nodeNr : 0;
    j->disks = calloc((size_t)n + 1, sizeof(*j->disks));
    for (int i = 0; j->disks && i < n && rc == 0; i++, j->ndisks++)
        rc = resolve_disk(j, o->nodesetval->nodeTab[i], &j->disks[i], e);
    if (!j->disks)
        rc = err_oom(e);
    /* a disk without <source> (empty drive) has nothing to copy */
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    return rc;
}

/* Name for the copy of volume `old`: the guest's name swapped for the new one, else a prefix. */
static void copy_name(struct clone_job *j, const char *old, char *out, size_t len)
{
    const char *hit = strstr(old, j->name);
    if (hit)
        snprintf(out, len, "%.*s%s%s", (int)(hit - old), old, j->new_name, hit + strlen(j->name));
    else
        snprintf(out, len, "%s-%s", j->new_name, old);
}

static char *volume_xml(virStorageVolPtr vol, const char *name, struct err *e)
{
    char *xml = virStorageVolGetXMLDesc(vol, 0);
    if (!xml) {
        virt_err_libvirt(e, ERR_BACKEND, M_VM_CLONE_FAILED, "Cannot read a disk volume's XML");
        return NULL;
    }
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "vol.xml", NULL, XML_PARSE_NONET);
    free(xml);
    if (!doc) {
        err_set(e, ERR_BACKEND, M_VM_CLONE_FAILED, "libvirt returned unreadable volume XML.");
        return NULL;
    }
    set_child_text(xmlDocGetRootElement(doc), "name", name);
    remove_nodes(doc, "/volume/key | /volume/target/path | /volume/backingStore");
    xmlChar *outx = NULL;
    int outlen = 0;
    xmlDocDumpMemory(doc, &outx, &outlen);
    xmlFreeDoc(doc);
    char *out = outx ? strdup((const char *)outx) : NULL;
    xmlFree(outx);
    if (!out)
        err_oom(e);
    return out;
}

static int copy_disk(struct clone_job *j, struct clone_disk *d, virt_step_fn step, void *opaque,
                     struct err *e)
{
    const char *old = virStorageVolGetName(d->vol);
    char name[512], msg[600];
    copy_name(j, old, name, sizeof(name));
    snprintf(msg, sizeof(msg), "cloning disk \"%s\" to \"%s\"", old, name);
    step(opaque, msg);
    char *xml = volume_xml(d->vol, name, e);
    if (!xml)
        return -1;
    d->copy = virStorageVolCreateXMLFrom(d->pool, xml, d->vol, 0);
    free(xml);
    if (!d->copy) {
        snprintf(msg, sizeof(msg), "Cannot copy disk \"%s\"", old);
        return virt_err_libvirt(e, ERR_BACKEND, M_VM_CLONE_FAILED, msg);
    }
    char *value = !strcmp(d->attr, "volume") ? strdup(name) : virStorageVolGetPath(d->copy);
    if (!value)
        return virt_err_libvirt(e, ERR_BACKEND, M_VM_CLONE_FAILED, "Cannot read the copy's path");
    xmlSetProp(d->source, (const xmlChar *)d->attr, (const xmlChar *)value);
    free(value);
    return 0;
}

static int define_clone(struct clone_job *j, struct err *e)
{
    xmlChar *xml = NULL;
    int len = 0;
    xmlDocDumpMemory(j->doc, &xml, &len);
    if (!xml)
        return err_oom(e);
    virDomainPtr nd = virDomainDefineXML(j->conn, (const char *)xml);
    xmlFree(xml);
    if (!nd)
        return virt_err_libvirt(e, ERR_BACKEND, M_VM_CLONE_FAILED, "Cannot define the clone");
    virDomainFree(nd);
    return 0;
}

static int read_source(struct clone_job *j, struct err *e)
{
    virDomainPtr d = virt_domain_lookup(j->conn, j->name, e);
    if (!d)
        return -1;
    int state = -1, reason, rc = -1;
    char *xml = NULL;
    if (virDomainGetState(d, &state, &reason, 0) < 0)
        virt_err_libvirt(e, ERR_BACKEND, M_VM_CLONE_FAILED, "Cannot read the guest's state");
    else if (state != VIR_DOMAIN_SHUTOFF)
        err_set(e, ERR_STATE, M_VM_CLONE_STATE,
                "Virtual machine \"%s\" must be shut off before it can be cloned.", j->name);
    else if (!(xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE)))
        virt_err_libvirt(e, ERR_BACKEND, M_VM_CLONE_FAILED, "Cannot read the guest's XML");
    else if (!(j->doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET)))
        err_set(e, ERR_BACKEND, M_VIRT_BAD_XML, "libvirt returned unreadable guest XML.");
    else
        rc = 0;
    free(xml);
    virDomainFree(d);
    return rc;
}

static void rewrite_identity(struct clone_job *j)
{
    set_child_text(xmlDocGetRootElement(j->doc), "name", j->new_name);
    /* libvirt generates a new UUID and new MAC addresses for what is missing */
    remove_nodes(j->doc, "/domain/uuid | /domain/devices/interface/mac");
}

static void job_cleanup(struct clone_job *j, bool failed)
{
    for (size_t i = 0; i < j->ndisks; i++) {
        struct clone_disk *d = &j->disks[i];
        if (d->copy && failed && virStorageVolDelete(d->copy, 0) < 0)
            log_warn("clone: cannot remove partial copy: %s", virGetLastErrorMessage());
        if (d->copy)
            virStorageVolFree(d->copy);
        if (d->vol)
            virStorageVolFree(d->vol);
        if (d->pool)
            virStoragePoolFree(d->pool);
    }
    free(j->disks);
    if (j->doc)
        xmlFreeDoc(j->doc);
    if (j->conn)
        virConnectClose(j->conn);
}

int virt_vm_clone(struct virt *v, const char *name, const char *new_name, virt_step_fn step,
                  void *opaque, struct err *e)
{
    struct clone_job j = {.name = name, .new_name = new_name};
    int rc = -1;
    step(opaque, "reading source VM XML");
    if (!(j.conn = virt_conn_get(v, e)) || read_source(&j, e) < 0)
        goto cleanup;
    step(opaque, "updating VM XML");
    rewrite_identity(&j);
    if (resolve_disks(&j, e) < 0)
        goto cleanup;
    for (size_t i = 0; i < j.ndisks; i++)
        if (copy_disk(&j, &j.disks[i], step, opaque, e) < 0)
            goto cleanup;
    step(opaque, "defining new VM");
    if (define_clone(&j, e) < 0)
        goto cleanup;
    rc = 0;
    log_info("guest \"%s\" cloned as \"%s\"", name, new_name);
cleanup:
    job_cleanup(&j, rc < 0);
    if (rc == 0)
        virt_inventory_refresh_guest(v, new_name, NULL);
    return rc;
}
