/* converge.c - a busy guest's move finishes: at each look at a live migration's job (every
 * VIRT_POLL_MS) it sets max_downtime once, and does what the convergence policy (policy.c)
 * decides: switch to post-copy, or stop a move that does not converge for the converge
 * timeout, counted from when what remains last shrank or auto-converge last slowed the guest
 * more; and, past the move's time budget, stop it or switch it to post-copy. (A move that
 * moves no data at all is the stall rule's, in watch.c.) */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "move_priv.h"

void virt_set_converge_timeout(struct virt *v, long seconds)
{
    v->mover->converge_ms = seconds * 1000;
}

void virt_set_completion_timeout(struct virt *v, long seconds)
{
    v->mover->completion_s = seconds;
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
    unsigned int acts = virt_converge_decide(c, i, clock_now_ms());
    bool budget = acts & VIRT_CONVERGE_BUDGET;
    /* refused (libvirt's job not in its memory phase yet): tried again at the next look */
    if ((acts & VIRT_CONVERGE_POSTCOPY) && virDomainMigrateStartPostCopy(d, 0) < 0)
        log_debug("migration of \"%s\": the switch to post-copy was refused (%s); trying "
                  "again at the next look",
                  virDomainGetName(d), virGetLastErrorMessage());
    else if (acts & VIRT_CONVERGE_POSTCOPY) {
        c->switched = true;
        c->over_budget = budget;
        i->phase = "postcopy";
        log_info("migration of \"%s\": %s, switched to post-copy", virDomainGetName(d),
                 budget ? "past its time budget" : "pre-copy does not converge");
        return;
    }
    if ((acts & VIRT_CONVERGE_ABORT) && virDomainAbortJob(d) == 0) {
        c->gave_up = !budget;
        c->over_budget = budget;
        c->gave_up_dirty_bps = i->dirty_bps;
        c->gave_up_bps = i->memory_bps;
        if (budget)
            log_warn("migration of \"%s\" ran past its time budget of %lld s: stopped",
                     virDomainGetName(d), c->budget_ms / 1000);
        else
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

int virt_budget_error(struct err *e, const struct virt_converge *c)
{
    return err_set(e, ERR_BACKEND, M_MIG_BUDGET,
                   "The migration ran past its time budget of %.0f s (completion_timeout: %ld s "
                   "per GiB of guest memory and copied disks), so kimchid stopped it. Raise "
                   "completion_timeout, let it switch to post-copy instead (\"postcopy\": true "
                   "and \"completion_action\": \"postcopy\"), raise the bandwidth, or migrate "
                   "when the guest is less busy.",
                   (double)c->budget_ms / 1000.0, c->budget_per_gib_s);
}
