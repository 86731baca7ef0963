/* move_priv.h - internals shared by the files of move/. */
#ifndef KIMCHID_MOVE_PRIV_H
#define KIMCHID_MOVE_PRIV_H

#include "../virt/virt_priv.h"
#include "move.h"
#include "pcdecide.h"

/* An open connection to a remote host's libvirt, kept for later migrations. */
struct remote_entry {
    char *host;
    virConnectPtr conn;
};

/* A connection's host UUID and architecture (migrate.c): libvirt rebuilds its capabilities on
 * every virConnectGetCapabilities (1.3 s on a TCG host), while a connection's host does not
 * change under it (a restarted libvirtd is a new connection). The entry holds a reference, so
 * no other connection can take its address while it is cached. */
#define VIRT_FACTS_MAX 16
struct facts_entry {
    virConnectPtr conn;
    char uuid[64], arch[64];
};

/* The mover's state (virt_mover_open), at v->mover. */
struct mover {
    pthread_mutex_t remote_lock; /* guards remotes; never held across a libvirt call */
    struct remote_entry *remotes;
    size_t nremotes;
    long stall_ms;              /* see virt_set_stall_timeout */
    long converge_ms;           /* see virt_set_converge_timeout */
    long completion_s;          /* see virt_set_completion_timeout */
    char ssh_command[1024];     /* see virt_set_ssh_command; empty: libvirt's default ssh */
    pthread_mutex_t facts_lock; /* guards facts; never held across a libvirt call */
    struct facts_entry facts[VIRT_FACTS_MAX];
    size_t nfacts;
};

/* checks.c: drops the cached host facts (virt_mover_close). */
void virt_facts_clear(struct virt *v);

/* cause.c: like virt_err_libvirt for a failure of a connection to `host`, but in words an
 * operator can act on: this host's libvirt gone (`local`, the connection the call was made on,
 * closed: M_MIG_LOCAL_LIBVIRT_DIED), an ssh server that never answered (M_MIG_SSH_HUNG) and,
 * when `addr` is
 * given, a broken connection told apart by knocking on the host's ssh port: network or host
 * down (M_MIG_NETWORK_DOWN), or its libvirt stopped (M_MIG_REMOTE_LIBVIRT_DIED). Other
 * errors keep `id`. */
int virt_err_connection(struct err *e, virConnectPtr local, const char *host, const char *addr,
                        enum msg id, const char *what);
/* The same for libvirt's message `m` read on another thread (opener.c). */
int virt_err_cause(struct err *e, const char *m, virConnectPtr local, const char *host,
                   const char *addr, enum msg id, const char *what);

/* A new reference to a live connection to root@host's libvirt over ssh, reusing a cached
 * one (remote.c). NULL with `e` when it cannot be opened. */
virConnectPtr virt_remote_get(struct virt *v, const char *host, struct err *e);

/* "qemu+ssh://root@HOST/system?no_tty=1[&command=SSH]", with brackets for an IPv6 address;
 * SSH is the command set with virt_set_ssh_command. */
void virt_remote_uri(struct virt *v, const char *host, char *out, size_t len);

/* opener.c: opens `uri` (a qemu+ssh connection to `host`) within `deadline_ms`
 * (timers.open_s), trying twice; on a hang it ends the ssh process libvirt started for the
 * open. NULL with *hung when both attempts hung, else NULL with libvirt's message in `error`.
 * Two opens to one host at once may end each other's ssh at the deadline: both then fail. */
virConnectPtr virt_open_bounded(const char *uri, const char *host, int deadline_ms, bool *hung,
                                char *error, size_t len);

/* Closes the cached remote connections (virt_mover_close). */
void virt_remote_close_all(struct virt *v);

/* storage.c: the type of the filesystem holding `path` (the mount with the longest matching
 * mount point in `mountinfo`, a file in /proc/self/mountinfo's format), e.g. "ext4",
 * "fuse.glusterfs"; "unknown" when none matches. */
void virt_fs_type(const char *mountinfo, const char *path, char *type, size_t len);

/* storage.c: whether a path lies on a filesystem libvirt treats as shared. */
bool virt_path_is_shared(const char *path);

/* Reads the disks of `dom` (see virt_vm_storage). */
int virt_storage_plan(virConnectPtr c, virDomainPtr dom, struct virt_storage *s, struct err *e);

/* Creates on the destination (connection `remote`) the volume of every copied disk: same path,
 * format and capacity. Fails, naming the path and what to create, when no pool there holds
 * the directory, or when the file exists already. Marks each created disk. */
int virt_storage_prepare(virConnectPtr remote, const char *host, struct virt_storage *s,
                         struct err *e);

/* What virt_storage_prepare would find, changing nothing: each copied disk's pool on the
 * destination (or the same failure), and what happens to every disk, in words, in `said`. */
int virt_storage_check(virConnectPtr remote, const char *host, const struct virt_storage *s,
                       char *said, size_t len, struct err *e);

/* Removes the volumes virt_storage_prepare created, with fresh connections retried for a
 * while (the destination may be restarting). Paths it could not remove go into `note`. */
void virt_storage_unprepare(struct virt *v, const char *host, struct virt_storage *s, char *note,
                            size_t len);

/* Removes this host's copies of the copied disks (never a shared disk); their paths go
 * into `removed`. */
int virt_storage_remove_source(virConnectPtr c, struct virt_storage *s, char *removed, size_t len,
                               struct err *e);

/* Called as bytes of a disk are copied. */
typedef void (*virt_copied_fn)(void *opaque, unsigned long long bytes);

/* Copies every copied disk's file into its pre-created volume on the destination through
 * the storage API's streams (for shut-off guests, which libvirt moves without storage). */
int virt_storage_stream_copy(virConnectPtr lc, virConnectPtr remote, const char *host,
                             const struct virt_storage *s, virt_copied_fn fn, void *opaque,
                             struct err *e);

/* settle.c: what one host says of the guest (by UUID). */
struct virt_view {
    bool reached; /* the host answered */
    bool exists;  /* it has a domain with this UUID */
    int state, reason;
};

/* settle.c: what to do once both hosts have answered: at most one copy may stay, and no half of
 * a post-copy move is ever stopped (that loses the guest). Pure: unit-tested. */
enum virt_settle_act { VIRT_SETTLE_NOTHING, VIRT_SETTLE_STOP_HERE, VIRT_SETTLE_STOP_THERE };
struct virt_settle_plan {
    enum virt_where where;
    enum virt_settle_act act;
    bool resume_here; /* the guest stays here, left paused by the move */
    bool report;      /* what was found cannot be acted on safely: say it, and stop asking */
    char note[640];   /* what kimchid found, in words, or "" */
};
enum virt_where virt_settle_decide(const char *host, const struct virt_view *src,
                                   const struct virt_view *dst, struct virt_settle_plan *p);

/* settle.c: after a failed migration call (or a restart during one), asks both hosts (fresh
 * connections, each retried for up to 30 s) where the guest with this UUID is, leaves at most
 * one copy running, and says where it runs; `note` tells what kimchid did or could not learn.
 * `offline`: a shut-off guest's move, which went where its definition now is. */
/* Never guesses: while a host whose answer decides it does not answer, it keeps asking both
 * every timers.settle_every_s, saying so through `say` (may be NULL) with `opaque`; it returns only
 * once it knows (never VIRT_WHERE_UNKNOWN). */
enum virt_where virt_migration_settle(struct virt *v, const char *uuid, const char *name,
                                      const char *host, bool offline,
                                      void (*say)(void *opaque, const char *what), void *opaque,
                                      char *note, size_t len);

/* settle.c: the guest with this UUID (string form) on a host (NULL: this one), looked up over
 * a fresh local or the cached remote connection: a new reference, or NULL. */
virDomainPtr virt_lookup_uuid(struct virt *v, const char *host, const char *uuid);

/* watch.c: every figure of `i` unknown (-1), phase "setup". */
void virt_job_unknown(struct virt_job_info *i);
/* watch.c: the time left from what remains and the current rate, where libvirt gives none. */
void virt_job_estimate(struct virt_job_info *i);

/* watch.c: reads job stats (flags: 0 = the running job, VIR_DOMAIN_JOB_STATS_COMPLETED =
 * the last one) in kimchid's shape. 0 when found. */
int virt_job_stats(virDomainPtr d, unsigned int flags, struct virt_job_info *out);

/* watch.c: the completed job's figures: from the source if the guest is still defined
 * there, else from the destination over a live cached connection (never a new one). */
void virt_completed_stats(struct virt *v, virDomainPtr d, const char *host,
                          struct virt_job_info *final);

/* migrate.c: marks the old definition left here after a move, so that starting it by
 * mistake is refused. */
void virt_mark_moved(struct virt *v, virDomainPtr d, const char *host);

/* policy.c: the migration policy, pure functions of what was observed and when (now_ms:
 * CLOCK_MONOTONIC milliseconds), unit-tested branch by branch; watch.c and converge.c read
 * the job and act on what they decide. */

/* The stall rule: a job that moves no data for stall_ms is stopped. */
struct virt_stall {
    long stall_ms;         /* 0: never */
    long long moved;       /* bytes moved at the last change */
    long long last_change; /* when they last grew (ms) */
    bool stalled;          /* the job was stopped for that */
    long long stalled_at;  /* ... when (ms) */
};
void virt_stall_start(struct virt_stall *s, long stall_ms, long long now_ms);
/* A look at the job: `moved` its bytes processed (-1: no job seen). True: stop it now (the
 * caller sets stalled and stalled_at once libvirt accepted). */
bool virt_stall_decide(struct virt_stall *s, long long moved, long long now_ms);
/* How long libvirt gets to end a move after the stall rule stopped it. */
#define VIRT_UNSTICK_AFTER_MS 15000
/* True when a move the stall rule stopped has not ended within VIRT_UNSTICK_AFTER_MS and its
 * hung incoming copy is to be ended (once: `unstuck` says it was). */
bool virt_unstick_due(const struct virt_stall *s, bool unstuck, long long now_ms);

/* watch.c: a migration job watched every VIRT_POLL_MS: each look reports its progress,
 * applies the stall rule, and kills the destination's hung incoming copy of a move the stall
 * rule stopped but libvirt cannot end (unstick). Used during the call and after a restart. */
#define VIRT_POLL_MS 500
/* The convergence policy of one live move, applied at each look at its job. */
struct virt_converge {
    struct virt_policy policy;
    long timeout_ms;             /* not converging this long: stopped (0: never) */
    long long started_at;        /* when the move began (ms): the time budget counts from it */
    long budget_per_gib_s;       /* the time budget, seconds per GiB moved (0: none) */
    long budget_floor_ms;        /* ... and never less than this */
    long long budget_ms;         /* the budget for the figures seen so far (0: not known) */
    bool over_budget;            /* the budget's action (stop or post-copy) was taken */
    bool downtime_set;           /* max_downtime reached libvirt */
    long long best_remaining;    /* the least data remaining seen in the memory phase */
    long long best_at;           /* ... and when (ms); no new least since: not converging */
    int throttle;                /* the highest auto-converge throttle seen (%) */
    long long throttle_at;       /* ... and when it last rose (ms) */
    bool switched;               /* post-copy started: the guest runs on the destination */
    bool gave_up;                /* stopped as not converging */
    long long gave_up_dirty_bps; /* the figures then, for the message */
    long long gave_up_bps;
};
/* `timeout_ms` the converge timeout; the time budget from p->completion_s, or when it is -1
 * `default_s` per GiB with VIRT_BUDGET_FLOOR_MS as its least. */
void virt_converge_start(struct virt_converge *c, const struct virt_policy *p, long timeout_ms,
                         long default_s, long long now_ms);
/* What the policy wants done after a look at the job. */
#define VIRT_CONVERGE_POSTCOPY 1u /* switch to post-copy (tried first) */
#define VIRT_CONVERGE_ABORT 2u    /* stop the move (not converging, or past its budget) */
#define VIRT_CONVERGE_BUDGET 4u   /* ... because it ran past its time budget */
/* The job's latest figures `i` (phase, converging and remaining_ms updated) against the
 * policy: 0 or VIRT_CONVERGE_ bits. The caller sets switched / gave_up once libvirt did it. */
unsigned int virt_converge_decide(struct virt_converge *c, struct virt_job_info *i,
                                  long long now_ms);
/* converge.c: applies the policy to the job's latest figures `i` and acts: sets
 * max_downtime once, switches to post-copy, or stops the job. */
void virt_converge_check(struct virt_converge *c, virDomainPtr d, struct virt_job_info *i);
/* M_MIG_NOT_CONVERGING, the message of a move stopped as not converging. Returns -1. */
int virt_converge_error(struct err *e, const struct virt_converge *c, const char *host);
/* M_MIG_BUDGET, the message of a move stopped past its time budget. Returns -1. */
int virt_budget_error(struct err *e, const struct virt_converge *c);

struct virt_watch {
    struct virt *v;
    virDomainPtr dom;
    const char *host; /* the destination */
    virt_progress_fn fn;
    void *opaque;
    struct virt_stall stall;
    struct virt_converge converge;
    const char *phase;             /* the last phase seen, for a failure message */
    bool unstuck;                  /* kimchid killed the destination's hung incoming copy */
    long long disk_first;          /* disk bytes at the first disk-phase sample */
    struct timespec disk_first_at; /* ... and when */
};
/* `policy`: the live move's (NULL: none, for a move followed after a restart). */
void virt_watch_start(struct virt_watch *w, struct virt *v, virDomainPtr d, const char *host,
                      const struct virt_policy *policy, virt_progress_fn fn, void *opaque);
/* One look at d's job; true when libvirt reports one. */
bool virt_watch_once(struct virt_watch *w);

/* The watch of a running migration call, on its own thread. */
struct poller {
    struct virt_watch w;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    bool called; /* libvirt's migration call was made: something may have moved */
    pthread_t thread;
};

/* watch.c: one libvirt migration call for guest `name` (d), watched by p (p->w.fn and
 * opaque set) on a thread of its own until it returns. 0, or -1 with `e` saying why. */
int virt_migration_run(struct virt *v, virDomainPtr d, const char *name,
                       const struct virt_migrate_opts *o, unsigned int flags, struct poller *p,
                       struct err *e);

/* watch.c: one libvirt migration call for d (VIR_MIGRATE_POSTCOPY_RESUME: a post-copy
 * recovery), its job watched and reported to fn. Blocking. */
int virt_migrate_call(struct virt *v, virDomainPtr d, const struct virt_migrate_opts *o,
                      unsigned int flags, virt_progress_fn fn, void *opaque, struct err *e);

/* incoming.c: libvirt's events for a guest's incoming copy on a destination, watched from
 * before a move starts: whether that copy ever ran (see incoming.c). */
struct incoming_state;
struct virt_incoming {
    virConnectPtr conn;
    int cb;                       /* the event callback's id, or -1: not watched */
    struct incoming_state *state; /* what the event loop saw (libvirt frees it) */
};
void virt_incoming_watch(struct virt *v, const char *host, const char *uuid,
                         struct virt_incoming *w);
enum pc_ran virt_incoming_ran(struct virt_incoming *w);
void virt_incoming_unwatch(struct virt_incoming *w);
/* Pure: what the events seen prove (unit-tested). */
enum pc_ran virt_incoming_decide(bool watched, bool resumed, bool stopped);

/* pcrecover.c: joins the halves of a post-copy move that broke (pages last moved at
 * broke_at, CLOCK_MONOTONIC ms, or -1: now), from both QEMUs' migration status, within
 * timers.recover_s; neither half is ever stopped. The final where (SPLIT when the halves could not
 * be joined) and in note what happened. */
enum virt_where virt_postcopy_recover(struct virt *v, const char *uuid, const char *name,
                                      const struct virt_migrate_opts *o, unsigned int flags,
                                      long long broke_at, struct virt_incoming *incoming,
                                      virt_progress_fn fn, void *opaque, char *note, size_t len);

/* watch.c: M_MIG_STALLED, the message of a move stopped as stalled. Returns -1. */
int virt_stall_error(struct err *e, const char *host, long stall_ms);

/* remote.c: the cached connection to host if it is alive (new reference), else NULL; never
 * opens one (for figures that must not hold a task up). */
virConnectPtr virt_remote_cached(struct virt *v, const char *host);

#endif
