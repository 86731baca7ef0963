/* snapshot.c - the published snapshot of all guests, shared by reference: what the inventory
 * builds, and what reads of guests, busy claims and names use. */
#include <stdlib.h>
#include <string.h>

#include "virt_priv.h"

struct snapshot *virt_snapshot_get(struct virt *v)
{
    pthread_mutex_lock(&v->inv_lock);
    struct snapshot *s = v->snap;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&v->inv_lock);
    return s;
}

void virt_snapshot_put(struct snapshot *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
    free(s->spans);
    free(s->list_json);
    free(s->list_gz);
    free(s);
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

long virt_snapshot_find(const struct snapshot *s, const char *name)
{
    char **hit = s->n ? bsearch(name, s->names, s->n, sizeof(*s->names), cmp_name) : NULL;
    return hit ? (long)(hit - s->names) : -1;
}
