/* busy.c - guests that a long operation (clone, migration) owns for now. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virt_priv.h"

static long find_locked(struct virt *v, const char *name)
{
    for (size_t i = 0; i < v->nbusy; i++)
        if (strcmp(v->busy[i].name, name) == 0)
            return (long)i;
    return -1;
}

static int conflict(const char *name, const char *what, struct err *e)
{
    return err_set(e, ERR_CONFLICT, M_VM_BUSY,
                   "Virtual machine \"%s\" is busy %s. Wait for that task to finish.", name, what);
}

static int claim_locked(struct virt *v, const char *name, const char *what, struct err *e)
{
    long i = find_locked(v, name);
    if (i >= 0)
        return conflict(name, v->busy[i].what, e);
    struct busy_entry *nb = realloc(v->busy, (v->nbusy + 1) * sizeof(*nb));
    if (!nb)
        return err_oom(e);
    v->busy = nb;
    nb[v->nbusy].name = strdup(name);
    nb[v->nbusy].what = strdup(what);
    if (!nb[v->nbusy].name || !nb[v->nbusy].what) {
        free(nb[v->nbusy].name);
        free(nb[v->nbusy].what);
        return err_oom(e);
    }
    v->nbusy++;
    return 0;
}

int virt_busy_claim(struct virt *v, const char *name, const char *what, struct err *e)
{
    pthread_mutex_lock(&v->busy_lock);
    int rc = claim_locked(v, name, what, e);
    pthread_mutex_unlock(&v->busy_lock);
    return rc;
}

void virt_busy_release(struct virt *v, const char *name)
{
    pthread_mutex_lock(&v->busy_lock);
    long i = find_locked(v, name);
    if (i >= 0) {
        free(v->busy[i].name);
        free(v->busy[i].what);
        v->busy[i] = v->busy[--v->nbusy];
    }
    pthread_mutex_unlock(&v->busy_lock);
}

int virt_busy_check(struct virt *v, const char *name, struct err *e)
{
    pthread_mutex_lock(&v->busy_lock);
    long i = find_locked(v, name);
    int rc = i >= 0 ? conflict(name, v->busy[i].what, e) : 0;
    pthread_mutex_unlock(&v->busy_lock);
    return rc;
}

const char *virt_busy_what(struct virt *v, const char *name, char *out, size_t len)
{
    pthread_mutex_lock(&v->busy_lock);
    long i = find_locked(v, name);
    if (i >= 0)
        snprintf(out, len, "%s", v->busy[i].what);
    pthread_mutex_unlock(&v->busy_lock);
    return i >= 0 ? out : NULL;
}

int virt_name_reserve(struct virt *v, const char *name, struct err *e)
{
    struct snapshot *s = virt_snapshot_get(v);
    int rc;
    pthread_mutex_lock(&v->busy_lock);
    if (virt_snapshot_find(s, name) >= 0 || find_locked(v, name) >= 0)
        rc = err_set(e, ERR_CONFLICT, M_VM_EXISTS,
                     "A virtual machine named \"%s\" already exists. Choose another name.", name);
    else
        rc = claim_locked(v, name, "being created by a clone", e);
    pthread_mutex_unlock(&v->busy_lock);
    virt_snapshot_put(s);
    return rc;
}

int virt_clone_name_reserve(struct virt *v, const char *name, char *out, size_t outlen,
                            struct err *e)
{
    struct snapshot *s = virt_snapshot_get(v);
    int rc = -1;
    pthread_mutex_lock(&v->busy_lock);
    for (int n = 1; n < 100000 && rc < 0; n++) {
        int w = snprintf(out, outlen, "%s-clone-%d", name, n);
        if (w < 0 || (size_t)w >= outlen) {
            err_set(e, ERR_INVALID, M_VM_BAD_NAME, "The guest name \"%s\" is too long to clone.",
                    name);
            break;
        }
        if (virt_snapshot_find(s, out) < 0 && find_locked(v, out) < 0)
            rc = claim_locked(v, out, "being created by a clone", e);
    }
    pthread_mutex_unlock(&v->busy_lock);
    virt_snapshot_put(s);
    return rc;
}
