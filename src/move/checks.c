/* checks.c - what is checked on the destination before a move: another host, with the same
 * architecture and hypervisor (host facts cached per connection), and no guest there that the
 * move would collide with. */
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
