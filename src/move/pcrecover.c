/* pcrecover.c - a post-copy move that broke, joined again from what both QEMUs say. After
 * the switch-over the guest's memory is split: the destination runs on the pages it has and
 * fetches the rest from the source, whose QEMU holds them. libvirt's word on such a move
 * ("post-copy failed") is not enough to act on: QEMU's own stream may still be alive and
 * complete by itself, and libvirt refuses a recovery until both QEMUs report the break. So
 * each round reads query-migrate on both hosts, asks pc_decide (pcdecide.c) and does that one
 * thing: wait, pause a side whose pages stopped (so both reach postcopy-paused), one
 * VIR_MIGRATE_POSTCOPY_RESUME, or report. Every call to a host has a bound (bounded.c): a
 * QEMU that does not answer costs a round, never the task. Neither half is ever stopped. */
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "../util/timers.h"
#include "bounded.h"
#include "move_priv.h"
#include "pcdecide.h"

/* How long one read of a QEMU's migration status, or one pause, may take. */
#define CALL_MS 10000
/* A pause QEMU refused is sent again after this long, not every round. */
#define PAUSE_AGAIN_MS 10000
/* A recovery call whose move reported nothing for this long is taken as hung. */
#define RESUME_SILENT_MS 30000

/* ---- one QMP command on one host's QEMU, on a thread of its own ---- */

struct qmp_call {
    struct virt *v;
    char host[256]; /* empty: this host */
    char uuid[VIR_UUID_STRING_BUFLEN];
    const char *cmd;     /* static */
    bool abort_postcopy; /* instead of cmd: libvirt's abort-job for post-copy (this host) */
    char *reply;
    bool gone; /* no such guest there */
    char error[300];
};

static void qmp_free(void *p)
{
    struct qmp_call *q = p;
    free(q->reply);
    free(q);
}

static void last_error(char *out, size_t len)
{
    const char *m = virGetLastErrorMessage();
    snprintf(out, len, "%s", m && *m ? m : "unknown libvirt error");
}

static int qmp_fn(void *p)
{
    struct qmp_call *q = p;
    virConnectPtr c = q->host[0] ? virt_remote_get(q->v, q->host, NULL) : virt_conn_get(q->v, NULL);
    if (!c) {
        snprintf(q->error, sizeof(q->error), "its libvirt cannot be reached");
        return -1;
    }
    virDomainPtr d = virDomainLookupByUUIDString(c, q->uuid);
    int rc = -1;
    if (!d) {
        virErrorPtr le = virGetLastError();
        q->gone = le && le->code == VIR_ERR_NO_DOMAIN;
        last_error(q->error, sizeof(q->error));
    } else if (virDomainIsActive(d) == 0) { /* its QEMU ended: the move completed, or lost */
        q->gone = true;
        snprintf(q->error, sizeof(q->error), "its QEMU is not running");
    } else if (q->abort_postcopy) {
        rc = virDomainAbortJobFlags(d, VIR_DOMAIN_ABORT_JOB_POSTCOPY);
    } else {
        rc = virDomainQemuMonitorCommand(d, q->cmd, &q->reply, 0);
    }
    if (d && rc < 0 && !q->gone)
        last_error(q->error, sizeof(q->error));
    if (d)
        virDomainFree(d);
    virConnectClose(c);
    return rc;
}

/* ---- the recovery's state ---- */

struct side {
    const char *host;         /* NULL: this host */
    struct bounded *pending;  /* a call that has not returned yet */
    struct pc_side now;       /* as last read */
    char words[512];          /* what the last read found, for the task and the log */
    bool pause_tried;         /* a pause was sent (at pause_at): QEMU refuses it while its */
    struct timespec pause_at; /* socket is already gone, so it is not resent every round */
};

struct pcr {
    struct virt *v;
    const char *uuid, *name;
    const struct virt_migrate_opts *o;
    unsigned int flags;
    virt_progress_fn fn;
    void *opaque;
    bool tcg; /* the guest runs without KVM: its QEMU's monitor waits on vCPUs */
    struct virt_incoming *incoming; /* libvirt's events for the destination's copy, or NULL */
    struct side src, dst;
    long long transferred; /* the source's ram.transferred at the last read */
    struct timespec start, moved_at;
    long long broke_at;     /* when pages last moved before the break (CLOCK_MONOTONIC ms) */
    struct bounded *resume; /* the recovery call, while it runs */
    int attempts;
    char last_error[sizeof(
        ((struct err *)0)->msg)]; /* libvirt's words for the last failed attempt */
};

static const char *status_words(enum pc_status s)
{
    static const char *const w[] = {
        [PC_UNKNOWN] = "does not answer", [PC_GONE] = "has no such guest",
        [PC_NONE] = "not migrating",      [PC_ACTIVE] = "postcopy-active",
        [PC_PAUSED] = "postcopy-paused",  [PC_RECOVERING] = "postcopy-recover",
        [PC_COMPLETED] = "completed",     [PC_FAILED] = "failed"};
    return w[s];
}

static void side_unknown(struct pcr *r, struct side *s, const char *why)
{
    s->now = (struct pc_side){PC_UNKNOWN, false};
    snprintf(s->words, sizeof(s->words), "QEMU does not answer: %s%s", why,
             r->tcg ? "; under TCG (no KVM) a vCPU waiting there for a page still on the other "
                      "host holds QEMU's lock"
                    : "");
}

/* Sends one command to a side's QEMU within CALL_MS. The finished call (caller releases) or
 * NULL, with the side marked unknown and why. */
static struct bounded *side_call(struct pcr *r, struct side *s, const char *cmd, bool abort_pc)
{
    if (s->pending) { /* the last call there has not returned: no second one behind it */
        int rc;
        if (!bounded_wait(s->pending, 0, &rc)) {
            char why[120];
            snprintf(why, sizeof(why), "a call sent %lld s ago has not returned",
                     bounded_age_ms(s->pending) / 1000);
            side_unknown(r, s, why);
            return NULL;
        }
        bounded_release(s->pending);
        s->pending = NULL;
    }
    struct qmp_call *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->v = r->v;
    snprintf(q->host, sizeof(q->host), "%s", s->host ? s->host : "");
    snprintf(q->uuid, sizeof(q->uuid), "%s", r->uuid);
    q->cmd = cmd;
    q->abort_postcopy = abort_pc;
    struct bounded *b = bounded_start(qmp_fn, q, qmp_free);
    int rc;
    if (b && bounded_wait(b, CALL_MS, &rc))
        return b;
    s->pending = b;
    char why[64];
    snprintf(why, sizeof(why), "it did not answer within %d s", CALL_MS / 1000);
    side_unknown(r, s, why);
    return NULL;
}

/* Reads a side's migration status (query-migrate). Pages count as moving while the source's
 * ram.transferred grew within timers.pc_pause_s (the destination reports no counter). */
static void side_read(struct pcr *r, struct side *s)
{
    struct bounded *b = side_call(r, s, "{\"execute\":\"query-migrate\"}", false);
    if (!b)
        return;
    struct qmp_call *q = bounded_arg(b);
    if (q->gone) {
        s->now = (struct pc_side){PC_GONE, false};
        snprintf(s->words, sizeof(s->words), "no QEMU of the guest there (%s)", q->error);
    } else if (!q->reply) {
        side_unknown(r, s, q->error);
    } else {
        long long t = r->transferred;
        s->now = pc_side_from_qmp(q->reply, &t);
        if (s == &r->src && t > r->transferred) {
            r->transferred = t;
            clock_gettime(CLOCK_MONOTONIC, &r->moved_at);
        }
        snprintf(s->words, sizeof(s->words), "QEMU: %s", status_words(s->now.status));
    }
    bounded_release(b);
}

static void read_both(struct pcr *r)
{
    side_read(r, &r->src);
    side_read(r, &r->dst);
    bool moving = clock_ms_since(&r->moved_at) < timers.pc_pause_s * 1000;
    r->src.now.moving = r->dst.now.moving = moving;
}

/* ---- the recovery call: libvirt's VIR_MIGRATE_POSTCOPY_RESUME, on a thread ---- */

struct resume_call {
    struct virt *v;
    char uuid[VIR_UUID_STRING_BUFLEN], name[256], host[256], addr[64];
    struct virt_policy policy;
    unsigned int flags;
    pthread_mutex_t lock; /* guards what the watch reports */
    struct virt_job_info info;
    unsigned int reports;
    struct timespec last_report;
    char error[sizeof(((struct err *)0)->msg)];
};

static void resume_free(void *p)
{
    struct resume_call *c = p;
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* The watch's progress, kept here: the task may be gone when an abandoned call reports. */
static void resume_progress(void *opaque, const struct virt_job_info *info)
{
    struct resume_call *c = opaque;
    pthread_mutex_lock(&c->lock);
    c->info = *info;
    c->reports++;
    clock_gettime(CLOCK_MONOTONIC, &c->last_report);
    pthread_mutex_unlock(&c->lock);
}

static int resume_fn(void *p)
{
    struct resume_call *c = p;
    struct err e = {0};
    /* on a connection of its own, as a move's call (migrate.c): a call left hanging here
     * holds none of the shared connection's few concurrent calls */
    virDomainPtr d = virt_domain_own_conn(c->v, c->uuid);
    if (!d)
        d = virt_lookup_uuid(c->v, NULL, c->uuid);
    if (!d) {
        snprintf(c->error, sizeof(c->error), "the guest is no longer defined on this host");
        return -1;
    }
    struct virt_migrate_opts o = {.host = c->host, .addr = c->addr, .policy = c->policy};
    int rc = virt_migrate_call(c->v, d, &o, c->flags, resume_progress, c, &e);
    virDomainFree(d);
    if (rc < 0)
        snprintf(c->error, sizeof(c->error), "%s", e.msg);
    return rc;
}

static void resume_start(struct pcr *r)
{
    struct resume_call *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->v = r->v;
    snprintf(c->uuid, sizeof(c->uuid), "%s", r->uuid);
    snprintf(c->name, sizeof(c->name), "%s", r->name);
    snprintf(c->host, sizeof(c->host), "%s", r->o->host);
    snprintf(c->addr, sizeof(c->addr), "%s", r->o->addr);
    c->policy = r->o->policy;
    /* the disks were copied before the switch-over: the recovery moves memory only */
    c->flags = (r->flags & ~VIR_MIGRATE_NON_SHARED_DISK) | VIR_MIGRATE_POSTCOPY_RESUME;
    pthread_mutex_init(&c->lock, NULL);
    clock_gettime(CLOCK_MONOTONIC, &c->last_report);
    r->attempts++;
    log_info("post-copy recovery of \"%s\", attempt %d: here %s, on %s %s: resuming", r->name,
             r->attempts, r->src.words, r->o->host, r->dst.words);
    r->resume = bounded_start(resume_fn, c, resume_free);
}

/* Waits on a running recovery call for up to one interval, passing its progress on. 1: it
 * completed the move; 0: it failed or was given up (read both again); 2: still running. */
static int resume_wait(struct pcr *r)
{
    int rc;
    unsigned int seen = 0;
    struct resume_call *c = bounded_arg(r->resume);
    for (long waited = 0; waited < timers.recover_every_s * 1000; waited += 1000) {
        bool done = bounded_wait(r->resume, 1000, &rc);
        pthread_mutex_lock(&c->lock);
        struct virt_job_info info = c->info;
        unsigned int reports = c->reports;
        long long silent = clock_ms_since(&c->last_report);
        pthread_mutex_unlock(&c->lock);
        if (reports != seen && !done) {
            seen = reports;
            r->fn(r->opaque, &info);
            clock_gettime(CLOCK_MONOTONIC, &r->moved_at);
        }
        if (done) {
            if (rc < 0) {
                snprintf(r->last_error, sizeof(r->last_error), "%s", c->error);
                log_info("post-copy recovery of \"%s\", attempt %d: %s", r->name, r->attempts,
                         c->error);
            }
            bounded_release(r->resume);
            r->resume = NULL;
            return rc == 0 ? 1 : 0;
        }
        if (silent >= RESUME_SILENT_MS) {
            snprintf(r->last_error, sizeof(r->last_error),
                     "libvirt's recovery call reported nothing for %d s and was given up (it "
                     "waits on the destination's libvirt, which waits on its QEMU)",
                     RESUME_SILENT_MS / 1000);
            log_warn("post-copy recovery of \"%s\", attempt %d: %s", r->name, r->attempts,
                     r->last_error);
            bounded_release(r->resume); /* the call finishes on its own, if ever */
            r->resume = NULL;
            return 0;
        }
    }
    return 2;
}

/* ---- acting on a decision ---- */

static void pause_side(struct pcr *r, struct side *s)
{
    if (s->pause_tried && clock_ms_since(&s->pause_at) < PAUSE_AGAIN_MS)
        return;
    s->pause_tried = true;
    clock_gettime(CLOCK_MONOTONIC, &s->pause_at);
    bool here = s == &r->src;
    struct bounded *b = side_call(r, s, "{\"execute\":\"migrate-pause\"}", here);
    int rc = -1;
    if (b)
        bounded_wait(b, 0, &rc);
    struct qmp_call *q = b ? bounded_arg(b) : NULL;
    log_info("post-copy recovery of \"%s\": pausing its half on %s: %s", r->name,
             here ? "this host" : r->o->host,
             rc == 0 ? "done"
             : q     ? q->error
                     : s->words);
    bounded_release(b);
}

/* The move completed by itself (QEMU's own stream came back): libvirt ends the source's
 * QEMU when it completes a move; when it did not (its job was busy), kimchid does. */
static void end_stale_source(struct pcr *r)
{
    for (int i = 0; i < 10; i++) { /* libvirt's own completion, when no thread holds the job */
        virDomainPtr d = virt_lookup_uuid(r->v, NULL, r->uuid);
        int state = -1, reason;
        bool active =
            d && virDomainGetState(d, &state, &reason, 0) == 0 && state != VIR_DOMAIN_SHUTOFF;
        if (active && i == 9 && virDomainDestroy(d) == 0)
            log_info("post-copy of \"%s\" completed: its stale half here was ended", r->name);
        if (d)
            virDomainFree(d);
        if (!active)
            return;
        sleep(1);
    }
}

static bool resume_source(struct pcr *r)
{
    virDomainPtr d = virt_lookup_uuid(r->v, NULL, r->uuid);
    bool ok = d && virDomainResume(d) == 0;
    if (!ok)
        last_error(r->last_error, sizeof(r->last_error));
    if (d)
        virDomainFree(d);
    return ok;
}

static void say(struct pcr *r, const char *action)
{
    char text[1200];
    snprintf(text, sizeof(text),
             "post-copy was interrupted %lld s ago: the guest's memory is split between this "
             "host (%s) and \"%s\" (%s); kimchid %s (budget %ld s)",
             (clock_now_ms() - r->broke_at) / 1000, r->src.words, r->o->host, r->dst.words, action,
             timers.recover_s);
    if (r->o->say)
        r->o->say(r->opaque, text);
}

static const char *action_words(enum pc_action a)
{
    switch (a) {
    case PC_WAIT:
        return "waits: pages are still moving, or a side does not answer yet";
    case PC_PAUSE:
        return "pauses the side whose pages stopped, so that both can resume over a new "
               "connection";
    case PC_RESUME:
        return "runs libvirt's post-copy recovery";
    case PC_UNSTICK:
        return "pauses the side stuck in its recovery handshake, to start it again";
    default:
        return "decides";
    }
}

/* What libvirt's events say of the destination's copy, for a half that is gone. */
static const char *ran_words(enum pc_ran ran)
{
    if (ran == PC_RAN_YES)
        return "The destination had run the guest (libvirt there reported its copy resumed), "
               "so this host's half is not the whole guest";
    if (ran == PC_RAN_NO)
        return "The destination never ran the guest, but this host's half is gone too";
    return "Nothing tells whether the destination ever ran the guest (kimchid saw no end of its "
           "incoming copy: the connection to it was lost first), so this host's half cannot be "
           "taken for the whole guest";
}

/* The guest's domain type is "qemu" (TCG), not "kvm". */
static bool runs_tcg(struct virt *v, const char *uuid)
{
    virDomainPtr d = virt_lookup_uuid(v, NULL, uuid);
    char *xml = d ? virDomainGetXMLDesc(d, 0) : NULL;
    bool tcg = xml && strstr(xml, "<domain type='qemu'");
    free(xml);
    if (d)
        virDomainFree(d);
    return tcg;
}

static enum virt_where finish(struct pcr *r, enum virt_where w, char *note, size_t len,
                              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum virt_where finish(struct pcr *r, enum virt_where w, char *note, size_t len,
                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note, len, fmt, ap);
    va_end(ap);
    bounded_release(r->src.pending);
    bounded_release(r->dst.pending);
    bounded_release(r->resume);
    log_info("post-copy recovery of \"%s\" ended: %s", r->name, note);
    return w;
}

/* One decision and its act. The final where, or -1 to go on. */
static int round_once(struct pcr *r, char *note, size_t len)
{
    long long spent = clock_ms_since(&r->start) / 1000;
    if (r->resume) {
        int got = resume_wait(r);
        if (got == 1)
            return finish(r, VIRT_WHERE_DEST, note, len,
                          "post-copy was interrupted for %lld s; kimchid resumed it with "
                          "libvirt's post-copy recovery (attempt %d)",
                          (clock_now_ms() - r->broke_at) / 1000, r->attempts);
        if (got == 2) {
            say(r, "is running libvirt's post-copy recovery");
            return -1;
        }
    }
    read_both(r);
    enum pc_ran ran = r->incoming ? virt_incoming_ran(r->incoming) : PC_RAN_UNKNOWN;
    enum pc_action a = pc_decide(r->src.now, r->dst.now, ran);
    log_info("post-copy recovery of \"%s\" (%lld s): here %s; on %s %s; pages last moved %lld s "
             "ago: %s",
             r->name, spent, r->src.words, r->o->host, r->dst.words,
             clock_ms_since(&r->moved_at) / 1000, pc_action_name(a));
    switch (a) {
    case PC_DONE:
        end_stale_source(r);
        return finish(r, VIRT_WHERE_DEST, note, len,
                      "post-copy was interrupted for %lld s, and the move completed once the "
                      "network was back (QEMU's own connection resumed)",
                      (clock_now_ms() - r->broke_at) / 1000);
    case PC_RUN_SOURCE:
        if (resume_source(r))
            return finish(r, VIRT_WHERE_SOURCE, note, len,
                          "The destination's half is gone and had never run the guest (libvirt "
                          "on \"%s\" reported its incoming copy stopped without ever resuming "
                          "it), so this host's half held the whole guest: kimchid resumed it "
                          "here.",
                          r->o->host);
        return finish(r, VIRT_WHERE_SPLIT, note, len,
                      "The destination's half is gone and had never run the guest (libvirt on "
                      "\"%s\" reported its incoming copy stopped without ever resuming it), so "
                      "this host's paused half holds the whole guest, but libvirt refused to "
                      "resume it (%s). kimchid stopped nothing: do not destroy this host's "
                      "half.",
                      r->o->host, r->last_error);
    case PC_LOST:
        return finish(r, VIRT_WHERE_SPLIT, note, len,
                      "The move failed during post-copy and cannot be joined again: here %s, "
                      "on \"%s\" %s. %s, so kimchid stopped neither half; check both hosts' "
                      "QEMU logs before you stop either.",
                      r->src.words, r->o->host, r->dst.words, ran_words(ran));
    case PC_PAUSE:
        if (r->src.now.status == PC_ACTIVE)
            pause_side(r, &r->src);
        if (r->dst.now.status == PC_ACTIVE)
            pause_side(r, &r->dst);
        break;
    case PC_UNSTICK:
        pause_side(r, r->src.now.status == PC_RECOVERING ? &r->src : &r->dst);
        break;
    case PC_RESUME:
        resume_start(r);
        break;
    case PC_WAIT:
        break;
    }
    say(r, action_words(a));
    return -1;
}

enum virt_where virt_postcopy_recover(struct virt *v, const char *uuid, const char *name,
                                      const struct virt_migrate_opts *o, unsigned int flags,
                                      long long broke_at, struct virt_incoming *incoming,
                                      virt_progress_fn fn, void *opaque, char *note, size_t len)
{
    struct pcr r = {.v = v,
                    .uuid = uuid,
                    .name = name,
                    .o = o,
                    .flags = flags,
                    .fn = fn,
                    .opaque = opaque,
                    .src = {.host = NULL},
                    .dst = {.host = o->host},
                    .transferred = -1};
    clock_gettime(CLOCK_MONOTONIC, &r.start);
    r.moved_at = r.start;
    r.broke_at = broke_at >= 0 ? broke_at : clock_now_ms();
    r.tcg = runs_tcg(v, uuid);
    r.incoming = incoming;
    snprintf(r.src.words, sizeof(r.src.words), "not read yet");
    snprintf(r.dst.words, sizeof(r.dst.words), "not read yet");
    while (clock_ms_since(&r.start) < timers.recover_s * 1000) {
        int w = round_once(&r, note, len);
        if (w >= 0)
            return (enum virt_where)w;
        if (!r.resume)
            sleep((unsigned int)timers.recover_every_s);
    }
    char last[500] = "";
    if (r.last_error[0])
        snprintf(last, sizeof(last), " The last recovery attempt: %.400s.", r.last_error);
    return finish(&r, VIRT_WHERE_SPLIT, note, len,
                  "After %lld s of recovery the halves are still apart: this host (%s), \"%s\" "
                  "(%s). kimchid stopped neither half.%s When both answer, finish the move: "
                  "virsh migrate --live --p2p --postcopy --postcopy-resume %s "
                  "qemu+ssh://root@%s/system",
                  clock_ms_since(&r.start) / 1000, r.src.words, o->host, r.dst.words, last, name,
                  o->host);
}
