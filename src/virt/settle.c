/* settle.c - when a migration call fails (or a connection drops under it), libvirt's answer
 * is not the truth: the move may have completed, or left a copy on each host. Before the task
 * ends, both hosts are asked where the guest is (fresh connections, retried for a while), at
 * most one copy is left running, and the outcome says where the guest runs. */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../util/log.h"
#include "virt_priv.h"

/* How long the destination gets to answer (it may be restarting) before we give up on it. */
#define SETTLE_BUDGET_MS 30000

struct view {
    bool reached; /* the host answered */
    bool exists;  /* it has a domain with this UUID */
    int state, reason;
};

static void look(virConnectPtr c, const char *uuid, struct view *out)
{
    memset(out, 0, sizeof(*out));
    virDomainPtr d = virDomainLookupByUUIDString(c, uuid);
    if (d) {
        out->exists = virDomainGetState(d, &out->state, &out->reason, 0) == 0;
        out->reached = out->exists;
        virDomainFree(d);
        return;
    }
    virErrorPtr le = virGetLastError();
    out->reached = le && le->code == VIR_ERR_NO_DOMAIN;
}

/* Running for real: vCPUs going. A copy paused by the migration itself is not. */
static bool running(const struct view *v)
{
    if (!v->exists)
        return false;
    if (v->state == VIR_DOMAIN_RUNNING || v->state == VIR_DOMAIN_BLOCKED)
        return true;
    return v->state == VIR_DOMAIN_PAUSED && v->reason != VIR_DOMAIN_PAUSED_MIGRATION &&
           v->reason != VIR_DOMAIN_PAUSED_POSTCOPY &&
           v->reason != VIR_DOMAIN_PAUSED_POSTCOPY_FAILED;
}

static bool active(const struct view *v)
{
    return v->exists && v->state != VIR_DOMAIN_SHUTOFF && v->state != VIR_DOMAIN_CRASHED;
}

/* Asks a host (NULL: this one), retrying with fresh connections while it does not answer:
 * its libvirtd may be restarting. */
static void look_retry(struct virt *v, const char *host, const char *uuid, struct view *out)
{
    unsigned int delay = 250, spent = 0;
    for (;;) {
        virConnectPtr c = host ? virt_remote_get(v, host, NULL) : virt_conn_get(v, NULL);
        memset(out, 0, sizeof(*out));
        if (c) {
            look(c, uuid, out);
            virConnectClose(c);
        }
        if (out->reached || spent >= SETTLE_BUDGET_MS)
            return;
        usleep(delay * 1000);
        spent += delay;
        delay = delay < 4000 ? delay * 2 : 4000;
    }
}

/* Runs fn on the guest with this UUID over a fresh connection (local, or host's). */
static int on_copy(struct virt *v, const char *host, const char *uuid, int (*fn)(virDomainPtr d))
{
    virDomainPtr d = virt_lookup_uuid(v, host, uuid);
    int rc = d ? fn(d) : -1;
    if (d)
        virDomainFree(d);
    return rc;
}

virDomainPtr virt_lookup_uuid(struct virt *v, const char *host, const char *uuid)
{
    virConnectPtr c = host ? virt_remote_get(v, host, NULL) : virt_conn_get(v, NULL);
    virDomainPtr d = c ? virDomainLookupByUUIDString(c, uuid) : NULL;
    if (c)
        virConnectClose(c); /* the domain keeps its connection referenced */
    return d;
}

static int resume(virDomainPtr d)
{
    return virDomainResume(d);
}

static int destroy(virDomainPtr d)
{
    return virDomainDestroy(d);
}

/* The destination's copy must not run: stop it, and drop the definition the move made. */
static int destroy_and_undefine(virDomainPtr d)
{
    int rc = virDomainDestroy(d);
    if (virDomainIsPersistent(d) == 1)
        virDomainUndefine(d);
    return rc;
}

/* A shut-off guest's move copies its definition: it went where the definition now is. */
static enum virt_where decide_offline(const char *host, const struct view *dst, char *note,
                                      size_t len)
{
    if (dst->reached)
        return dst->exists ? VIRT_WHERE_DEST : VIRT_WHERE_SOURCE;
    snprintf(note, len,
             "kimchid could not reach \"%s\" to learn whether the guest's definition was copied "
             "there; check it before starting the guest on either host.",
             host);
    return VIRT_WHERE_UNKNOWN;
}

static enum virt_where decide(struct virt *v, const char *host, const char *uuid,
                              const struct view *src, const struct view *dst, char *note,
                              size_t len)
{
    if (!src->reached && running(dst))
        return VIRT_WHERE_DEST; /* this host's libvirt is away, but the guest runs there */
    if (!src->reached) {
        snprintf(note, len,
                 "This host's libvirt did not answer afterwards, so kimchid cannot tell where "
                 "the guest is; check both hosts (virsh list --all) before starting it.");
        return VIRT_WHERE_UNKNOWN;
    }
    if (!dst->reached) {
        if (running(src)) {
            snprintf(note, len,
                     "kimchid could not reach \"%s\" afterwards to check that no copy of the "
                     "guest runs there; check it.",
                     host);
            return VIRT_WHERE_SOURCE;
        }
        snprintf(note, len,
                 "kimchid could not reach \"%s\" to learn whether the guest runs there, and here "
                 "it is %s. Check \"%s\" before starting it here.",
                 host, src->exists ? virt_state_name(src->state) : "not defined", host);
        return VIRT_WHERE_UNKNOWN;
    }
    if (running(dst) && active(src)) {
        if (!running(src)) { /* paused by the move (its disks' leases are held there) */
            on_copy(v, NULL, uuid, destroy);
            snprintf(note, len, "this host's paused copy was stopped");
            return VIRT_WHERE_DEST;
        }
        on_copy(v, host, uuid, destroy_and_undefine);
        snprintf(note, len,
                 "The guest was running on both hosts after the error, so kimchid stopped the "
                 "copy on \"%s\" and kept this one.",
                 host);
        return VIRT_WHERE_SOURCE;
    }
    if (running(dst))
        return VIRT_WHERE_DEST;
    if (active(dst)) /* an incoming copy left paused: libvirt would remove it; do it now */
        on_copy(v, host, uuid, destroy_and_undefine);
    if (active(src) && !running(src)) {
        bool ok = on_copy(v, NULL, uuid, resume) == 0;
        snprintf(note, len,
                 ok ? "The guest was left paused here; kimchid resumed it."
                    : "The guest is left paused here and could not be resumed.");
    }
    return VIRT_WHERE_SOURCE;
}

enum virt_where virt_migration_settle(struct virt *v, const char *uuid, const char *name,
                                      const char *host, bool offline, char *note, size_t len)
{
    note[0] = 0;
    struct view src, dst;
    look_retry(v, NULL, uuid, &src);
    look_retry(v, host, uuid, &dst);
    enum virt_where w = offline ? decide_offline(host, &dst, note, len)
                                : decide(v, host, uuid, &src, &dst, note, len);
    log_info("after the interrupted move of \"%s\": here %s, on %s %s: the guest is %s%s%s", name,
             !src.reached ? "unreachable"
             : src.exists ? virt_state_name(src.state)
                          : "absent",
             host,
             !dst.reached ? "unreachable"
             : dst.exists ? virt_state_name(dst.state)
                          : "absent",
             w == VIRT_WHERE_DEST     ? "there"
             : w == VIRT_WHERE_SOURCE ? "here"
                                      : "unknown",
             note[0] ? "; " : "", note);
    return w;
}
