/* migrate.c - a move: the destination's disks prepared, the migration call (watch.c), and
 * after a failure where the guest is (settle.c) and the post-copy recovery (pcrecover.c). */
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "../util/timers.h"
#include "move_priv.h"

static unsigned int migrate_flags(int state, bool persistent, const struct virt_migrate_opts *o)
{
    unsigned int f = VIR_MIGRATE_PEER2PEER;
    if (state == VIR_DOMAIN_SHUTOFF)
        f |= VIR_MIGRATE_OFFLINE | VIR_MIGRATE_PERSIST_DEST;
    else
        f |= VIR_MIGRATE_LIVE | (persistent ? VIR_MIGRATE_PERSIST_DEST : 0) |
             (o->policy.auto_converge ? VIR_MIGRATE_AUTO_CONVERGE : 0) |
             (o->policy.postcopy ? VIR_MIGRATE_POSTCOPY : 0) |
             (o->policy.parallel > 1 ? VIR_MIGRATE_PARALLEL : 0) |
             (o->policy.compression ? VIR_MIGRATE_COMPRESSED : 0) |
             (o->policy.encrypted ? VIR_MIGRATE_TLS : 0);
    if (state != VIR_DOMAIN_SHUTOFF && o->storage && virt_storage_copies(o->storage))
        f |= VIR_MIGRATE_NON_SHARED_DISK; /* exactly the disks named in MIGRATE_DISKS */
    if (o->delete_source && persistent)
        f |= VIR_MIGRATE_UNDEFINE_SOURCE;
    return f;
}

static int storage_fn(virConnectPtr c, virDomainPtr d, void *s, struct err *e)
{
    return virt_storage_plan(c, d, s, e);
}

int virt_vm_storage(struct virt *v, const char *name, struct virt_storage *s, struct err *e)
{
    memset(s, 0, sizeof(*s));
    return virt_with_domain(v, name, storage_fn, s, e);
}

/* Progress of an offline copy through the storage API, in the job's shape. */
struct stream_progress {
    struct virt_job_info info;
    struct timespec start;
    virt_progress_fn fn;
    void *opaque;
    struct timespec last;
};

static void on_copied(void *opaque, unsigned long long bytes)
{
    struct stream_progress *sp = opaque;
    struct virt_job_info *i = &sp->info;
    i->disk_processed += (long long)bytes;
    i->data_processed = i->disk_processed;
    i->data_remaining = i->data_total > i->data_processed ? i->data_total - i->data_processed : 0;
    i->elapsed_ms = clock_ms_since(&sp->start);
    i->memory_bps = i->elapsed_ms > 0 ? i->disk_processed * 1000 / i->elapsed_ms : -1;
    i->remaining_ms = -1;
    virt_job_estimate(i);
    i->percent = i->data_total > 0 ? 100.0 * (double)i->data_processed / (double)i->data_total : -1;
    if (clock_ms_since(&sp->last) >= VIRT_POLL_MS) {
        clock_gettime(CLOCK_MONOTONIC, &sp->last);
        sp->fn(sp->opaque, i);
    }
}

static int copy_offline(virConnectPtr c, virConnectPtr remote, const struct virt_migrate_opts *o,
                        virt_progress_fn fn, void *opaque, struct err *e)
{
    struct stream_progress sp = {.fn = fn, .opaque = opaque};
    virt_job_unknown(&sp.info);
    sp.info.phase = "disks";
    sp.info.disk_total = sp.info.disk_processed = 0;
    for (size_t i = 0; i < o->storage->n; i++)
        if (virt_disk_copied(&o->storage->disks[i]))
            sp.info.disk_total += (long long)o->storage->disks[i].physical;
    sp.info.data_total = sp.info.disk_total;
    clock_gettime(CLOCK_MONOTONIC, &sp.start);
    sp.last = sp.start;
    fn(opaque, &sp.info); /* the disk phase starts now */
    int rcode = virt_storage_stream_copy(c, remote, o->host, o->storage, on_copied, &sp, e);
    if (rcode == 0)
        fn(opaque, &sp.info); /* and its final figures */
    return rcode;
}

/* Creates the copied disks' volumes on the destination and, for a shut-off guest, fills
 * them; then migrates. On failure every created volume is removed again. */
static int move(struct virt *v, virConnectPtr c, virDomainPtr d, int state, unsigned int flags,
                const struct virt_migrate_opts *o, struct poller *p, struct err *e)
{
    const char *name = virDomainGetName(d);
    if (!o->storage || virt_storage_copies(o->storage) == 0)
        return virt_migration_run(v, d, name, o, flags, p, e);
    virConnectPtr remote = virt_remote_get(v, o->host, e);
    if (!remote)
        return -1;
    int result = virt_storage_prepare(remote, o->host, o->storage, e);
    if (result == 0 && state == VIR_DOMAIN_SHUTOFF) {
        if (o->calling)
            o->calling(p->w.opaque);
        result = copy_offline(c, remote, o, p->w.fn, p->w.opaque, e);
    }
    virConnectClose(remote);
    if (result == 0)
        result = virt_migration_run(v, d, name, o, flags, p, e);
    if (result < 0) {
        char left[1024];
        virt_storage_unprepare(v, o->host, o->storage, left, sizeof(left));
        if (left[0]) {
            size_t used = strlen(e->msg);
            snprintf(e->msg + used, sizeof(e->msg) - used,
                     " kimchid could not remove the copies it had started on \"%s\": %s; "
                     "remove them there.",
                     o->host, left);
        }
    }
    return result;
}

/* After a move with copied disks and delete_source: once the destination confirms it has
 * the guest (running, or defined for a shut-off one), remove this host's stale copies. What
 * happened goes into o->removed as the end of a sentence; the move itself has succeeded. */
static void remove_stale_copies(struct virt *v, virConnectPtr c, virDomainPtr d, int state,
                                const struct virt_migrate_opts *o)
{
    unsigned char uuid[VIR_UUID_BUFLEN];
    virConnectPtr remote =
        virDomainGetUUID(d, uuid) == 0 ? virt_remote_get(v, o->host, NULL) : NULL;
    virDomainPtr rd = remote ? virDomainLookupByUUID(remote, uuid) : NULL;
    int rstate = -1, reason;
    if (rd && virDomainGetState(rd, &rstate, &reason, 0) < 0)
        rstate = -1;
    bool there = rd && (state == VIR_DOMAIN_SHUTOFF || rstate == VIR_DOMAIN_RUNNING ||
                        rstate == VIR_DOMAIN_PAUSED);
    if (rd)
        virDomainFree(rd);
    if (remote)
        virConnectClose(remote);
    char removed[1024];
    struct err e = {0};
    if (!there)
        snprintf(o->removed, o->removed_len,
                 "; \"%s\" did not confirm that the guest runs there, so this host's disk "
                 "copies were kept",
                 o->host);
    else if (virt_storage_remove_source(c, o->storage, removed, sizeof(removed), &e) < 0)
        snprintf(o->removed, o->removed_len, "; removed %s; %s", removed[0] ? removed : "nothing",
                 e.msg);
    else
        snprintf(o->removed, o->removed_len, "; removed this host's stale disk copies %s", removed);
}

static int abort_fn(virConnectPtr c, virDomainPtr d, void *arg, struct err *e)
{
    (void)c;
    (void)arg;
    if (virDomainAbortJob(d) == 0)
        return 0;
    return virt_err_libvirt(e, ERR_CONFLICT, M_MIG_PAST_RETURN,
                            "the move is past the point where it can be stopped");
}

int virt_vm_abort_job(struct virt *v, const char *name, struct err *e)
{
    return virt_with_domain(v, name, abort_fn, NULL, e);
}

/* d looked up again over the current local connection (new reference, or NULL): d's own may
 * have closed with a libvirtd that was restarted during the move. */
static virDomainPtr relookup(struct virt *v, virDomainPtr d)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    return virDomainGetUUIDString(d, uuid) == 0 ? virt_lookup_uuid(v, NULL, uuid) : NULL;
}

void virt_mark_moved(struct virt *v, virDomainPtr d, const char *host)
{
    struct err e = {0};
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainPtr fd = relookup(v, d);
    if (!fd)
        log_warn("could not mark the old definition of \"%s\" as moved to %s: it cannot be "
                 "looked up here",
                 virDomainGetName(d), host);
    else if (virDomainIsPersistent(fd) == 1 && virt_moved_set(fd, host, &e) < 0)
        log_warn("%s", e.msg);
    if (fd)
        virDomainFree(fd);
    if (virDomainGetUUIDString(d, uuid) == 0)
        virt_inventory_mark_stale(v, uuid);
}

/* The call failed: find out where the guest runs. 0 when the move completed after all (the
 * error goes into o->note), -1 with e (plus what kimchid found or did) when it did not. */
static int settle(struct virt *v, virDomainPtr d, const struct virt_migrate_opts *o,
                  unsigned int flags, const struct poller *p, struct virt_incoming *incoming,
                  struct err *e)
{
    char note[1024], uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(d, uuid) < 0)
        return -1;
    log_info("the move of \"%s\" failed (%s); asking both hosts where the guest is",
             virDomainGetName(d), e->msg);
    enum virt_where w = virt_migration_settle(v, uuid, virDomainGetName(d), o->host, false, o->say,
                                              p->w.opaque, note, sizeof(note));
    if (w == VIRT_WHERE_DEST && !note[0] && p->w.phase && strcmp(p->w.phase, "postcopy") == 0)
        snprintf(note, sizeof(note), /* it completed on QEMU's own connection before settling */
                 "post-copy was interrupted for %lld s, and the move completed once the network "
                 "was back (QEMU's own connection resumed)",
                 (clock_now_ms() - p->w.stall.last_change) / 1000);
    if (w == VIRT_WHERE_SPLIT)
        w = virt_postcopy_recover(v, uuid, virDomainGetName(d), o, flags, p->w.stall.last_change,
                                  incoming, p->w.fn, p->w.opaque, note, sizeof(note));
    if (o->where)
        *o->where = w;
    if (w == VIRT_WHERE_DEST) {
        if (o->note)
            snprintf(o->note, o->note_len,
                     "; libvirt reported an error (%s), but the guest runs on \"%s\"%s%s",
                     err_text(e), o->host, note[0] ? ": " : "", note);
        virDomainPtr fd = o->delete_source ? relookup(v, d) : NULL;
        if (fd && virDomainIsPersistent(fd) == 1)
            virDomainUndefine(fd); /* what UNDEFINE_SOURCE would have done */
        if (fd)
            virDomainFree(fd);
        err_clear(e);
        return 0;
    }
    if (!note[0] && w == VIRT_WHERE_SOURCE)
        snprintf(note, sizeof(note), "The guest runs on this host.");
    if (note[0]) {
        size_t used = strlen(e->msg);
        snprintf(e->msg + used, sizeof(e->msg) - used, " %s", note);
    }
    return -1;
}

int virt_vm_migrate(struct virt *v, const char *name, const struct virt_migrate_opts *o,
                    virt_progress_fn progress, void *opaque, struct virt_job_info *final,
                    struct err *e)
{
    virt_job_unknown(final);
    if (o->removed)
        o->removed[0] = 0;
    if (o->note)
        o->note[0] = 0;
    if (o->where)
        *o->where = VIRT_WHERE_SOURCE; /* until libvirt's call or settling says otherwise */
    virConnectPtr c = virt_conn_get(v, e);
    if (!c)
        return -1;
    int state, reason, rc = -1;
    long long t[4] = {0}; /* the end's parts, for the debug log */
    virDomainPtr d = virt_domain_lookup(c, name, e);
    if (!d)
        goto cleanup;
    int persistent = virDomainIsPersistent(d);
    if (virDomainGetState(d, &state, &reason, 0) < 0 || persistent < 0) {
        virt_err_libvirt(e, ERR_BACKEND, M_MIG_FAILED, "Cannot read the guest's state");
        goto cleanup;
    }
    struct poller p = {.w = {.fn = progress, .opaque = opaque}};
    unsigned int flags = migrate_flags(state, persistent == 1, o);
    /* a post-copy move may break in its switch-over: whether the destination ever ran the
     * guest is then learnt from libvirt's events there, watched from before the move */
    char uuid[VIR_UUID_STRING_BUFLEN];
    struct virt_incoming incoming;
    bool have_uuid = virDomainGetUUIDString(d, uuid) == 0;
    bool watch = (flags & VIR_MIGRATE_POSTCOPY) && have_uuid;
    if (watch)
        virt_incoming_watch(v, o->host, uuid, &incoming);
    /* libvirt's call (or a shut-off guest's disk streams) lasts the whole move: on a
     * connection of its own (virt_domain_own_conn) */
    virDomainPtr od = have_uuid ? virt_domain_own_conn(v, uuid) : NULL;
    rc = move(v, od ? virDomainGetConnect(od) : c, od ? od : d, state, flags, o, &p, e);
    if (rc < 0 && p.called && state != VIR_DOMAIN_SHUTOFF)
        rc = settle(v, d, o, flags, &p, watch ? &incoming : NULL, e);
    if (od)
        virDomainFree(od);
    if (watch)
        virt_incoming_unwatch(&incoming);
    if (rc == 0 && o->where)
        *o->where = VIRT_WHERE_DEST;
    t[0] = clock_now_ms();
    if (rc == 0)
        virt_completed_stats(v, d, o->host, final);
    t[1] = clock_now_ms();
    if (rc == 0 && persistent == 1 && !(flags & VIR_MIGRATE_UNDEFINE_SOURCE))
        virt_mark_moved(v, d, o->host);
    if (rc == 0 && o->delete_source && o->storage && virt_storage_copies(o->storage) && o->removed)
        remove_stale_copies(v, c, d, state, o);
    t[2] = clock_now_ms();
cleanup:
    if (d)
        virDomainFree(d);
    virConnectClose(c);
    /* the guest list sees the move now, while the job still claims the guest: stream clients
     * learn it went away "while migrating", not after */
    virt_inventory_refresh_guest(v, name, NULL);
    if (t[0]) {
        t[3] = clock_now_ms();
        log_debug("the end of the move of \"%s\": figures %lld ms, the old definition and disk "
                  "copies %lld ms, the guest list %lld ms",
                  name, t[1] - t[0], t[2] - t[1], t[3] - t[2]);
    }
    return rc;
}

struct recover_args {
    struct virt *v;
    const struct virt_migrate_opts *o;
    virt_progress_fn fn;
    void *opaque;
    char *note;
    size_t len;
    enum virt_where where;
};

static int recover_fn(virConnectPtr c, virDomainPtr d, void *arg, struct err *e)
{
    (void)c;
    struct recover_args *ra = arg;
    char uuid[VIR_UUID_STRING_BUFLEN];
    int persistent = virDomainIsPersistent(d);
    if (virDomainGetUUIDString(d, uuid) < 0 || persistent < 0)
        return virt_err_libvirt(e, ERR_BACKEND, M_MIG_FAILED, "Cannot read the guest");
    unsigned int flags = migrate_flags(VIR_DOMAIN_PAUSED, persistent == 1, ra->o);
    ra->where = virt_postcopy_recover(ra->v, uuid, virDomainGetName(d), ra->o, flags, -1, NULL,
                                      ra->fn, ra->opaque, ra->note, ra->len);
    if (ra->where != VIRT_WHERE_DEST)
        return 0;
    if (persistent == 1 && ra->o->delete_source) {
        virDomainPtr fd = relookup(ra->v, d);
        if (fd && virDomainIsPersistent(fd) == 1)
            virDomainUndefine(fd);
        if (fd)
            virDomainFree(fd);
    } else if (persistent == 1) {
        virt_mark_moved(ra->v, d, ra->o->host);
    }
    return 0;
}

enum virt_where virt_vm_postcopy_recover(struct virt *v, const char *name,
                                         const struct virt_migrate_opts *o, virt_progress_fn fn,
                                         void *opaque, char *note, size_t len, struct err *e)
{
    struct recover_args ra = {v, o, fn, opaque, note, len, VIRT_WHERE_SPLIT};
    note[0] = 0;
    if (virt_with_domain(v, name, recover_fn, &ra, e) < 0)
        return VIRT_WHERE_UNKNOWN;
    virt_inventory_refresh_guest(v, name, NULL);
    return ra.where;
}
