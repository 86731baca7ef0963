/* follow.c - a migration that outlived the kimchid that started it (killed, or stopped past
 * --shutdown-timeout). libvirt runs the move without kimchid, so after a restart the task is
 * taken up again: libvirt's job is followed to its end if it still runs, then both hosts say
 * where the guest is, and the task ends on that: finished iff the guest is on the destination. */
#include <ctype.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../util/log.h"
#include "move_priv.h"

static int uuid_fn(virConnectPtr c, virDomainPtr d, void *out, struct err *e)
{
    (void)c;
    if (virDomainGetUUIDString(d, out) == 0)
        return 0;
    return virt_err_libvirt(e, ERR_BACKEND, M_VM_READ, "Cannot read the guest's UUID");
}

int virt_vm_uuid(struct virt *v, const char *name, char out[VIRT_UUID_LEN], struct err *e)
{
    return virt_with_domain(v, name, uuid_fn, out, e);
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as libvirt writes it. */
static bool uuid_valid(const char *s)
{
    for (size_t i = 0; i < VIR_UUID_STRING_BUFLEN - 1; i++)
        if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    return s[VIR_UUID_STRING_BUFLEN - 1] == 0;
}

/* Watches libvirt's job on d until it ends (two looks in a row without a job: the guest may
 * also be gone from this host, which ends it too), as during the call: progress, the stall
 * rule, and unsticking a stopped move whose incoming copy hangs. */
static void follow_job(struct virt *v, virDomainPtr d, const char *host, virt_progress_fn fn,
                       void *opaque)
{
    struct virt_watch w;
    virt_watch_start(&w, v, d, host, NULL, fn, opaque);
    for (int idle = 0; idle < 2; usleep(VIRT_POLL_MS * 1000))
        idle = virt_watch_once(&w) ? 0 : idle + 1;
}

/* The guest runs on the destination: finish what the move would have done here. */
static void completed_here(struct virt *v, virConnectPtr c, virDomainPtr d,
                           const struct virt_follow *f, char *done, size_t len)
{
    done[0] = 0;
    if (!f->delete_source) {
        if (d && virDomainIsPersistent(d) == 1)
            virt_mark_moved(v, d, f->host);
        return;
    }
    if (d && virDomainIsPersistent(d) == 1)
        virDomainUndefine(d); /* what UNDEFINE_SOURCE would have done */
    char removed[256];
    struct err e = {0};
    if (!c || !f->storage || virt_storage_copies(f->storage) == 0)
        return;
    if (virt_storage_remove_source(c, f->storage, removed, sizeof(removed), &e) < 0)
        snprintf(done, len, "; removed %s; %s", removed[0] ? removed : "nothing", e.msg);
    else
        snprintf(done, len, "; removed this host's stale disk copies %s", removed);
}

int virt_vm_follow(struct virt *v, const struct virt_follow *f, virt_progress_fn fn, void *opaque,
                   struct virt_job_info *final, struct err *e)
{
    memset(final, 0, sizeof(*final));
    final->phase = "setup";
    final->percent = -1;
    final->elapsed_ms = final->downtime_ms = final->data_processed = -1;
    if (f->note)
        f->note[0] = 0;
    if (!uuid_valid(f->uuid))
        return err_set(e, ERR_INTERNAL, M_TASK_BAD_RECORD, "its record names no valid UUID");
    virConnectPtr c = virt_conn_get(v, NULL);
    virDomainPtr d = c ? virDomainLookupByUUIDString(c, f->uuid) : NULL;
    if (d) {
        log_info("following libvirt's migration job on \"%s\" after the restart", f->name);
        follow_job(v, d, f->host, fn, opaque);
    }
    char note[512], done[1400];
    enum virt_where w = virt_migration_settle(v, f->uuid, f->name, f->host, f->offline, f->say,
                                              opaque, note, sizeof(note));
    if (f->where)
        *f->where = w;
    int rc = -1;
    if (w == VIRT_WHERE_DEST) {
        if (d)
            virt_completed_stats(v, d, f->host, final);
        completed_here(v, c, d, f, done, sizeof(done));
        if (f->note)
            snprintf(f->note, f->note_len,
                     "; kimchid restarted while the move ran and found it "
                     "completed%s%s%s",
                     note[0] ? " (" : "", note, note[0] ? ")" : "");
        if (f->note && done[0]) {
            size_t used = strlen(f->note);
            snprintf(f->note + used, f->note_len - used, "%s", done);
        }
        rc = 0;
    } else if (w == VIRT_WHERE_SOURCE) {
        char left[1024] = "";
        if (f->storage)
            virt_storage_unprepare(v, f->host, f->storage, left, sizeof(left));
        err_set(e, ERR_BACKEND, M_MIG_NOT_DONE,
                "kimchid stopped while the move ran, and the move did not complete: the guest "
                "is on this host.%s%s%s%s%s",
                note[0] ? " " : "", note,
                left[0] ? " kimchid could not remove the disk copies "
                          "it had started there: "
                        : "",
                left, left[0] ? "; remove them." : "");
    } else {
        err_set(e, ERR_BACKEND, M_MIG_UNKNOWN_WHERE, "kimchid stopped while the move ran. %s",
                note); /* split by a post-copy failure: the note says where each half is */
    }
    if (d)
        virDomainFree(d);
    if (c)
        virConnectClose(c);
    virt_inventory_poke(v);
    return rc;
}
