/* checks.c - what is checked on the destination before a move: another host, with the same
 * architecture and hypervisor (host facts cached per connection), no guest there that the
 * move would collide with, a CPU it can run, the memory the guest needs, and no device that
 * cannot leave this host. */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "move_priv.h"

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
    pthread_mutex_lock(&v->mover->facts_lock);
    for (size_t i = 0; i < v->mover->nfacts && !found; i++)
        if (v->mover->facts[i].conn == c) {
            snprintf(uuid, len, "%s", v->mover->facts[i].uuid);
            snprintf(arch, len, "%s", v->mover->facts[i].arch);
            found = true;
        }
    pthread_mutex_unlock(&v->mover->facts_lock);
    return found;
}

static void facts_add(struct virt *v, virConnectPtr c, const char *uuid, const char *arch)
{
    virConnectPtr evicted = NULL;
    pthread_mutex_lock(&v->mover->facts_lock);
    if (v->mover->nfacts == VIRT_FACTS_MAX) { /* the oldest goes */
        evicted = v->mover->facts[0].conn;
        memmove(&v->mover->facts[0], &v->mover->facts[1],
                (VIRT_FACTS_MAX - 1) * sizeof(v->mover->facts[0]));
        v->mover->nfacts--;
    }
    struct facts_entry *f = &v->mover->facts[v->mover->nfacts++];
    f->conn = c;
    virConnectRef(c);
    snprintf(f->uuid, sizeof(f->uuid), "%s", uuid);
    snprintf(f->arch, sizeof(f->arch), "%s", arch);
    pthread_mutex_unlock(&v->mover->facts_lock);
    if (evicted)
        virConnectClose(evicted);
}

void virt_facts_clear(struct virt *v)
{
    pthread_mutex_lock(&v->mover->facts_lock);
    for (size_t i = 0; i < v->mover->nfacts; i++)
        virConnectClose(v->mover->facts[i].conn);
    v->mover->nfacts = 0;
    pthread_mutex_unlock(&v->mover->facts_lock);
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
static int remote_collision(virConnectPtr remote, virDomainPtr d, const char *host, struct err *e)
{
    const char *name = virDomainGetName(d);
    char uuid[VIR_UUID_STRING_BUFLEN], ruuid[VIR_UUID_STRING_BUFLEN] = "";
    if (virDomainGetUUIDString(d, uuid) < 0)
        return virt_err_libvirt(e, ERR_BACKEND, M_VM_READ, "Cannot read the guest's UUID");
    virDomainPtr same_name = virDomainLookupByName(remote, name);
    virDomainPtr same_uuid = virDomainLookupByUUIDString(remote, uuid);
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
    virConnectPtr remote = virt_remote_get(a->v, a->host, e);
    int rcode = remote ? remote_collision(remote, d, a->host, e) : -1;
    if (remote)
        virConnectClose(remote);
    return rcode;
}

int virt_remote_guest_check(struct virt *v, const char *host, const char *name, struct err *e)
{
    struct collision_arg a = {v, host};
    return virt_with_domain(v, name, collision_fn, &a, e);
}

/* What the CPU check reads of the guest's live XML. */
struct guest_cpu {
    char *cpu_xml;     /* the <cpu> element, or NULL when the guest names none */
    char mode[32];     /* "custom", "host-model", "host-passthrough", "maximum" */
    char virttype[16]; /* "kvm", "qemu" */
    char arch[32], machine[64];
    unsigned long memory_kib; /* current memory */
    int hostdevs;             /* host PCI/USB devices passed through */
    int host_tpms;            /* this host's TPM passed through */
    int virtiofs;             /* virtiofs shares (vhost-user-fs) */
    int host_chardevs;        /* serial, parallel, console or channel on a host device */
};

static void xpath_copy(xmlXPathContextPtr ctx, const char *expr, char *out, size_t len)
{
    char *v = virt_xpath_str(ctx, expr);
    snprintf(out, len, "%s", v ? v : "");
    free(v);
}

/* The <cpu> element as XML text (new), or NULL. */
static char *cpu_element(struct virt_xml *x)
{
    if (x->n < 1)
        return NULL;
    xmlBufferPtr buf = xmlBufferCreate();
    char *out = NULL;
    if (buf && xmlNodeDump(buf, x->doc, x->set->nodesetval->nodeTab[0], 0, 0) > 0)
        out = strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}

static int guest_cpu_fn(virConnectPtr c, virDomainPtr d, void *arg, struct err *e)
{
    (void)c;
    struct guest_cpu *g = arg;
    struct virt_xml x;
    if (virt_xml_open(&x, virDomainGetXMLDesc(d, 0), "/domain/cpu", e) < 0)
        return -1;
    g->cpu_xml = cpu_element(&x);
    xpath_copy(x.ctx, "string(/domain/cpu/@mode)", g->mode, sizeof(g->mode));
    xpath_copy(x.ctx, "string(/domain/@type)", g->virttype, sizeof(g->virttype));
    xpath_copy(x.ctx, "string(/domain/os/type/@arch)", g->arch, sizeof(g->arch));
    xpath_copy(x.ctx, "string(/domain/os/type/@machine)", g->machine, sizeof(g->machine));
    char n[32];
    xpath_copy(x.ctx, "count(/domain/devices/hostdev)", n, sizeof(n));
    g->hostdevs = atoi(n);
    xpath_copy(x.ctx, "count(/domain/devices/tpm/backend[@type='passthrough'])", n, sizeof(n));
    g->host_tpms = atoi(n);
    xpath_copy(x.ctx, "count(/domain/devices/filesystem/driver[@type='virtiofs'])", n, sizeof(n));
    g->virtiofs = atoi(n);
    /* libvirt mirrors the first serial port as a <console> with a serial target: once */
    xpath_copy(x.ctx,
               "count(/domain/devices/*[self::serial or self::parallel or self::channel or "
               "(self::console and not(target/@type='serial'))][@type='dev'])",
               n, sizeof(n));
    g->host_chardevs = atoi(n);
    virt_xml_close(&x);
    virDomainInfo info;
    if (virDomainGetInfo(d, &info) < 0)
        return virt_err_libvirt(e, ERR_BACKEND, M_VM_READ, "Cannot read the guest's memory");
    g->memory_kib = info.memory;
    return 0;
}

static int guest_read(struct virt *v, const char *name, struct guest_cpu *g, struct err *e)
{
    memset(g, 0, sizeof(*g));
    return virt_with_domain(v, name, guest_cpu_fn, g, e);
}

/* libvirt's words after a failed comparison, without its "the CPU is incompatible with host
 * CPU: " prefix kept twice. */
static int cpu_refused(struct err *e, const char *host, const char *name)
{
    const char *m = virGetLastErrorMessage();
    return err_set(e, ERR_INVALID, M_MIG_CPU,
                   "\"%s\" cannot run the CPU of \"%s\": %s. Give the guest a CPU model both hosts "
                   "have (virsh domcapabilities on \"%s\" lists its models and features), or "
                   "move it to a host with that CPU.",
                   host, name, m && *m ? m : "libvirt says it is incompatible", host);
}

int virt_remote_cpu_check(struct virt *v, const char *host, const char *name, char *warning,
                          size_t len, struct err *e)
{
    struct guest_cpu g;
    if (guest_read(v, name, &g, e) < 0)
        return -1;
    warning[0] = 0;
    int rcode = 0;
    if (!strcmp(g.mode, "host-passthrough") || !strcmp(g.mode, "maximum")) {
        snprintf(warning, len,
                 "the guest's CPU is this host's own (%s): it is safe to move only between "
                 "hosts with identical CPUs",
                 g.mode);
    } else if (g.cpu_xml) {
        virConnectPtr remote = virt_remote_get(v, host, e);
        if (!remote) {
            rcode = -1;
        } else {
            int r = virConnectCompareHypervisorCPU(remote, NULL, g.arch[0] ? g.arch : NULL,
                                                   g.machine[0] ? g.machine : NULL,
                                                   g.virttype[0] ? g.virttype : NULL, g.cpu_xml,
                                                   VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE);
            virErrorPtr le = r < 0 ? virGetLastError() : NULL;
            if (r == VIR_CPU_COMPARE_INCOMPATIBLE || (le && le->code == VIR_ERR_CPU_INCOMPATIBLE))
                rcode = cpu_refused(e, host, name);
            else if (r < 0)
                snprintf(warning, len, "libvirt on \"%s\" could not compare the guest's CPU: %s",
                         host, le && le->message ? le->message : "no reason given");
            virConnectClose(remote);
        }
    }
    free(g.cpu_xml);
    return rcode;
}

/* What QEMU needs beside the guest's memory (its own code, device state, page tables): an
 * estimate, documented in docs/API.md. */
#define QEMU_OVERHEAD_KIB (256UL * 1024)

/* The destination's memory that can be had: free plus buffers and page cache, in KiB. */
static int remote_available_kib(virConnectPtr c, unsigned long long *out, struct err *e)
{
    int n = 0;
    if (virNodeGetMemoryStats(c, VIR_NODE_MEMORY_STATS_ALL_CELLS, NULL, &n, 0) < 0 || n <= 0)
        return virt_err_libvirt(e, ERR_BACKEND, M_HOST_INFO, "Cannot read its memory");
    virNodeMemoryStatsPtr st = calloc((size_t)n, sizeof(*st));
    if (!st)
        return err_oom(e);
    int rc = virNodeGetMemoryStats(c, VIR_NODE_MEMORY_STATS_ALL_CELLS, st, &n, 0);
    *out = 0;
    for (int i = 0; rc == 0 && i < n; i++)
        if (!strcmp(st[i].field, VIR_NODE_MEMORY_STATS_FREE) ||
            !strcmp(st[i].field, VIR_NODE_MEMORY_STATS_BUFFERS) ||
            !strcmp(st[i].field, VIR_NODE_MEMORY_STATS_CACHED))
            *out += st[i].value;
    free(st);
    return rc < 0 ? virt_err_libvirt(e, ERR_BACKEND, M_HOST_INFO, "Cannot read its memory") : 0;
}

int virt_remote_memory_figures(struct virt *v, const char *host, const char *name,
                               unsigned long long *need_kib, unsigned long long *avail_kib,
                               struct err *e)
{
    struct guest_cpu g;
    if (guest_read(v, name, &g, e) < 0)
        return -1;
    free(g.cpu_xml);
    *need_kib = g.memory_kib + QEMU_OVERHEAD_KIB;
    virConnectPtr remote = virt_remote_get(v, host, e);
    if (!remote)
        return -1;
    int rc = remote_available_kib(remote, avail_kib, e);
    virConnectClose(remote);
    return rc;
}

int virt_memory_fits(const char *host, const char *name, unsigned long long need,
                     unsigned long long avail, char *note, size_t len, struct err *e)
{
    snprintf(note, len,
             "the guest needs %llu MiB (%llu MiB and QEMU's own), \"%s\" has %llu MiB free",
             need / 1024, (need - QEMU_OVERHEAD_KIB) / 1024, host, avail / 1024);
    if (avail >= need)
        return 0;
    return err_set(e, ERR_INVALID, M_MIG_MEMORY,
                   "\"%s\" has not enough free memory for \"%s\": %s. Free memory there (stop "
                   "or move a guest), or choose another host.",
                   host, name, note);
}

int virt_remote_storage_check(struct virt *v, const char *host, const struct virt_storage *s,
                              char *said, size_t len, struct err *e)
{
    said[0] = '\0';
    if (!s->n)
        return 0;
    virConnectPtr remote = virt_remote_get(v, host, e);
    if (!remote)
        return -1;
    int rc = virt_storage_check(remote, host, s, said, len, e);
    virConnectClose(remote);
    return rc;
}

/* What cannot move with the guest: this host's devices passed through (PCI or USB, its TPM,
 * a character device such as a serial port) and virtiofs shares, whose QEMU device
 * (vhost-user-fs) QEMU before 8.2 marks unmigratable.
 * An emulated TPM (swtpm) moves: QEMU carries its state in the migration stream. */
int virt_vm_devices_check(struct virt *v, const char *name, struct err *e)
{
    struct guest_cpu g;
    if (guest_read(v, name, &g, e) < 0)
        return -1;
    free(g.cpu_xml);
    char why[400];
    if (g.hostdevs > 0)
        snprintf(why, sizeof(why),
                 "uses %d device%s of this host passed through (<hostdev>: PCI or USB), which "
                 "cannot move with it. Detach %s (virsh detach-device), move the guest, and attach "
                 "the destination's own.",
                 g.hostdevs, g.hostdevs == 1 ? "" : "s", g.hostdevs == 1 ? "it" : "them");
    else if (g.host_tpms > 0)
        snprintf(why, sizeof(why), "%s",
                 "uses this host's TPM passed through (<tpm> with <backend type='passthrough'>), "
                 "which cannot move with it. Give it an emulated TPM (<backend type='emulator'>, "
                 "whose state moves with the guest).");
    else if (g.virtiofs > 0)
        snprintf(why, sizeof(why), "%s",
                 "shares a directory of this host with virtiofs, which QEMU cannot migrate (before "
                 "QEMU 8.2). Detach the share (virsh detach-device), move the guest, and share the "
                 "destination's directory there.");
    else if (g.host_chardevs > 0)
        snprintf(why, sizeof(why),
                 "has %d serial, parallel, console or channel device%s on a device of this host "
                 "(type='dev', e.g. /dev/ttyS0), which stays here. Detach %s or point %s at a "
                 "file or a pty (virsh edit), then move the guest.",
                 g.host_chardevs, g.host_chardevs == 1 ? "" : "s",
                 g.host_chardevs == 1 ? "it" : "them", g.host_chardevs == 1 ? "it" : "them");
    else
        return 0;
    return err_set(e, ERR_INVALID, M_MIG_DEVICES, "\"%s\" %s", name, why);
}
