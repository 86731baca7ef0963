/* incoming.c - whether the destination ever ran a guest moving to it, from libvirt's own
 * events for the incoming copy there. When a post-copy move breaks in the switch-over and
 * the destination's half is gone, this alone says whether the source's half is the whole
 * guest (it never ran there) or not: kimchid never guesses it. The watch is registered on the
 * destination's connection before the move starts, so every event of the incoming copy comes
 * after it, in order: "resumed" (its vCPUs started) means it ran; "stopped" with no "resumed"
 * before it, on the same live connection, means it never did; anything else is unknown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "move_priv.h"

/* What the event loop records; freed by libvirt (its callback's freecb) once no callback of
 * it can run any more, which may be after the move's thread has let go. */
struct incoming_state {
    pthread_mutex_t lock;
    char uuid[VIR_UUID_STRING_BUFLEN];
    bool resumed, stopped;
};

static void state_free(void *p)
{
    struct incoming_state *st = p;
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static int incoming_cb(virConnectPtr c, virDomainPtr d, int event, int detail, void *opaque)
{
    (void)c;
    struct incoming_state *st = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(d, uuid) < 0 || strcmp(uuid, st->uuid) != 0)
        return 0;
    pthread_mutex_lock(&st->lock);
    if (event == VIR_DOMAIN_EVENT_RESUMED)
        st->resumed = true;
    else if (event == VIR_DOMAIN_EVENT_STOPPED)
        st->stopped = true;
    pthread_mutex_unlock(&st->lock);
    log_debug("incoming copy of %s: event %d detail %d", uuid, event, detail);
    return 0;
}

void virt_incoming_watch(struct virt *v, const char *host, const char *uuid,
                         struct virt_incoming *w)
{
    *w = (struct virt_incoming){.cb = -1};
    struct incoming_state *st = calloc(1, sizeof(*st));
    w->conn = st ? virt_remote_get(v, host, NULL) : NULL;
    if (!w->conn) {
        free(st);
        log_debug("no event watch on %s's incoming copy of %s", host, uuid);
        return;
    }
    pthread_mutex_init(&st->lock, NULL);
    snprintf(st->uuid, sizeof(st->uuid), "%s", uuid);
    w->cb =
        virConnectDomainEventRegisterAny(w->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(incoming_cb), st, state_free);
    if (w->cb < 0) {
        state_free(st);
        log_debug("no event watch on %s's incoming copy of %s", host, uuid);
        return;
    }
    w->state = st;
}

enum pc_ran virt_incoming_ran(struct virt_incoming *w)
{
    if (!w->state)
        return PC_RAN_UNKNOWN;
    pthread_mutex_lock(&w->state->lock);
    bool resumed = w->state->resumed, stopped = w->state->stopped;
    pthread_mutex_unlock(&w->state->lock);
    return virt_incoming_decide(true, resumed, stopped);
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
        virConnectDomainEventDeregisterAny(w->conn, w->cb); /* libvirt frees the state */
    if (w->conn)
        virConnectClose(w->conn);
    *w = (struct virt_incoming){.cb = -1};
}
