/* devices.c - a guest's storages, interfaces and snapshots in Kimchi's shapes, read from its
 * XML and libvirt when asked (Kimchi's UI asks when a guest's edit dialog opens). */
#include <jansson.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "virt_priv.h"

struct devices_req {
    enum virt_devices kind;
    const char *one; /* a single item's key, or NULL for the list */
    json_t *out;
};

/* Adds `key` with the XPath value at the context node, or "" when it is empty. */
static void put_str(json_t *o, xmlXPathContextPtr ctx, const char *key, const char *expr)
{
    char *s = virt_xpath_str(ctx, expr);
    json_object_set_new(o, key, json_string(s ? s : ""));
    free(s);
}

/* Adds `key` only when the XPath value is not empty. */
static void put_opt(json_t *o, xmlXPathContextPtr ctx, const char *key, const char *expr)
{
    char *s = virt_xpath_str(ctx, expr);
    if (s)
        json_object_set_new(o, key, json_string(s));
    free(s);
}

/* Kimchi's storage: dev, path (a network disk as protocol://host:port/name), type (disk,
 * cdrom), format and bus. */
static json_t *storage_json(xmlXPathContextPtr ctx)
{
    json_t *o = json_object();
    put_str(o, ctx, "dev", "string(target/@dev)");
    char *type = virt_xpath_str(ctx, "string(@type)");
    if (type && !strcmp(type, "network")) {
        char *proto = virt_xpath_str(ctx, "string(source/@protocol)");
        char *host = virt_xpath_str(ctx, "string(source/host/@name)");
        char *port = virt_xpath_str(ctx, "string(source/host/@port)");
        char *name = virt_xpath_str(ctx, "string(source/@name)");
        json_object_set_new(o, "path",
                            json_sprintf("%s://%s:%s%s%s", proto ? proto : "", host ? host : "",
                                         port ? port : "", name && *name != '/' ? "/" : "",
                                         name ? name : ""));
        free(proto), free(host), free(port), free(name);
    } else {
        put_str(o, ctx, "path",
                "string(source/@file | source/@dev | source/@dir | source/@volume)");
    }
    free(type);
    put_str(o, ctx, "type", "string(@device)");
    put_str(o, ctx, "format", "string(driver/@type)");
    put_str(o, ctx, "bus", "string(target/@bus)");
    return o;
}

/* The addresses libvirt knows for a MAC (its DHCP leases), as Kimchi lists them. */
static json_t *iface_ips(virDomainPtr d, const char *mac)
{
    json_t *ips = json_array();
    int state = 0;
    if (!mac || virDomainGetState(d, &state, NULL, 0) < 0 || state == VIR_DOMAIN_SHUTOFF)
        return ips;
    virDomainInterfacePtr *ifs = NULL;
    int n = virDomainInterfaceAddresses(d, &ifs, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0);
    for (int i = 0; i < n; i++) {
        if (ifs[i]->hwaddr && !strcasecmp(ifs[i]->hwaddr, mac))
            for (unsigned int k = 0; k < ifs[i]->naddrs; k++)
                json_array_append_new(ips, json_string(ifs[i]->addrs[k].addr));
        virDomainInterfaceFree(ifs[i]);
    }
    free(ifs);
    return ips;
}

/* Kimchi's interface: type, mac, model, network or bridge by type, ips. */
static json_t *iface_json(xmlXPathContextPtr ctx, virDomainPtr d)
{
    json_t *o = json_object();
    put_str(o, ctx, "type", "string(@type)");
    put_str(o, ctx, "mac", "string(mac/@address)");
    put_opt(o, ctx, "model", "string(model/@type)");
    const char *type = json_string_value(json_object_get(o, "type"));
    if (!strcmp(type, "network"))
        put_str(o, ctx, "network", "string(source/@network)");
    else if (!strcmp(type, "bridge"))
        put_str(o, ctx, "bridge", "string(source/@bridge)");
    json_object_set_new(o, "ips", iface_ips(d, json_string_value(json_object_get(o, "mac"))));
    return o;
}

static int from_xml(virDomainPtr d, struct devices_req *r, struct err *e)
{
    char *xml = virDomainGetXMLDesc(d, 0);
    if (!xml)
        return virt_err_libvirt(e, ERR_BACKEND, M_VIRT_XML, "Cannot read a guest's XML");
    struct virt_xml x;
    bool storages = r->kind == VIRT_STORAGES;
    if (virt_xml_open(&x, xml, storages ? "/domain/devices/disk" : "/domain/devices/interface", e) <
        0)
        return -1;
    for (int i = 0; i < x.n; i++) {
        x.ctx->node = x.set->nodesetval->nodeTab[i];
        json_array_append_new(r->out, storages ? storage_json(x.ctx) : iface_json(x.ctx, d));
    }
    virt_xml_close(&x);
    return 0;
}

/* Kimchi's snapshot: name, created (libvirt's creation time, as text), parent ("" for a
 * root), state (the guest's state when it was taken). */
static json_t *snapshot_json(virDomainSnapshotPtr s)
{
    struct virt_xml x;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(virDomainSnapshotGetName(s)));
    if (virt_xml_open(&x, virDomainSnapshotGetXMLDesc(s, 0), NULL, NULL) == 0) {
        put_str(o, x.ctx, "created", "string(/domainsnapshot/creationTime)");
        put_str(o, x.ctx, "parent", "string(/domainsnapshot/parent/name)");
        put_str(o, x.ctx, "state", "string(/domainsnapshot/state)");
    }
    virt_xml_close(&x);
    return o;
}

static int by_name(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));
    return strcasecmp(x ? x : "", y ? y : "");
}

static int snapshots(virDomainPtr d, struct devices_req *r, struct err *e)
{
    virDomainSnapshotPtr *snaps = NULL;
    int n = virDomainListAllSnapshots(d, &snaps, 0);
    if (n < 0)
        return virt_err_libvirt(e, ERR_BACKEND, M_VM_SNAPSHOTS, "Cannot list the snapshots");
    json_t **items = calloc((size_t)n + 1, sizeof(*items));
    for (int i = 0; i < n; i++) {
        if (items)
            items[i] = snapshot_json(snaps[i]);
        virDomainSnapshotFree(snaps[i]);
    }
    free(snaps);
    if (!items)
        return err_oom(e);
    qsort(items, (size_t)n, sizeof(*items), by_name); /* Kimchi lists them by name */
    for (int i = 0; i < n; i++)
        json_array_append_new(r->out, items[i]);
    free(items);
    return 0;
}

static int devices_fn(virConnectPtr c, virDomainPtr d, void *arg, struct err *e)
{
    (void)c;
    struct devices_req *r = arg;
    return r->kind == VIRT_SNAPSHOTS ? snapshots(d, r, e) : from_xml(d, r, e);
}

/* The item of `list` whose `key` is `value` (a new reference), or NULL. */
static json_t *find_item(json_t *list, const char *key, const char *value)
{
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *v = json_string_value(json_object_get(item, key));
        if (v && !strcasecmp(v, value))
            return json_incref(item);
    }
    return NULL;
}

static const struct {
    const char *key;
    enum msg missing;
    const char *what;
} kinds[] = {
    [VIRT_STORAGES] = {"dev", M_VM_NO_STORAGE, "storage device"},
    [VIRT_IFACES] = {"mac", M_VM_NO_IFACE, "interface"},
    [VIRT_SNAPSHOTS] = {"name", M_VM_NO_SNAPSHOT, "snapshot"},
};

char *virt_vm_devices_json(struct virt *v, const char *name, enum virt_devices kind,
                           const char *one, struct err *e)
{
    struct devices_req r = {kind, one, json_array()};
    if (!r.out || virt_with_domain(v, name, devices_fn, &r, e) < 0) {
        json_decref(r.out);
        return NULL;
    }
    json_t *body = r.out;
    if (one && !(body = find_item(r.out, kinds[kind].key, one)))
        err_set(e, ERR_NOT_FOUND, kinds[kind].missing, "Virtual machine \"%s\" has no %s \"%s\".",
                name, kinds[kind].what, one);
    char *out = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !out)
        err_oom(e);
    if (body != r.out)
        json_decref(body);
    json_decref(r.out);
    return out;
}
