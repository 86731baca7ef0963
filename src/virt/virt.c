/* virt.c - the virt object: this host's libvirt connection with its event loop (conn.c) and
 * the guests' snapshot kept current from its events (inventory.c). */
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../util/clock.h"
#include "virt_priv.h"

/* A guest changed: its cached XML is re-read at the next refresh, which comes now. */
static void lifecycle(struct virt *v, virDomainPtr d)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(d, uuid) == 0)
        virt_inventory_mark_stale(v, uuid);
    else
        virt_inventory_poke(v);
}

struct virt *virt_new(const char *uri, struct err *e)
{
    struct virt *v = calloc(1, sizeof(*v));
    if (!v || !(v->uri = strdup(uri))) {
        free(v);
        err_oom(e);
        return NULL;
    }
    v->on_lifecycle = lifecycle;
    pthread_mutex_init(&v->inv_lock, NULL);
    pthread_mutex_init(&v->refresh_lock, NULL);
    pthread_mutex_init(&v->busy_lock, NULL);
    clock_cond_init(&v->inv_cond); /* waits with deadlines from clock_after */
    clock_cond_init(&v->fresh_cond);
    if (virt_conn_start(v, e) == 0 && virt_inventory_start(v, e) == 0)
        return v;
    virt_conn_stop(v);
    free(v->uri);
    free(v);
    return NULL;
}

void virt_free(struct virt *v)
{
    if (!v)
        return;
    virt_inventory_stop(v);
    virt_conn_stop(v);
    for (size_t i = 0; i < v->ncache; i++)
        virt_vm_info_clear(&v->cache[i].info);
    free(v->cache);
    free(v->cache_tset);
    free(v->cache_aset);
    for (size_t i = 0; i < v->nbusy; i++) {
        free(v->busy[i].name);
        free(v->busy[i].what);
    }
    free(v->busy);
    free(v->uri);
    free(v);
}
