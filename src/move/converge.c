/* converge.c - a busy guest's move finishes: the convergence policy applied at each look at a
 * live migration's job (every VIRT_POLL_MS). Pre-copy sends memory in passes; a guest that
 * writes memory faster than the link carries it leaves as much to send after each pass as
 * before, and never finishes. libvirt's auto-converge (a flag of the move) slows such a
 * guest's vCPUs until it does; post-copy, when the request allows it, moves the guest over
 * and fetches the rest on demand. This file tells "not converging" apart from "slow", sets
 * max_downtime, switches to post-copy, and stops a move that does not converge for the
 * converge timeout, counted from when what remains last shrank or auto-converge last slowed
 * the guest more. (A move that moves no data at all is the stall rule's, in migrate.c.) */
#include <stdio.h>
#include <string.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "move_priv.h"

/* No new least "data remaining" for this long in the memory phase: not converging. */
#define NOT_CONVERGING_MS 5000
/* ...and for this long, when post-copy is allowed: switch to it. */
#define POSTCOPY_AFTER_MS 3000
/* A new least must be this much (1/20) below the last one: jitter is not progress. */
#define PROGRESS_DIVISOR 20

void virt_converge_start(struct virt_converge *c, const struct virt_policy *p, long timeout_ms)
{
    *c = (struct virt_converge){.policy = *p, .timeout_ms = timeout_ms, .best_remaining = -1};
    clock_gettime(CLOCK_MONOTONIC, &c->best_at);
    c->throttle_at = c->best_at;
}

void virt_set_converge_timeout(struct virt *v, long seconds)
{
    v->mover->converge_ms = seconds * 1000;
}

/* How long what remains has not shrunk (ms), or -1 outside the memory phase's second pass. */
static long long stuck_ms(struct virt_converge *c, const struct virt_job_info *i)
{
    if (strcmp(i->phase, "memory") != 0 || i->data_remaining < 0) {
        clock_gettime(CLOCK_MONOTONIC, &c->best_at); /* the memory phase has not begun */
        return -1;
    }
    if (c->best_remaining < 0 ||
        i->data_remaining < c->best_remaining - c->best_remaining / PROGRESS_DIVISOR) {
        c->best_remaining = i->data_remaining;
        clock_gettime(CLOCK_MONOTONIC, &c->best_at);
    }
    return i->iteration >= 2 ? clock_ms_since(&c->best_at) : -1;
}

static void set_downtime(struct virt_converge *c, virDomainPtr d)
{
    if (c->downtime_set || c->policy.max_downtime_ms <= 0)
        return;
    /* accepted once libvirt's migration job runs: tried at each look until it is */
    if (virDomainMigrateSetMaxDowntime(d, (unsigned long long)c->policy.max_downtime_ms, 0) == 0) {
        c->downtime_set = true;
        log_info("migration of \"%s\": max downtime %d ms", virDomainGetName(d),
                 c->policy.max_downtime_ms);
    }
}

void virt_converge_check(struct virt_converge *c, virDomainPtr d, struct virt_job_info *i)
{
    set_downtime(c, d);
    if (c->switched) {
        i->phase = "postcopy";
        i->converging = 1; /* post-copy always ends: what remains is fetched on demand */
        return;
    }
    if (!strcmp(i->phase, "memory") && i->data_remaining == 0) {
        i->phase = "finishing"; /* all sent: the guest pauses and switches over */
        i->converging = 1;
        return;
    }
    long long stuck = stuck_ms(c, i);
    i->converging = stuck < 0 ? -1 : stuck < NOT_CONVERGING_MS;
    if (i->converging == 0)
        i->remaining_ms = -1; /* no honest estimate while what remains does not shrink */
    if (c->policy.postcopy && stuck >= POSTCOPY_AFTER_MS &&
        virDomainMigrateStartPostCopy(d, 0) == 0) {
        c->switched = true;
        i->phase = "postcopy";
        log_info("migration of \"%s\": pre-copy does not converge, switched to post-copy",
                 virDomainGetName(d));
        return;
    }
    /* auto-converge slowing the guest more is the policy at work: the clock restarts */
    if (i->throttle_pct > c->throttle) {
        c->throttle = i->throttle_pct;
        clock_gettime(CLOCK_MONOTONIC, &c->throttle_at);
    }
    if (c->gave_up || c->timeout_ms <= 0 || stuck < c->timeout_ms ||
        clock_ms_since(&c->throttle_at) < c->timeout_ms)
        return;
    if (virDomainAbortJob(d) == 0) {
        c->gave_up = true;
        c->gave_up_dirty_bps = i->dirty_bps;
        c->gave_up_bps = i->memory_bps;
        log_warn("migration of \"%s\" did not converge for %ld s: stopped", virDomainGetName(d),
                 c->timeout_ms / 1000);
    }
}

/* "60.0 MiB/s", or "?" when unknown. */
static void rate(long long bps, char *out, size_t len)
{
    if (bps < 0)
        snprintf(out, len, "?");
    else
        snprintf(out, len, "%.1f MiB/s", (double)bps / 1048576.0);
}

int virt_converge_error(struct err *e, const struct virt_converge *c, const char *host)
{
    char dirty[32], link[32];
    rate(c->gave_up_dirty_bps, dirty, sizeof(dirty));
    rate(c->gave_up_bps, link, sizeof(link));
    return err_set(e, ERR_BACKEND, M_MIG_NOT_CONVERGING,
                   "The migration did not converge: for %ld s the guest wrote memory (%s) as fast "
                   "as it could be sent to \"%s\" (%s), so what remained never shrank, and "
                   "kimchid stopped it. Allow auto_converge (the default) or postcopy, raise the "
                   "bandwidth, or migrate when the guest is less busy.",
                   c->timeout_ms / 1000, dirty, host, link);
}
