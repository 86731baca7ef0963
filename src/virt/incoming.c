/* incoming.c - whether the destination ever ran a guest moving to it, from libvirt's own
 * events for the incoming copy there. When a post-copy move breaks in the switch-over and
 * the destination's half is gone, this alone says whether the source's half is the whole
 * guest (it never ran there) or not: kimchid never guesses it. The watch is registered on the
 * destination's connection before the move starts, so every event of the incoming copy comes
 * after it, in order: "resumed" (its vCPUs started) means it ran; "stopped" with no "resumed"
 * before it, on the same live connection, means it never did; anything else is unknown. */
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "virt_priv.h"

static int incoming_cb(virConnectPtr c, virDomainPtr d, int event, int detail, void *opaque)
{
    (void)c;
    struct virt_incoming *w = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(d, uuid) < 0 || strcmp(uuid, w->uuid) != 0)
        return 0;
    pthread_mutex_lock(&w->lock);
    if (event == VIR_DOMAIN_EVENT_RESUMED)
        w->resumed = true;
    else if (event == VIR_DOMAIN_EVENT_STOPPED)
        w->stopped = true;
    pthread_mutex_unlock(&w->lock);
    log_debug("incoming copy of %s: event %d detail %d", uuid, event, detail);
    return 0;
}

void virt_incoming_watch(struct virt *v, const char *host, const char *uuid,
                         struct virt_incoming *w)
{
    memset(w, 0, sizeof(*w));
    w->cb = -1;
    pthread_mutex_init(&w->lock, NULL);
    snprintf(w->uuid, sizeof(w->uuid), "%s", uuid);
    w->conn = virt_remote_get(v, host, NULL);
    if (w->conn)
        w->cb = virConnectDomainEventRegisterAny(w->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                 VIR_DOMAIN_EVENT_CALLBACK(incoming_cb), w, NULL);
    if (w->cb < 0)
        log_debug("no event watch on %s's incoming copy of %s", host, uuid);
}

enum pc_ran virt_incoming_ran(struct virt_incoming *w)
{
    pthread_mutex_lock(&w->lock);
    bool resumed = w->resumed, stopped = w->stopped;
    pthread_mutex_unlock(&w->lock);
    return virt_incoming_decide(w->cb >= 0, resumed, stopped);
}

enum pc_ran virt_incoming_decide(bool watched, bool resumed, bool stopped)
{
    if (!watched)
        return PC_RAN_UNKNOWN;
    if (resumed)
        return PC_RAN_YES;
    return stopped ? PC_RAN_NO : PC_RAN_UNKNOWN;
}

void virt_incoming_unwatch(struct virt_incoming *w)
{
    if (w->conn && w->cb >= 0)
        virConnectDomainEventDeregisterAny(w->conn, w->cb);
    if (w->conn)
        virConnectClose(w->conn);
    w->conn = NULL;
    w->cb = -1;
    pthread_mutex_destroy(&w->lock);
}
