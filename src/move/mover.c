/* mover.c - the mover's own state on a virt object: cached remote connections, host facts
 * and its timers. */
#include <pthread.h>
#include <stdlib.h>

#include "move_priv.h"

int virt_mover_open(struct virt *v, struct err *e)
{
    struct mover *m = calloc(1, sizeof(*m));
    if (!m)
        return err_oom(e);
    pthread_mutex_init(&m->remote_lock, NULL);
    pthread_mutex_init(&m->facts_lock, NULL);
    v->mover = m;
    return 0;
}

void virt_mover_close(struct virt *v)
{
    if (!v || !v->mover)
        return;
    virt_remote_close_all(v);
    virt_facts_clear(v);
    pthread_mutex_destroy(&v->mover->remote_lock);
    pthread_mutex_destroy(&v->mover->facts_lock);
    free(v->mover->remotes);
    free(v->mover);
    v->mover = NULL;
}
