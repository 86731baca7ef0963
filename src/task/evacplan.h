/* evacplan.h - which destination each guest of an evacuated host goes to (pure: no I/O),
 * and how many moves may start now. Unit-tested (tests/unit/test_evacplan.c). */
#ifndef KIMCHID_TASK_EVACPLAN_H
#define KIMCHID_TASK_EVACPLAN_H

#include <stdbool.h>
#include <stddef.h>

/* At most this many moves into one destination at once (oVirt's and KubeVirt's default). */
#define EVAC_INCOMING_MAX 2
/* At most this many destinations and guests an evacuation plans for. */
#define EVAC_DESTS_MAX 16
#define EVAC_GUESTS_MAX 512

struct evac_dest {
    unsigned long long avail_kib;   /* free memory there when planned */
    unsigned long long planned_kib; /* out: what the plan sends there */
    int planned;                    /* out: how many guests */
};

struct evac_guest {
    unsigned long long need_kib; /* 0 for a shut-off guest: it needs memory only once started */
    bool ready[EVAC_DESTS_MAX];  /* every check passed for that destination */
    int dest;                    /* out: index into the destinations, -1: fits nowhere */
};

/* Assigns each guest that is ready somewhere to one destination: the largest guests first,
 * each where its checks passed and its memory fits beside what the plan already sends
 * there; of those, the one with the most free memory left (the first on a tie). A guest
 * ready nowhere, or whose memory fits nowhere, gets -1. */
void evac_assign(struct evac_guest *g, size_t ng, struct evac_dest *d, size_t nd);

/* Whether a planned move into destination `dest` may start now: fewer than `max_parallel`
 * moves leave this host and fewer than EVAC_INCOMING_MAX enter `dest`. */
bool evac_may_start(int moving, int max_parallel, int incoming);

#endif
