/* evacplan.c - an evacuation's plan: first-fit-decreasing by memory, balanced by free memory. */
#include "evacplan.h"

#include <stdlib.h>

/* The guests' indexes, largest need first (stable: the list's order on a tie). */
static int by_need_desc(const void *a, const void *b, void *g)
{
    const struct evac_guest *gs = g;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (gs[i].need_kib != gs[j].need_kib)
        return gs[i].need_kib > gs[j].need_kib ? -1 : 1;
    return i < j ? -1 : i > j;
}

static int best_dest(const struct evac_guest *g, const struct evac_dest *d, size_t nd)
{
    int best = -1;
    unsigned long long best_left = 0;
    for (size_t j = 0; j < nd; j++) {
        if (!g->ready[j] || d[j].planned_kib > d[j].avail_kib)
            continue;
        unsigned long long left = d[j].avail_kib - d[j].planned_kib;
        if (left < g->need_kib)
            continue;
        if (best < 0 || left > best_left) {
            best = (int)j;
            best_left = left;
        }
    }
    return best;
}

void evac_assign(struct evac_guest *g, size_t ng, struct evac_dest *d, size_t nd)
{
    size_t order[EVAC_GUESTS_MAX];
    if (ng > EVAC_GUESTS_MAX)
        ng = EVAC_GUESTS_MAX;
    for (size_t i = 0; i < ng; i++)
        order[i] = i;
    qsort_r(order, ng, sizeof(order[0]), by_need_desc, g);
    for (size_t k = 0; k < ng; k++) {
        struct evac_guest *x = &g[order[k]];
        x->dest = best_dest(x, d, nd);
        if (x->dest >= 0) {
            d[x->dest].planned_kib += x->need_kib;
            d[x->dest].planned++;
        }
    }
}

bool evac_may_start(int moving, int max_parallel, int incoming)
{
    return moving < max_parallel && incoming < EVAC_INCOMING_MAX;
}
