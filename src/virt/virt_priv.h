/* virt_priv.h - internals shared by the files of the virt module. */
#ifndef KIMCHID_VIRT_PRIV_H
#define KIMCHID_VIRT_PRIV_H

#include <libvirt/libvirt.h>
#include <libxml/xpath.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "pcdecide.h"
#include "virt.h"

/* Facts about one guest read from its XML. Strings owned by the struct. */
struct vm_info {
    char *name;
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *title;
    char *description;
    unsigned long long memory_kib;    /* <currentMemory> */
    unsigned long long maxmemory_kib; /* <maxMemory> or <memory> */
    unsigned int vcpus;
    unsigned int maxvcpus;
    char *graphics_type; /* NULL: none */
    char *graphics_listen;
    int graphics_port; /* -1: none or not yet assigned */
    char *moved_host;  /* kimchid's mark: this definition's guest moved there */
    char *moved_at;    /* ... at this time (ISO 8601, UTC) */
    char *bootorder;   /* <os><boot dev=…/> in order, space-separated ("hd cdrom"), or NULL */
    bool bootmenu;     /* <os><bootmenu enable='yes'/> */
};

/* The namespace of kimchid's own domain metadata. */
#define VIRT_META_NS "https://kimchid.invalid/xmlns/moved/1"

/* Guests named by lifecycle events that one refresh re-reads; more mark all stale. */
#define VIRT_MAX_STALE 32

/* One published view of all guests; immutable once published, reference counted. */
struct snapshot {
    atomic_int refs;
    size_t n;
    char **names; /* sorted */
    char **jsons; /* VM object per name */
    char *list_json;
};

/* A guest's counters at one refresh and Kimchi's figures computed from the previous one:
 * percentages, KB/s, and the highest rates seen (at least 100, as Kimchi starts them). */
struct vm_stats {
    long long at_ns; /* CLOCK_MONOTONIC of the counters; 0: none yet */
    unsigned long long cpu_ns, net_bytes, io_bytes;
    double cpu, mem, net, io, net_peak, io_peak;
};

/* inventory.c: Kimchi's figures for one guest from a bulk stats record `r` (taken at now_ns,
 * CLOCK_MONOTONIC) and the previous sample `old` (NULL for a new guest): CPU time over wall
 * time and vCPUs, memory used (the guest's own balloon figures, else QEMU's resident size) over
 * its memory, network and disk bytes per second. A guest not running has none. */
void virt_stats_compute(virDomainStatsRecordPtr r, int state, const struct vm_info *info,
                        const struct vm_stats *old, long long now_ns, struct vm_stats *st);

/* Cached per-guest XML facts, keyed by UUID; `stale` forces a new XML read. */
struct xml_cache_entry {
    char uuid[VIR_UUID_STRING_BUFLEN];
    int state;
    bool stale;
    struct vm_info info;
    struct vm_stats stats;
};

struct busy_entry {
    char *name;
    char *what;
};

/* libvirt's keepalive on a connection kimchid opened (conn.c): a peer silent for
 * KEEPALIVE_INTERVAL_S x KEEPALIVE_COUNT seconds (15) closes it, so no call waits on it for
 * ever. */
#define KEEPALIVE_INTERVAL_S 5
#define KEEPALIVE_COUNT 3
void virt_keepalive(virConnectPtr c);

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

struct virt {
    char *uri;
    pthread_mutex_t conn_lock; /* guards conn and callback_id */
    virConnectPtr conn;
    int callback_id;

    pthread_t event_thread;
    atomic_bool stopping;

    pthread_t inv_thread;
    pthread_mutex_t inv_lock; /* guards dirty and snap */
    pthread_cond_t inv_cond;
    bool dirty;
    struct snapshot *snap;
    char stale[VIRT_MAX_STALE][VIR_UUID_STRING_BUFLEN]; /* guests named by events since the
                                                           last refresh (-1 in nstale: more) */
    int nstale; /* -1: too many, re-read every guest's XML */

    pthread_mutex_t refresh_lock; /* one refresh at a time; guards cache */
    struct xml_cache_entry *cache;
    size_t ncache;

    pthread_mutex_t remote_lock; /* guards remotes; never held across a libvirt call */
    struct remote_entry *remotes;
    size_t nremotes;

    struct bus *events;     /* see virt_set_events */
    long stall_ms;          /* see virt_set_stall_timeout */
    long converge_ms;       /* see virt_set_converge_timeout */
    char ssh_command[1024]; /* see virt_set_ssh_command; empty: libvirt's default ssh */

    pthread_mutex_t busy_lock;
    struct busy_entry *busy;
    size_t nbusy;

    pthread_mutex_t facts_lock; /* guards facts; never held across a libvirt call */
    struct facts_entry facts[VIRT_FACTS_MAX];
    size_t nfacts;
};

/* migrate.c: drops the cached host facts (virt_free). */
void virt_facts_clear(struct virt *v);

/* busy.c: what guest `name` is busy with ("migrating", ...) copied into `out`, or NULL. */
const char *virt_busy_what(struct virt *v, const char *name, char *out, size_t len);

/* Returns a new reference to a live connection, reconnecting if needed. */
virConnectPtr virt_conn_get(struct virt *v, struct err *e);

/* Sets `e` from libvirt's last error of this thread: "<what>: <libvirt text>". */
int virt_err_libvirt(struct err *e, enum err_code code, enum msg id, const char *what);

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

/* Looks a guest up by name; ERR_NOT_FOUND with Kimchi's message when unknown. */
virDomainPtr virt_domain_lookup(virConnectPtr c, const char *name, struct err *e);

/* Runs fn on guest `name`, looked up on a new reference to the local connection (both
 * released after). Returns fn's result, or -1 with `e` when the guest cannot be found. */
typedef int (*virt_domain_fn)(virConnectPtr c, virDomainPtr d, void *arg, struct err *e);
int virt_with_domain(struct virt *v, const char *name, virt_domain_fn fn, void *arg, struct err *e);

/* domxml.c: an XML document from libvirt and the nodes one XPath expression selects in it. */
struct virt_xml {
    xmlDocPtr doc;
    xmlXPathContextPtr ctx;
    xmlXPathObjectPtr set; /* NULL without an expression */
    int n;                 /* nodes in set */
};

/* Parses `xml` (freed here; NULL is libvirt's failure, already in `e`) and, when `expr` is
 * given, selects its nodes. -1 with `e` when libvirt's XML cannot be read. */
int virt_xml_open(struct virt_xml *x, char *xml, const char *expr, struct err *e);
void virt_xml_close(struct virt_xml *x);

/* domxml.c: a new string with the value of an XPath expression (evaluated at ctx->node for a
 * relative one), or NULL when it is empty. */
char *virt_xpath_str(xmlXPathContextPtr ctx, const char *expr);

/* Parses domain XML into `info` (zeroed first). */
int virt_domxml_parse(const char *xml, struct vm_info *info, struct err *e);

/* Frees the strings of `info`. */
void virt_vm_info_clear(struct vm_info *info);

/* Deep copy of `src` into `dst` (every string duplicated). -1 when out of memory (dst is
 * then cleared). A new field goes into both (a size check in domxml.c insists). */
int virt_vm_info_copy(struct vm_info *dst, const struct vm_info *src);

/* moved.c: reads kimchid's "moved" mark from a domain's persistent config; 1 when marked
 * (host and at filled), 0 when not. */
int virt_moved_read(virDomainPtr d, char *host, size_t hostlen, char *at, size_t atlen);

/* moved.c: marks (host non-NULL) or unmarks (host NULL) a persistent domain's config. */
int virt_moved_set(virDomainPtr d, const char *host, struct err *e);

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

/* Closes the cached remote connections (virt_free). */
void virt_remote_close_all(struct virt *v);

/* An event named this guest: re-read its XML at the next refresh, which comes soon. */
void virt_inventory_mark_stale(struct virt *v, const char *uuid);

/* storage.c: the type of the filesystem holding `path` (the mount with the longest matching
 * mount point in `mountinfo`, a file in /proc/self/mountinfo's format), e.g. "ext4",
 * "fuse.glusterfs"; "unknown" when none matches. */
void virt_fs_type(const char *mountinfo, const char *path, char *type, size_t len);

/* storage.c: whether a path lies on a filesystem libvirt treats as shared. */
bool virt_path_is_shared(const char *path);

/* Reads the disks of `dom` (see virt_vm_storage). */
int virt_storage_plan(virConnectPtr c, virDomainPtr dom, struct virt_storage *s, struct err *e);

/* Creates on the destination (connection rc) the volume of every copied disk: same path,
 * format and capacity. Fails, naming the path and what to create, when no pool there holds
 * the directory, or when the file exists already. Marks each created disk. */
int virt_storage_prepare(virConnectPtr rc, const char *host, struct virt_storage *s, struct err *e);

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
int virt_storage_stream_copy(virConnectPtr lc, virConnectPtr rc, const char *host,
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

/* migrate.c: reads job stats (flags: 0 = the running job, VIR_DOMAIN_JOB_STATS_COMPLETED =
 * the last one) in kimchid's shape. 0 when found. */
int virt_job_stats(virDomainPtr d, unsigned int flags, struct virt_job_info *out);

/* migrate.c: the completed job's figures: from the source if the guest is still defined
 * there, else from the destination over a live cached connection (never a new one). */
void virt_completed_stats(struct virt *v, virDomainPtr d, const char *host,
                          struct virt_job_info *final);

/* migrate.c: marks the old definition left here after a move, so that starting it by
 * mistake is refused. */
void virt_mark_moved(struct virt *v, virDomainPtr d, const char *host);

/* migrate.c: the stall rule: a job that moves no data for stall_ms is stopped. */
struct virt_stall {
    long stall_ms;   /* 0: never */
    long long moved; /* bytes moved at the last change */
    struct timespec last_change;
    bool stalled; /* the job was stopped for that */
    struct timespec stalled_at;
};

/* migrate.c: a migration job watched every VIRT_POLL_MS: each look reports its progress,
 * applies the stall rule, and kills the destination's hung incoming copy of a move the stall
 * rule stopped but libvirt cannot end (unstick). Used during the call and after a restart. */
#define VIRT_POLL_MS 500
/* converge.c: the convergence policy of one live move, applied at each look at its job. */
struct virt_converge {
    struct virt_policy policy;
    long timeout_ms;             /* not converging this long: stopped (0: never) */
    bool downtime_set;           /* max_downtime reached libvirt */
    long long best_remaining;    /* the least data remaining seen in the memory phase */
    struct timespec best_at;     /* ... and when; no new least since: not converging */
    int throttle;                /* the highest auto-converge throttle seen (%) */
    struct timespec throttle_at; /* ... and when it last rose */
    bool switched;               /* post-copy started: the guest runs on the destination */
    bool gave_up;                /* stopped as not converging */
    long long gave_up_dirty_bps; /* the figures then, for the message */
    long long gave_up_bps;
};
void virt_converge_start(struct virt_converge *c, const struct virt_policy *p, long timeout_ms);
/* Applies the policy to the job's latest figures `i` (updating phase, converging and
 * remaining_ms) and acts: sets max_downtime once, switches to post-copy, or stops the job. */
void virt_converge_check(struct virt_converge *c, virDomainPtr d, struct virt_job_info *i);
/* M_MIG_NOT_CONVERGING, the message of a move stopped as not converging. Returns -1. */
int virt_converge_error(struct err *e, const struct virt_converge *c, const char *host);

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

/* migrate.c: one libvirt migration call for d (VIR_MIGRATE_POSTCOPY_RESUME: a post-copy
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
 * broke_at, or NULL: now), from both QEMUs' migration status, within timers.recover_s;
 * neither half is ever stopped. The final where (SPLIT when the halves could not be joined)
 * and in note what happened. */
enum virt_where virt_postcopy_recover(struct virt *v, const char *uuid, const char *name,
                                      const struct virt_migrate_opts *o, unsigned int flags,
                                      const struct timespec *broke_at,
                                      struct virt_incoming *incoming, virt_progress_fn fn,
                                      void *opaque, char *note, size_t len);

/* migrate.c: M_MIG_STALLED, the message of a move stopped as stalled. Returns -1. */
int virt_stall_error(struct err *e, const char *host, long stall_ms);

/* remote.c: the cached connection to host if it is alive (new reference), else NULL; never
 * opens one (for figures that must not hold a task up). */
virConnectPtr virt_remote_cached(struct virt *v, const char *host);

/* Starts/stops the inventory thread (inventory.c). */
int virt_inventory_start(struct virt *v, struct err *e);
void virt_inventory_stop(struct virt *v);

/* Takes a reference to the current snapshot (never NULL after start). */
struct snapshot *virt_snapshot_get(struct virt *v);
void virt_snapshot_put(struct snapshot *s);

/* Index of `name` in the snapshot, or -1. */
long virt_snapshot_find(const struct snapshot *s, const char *name);

#endif
