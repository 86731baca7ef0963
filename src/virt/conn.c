/* conn.c - the libvirt connection, its event loop thread, and libvirt error reporting. A leaf
 * of virt/: it calls nothing of the other files (lifecycle events go to v->on_lifecycle). */
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "virt_priv.h"

static pthread_once_t event_once = PTHREAD_ONCE_INIT;
static int event_impl_rc;

static void silent_error(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err; /* errors are read where the call failed and reported there */
}

static void register_event_impl(void)
{
    virSetErrorFunc(NULL, silent_error);
    event_impl_rc = virEventRegisterDefaultImpl();
}

int virt_err_libvirt(struct err *e, enum err_code code, enum msg id, const char *what)
{
    const char *m = virGetLastErrorMessage();
    return err_set(e, code, id, "%s: %s", what, m && *m ? m : "unknown libvirt error");
}

static int lifecycle_cb(virConnectPtr c, virDomainPtr d, int event, int detail, void *opaque)
{
    (void)c;
    (void)event;
    (void)detail;
    struct virt *v = opaque;
    log_debug("lifecycle event for guest \"%s\"", virDomainGetName(d));
    v->on_lifecycle(v, d);
    return 0;
}

static int open_locked(struct virt *v, struct err *e)
{
    virConnectPtr c = virConnectOpen(v->uri);
    if (!c)
        return virt_err_libvirt(e, ERR_UNAVAILABLE, M_VIRT_CONNECT, "Cannot connect to libvirt");
    v->callback_id = virConnectDomainEventRegisterAny(
        c, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), v, NULL);
    if (v->callback_id < 0)
        log_warn("libvirt lifecycle events unavailable; relying on periodic refresh");
    virt_keepalive(c);
    v->conn = c;
    return 0;
}

static void close_locked(struct virt *v)
{
    if (!v->conn)
        return;
    if (v->callback_id >= 0)
        virConnectDomainEventDeregisterAny(v->conn, v->callback_id);
    virConnectClose(v->conn);
    v->conn = NULL;
    v->callback_id = -1;
}

bool virt_conn_has_events(struct virt *v)
{
    pthread_mutex_lock(&v->conn_lock);
    bool yes = v->conn && v->callback_id >= 0;
    pthread_mutex_unlock(&v->conn_lock);
    return yes;
}

virConnectPtr virt_conn_get(struct virt *v, struct err *e)
{
    virConnectPtr c = NULL;
    pthread_mutex_lock(&v->conn_lock);
    if (v->conn && virConnectIsAlive(v->conn) != 1) {
        log_warn("libvirt connection to \"%s\" lost; reconnecting", v->uri);
        close_locked(v);
    }
    if (v->conn || open_locked(v, e) == 0) {
        c = v->conn;
        virConnectRef(c);
    }
    pthread_mutex_unlock(&v->conn_lock);
    return c;
}

static void *event_loop(void *arg)
{
    struct virt *v = arg;
    while (!atomic_load(&v->stopping))
        if (virEventRunDefaultImpl() < 0)
            log_warn("libvirt event loop: %s", virGetLastErrorMessage());
    return NULL;
}

static void wake_cb(int timer, void *opaque)
{
    (void)opaque;
    virEventRemoveTimeout(timer);
}

int virt_conn_start(struct virt *v, struct err *e)
{
    pthread_once(&event_once, register_event_impl);
    if (event_impl_rc < 0)
        return err_set(e, ERR_INTERNAL, M_VIRT_THREAD, "Cannot start libvirt's event loop.");
    v->callback_id = -1;
    pthread_mutex_init(&v->conn_lock, NULL);
    if (pthread_create(&v->event_thread, NULL, event_loop, v) != 0) {
        pthread_mutex_destroy(&v->conn_lock);
        return err_set(e, ERR_INTERNAL, M_VIRT_THREAD, "Cannot start libvirt's event loop thread.");
    }
    v->event_started = true;
    pthread_mutex_lock(&v->conn_lock);
    int rc = open_locked(v, e);
    pthread_mutex_unlock(&v->conn_lock);
    return rc;
}

void virt_conn_stop(struct virt *v)
{
    if (!v->event_started)
        return;
    pthread_mutex_lock(&v->conn_lock);
    close_locked(v);
    pthread_mutex_unlock(&v->conn_lock);
    atomic_store(&v->stopping, true);
    virEventAddTimeout(0, wake_cb, NULL, NULL);
    pthread_join(v->event_thread, NULL);
    pthread_mutex_destroy(&v->conn_lock);
    v->event_started = false;
}

virDomainPtr virt_domain_own_conn(struct virt *v, const char *uuid)
{
    virConnectPtr c = virConnectOpen(v->uri);
    if (!c) {
        log_warn("cannot open a libvirt connection of its own for a move (%s); it shares "
                 "kimchid's",
                 virGetLastErrorMessage());
        return NULL;
    }
    virt_keepalive(c);
    virDomainPtr d = virDomainLookupByUUIDString(c, uuid);
    virConnectClose(c); /* d keeps it open while it lives */
    return d;
}

void virt_keepalive(virConnectPtr c)
{
    virConnectSetKeepAlive(c, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT);
}
