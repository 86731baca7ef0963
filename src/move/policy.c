/* policy.c - when a move is stalled, whether it converges, when to switch to post-copy and
 * when to give up: pure functions of the job's figures and the time they were read, so that
 * every branch has a unit test (tests/unit/test_policy.c) instead of a lab run.
 *
 * Pre-copy sends memory in passes; a guest that writes memory faster than the link carries
 * it leaves as much to send after each pass as before, and never finishes. libvirt's
 * auto-converge slows such a guest's vCPUs until it does; post-copy, when the request allows
 * it, moves the guest over and fetches the rest on demand. "Not converging" (data moves, what
 * remains does not shrink) is told apart from "stalled" (no data moves at all). A move that
 * runs past its time budget is stopped, or switched to post-copy, whether it converges or
 * not. */
#include <string.h>

#include "move_priv.h"

/* No new least "data remaining" for this long in the memory phase: not converging. */
#define NOT_CONVERGING_MS 5000
/* ...and for this long, when post-copy is allowed: switch to it. */
#define POSTCOPY_AFTER_MS 3000
/* A new least must be this much (1/20) below the last one: jitter is not progress. */
#define PROGRESS_DIVISOR 20

void virt_stall_start(struct virt_stall *s, long stall_ms, long long now_ms)
{
    *s = (struct virt_stall){.stall_ms = stall_ms, .last_change = now_ms};
}

/* Slow but moving is fine; nothing moved for stall_ms (a dead link, a hung peer, a job that
 * never started) is not: the job is stopped, and the guest stays. */
bool virt_stall_decide(struct virt_stall *s, long long moved, long long now_ms)
{
    if (moved > s->moved) {
        s->moved = moved;
        s->last_change = now_ms;
        return false;
    }
    return !s->stalled && s->stall_ms > 0 && now_ms - s->last_change >= s->stall_ms;
}

bool virt_unstick_due(const struct virt_stall *s, bool unstuck, long long now_ms)
{
    return s->stalled && !unstuck && now_ms - s->stalled_at >= VIRT_UNSTICK_AFTER_MS;
}

void virt_converge_start(struct virt_converge *c, const struct virt_policy *p, long timeout_ms,
                         long default_s, long long now_ms)
{
    bool dflt = p->completion_s < 0;
    *c = (struct virt_converge){.policy = *p,
                                .timeout_ms = timeout_ms,
                                .started_at = now_ms,
                                .budget_per_gib_s = dflt ? default_s : p->completion_s,
                                .budget_floor_ms = dflt ? VIRT_BUDGET_FLOOR_MS : 0,
                                .best_remaining = -1,
                                .best_at = now_ms,
                                .throttle_at = now_ms};
}

/* The time budget (KubeVirt's completionTimeoutPerGiB): seconds per GiB of what the move
 * carries, guest memory and copied disks, as libvirt's figures tell them; 0 until they do.
 * kimchid's default is never less than its floor, so a small guest on a slow link is not cut
 * short; a budget the request gave is taken as it is. */
static long long budget_ms(struct virt_converge *c, const struct virt_job_info *i)
{
    long long bytes =
        (i->memory_total > 0 ? i->memory_total : 0) + (i->disk_total > 0 ? i->disk_total : 0);
    if (c->budget_per_gib_s <= 0 || bytes <= 0)
        return c->budget_ms;
    long long ms = (long long)((double)c->budget_per_gib_s * 1000.0 * (double)bytes / 1073741824.0);
    if (ms < c->budget_floor_ms)
        ms = c->budget_floor_ms;
    if (ms > c->budget_ms) /* the figures only grow as libvirt learns them */
        c->budget_ms = ms;
    return c->budget_ms;
}

/* How long what remains has not shrunk (ms), or -1 outside the memory phase's second pass. */
static long long stuck_ms(struct virt_converge *c, const struct virt_job_info *i, long long now)
{
    if (strcmp(i->phase, "memory") != 0 || i->data_remaining < 0) {
        c->best_at = now; /* the memory phase has not begun */
        return -1;
    }
    if (c->best_remaining < 0 ||
        i->data_remaining < c->best_remaining - c->best_remaining / PROGRESS_DIVISOR) {
        c->best_remaining = i->data_remaining;
        c->best_at = now;
    }
    return i->iteration >= 2 ? now - c->best_at : -1;
}

unsigned int virt_converge_decide(struct virt_converge *c, struct virt_job_info *i,
                                  long long now_ms)
{
    long long budget = budget_ms(c, i);
    if (c->switched) {
        i->phase = "postcopy";
        i->converging = 1; /* post-copy always ends: what remains is fetched on demand */
        return 0;
    }
    if (!strcmp(i->phase, "memory") && i->data_remaining == 0) {
        i->phase = "finishing"; /* all sent: the guest pauses and switches over */
        i->converging = 1;
        return 0;
    }
    long long stuck = stuck_ms(c, i, now_ms);
    i->converging = stuck < 0 ? -1 : stuck < NOT_CONVERGING_MS;
    if (i->converging == 0)
        i->remaining_ms = -1; /* no honest estimate while what remains does not shrink */
    unsigned int acts = 0;
    if (c->policy.postcopy && stuck >= POSTCOPY_AFTER_MS)
        acts |= VIRT_CONVERGE_POSTCOPY;
    /* auto-converge slowing the guest more is the policy at work: the clock restarts */
    if (i->throttle_pct > c->throttle) {
        c->throttle = i->throttle_pct;
        c->throttle_at = now_ms;
    }
    if (!c->gave_up && c->timeout_ms > 0 && stuck >= c->timeout_ms &&
        now_ms - c->throttle_at >= c->timeout_ms)
        acts |= VIRT_CONVERGE_ABORT;
    /* past the budget: the request's action, whether or not the move converges */
    if (!c->over_budget && budget > 0 && now_ms - c->started_at >= budget)
        acts |= VIRT_CONVERGE_BUDGET |
                (c->policy.completion_postcopy ? VIRT_CONVERGE_POSTCOPY : VIRT_CONVERGE_ABORT);
    return acts;
}
