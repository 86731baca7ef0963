/* settle.c - when a migration call fails (or a connection drops under it), libvirt's answer
 * is not the truth: the move may have completed, or left a copy on each host. Before the task
 * ends, both hosts are asked where the guest is (fresh connections, retried for a while), at
 * most one copy is left running, and the outcome says where the guest runs. When what decides
 * it cannot be learnt (this host's libvirt away, or the destination's while nothing runs
 * here), kimchid does not guess: it keeps asking, and the task says so, until it knows. */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "../util/timers.h"
#include "move_priv.h"

static void look(virConnectPtr c, const char *uuid, struct virt_view *out)
{
    memset(out, 0, sizeof(*out));
    virDomainPtr d = virDomainLookupByUUIDString(c, uuid);
    if (d) {
        out->exists = virDomainGetState(d, &out->state, &out->reason, 0) == 0;
        out->reached = out->exists;
        virDomainFree(d);
        return;
    }
    virErrorPtr le = virGetLastError();
    out->reached = le && le->code == VIR_ERR_NO_DOMAIN;
}

/* Running for real: vCPUs going. Only this counts as a copy that runs: a copy paused for
 * any other reason than the move (an I/O error, an API error, "unknown" after a libvirtd
 * restart) may be the newest one, so it is reported, never acted on. */
static bool running(const struct virt_view *v)
{
    return v->exists && (v->state == VIR_DOMAIN_RUNNING || v->state == VIR_DOMAIN_BLOCKED);
}

/* Paused by the move itself, before any switch-over: a source waiting for the end, or an
 * incoming copy that never ran. */
static bool paused_by_move(const struct virt_view *v)
{
    return v->exists && v->state == VIR_DOMAIN_PAUSED && v->reason == VIR_DOMAIN_PAUSED_MIGRATION;
}

/* Paused for a reason the move does not explain. */
static bool paused_other(const struct virt_view *v)
{
    return v->exists && v->state == VIR_DOMAIN_PAUSED && !paused_by_move(v) &&
           v->reason != VIR_DOMAIN_PAUSED_POSTCOPY &&
           v->reason != VIR_DOMAIN_PAUSED_POSTCOPY_FAILED;
}

static bool active(const struct virt_view *v)
{
    return v->exists && v->state != VIR_DOMAIN_SHUTOFF && v->state != VIR_DOMAIN_CRASHED;
}

/* Asks a host (NULL: this one), retrying with fresh connections while it does not answer:
 * its libvirtd may be restarting. */
static void look_retry(struct virt *v, const char *host, const char *uuid, struct virt_view *out)
{
    unsigned int delay = 250, spent = 0;
    for (;;) {
        virConnectPtr c = host ? virt_remote_get(v, host, NULL) : virt_conn_get(v, NULL);
        memset(out, 0, sizeof(*out));
        if (c) {
            look(c, uuid, out);
            virConnectClose(c);
        }
        /* the host may be restarting: it gets timers.settle_s to answer */
        if (out->reached || spent >= timers.settle_s * 1000)
            return;
        usleep(delay * 1000);
        spent += delay;
        delay = delay < 4000 ? delay * 2 : 4000;
    }
}

/* Runs fn on the guest with this UUID over a fresh connection (local, or host's). */
static int on_copy(struct virt *v, const char *host, const char *uuid, int (*fn)(virDomainPtr d))
{
    virDomainPtr d = virt_lookup_uuid(v, host, uuid);
    int rc = d ? fn(d) : -1;
    if (d)
        virDomainFree(d);
    return rc;
}

virDomainPtr virt_lookup_uuid(struct virt *v, const char *host, const char *uuid)
{
    virConnectPtr c = host ? virt_remote_get(v, host, NULL) : virt_conn_get(v, NULL);
    virDomainPtr d = c ? virDomainLookupByUUIDString(c, uuid) : NULL;
    if (c)
        virConnectClose(c); /* the domain keeps its connection referenced */
    return d;
}

static int resume(virDomainPtr d)
{
    return virDomainResume(d);
}

static int destroy(virDomainPtr d)
{
    return virDomainDestroy(d);
}

/* The destination's copy must not run: stop it, and drop the definition the move made. */
static int destroy_and_undefine(virDomainPtr d)
{
    int rc = virDomainDestroy(d);
    if (virDomainIsPersistent(d) == 1)
        virDomainUndefine(d);
    return rc;
}

/* A shut-off guest's move copies its definition: it went where the definition now is. */
static enum virt_where decide_offline(const char *host, const struct virt_view *dst, char *note,
                                      size_t len)
{
    if (dst->reached)
        return dst->exists ? VIRT_WHERE_DEST : VIRT_WHERE_SOURCE;
    snprintf(note, len,
             "\"%s\" does not answer, so kimchid cannot tell whether the guest's definition "
             "was copied there",
             host);
    return VIRT_WHERE_UNKNOWN;
}

/* Half of a post-copy move: the source paused with pages the destination has not fetched,
 * or the destination running on pages it still fetches from the source. Neither half can
 * run alone: stopping either one loses the guest. */
static bool postcopy_half(const struct virt_view *v)
{
    if (!v->exists)
        return false;
    if (v->state == VIR_DOMAIN_PAUSED)
        return v->reason == VIR_DOMAIN_PAUSED_POSTCOPY ||
               v->reason == VIR_DOMAIN_PAUSED_POSTCOPY_FAILED;
    return v->state == VIR_DOMAIN_RUNNING && (v->reason == VIR_DOMAIN_RUNNING_POSTCOPY ||
                                              v->reason == VIR_DOMAIN_RUNNING_POSTCOPY_FAILED);
}

static const char *view_words(const struct virt_view *v)
{
    if (!v->reached)
        return "unreachable";
    if (!v->exists)
        return "not defined";
    if (postcopy_half(v))
        return v->state == VIR_DOMAIN_PAUSED ? "paused, holding the pages not yet moved"
                                             : "running on the pages it has";
    return virt_state_name(v->state);
}

static enum virt_where split(const char *host, const struct virt_view *src,
                             const struct virt_view *dst, struct virt_settle_plan *p)
{
    snprintf(p->note, sizeof(p->note),
             "The move failed during post-copy: the guest's memory is split between this host "
             "(%s) and \"%s\" (%s), and neither half can run alone, so kimchid stopped neither. "
             "When the network to \"%s\" works again, finish the move: virsh migrate --live "
             "--p2p --postcopy --postcopy-resume GUEST qemu+ssh://root@%s/system.",
             view_words(src), host, view_words(dst), host, host);
    return p->where = VIRT_WHERE_SPLIT;
}

enum virt_where virt_settle_decide(const char *host, const struct virt_view *src,
                                   const struct virt_view *dst, struct virt_settle_plan *p)
{
    memset(p, 0, sizeof(*p));
    if (postcopy_half(src) || postcopy_half(dst))
        return split(host, src, dst, p);
    if (!src->reached) { /* even with the guest running there: a libvirtd that comes back
                          * mid-move cancels it and resumes this copy, a second one */
        snprintf(p->note, sizeof(p->note),
                 "this host's libvirt does not answer, so kimchid cannot tell whether a copy of "
                 "the guest runs here too");
        return p->where = VIRT_WHERE_UNKNOWN;
    }
    if (!dst->reached) {
        if (running(src) || paused_other(src)) {
            snprintf(p->note, sizeof(p->note),
                     "kimchid could not reach \"%s\" afterwards to check that no copy of the "
                     "guest runs there; check it.",
                     host);
            return p->where = VIRT_WHERE_SOURCE;
        }
        snprintf(p->note, sizeof(p->note),
                 "\"%s\" does not answer, so kimchid cannot tell whether the guest runs there, "
                 "and here it is %s",
                 host, view_words(src));
        return p->where = VIRT_WHERE_UNKNOWN;
    }
    if (active(dst) && active(src) && (paused_other(src) || paused_other(dst))) {
        snprintf(p->note, sizeof(p->note),
                 "After the error there is a copy of the guest on both hosts: here %s, on \"%s\" "
                 "%s. One of them is paused for a reason the move does not explain, so kimchid "
                 "cannot tell which copy is current and stopped neither: find out which one "
                 "holds the guest's latest state, then destroy the other.",
                 view_words(src), host, view_words(dst));
        p->report = true;
        return p->where = VIRT_WHERE_UNKNOWN;
    }
    if (running(dst) && active(src)) {
        if (paused_by_move(src)) { /* paused before post-copy: the destination has all */
            p->act = VIRT_SETTLE_STOP_HERE;
            snprintf(p->note, sizeof(p->note), "this host's paused copy was stopped");
            return p->where = VIRT_WHERE_DEST;
        }
        p->act = VIRT_SETTLE_STOP_THERE;
        snprintf(p->note, sizeof(p->note),
                 "The guest was running on both hosts after the error, so kimchid stopped the "
                 "copy on \"%s\" and kept this one.",
                 host);
        return p->where = VIRT_WHERE_SOURCE;
    }
    if (running(dst) || paused_other(dst))
        return p->where = VIRT_WHERE_DEST;
    if (paused_by_move(dst)) /* an incoming copy left paused: libvirt would remove it; do it now */
        p->act = VIRT_SETTLE_STOP_THERE;
    if (paused_by_move(src))
        p->resume_here = true;
    if (src->exists && !active(src)) /* its QEMU ended (killed, crashed) during the move */
        snprintf(p->note, sizeof(p->note),
                 "The guest is on this host, %s: its QEMU ended during the move (see its log in "
                 "/var/log/libvirt/qemu/); start it again once you know why.",
                 view_words(src));
    return p->where = VIRT_WHERE_SOURCE;
}

/* Does what the plan says. */
static void act(struct virt *v, const char *host, const char *uuid, struct virt_settle_plan p,
                char *note, size_t len)
{
    if (p.act == VIRT_SETTLE_STOP_HERE)
        on_copy(v, NULL, uuid, destroy);
    else if (p.act == VIRT_SETTLE_STOP_THERE)
        on_copy(v, host, uuid, destroy_and_undefine);
    if (p.resume_here)
        snprintf(p.note, sizeof(p.note), "%s",
                 on_copy(v, NULL, uuid, resume) == 0
                     ? "The guest was left paused here; kimchid resumed it."
                     : "The guest is left paused here and could not be resumed.");
    snprintf(note, len, "%s", p.note);
}

/* Whether libvirt runs a job on the guest on a host (NULL: this one): a move or its cleanup
 * still under way, which acting now would race. Unreadable counts as running. */
static bool job_running(struct virt *v, const char *host, const char *uuid)
{
    virDomainPtr d = virt_lookup_uuid(v, host, uuid);
    if (!d)
        return false; /* not there: no job either */
    virDomainJobInfo info;
    bool running_job = virDomainGetJobInfo(d, &info) < 0 || info.type != VIR_DOMAIN_JOB_NONE;
    virDomainFree(d);
    return running_job;
}

enum confirm { CONFIRMED, CHANGED, JOB_RUNS };

/* Before destroying or resuming anything: both hosts read again, the same plan from what they
 * say now (a view of this host read before the destination's, which may retry for
 * timers.settle_s, can be stale), and no libvirt job on the guest on either. */
static enum confirm confirm_plan(struct virt *v, const char *host, const char *uuid,
                                 const struct virt_settle_plan *p)
{
    if (p->act == VIRT_SETTLE_NOTHING && !p->resume_here)
        return CONFIRMED;
    struct virt_view src, dst;
    struct virt_settle_plan again;
    look_retry(v, NULL, uuid, &src);
    look_retry(v, host, uuid, &dst);
    if (virt_settle_decide(host, &src, &dst, &again) != p->where || again.act != p->act ||
        again.resume_here != p->resume_here)
        return CHANGED;
    return job_running(v, NULL, uuid) || job_running(v, host, uuid) ? JOB_RUNS : CONFIRMED;
}

/* A plan that cannot be confirmed: UNKNOWN for another round, or, when a libvirt job on the
 * guest outlasts timers.settle_s, a report instead of an act. */
static enum virt_where unconfirmed(enum confirm c, long long job_since_ms, const char *host,
                                   struct virt_settle_plan *p)
{
    if (c == JOB_RUNS && job_since_ms >= timers.settle_s * 1000) {
        snprintf(p->note, sizeof(p->note),
                 "libvirt still runs a job on the guest (here or on \"%s\") %ld s after the "
                 "move failed, so kimchid changed nothing: check both hosts (virsh domjobinfo)",
                 host, timers.settle_s);
        p->report = true;
        p->act = VIRT_SETTLE_NOTHING;
        p->resume_here = false;
        return VIRT_WHERE_UNKNOWN;
    }
    snprintf(p->note, sizeof(p->note), "%s",
             c == JOB_RUNS ? "libvirt still runs a job on the guest"
                           : "what the hosts said changed while kimchid read them");
    return VIRT_WHERE_UNKNOWN;
}

enum virt_where virt_migration_settle(struct virt *v, const char *uuid, const char *name,
                                      const char *host, bool offline,
                                      void (*say)(void *opaque, const char *what), void *opaque,
                                      char *note, size_t len)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct virt_view src, dst;
    struct virt_settle_plan p;
    struct timespec job_since = {0};
    enum virt_where w;
    for (int round = 0;; round++) {
        note[0] = 0;
        look_retry(v, NULL, uuid, &src);
        look_retry(v, host, uuid, &dst);
        memset(&p, 0, sizeof(p));
        w = offline ? decide_offline(host, &dst, p.note, sizeof(p.note))
                    : virt_settle_decide(host, &src, &dst, &p);
        enum confirm c =
            w != VIRT_WHERE_UNKNOWN && !offline ? confirm_plan(v, host, uuid, &p) : CONFIRMED;
        if (c == JOB_RUNS && !job_since.tv_sec)
            clock_gettime(CLOCK_MONOTONIC, &job_since);
        if (c != CONFIRMED)
            w = unconfirmed(c, c == JOB_RUNS ? clock_ms_since(&job_since) : 0, host, &p);
        if (w != VIRT_WHERE_UNKNOWN || p.report)
            break;
        long long spent = clock_ms_since(&start) / 1000;
        char text[1024];
        snprintf(text, sizeof(text),
                 "settling: the move of \"%s\" failed, and %s; kimchid keeps asking both hosts "
                 "every %ld s until it knows (%lld s so far)",
                 name, p.note, timers.settle_every_s, spent);
        if (say)
            say(opaque, text);
        if (round % 12 == 0)
            log_warn("%s", text);
        sleep((unsigned int)timers.settle_every_s);
    }
    if (offline)
        snprintf(note, len, "%s", p.note);
    else
        act(v, host, uuid, p, note, len);
    log_info("after the interrupted move of \"%s\": here %s, on %s %s: the guest is %s%s%s", name,
             view_words(&src), host, view_words(&dst),
             w == VIRT_WHERE_DEST     ? "there"
             : w == VIRT_WHERE_SOURCE ? "here"
             : w == VIRT_WHERE_SPLIT  ? "split between both"
                                      : "not known",
             note[0] ? "; " : "", note);
    return w;
}
