/* migrate_job.c - the migration task: each step sets the message; on failure the message
 * names the step and the cause; the password is used once and wiped. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../move/move.h"
#include "../pki/pki.h"
#include "../sshc/sshc.h"
#include "../util/cidr.h"
#include "../util/clock.h"
#include "../util/log.h"
#include "../util/maint.h"
#include "../util/net.h"
#include "../util/qemuconf.h"
#include "../util/secret.h"
#include "../util/timers.h"
#include "jobs.h"
#include "jobs_priv.h"

struct migrate_arg {
    struct virt *virt;
    char *name;
    char *host;
    char *user;
    char *password;
    char host_key[64]; /* "SHA256:..." the destination's ssh host key must be ("": any) */
    bool delete_source;
    struct virt_policy policy;
    bool claimed;        /* holds the guest's busy claim */
    const char *step;    /* the step running now, for the failure message */
    char addr[64];       /* the destination's address as resolved (ssh, libvirt, TLS) */
    char given_addr[64]; /* migration_address, as the request gave it ("": none) */
    char mig_addr[64];   /* where memory and disks go ("": addr) */
    struct task_ctx *ctx;
    bool abort_tried; /* a cancel request reached libvirt's job */
    bool cancelled;
    char cancelled_by[64];
    long long disk_total;        /* the copied disks' size from the running job, which
                                  * libvirt's completed-job stats leave out */
    struct virt_storage storage; /* the guest's disks and what the move does with each */
    char removed[1024];          /* delete_source: the source copies removed */
    char note[768];              /* the move completed despite an error from libvirt */
    char warning[768];           /* "; warning: ..." for each warning a check gave */
    char said[768];              /* what the check running now found, when it is ok: shown
                                  * by check_only (each check clears it) */
    char uuid[VIRT_UUID_LEN];    /* the guest's, for a restarted kimchid to find it by */
    bool offline;                /* the guest was shut off when the move began */
    bool autostart;              /* the guest autostarted here before the move */
    char autostart_note[512];    /* what became of its autostart, for the message */
    char *remote_conf;           /* the destination's qemu.conf, once read (NULL: unreadable) */
    bool remote_conf_read;
    /* where a move's time goes (logged at its end, debug): each step's milliseconds */
    struct {
        const char *what;
        long long ms;
    } times[24];
    size_t ntimes;
    long long mark_ms;          /* when the step timed now began (CLOCK_MONOTONIC) */
    struct task_memory mem;     /* the memory check's figures (0: not read) */
    char reached[64];           /* the POST's resolved and answering address ("": none) */
    struct timespec reached_at; /* when the POST found it answering */
};

/* How long the POST's resolution and ssh probe stand for the task's own first step: a task
 * queued longer resolves and probes again. */
#define REACHED_FRESH_MS 5000

/* Ends the step timed now and begins timing `what` (NULL: none; the last one ends). */
static void mark(struct migrate_arg *a, const char *what)
{
    long long now = clock_now_ms();
    if (a->ntimes > 0 && a->times[a->ntimes - 1].ms < 0)
        a->times[a->ntimes - 1].ms = now - a->mark_ms;
    a->mark_ms = now;
    if (what && a->ntimes < sizeof(a->times) / sizeof(a->times[0]))
        a->times[a->ntimes].what = what, a->times[a->ntimes++].ms = -1;
}

/* At debug level, one line per move: each step's time, in order ("queued" from the POST to
 * the first step; "after libvirt's call" from its return to the task's end). */
static void log_times(struct migrate_arg *a)
{
    mark(a, NULL);
    char line[1536] = "";
    long long total = 0;
    for (size_t i = 0; i < a->ntimes; i++) {
        size_t used = strlen(line);
        snprintf(line + used, sizeof(line) - used, "%s%s %lld ms", i ? ", " : "", a->times[i].what,
                 a->times[i].ms);
        total += a->times[i].ms > 0 ? a->times[i].ms : 0;
    }
    log_debug("migration of \"%s\" to \"%s\": timing: %s; total %lld ms", a->name, a->host, line,
              total);
}

static void wipe_password(struct migrate_arg *a)
{
    secret_free(a->password);
    a->password = NULL;
}

static void migrate_arg_free(void *p)
{
    struct migrate_arg *a = p;
    if (!a)
        return;
    wipe_password(a);
    if (a->claimed)
        virt_busy_release(a->virt, a->name);
    free(a->name);
    free(a->host);
    free(a->user);
    free(a->remote_conf);
    virt_storage_clear(&a->storage);
    free(a);
}

static void step(struct task_ctx *ctx, struct migrate_arg *a, const char *what)
{
    a->step = what;
    log_debug("migration of \"%s\" to \"%s\": %s", a->name, a->host, what);
    if (!ctx) /* a check_only run, which has no task (nor timing) */
        return;
    mark(a, what);
    task_ctx_message(ctx, "%s", what);
}

/* Between steps: a cancel request stops the task here, before the next step starts. */
static int cancel_point(struct migrate_arg *a, struct err *e)
{
    if (!a->ctx || !task_ctx_cancel_asked(a->ctx, a->cancelled_by, sizeof(a->cancelled_by)))
        return 0;
    a->cancelled = true;
    task_ctx_cancel_answer(a->ctx, true, NULL);
    return err_set(e, ERR_CONFLICT, M_MIG_CANCELLED, "cancelled");
}

/* Called about every 0.5 s while libvirt moves the guest: reports progress, and passes a
 * cancel request on to libvirt's job, once. */
static void on_progress(void *opaque, const struct virt_job_info *info)
{
    struct migrate_arg *a = opaque;
    if (info->disk_total > 0)
        a->disk_total = info->disk_total;
    task_ctx_progress(a->ctx, task_progress_json(info));
    if (a->abort_tried || !task_ctx_cancel_asked(a->ctx, a->cancelled_by, sizeof(a->cancelled_by)))
        return;
    a->abort_tried = true;
    struct err e = {0};
    if (virt_vm_abort_job(a->virt, a->name, &e) == 0) {
        a->cancelled = true;
        task_ctx_cancel_answer(a->ctx, true, NULL);
    } else {
        task_ctx_cancel_answer(a->ctx, false, err_text(&e));
    }
}

/* What the move does now (post-copy recovery), as the task's message. */
static void on_say(void *opaque, const char *what)
{
    struct migrate_arg *a = opaque;
    task_ctx_message(a->ctx, "%s", what);
}

/* Resolves the host and refuses this same host by name or address, then probes ssh. */
static int check_host(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                      struct err *e)
{
    (void)warn, (void)wlen;
    step(ctx, a, "resolving the remote host");
    if (a->reached[0] && clock_ms_since(&a->reached_at) < REACHED_FRESH_MS) {
        snprintf(a->addr, sizeof(a->addr), "%s", a->reached); /* the POST did both just now */
        a->reached[0] = '\0';                                 /* a later run checks again */
        return 0;
    }
    if (net_resolve_other(a->host, a->addr, sizeof(a->addr), e) < 0)
        return -1;
    step(ctx, a, "connecting to the remote host"); /* the wait the POST's own check made */
    return net_probe(a->host, a->addr, 22, (int)(timers.knock_s * 1000), e);
}

static int setup_trust(struct task_ctx *ctx, struct migrate_arg *a, struct err *e)
{
    char pub[1024];
    step(ctx, a, "setting up password-less ssh login");
    int rc = sshc_key_ensure(pub, sizeof(pub), e);
    if (rc == 0)
        rc = sshc_trust_setup(a->host, a->user, a->password, pub, a->host_key, e);
    wipe_password(a); /* used for this one login only */
    return rc;
}

static void finish_message(struct task_ctx *ctx, struct migrate_arg *a,
                           const struct virt_job_info *f)
{
    char speed[64] = "", downtime[64] = "", copied[256] = "";
    for (size_t i = 0; i < a->storage.n; i++)
        if (virt_disk_copied(&a->storage.disks[i])) {
            size_t used = strlen(copied);
            snprintf(copied + used, sizeof(copied) - used, "%s%s", used ? ", " : "; copied disk ",
                     a->storage.disks[i].target);
        }
    if (f->elapsed_ms > 0 && f->data_processed >= 0)
        snprintf(speed, sizeof(speed), ", average %.1f MiB/s",
                 (double)f->data_processed / 1048576.0 / ((double)f->elapsed_ms / 1000.0));
    if (f->downtime_ms >= 0)
        snprintf(downtime, sizeof(downtime), ", downtime %lld ms", f->downtime_ms);
    if (f->elapsed_ms >= 0)
        task_ctx_message(ctx, "OK: \"%s\" migrated to \"%s\" in %.1f s%s%s%s%s%s%s%s%s", a->name,
                         a->host, (double)f->elapsed_ms / 1000.0, speed, downtime, copied,
                         a->delete_source ? "; source definition removed" : "", a->removed, a->note,
                         a->autostart_note, a->warning);
    else
        task_ctx_message(ctx, "OK: \"%s\" migrated to \"%s\"%s%s%s%s%s%s", a->name, a->host, copied,
                         a->delete_source ? "; source definition removed" : "", a->removed, a->note,
                         a->autostart_note, a->warning);
    if (f->elapsed_ms >= 0) {
        struct virt_job_info whole = *f;
        if (whole.disk_total <= 0 && a->disk_total > 0) { /* the disks count in the total */
            whole.disk_total = a->disk_total;
            whole.disk_processed = a->disk_total;
        }
        task_ctx_progress(ctx, task_progress_json(&whole));
    }
}

/* Connecting to the remote libvirt as root proves key login too, so the libssh check runs
 * only to explain a failure (unknown or changed host key, key refused); after it passes
 * (it may have recorded the host key on first contact) the connection is tried once more. */
static int check_libvirt(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                         struct err *e)
{
    (void)warn, (void)wlen;
    if (a->host_key[0] && !a->user) { /* the key given is checked even when the host is known */
        step(ctx, a, "checking the remote host's ssh key");
        if (sshc_key_login_check(a->host, a->host_key, e) < 0)
            return -1;
    }
    step(ctx, a, "checking libvirt on the remote host");
    sshc_sftp_warm(a->host); /* the checks' reads there, logged in meanwhile */
    if (virt_remote_check(a->virt, a->host, e) == 0)
        return sshc_peer_note(a->host), 0; /* its key login works: a host to suggest */
    if (err_is(e, M_MIG_SSH_HUNG) || err_is(e, M_MIG_OPEN_HUNG))
        return -1; /* its ssh server or libvirt does not answer: trying again waits as long */
    step(ctx, a, "checking root's key login on the remote host");
    if (sshc_key_login_check(a->host, a->host_key, e) < 0)
        return -1;
    sshc_peer_note(a->host);
    step(ctx, a, "checking libvirt on the remote host");
    return virt_remote_check(a->virt, a->host, e);
}

/* Reads what the move does with each disk; a local read-only image (a CD-ROM) is not
 * copied, so it must already be on the destination at the same path. */
static int check_storage(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                         struct err *e)
{
    (void)warn, (void)wlen;
    step(ctx, a, "checking the guest's disks");
    if (virt_vm_storage(a->virt, a->name, &a->storage, e) < 0)
        return -1;
    for (size_t i = 0; i < a->storage.n; i++) {
        const struct virt_disk *d = &a->storage.disks[i];
        if (!d->readonly || d->shared || !d->path)
            continue;
        int there = sshc_remote_file_exists(a->host, d->path, e);
        if (there < 0)
            return -1;
        if (!there)
            return err_set(e, ERR_INVALID, M_MIG_READONLY_MISSING,
                           "The read-only image \"%s\" (disk \"%s\", e.g. a CD-ROM) is not on "
                           "\"%s\". Copy it there to the same path, or eject it (virsh "
                           "change-media %s %s --eject), then try again.",
                           d->path, d->target, a->host, a->name, d->target);
    }
    return virt_remote_storage_check(a->virt, a->host, &a->storage, a->said, sizeof(a->said), e);
}

#define QEMU_CONF "/etc/libvirt/qemu.conf"

static void local_lock_manager(char *out, size_t len)
{
    char text[65536];
    FILE *f = fopen(QEMU_CONF, "r");
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = 0;
    qemuconf_lock_manager(text, out, len);
}

#define QEMU_CONF_MAX 65536

/* The destination's qemu.conf, read once per move for the checks that need it (lock manager,
 * post-copy); NULL when it cannot be read. */
static const char *remote_qemu_conf(struct migrate_arg *a)
{
    if (a->remote_conf_read)
        return a->remote_conf;
    a->remote_conf_read = true;
    struct err e = {0};
    char *text = malloc(QEMU_CONF_MAX);
    if (text && sshc_remote_read(a->host, QEMU_CONF, text, QEMU_CONF_MAX, &e) >= 0)
        a->remote_conf = text;
    else
        free(text);
    return a->remote_conf;
}

/* Shared disks make a second running copy possible (after a failure at the switch-over) unless
 * libvirt's lock manager holds each disk's lease on both hosts: warn when one host has none. */
static int check_lock_manager(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                              struct err *e)
{
    (void)e;
    bool shared = false;
    for (size_t i = 0; i < a->storage.n; i++)
        shared |= a->storage.disks[i].shared && !a->storage.disks[i].readonly;
    if (!shared)
        return 0;
    step(ctx, a, "checking libvirt's lock manager on both hosts");
    char here[32], there[32];
    local_lock_manager(here, sizeof(here));
    const char *text = remote_qemu_conf(a);
    bool read = text != NULL;
    if (read)
        qemuconf_lock_manager(text, there, sizeof(there));
    const char *without = !here[0] && read && !there[0] ? "either host"
                          : !here[0]                    ? "this host"
                          : read && !there[0]           ? a->host
                                                        : NULL;
    if (without)
        snprintf(warn, wlen,
                 "the guest's disks are on shared storage but libvirt's lock manager is off on "
                 "%s, so nothing stops a second copy from running on the same disks if a move "
                 "fails halfway: set lock_manager = \"lockd\" in %s on both hosts",
                 without, QEMU_CONF);
    return 0;
}

#define UFFD_SYSCTL "/proc/sys/vm/unprivileged_userfaultfd"

/* Post-copy needs userfaultfd in the destination's QEMU, which Debian 12 denies (QEMU 7.2 as
 * libvirt-qemu, the sysctl 0): refuse now, saying what to run, rather than when libvirt sets
 * the capability (whose error a closing peer connection can hide). Nothing read: no verdict. */
static int check_postcopy(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                          struct err *e)
{
    (void)warn, (void)wlen;
    if (a->offline || !a->policy.postcopy)
        return 0;
    step(ctx, a, "checking that post-copy can work on the remote host");
    const char *conf = remote_qemu_conf(a);
    char uffd[16];
    struct err re = {0};
    if (!conf || sshc_remote_read(a->host, UFFD_SYSCTL, uffd, sizeof(uffd), &re) < 0)
        return 0;
    if (!qemuconf_userfaultfd_denied(conf, uffd, virt_remote_qemu_version(a->virt, a->host)))
        return 0;
    return err_set(e, ERR_BACKEND, M_MIG_POSTCOPY_UNAVAILABLE,
                   "post-copy is not available on \"%s\": its QEMU (older than 8.1, not run as "
                   "root) cannot use userfaultfd while vm.unprivileged_userfaultfd is 0 "
                   "there. " VIRT_POSTCOPY_ADVICE,
                   a->host, a->host);
}

static void autostart_say(struct migrate_arg *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void autostart_say(struct migrate_arg *a, const char *fmt, ...)
{
    size_t used = strlen(a->autostart_note);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->autostart_note + used, sizeof(a->autostart_note) - used, fmt, ap);
    va_end(ap);
}

/* The guest autostarts only where it lives. Before it leaves (its record written: a restarted
 * kimchid knows it had autostart), this host's definition stops autostarting, so a reboot of
 * this host while the move runs, or after it with the old definition left, cannot start a
 * second copy. */
static void autostart_off_here(struct migrate_arg *a)
{
    struct err e = {0};
    if (a->autostart && virt_autostart_set(a->virt, NULL, a->uuid, false, &e) < 0)
        log_warn("could not turn autostart off for \"%s\" before its move: %s", a->name, e.msg);
}

/* Once kimchid knows where the guest is: autostart on there, off for whatever definition is
 * left here; or back on here when the guest stayed. An old record (no "autostart") leaves it
 * to this host's definition: still on means the guest had it. */
static void autostart_after(struct migrate_arg *a, enum virt_where w)
{
    struct err e = {0};
    bool here = false;
    a->autostart_note[0] = 0;
    if (w == VIRT_WHERE_SOURCE && a->autostart &&
        virt_autostart_set(a->virt, NULL, a->uuid, true, &e) < 0)
        autostart_say(a,
                      " Its autostart could not be turned back on here (%s): run \"virsh "
                      "autostart %s\".",
                      e.msg, a->name);
    if ((w == VIRT_WHERE_UNKNOWN || w == VIRT_WHERE_SPLIT) && a->autostart)
        autostart_say(a,
                      " Its autostart stays off on both hosts until you know where it "
                      "runs: turn it on there (virsh autostart %s).",
                      a->name);
    if (w != VIRT_WHERE_DEST)
        return;
    if (virt_vm_autostart(a->virt, a->name, &here, &e) < 0)
        here = false; /* no definition left here (delete_source) */
    if (!a->autostart && !here)
        return;
    if (virt_autostart_set(a->virt, a->host, a->uuid, true, &e) == 0)
        autostart_say(a, "; autostart follows the guest: on at \"%s\"%s", a->host,
                      a->delete_source ? "" : ", off for the old definition here");
    else
        autostart_say(a,
                      "; its autostart could not be turned on at \"%s\" (%s): run "
                      "\"virsh autostart %s\" there",
                      a->host, e.msg, a->name);
    if (virt_autostart_set(a->virt, NULL, a->uuid, false, &e) < 0)
        autostart_say(a,
                      "; warning: autostart could not be turned off for the old definition "
                      "here (%s), so this host's next boot would start a second copy: run "
                      "\"virsh autostart --disable %s\" now",
                      e.msg, a->name);
}

/* The move is about to start and may outlive this kimchid: record what a restarted one needs
 * to follow it to its end (the guest, the destination, the disk copies begun there). */
static void record_resume(void *opaque)
{
    struct migrate_arg *a = opaque;
    json_t *disks = json_array();
    for (size_t i = 0; i < a->storage.n; i++) {
        const struct virt_disk *d = &a->storage.disks[i];
        if (virt_disk_copied(d))
            json_array_append_new(disks, json_pack("{s:s, s:s, s:b}", "target", d->target, "path",
                                                   d->path, "created", d->created));
    }
    task_ctx_resume(a->ctx, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:o}", "kind", "migrate",
                                      "name", a->name, "host", a->host, "uuid", a->uuid, "offline",
                                      a->offline, "delete_source", a->delete_source, "autostart",
                                      a->autostart, "disks", disks));
    autostart_off_here(a);
}

/* A live move is encrypted unless the request said otherwise: both hosts get what libvirt's
 * TLS migration reads, once (later moves find it in place). */
static int setup_tls(struct task_ctx *ctx, struct migrate_arg *a, struct err *e)
{
    if (a->offline || !a->policy.encrypted)
        return 0;
    step(ctx, a, "setting up encryption (TLS certificates)");
    char did[512];
    if (pki_migration_ready(a->host, a->addr, did, sizeof(did), e) < 0)
        return -1;
    if (did[0])
        log_info("migration of \"%s\" to \"%s\": installed %s", a->name, a->host, did);
    return 0;
}

/* The password-less login: set up with the user and password given (that login is the
 * check); else, for check_only, tried with kimchid's key (a move lets the libvirt check
 * prove it, and explain a failure). */
static int check_login(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                       struct err *e)
{
    (void)warn, (void)wlen;
    if (a->user)
        return setup_trust(ctx, a, e);
    if (ctx)
        return 0;
    /* a check records nothing: a host whose key kimchid does not know yet is not contacted
     * with a login (which would record its key unconfirmed) */
    char fp[128];
    bool known = false;
    step(ctx, a, "checking root's key login on the remote host");
    if (sshc_host_key(a->host, fp, sizeof(fp), &known, e) < 0)
        return -1;
    if (!known)
        return err_set(e, ERR_INVALID, M_MIG_NO_LOGIN_YET,
                       "kimchid has never logged in to \"%s\" (its ssh host key is %s). Give the "
                       "user and password of someone there who may use sudo: the move sets up "
                       "the password-less login.",
                       a->host, fp);
    sshc_sftp_warm(a->host); /* the checks' reads there: that login overlaps this one */
    if (sshc_key_login_check(a->host, a->host_key, e) < 0)
        return -1;
    sshc_peer_note(a->host);
    return 0;
}

/* --migration-network, read at start-up (a parsed copy) */
static struct {
    bool set;
    struct cidr net;
    char text[64];
} mig_net;

void task_migrate_set_network(const char *cidr)
{
    mig_net.set = cidr && cidr_parse(cidr, &mig_net.net) == 0;
    snprintf(mig_net.text, sizeof(mig_net.text), "%s", mig_net.set ? cidr : "");
}

/* How much of a host's /proc/net/fib_trie is read: one with a full routing table lists more,
 * but its own addresses come first in each table's subtree. */
#define FIB_MAX (256 * 1024)

/* The destination's own addresses, space-separated, read over SFTP from its /proc (no
 * command runs there): 0, or -1 with e. */
static int remote_addrs(struct migrate_arg *a, char *out, size_t len, struct err *e)
{
    char *fib = malloc(FIB_MAX), inet6[8192];
    if (!fib)
        return err_oom(e);
    int rc = sshc_remote_read(a->host, "/proc/net/fib_trie", fib, FIB_MAX, e);
    struct err e6 = {0}; /* a host without IPv6 has no if_inet6 */
    bool v6 =
        rc >= 0 && sshc_remote_read(a->host, "/proc/net/if_inet6", inet6, sizeof(inet6), &e6) >= 0;
    if (rc >= 0)
        cidr_host_addrs(fib, v6 ? inet6 : NULL, out, len);
    free(fib);
    return rc < 0 ? -1 : 0;
}

/* The first of the space-separated addresses in `list` that lies in `net`, into `out`. */
static bool first_in(const char *list, const struct cidr *net, char *out, size_t len)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, " ");
        snprintf(out, len, "%.*s", (int)n, p);
        if (n < len && cidr_contains(net, out))
            return true;
        p += n + (p[n] == ' ');
    }
    out[0] = '\0';
    return false;
}

/* Which of the destination's addresses carries the guest's memory and disks: the request's
 * migration_address, which must be one of them; else its address in --migration-network,
 * which it must have; else the address kimchid reaches it at (nothing to check). */
static int check_network(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                         struct err *e)
{
    (void)warn, (void)wlen;
    a->mig_addr[0] = '\0';
    if (a->offline) { /* its disks go over libvirt's connection */
        snprintf(a->said, sizeof(a->said), "a shut-off guest's move sends no memory");
        return 0;
    }
    if (!a->given_addr[0] && !mig_net.set) {
        snprintf(a->said, sizeof(a->said), "memory and disks go to %s, the address of \"%s\"",
                 a->addr, a->host);
        return 0;
    }
    step(ctx, a, "checking the migration network on the remote host");
    char addrs[1024];
    if (remote_addrs(a, addrs, sizeof(addrs), e) < 0)
        return -1; /* sshc's message names the file and the host */
    if (a->given_addr[0] && !cidr_addr_listed(addrs, a->given_addr))
        return err_set(e, ERR_INVALID, M_MIG_ADDRESS,
                       "%s is not an address of \"%s\" (its addresses: %s). Give one of them "
                       "as migration_address, or leave it out.",
                       a->given_addr, a->host, addrs[0] ? addrs : "none found");
    if (a->given_addr[0])
        snprintf(a->mig_addr, sizeof(a->mig_addr), "%s", a->given_addr);
    else if (!first_in(addrs, &mig_net.net, a->mig_addr, sizeof(a->mig_addr)))
        return err_set(e, ERR_INVALID, M_MIG_NETWORK,
                       "\"%s\" has no address in the migration network %s (--migration-network; "
                       "its addresses: %s). Give it one there, or name the address to use as "
                       "migration_address.",
                       a->host, mig_net.text, addrs[0] ? addrs : "none found");
    snprintf(a->said, sizeof(a->said), "memory and disks go to %s, on the %s", a->mig_addr,
             a->given_addr[0] ? "address given (migration_address)" : "migration network");
    log_info("migration of \"%s\" to \"%s\": memory and disks go to %s", a->name, a->host,
             a->mig_addr);
    return 0;
}

/* The destination is not in maintenance: its marker (another kimchid's, or this one's when
 * it manages that host too) is read over SFTP where every kimchid writes it. */
static int check_maintenance(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                             struct err *e)
{
    (void)warn, (void)wlen;
    step(ctx, a, "checking that the remote host is not in maintenance");
    char text[4096];
    if (sshc_remote_read(a->host, MAINT_DEFAULT_PATH, text, sizeof(text), e) < 0)
        return -1;
    struct maint m;
    maint_parse(text, &m);
    if (!m.on)
        return 0;
    return err_set(e, ERR_CONFLICT, M_MIG_MAINTENANCE,
                   "\"%s\" is in maintenance (since %s, by %s): it takes no guests. Choose "
                   "another host, or end its maintenance there first.",
                   a->host, m.since, m.by);
}

/* Encryption: whether kimchid's certificates are in place on both hosts or can be put
 * there (a certificate kimchid did not issue is never replaced), read-only. A move sets them
 * up right after its checks (setup_tls, through the same reads), so it does not read them
 * twice here. */
static int check_tls(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                     struct err *e)
{
    (void)warn, (void)wlen;
    if (a->offline || !a->policy.encrypted) {
        snprintf(a->said, sizeof(a->said), "%s",
                 a->offline ? "a shut-off guest's disks go over libvirt's ssh connection"
                            : "not encrypted (\"encrypted\": false): no certificates needed");
        return 0;
    }
    if (ctx)
        return 0;
    step(ctx, a, "checking the TLS certificates on both hosts");
    return pki_migration_check(a->host, a->addr, a->said, sizeof(a->said), e);
}

static int check_guest(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                       struct err *e)
{
    (void)warn, (void)wlen;
    step(ctx, a, "checking the remote host for a guest of the same name or UUID");
    return virt_remote_guest_check(a->virt, a->host, a->name, e);
}

static int check_cpu(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                     struct err *e)
{
    step(ctx, a, "checking that the remote host can run the guest's CPU");
    return virt_remote_cpu_check(a->virt, a->host, a->name, warn, wlen, e);
}

static int check_memory(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                        struct err *e)
{
    (void)warn, (void)wlen;
    if (a->offline)
        return 0; /* it needs memory there only once started, which the move does not do */
    step(ctx, a, "checking the remote host's free memory");
    return virt_remote_memory_figures(a->virt, a->host, a->name, &a->mem.need_kib,
                                      &a->mem.avail_kib, e) < 0
               ? -1
               : virt_memory_fits(a->host, a->name, a->mem.need_kib, a->mem.avail_kib, a->said,
                                  sizeof(a->said), e);
}

static int check_devices(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen,
                         struct err *e)
{
    (void)warn, (void)wlen;
    step(ctx, a, "checking the guest's devices");
    return virt_vm_devices_check(a->virt, a->name, e);
}

/* Every check a move runs before anything moves, in order; check_only runs the same ones
 * and reports each. A failed gate leaves the checks after it that need the other host
 * unchecked. A warning does not stop a move: it ends up in the task's final message. */
static const struct check {
    const char *id;
    int (*run)(struct task_ctx *ctx, struct migrate_arg *a, char *warn, size_t wlen, struct err *e);
    bool remote;    /* needs the other host */
    bool gate;      /* nothing remote can be checked after it failed */
    bool per_guest; /* its answer depends on the guest (the others only on the two hosts) */
} checks[] = {
    // clang-format off
    {"host", check_host, true, true, false},
    {"login", check_login, true, true, false},
    {"libvirt", check_libvirt, true, true, false},
    {"maintenance", check_maintenance, true, false, false},
    {"network", check_network, true, false, false},
    {"tls", check_tls, true, false, false},
    {"guest", check_guest, true, false, true},
    {"storage", check_storage, true, false, true},
    {"cpu", check_cpu, true, false, true},
    {"memory", check_memory, true, false, true},
    {"devices", check_devices, false, false, true},
    {"postcopy", check_postcopy, true, false, false},
    {"lock_manager", check_lock_manager, true, false, false},
    // clang-format on
};

/* The guest's state, UUID and autostart, read before the checks (a shut-off guest's move
 * copies no memory). */
static int read_guest(struct migrate_arg *a, struct err *e)
{
    char state[16];
    if (virt_vm_state(a->virt, a->name, state, e) < 0 ||
        virt_vm_uuid(a->virt, a->name, a->uuid, e) < 0 ||
        virt_vm_autostart(a->virt, a->name, &a->autostart, e) < 0)
        return -1;
    a->offline = strcmp(state, "shutoff") == 0;
    return 0;
}

static void add_warning(struct migrate_arg *a, const char *warn)
{
    size_t used = strlen(a->warning);
    if (warn[0])
        snprintf(a->warning + used, sizeof(a->warning) - used, "; warning: %s", warn);
}

static int run_checks(struct task_ctx *ctx, struct migrate_arg *a, struct err *e)
{
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        char warn[512] = "";
        a->said[0] = '\0';
        if (cancel_point(a, e) < 0 || checks[i].run(ctx, a, warn, sizeof(warn), e) < 0)
            return -1;
        add_warning(a, warn);
    }
    return cancel_point(a, e);
}

static int migrate_steps(struct task_ctx *ctx, struct migrate_arg *a, struct err *e)
{
    if (read_guest(a, e) < 0 || run_checks(ctx, a, e) < 0 || setup_tls(ctx, a, e) < 0 ||
        cancel_point(a, e) < 0)
        return -1;
    if (a->offline && virt_storage_copies(&a->storage))
        task_ctx_cancellable(ctx, false,
                             "a shut-off guest's disks are being copied, and that copy cannot "
                             "be stopped halfway; wait for it to end");
    step(ctx, a, virt_storage_copies(&a->storage) ? "copying disks and migrating" : "migrating");
    enum virt_where where = VIRT_WHERE_SOURCE;
    struct virt_migrate_opts o = {.host = a->host,
                                  .addr = a->mig_addr[0] ? a->mig_addr : a->addr,
                                  .delete_source = a->delete_source,
                                  .policy = a->policy,
                                  .storage = &a->storage,
                                  .removed = a->removed,
                                  .removed_len = sizeof(a->removed),
                                  .note = a->note,
                                  .note_len = sizeof(a->note),
                                  .calling = record_resume,
                                  .where = &where,
                                  .say = on_say};
    struct virt_job_info final;
    int rc = virt_vm_migrate(a->virt, a->name, &o, on_progress, a, &final, e);
    mark(a, "after libvirt's call");
    task_ctx_cancellable(ctx, false, "the move has ended");
    autostart_after(a, where);
    if (rc < 0 && where == VIRT_WHERE_SPLIT)
        task_split_remember(ctx, a->name, &o);
    if (rc < 0) {
        err_append(e, "%s", a->autostart_note);
        return -1;
    }
    finish_message(ctx, a, &final);
    return 0;
}

/* Rewrites "ID: cause" as "ID: Migration of ... failed while <step>: cause". */
static void name_the_step(struct migrate_arg *a, struct err *e)
{
    char cause[sizeof(e->msg)];
    snprintf(cause, sizeof(cause), "%s", err_text(e));
    if (!e->id[0])
        err_set(e, e->code, M_MIG_FAILED, "%s", cause);
    err_reword(e, "Migration of \"%s\" to \"%s\" failed while %s: %s", a->name, a->host, a->step,
               cause);
}

static int run_migrate(struct task_ctx *ctx, void *p, struct err *e)
{
    struct migrate_arg *a = p;
    a->ctx = ctx;
    task_ctx_cancellable(ctx, true, NULL);
    int rc = migrate_steps(ctx, a, e);
    log_times(a);
    wipe_password(a);
    if (rc < 0 && a->cancelled) {
        err_set(e, ERR_CONFLICT, M_MIG_CANCELLED,
                "Migration of \"%s\" to \"%s\" was cancelled by %s while %s; the guest stays "
                "on this host.",
                a->name, a->host, a->cancelled_by, a->step);
        task_ctx_progress(ctx, NULL);
    } else if (rc < 0) {
        name_the_step(a, e);
        task_ctx_progress(ctx, NULL); /* a failed move's last figures would only mislead */
        pki_forget(a->host);          /* the next move checks its certificates again */
        sshc_forget_host(a->host);    /* ...over new ssh sessions */
    }
    return rc;
}

/* A move taken up after a restart: follow libvirt's job, then end on where the guest is. */
static int run_resumed(struct task_ctx *ctx, void *p, struct err *e)
{
    struct migrate_arg *a = p;
    a->ctx = ctx;
    a->step = "following the move after kimchid restarted";
    task_ctx_message(ctx, "kimchid restarted while \"%s\" moved to \"%s\"; following the move",
                     a->name, a->host);
    task_ctx_cancellable(ctx, true, NULL);
    enum virt_where where = VIRT_WHERE_UNKNOWN;
    struct virt_follow f = {a->name,     a->host, a->uuid,         a->offline, a->delete_source,
                            &a->storage, a->note, sizeof(a->note), &where,     on_say};
    struct virt_job_info final;
    int rc = virt_vm_follow(a->virt, &f, on_progress, a, &final, e);
    task_ctx_cancellable(ctx, false, "the move has ended");
    autostart_after(a, where);
    if (rc < 0)
        err_append(e, "%s", a->autostart_note);
    if (rc == 0) {
        finish_message(ctx, a, &final);
        return 0;
    }
    if (a->cancelled)
        err_set(e, ERR_CONFLICT, M_MIG_CANCELLED,
                "Migration of \"%s\" to \"%s\" was cancelled by %s after kimchid restarted; the "
                "guest stays on this host.",
                a->name, a->host, a->cancelled_by);
    else
        name_the_step(a, e);
    task_ctx_progress(ctx, NULL);
    return -1;
}

/* The copied disks as the record lists them. */
static int disks_from(json_t *disks, struct virt_storage *s)
{
    size_t n = json_array_size(disks);
    s->disks = n ? calloc(n, sizeof(*s->disks)) : NULL;
    if (n && !s->disks)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(disks, i);
        const char *target = json_string_value(json_object_get(d, "target"));
        const char *path = json_string_value(json_object_get(d, "path"));
        if (!target || !path || !(s->disks[i].path = strdup(path)))
            return -1;
        s->n = i + 1;
        snprintf(s->disks[i].target, sizeof(s->disks[i].target), "%s", target);
        s->disks[i].created = json_is_true(json_object_get(d, "created"));
    }
    return 0;
}

static struct migrate_arg *arg_new(struct virt *v, const struct task_migrate_req *r)
{
    struct migrate_arg *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->virt = v;
    a->name = strdup(r->name);
    a->host = strdup(r->remote_host);
    a->user = r->user ? strdup(r->user) : NULL;
    a->delete_source = r->delete_source;
    a->policy = r->policy;
    snprintf(a->host_key, sizeof(a->host_key), "%s", r->host_key ? r->host_key : "");
    snprintf(a->given_addr, sizeof(a->given_addr), "%s",
             r->migration_address ? r->migration_address : "");
    a->step = "queued";
    mark(a, "queued");
    snprintf(a->reached, sizeof(a->reached), "%s", r->reached);
    clock_gettime(CLOCK_MONOTONIC, &a->reached_at);
    if (!a->name || !a->host || (r->user && !a->user)) {
        migrate_arg_free(a);
        return NULL;
    }
    return a;
}

/* Rebuilds a migration task from its resume data (task_ctx_resume) after a restart and
 * claims its guest: 0 with the job, or -1 with `e`. */
static int migrate_resume(struct virt *v, json_t *r, task_run_fn *run, void **arg,
                          task_free_fn *free_arg, struct err *e)
{
    struct task_migrate_req req = {.name = json_string_value(json_object_get(r, "name")),
                                   .remote_host = json_string_value(json_object_get(r, "host")),
                                   .delete_source =
                                       json_is_true(json_object_get(r, "delete_source"))};
    const char *uuid = json_string_value(json_object_get(r, "uuid"));
    if (!req.name || !req.remote_host || !uuid || strlen(uuid) != VIRT_UUID_LEN - 1)
        return err_set(e, ERR_INTERNAL, M_TASK_BAD_RECORD, "its record is incomplete");
    struct migrate_arg *a = arg_new(v, &req);
    if (!a || disks_from(json_object_get(r, "disks"), &a->storage) < 0) {
        migrate_arg_free(a);
        return err_oom(e);
    }
    snprintf(a->uuid, sizeof(a->uuid), "%s", uuid);
    a->offline = json_is_true(json_object_get(r, "offline"));
    a->autostart = json_is_true(json_object_get(r, "autostart"));
    if (virt_busy_claim(v, a->name, VIRT_BUSY_MIGRATING, e) < 0) {
        migrate_arg_free(a);
        return -1;
    }
    a->claimed = true;
    *run = run_resumed;
    *arg = a;
    *free_arg = migrate_arg_free;
    return 0;
}

void task_jobs_register(struct task_engine *t)
{
    task_engine_kind(t, "migrate", migrate_resume);
}

/* The checks that need only this host run before the 202 as well: their failure is the
 * POST's 400, naming the check (the task runs them again with the rest). */
static int quick_checks(struct migrate_arg *a, struct err *e)
{
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        char warn[512];
        if (!checks[i].remote && checks[i].run(NULL, a, warn, sizeof(warn), e) < 0) {
            name_the_step(a, e);
            return -1;
        }
    }
    return 0;
}

json_t *task_submit_migrate(struct task_engine *t, struct virt *v, struct task_migrate_req *r,
                            const char *target_uri, struct err *e)
{
    struct migrate_arg *a = arg_new(v, r);
    if (a) {
        a->password = r->password; /* stolen */
        r->password = NULL;
    } else {
        secret_free(r->password);
        r->password = NULL;
    }
    if (!a) {
        err_oom(e);
        return NULL;
    }
    if (quick_checks(a, e) < 0 || virt_busy_claim(v, a->name, VIRT_BUSY_MIGRATING, e) < 0) {
        migrate_arg_free(a);
        return NULL;
    }
    a->claimed = true;
    return (r->start_now ? task_engine_submit_now : task_engine_submit)(t, target_uri, run_migrate,
                                                                        a, migrate_arg_free, e);
}

struct virt_policy task_migrate_default_policy(void)
{
    return (struct virt_policy){
        .auto_converge = true, .parallel = 1, .encrypted = true, .completion_s = -1};
}

/* One check's entry for check_only. */
static json_t *check_json(const char *id, bool ok, const char *message, bool warning, bool skipped)
{
    json_t *o = json_pack("{s:s, s:b, s:s}", "id", id, "ok", ok, "message", message);
    if (o && warning)
        json_object_set_new(o, "warning", json_true());
    if (o && skipped)
        json_object_set_new(o, "skipped", json_true());
    return o;
}

json_t *task_migrate_check(struct virt *v, struct task_migrate_req *r, struct err *e)
{
    return task_migrate_check_part(v, r, TASK_CHECK_ALL, NULL, e);
}

static bool in_part(const struct check *c, enum task_check_part part)
{
    return part == TASK_CHECK_ALL || c->per_guest == (part == TASK_CHECK_GUEST);
}

json_t *task_migrate_check_part(struct virt *v, struct task_migrate_req *r,
                                enum task_check_part part, struct task_memory *mem, struct err *e)
{
    struct migrate_arg *a = arg_new(v, r);
    if (a)
        a->password = r->password; /* stolen */
    else
        secret_free(r->password);
    r->password = NULL;
    if (!a) {
        err_oom(e);
        return NULL;
    }
    if (read_guest(a, e) < 0) {
        migrate_arg_free(a);
        return NULL;
    }
    json_t *list = json_array();
    bool ready = true;
    const char *gate = NULL; /* the failed gate, if any */
    for (size_t i = 0; list && i < sizeof(checks) / sizeof(checks[0]); i++) {
        const struct check *c = &checks[i];
        char warn[512] = "", why[160];
        struct err ce = {0};
        if (!in_part(c, part))
            continue;
        if (gate && c->remote) {
            snprintf(why, sizeof(why), "Not checked: the \"%s\" check failed.", gate);
            json_array_append_new(list, check_json(c->id, false, why, false, true));
            continue;
        }
        a->said[0] = '\0';
        bool ok = c->run(NULL, a, warn, sizeof(warn), &ce) == 0;
        ready &= ok;
        if (!ok && c->gate)
            gate = c->id;
        const char *msg = !ok ? ce.msg : warn[0] ? warn : a->said;
        json_array_append_new(list, check_json(c->id, ok, msg, ok && warn[0], false));
    }
    if (mem)
        *mem = a->mem;
    migrate_arg_free(a); /* wipes the password */
    json_t *out = list ? json_pack("{s:b, s:o}", "ready", ready, "checks", list) : NULL;
    if (!out)
        err_oom(e);
    return out;
}
