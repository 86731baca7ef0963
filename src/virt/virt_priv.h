/* virt_priv.h - this host's libvirt at the level of libvirt's own types: internals shared by
 * the files of virt/, and what move/ builds on (the connection, guest look-ups, the
 * snapshot, busy claims, the moved mark). */
#ifndef KIMCHID_VIRT_PRIV_H
#define KIMCHID_VIRT_PRIV_H

#include <libvirt/libvirt.h>
#include <libxml/xpath.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

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

/* `len` bytes at `at` in a snapshot's list. */
struct span {
    size_t at, len;
};

/* One published view of all guests; immutable once published, reference counted. */
struct snapshot {
    atomic_int refs;
    size_t n;
    char **names;       /* sorted */
    struct span *spans; /* each name's VM object: a part of list_json, not a copy */
    char *list_json;
    size_t list_len;
    char *list_gz; /* list_json gzip'd once per change (NULL: could not) */
    size_t list_gz_len;
    unsigned long long gen; /* a new one only when list_json changed (GET /vms's ETag) */
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
    bool reused; /* this refresh reused the cached XML facts: same definition and state */
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

struct virt {
    char *uri;
    pthread_mutex_t conn_lock; /* guards conn and callback_id */
    virConnectPtr conn;
    int callback_id;

    pthread_t event_thread;
    bool event_started;
    atomic_bool stopping;
    void (*on_lifecycle)(struct virt *v, virDomainPtr d); /* a guest's lifecycle event */

    pthread_t inv_thread;
    pthread_mutex_t inv_lock; /* guards dirty, snap and refreshes */
    pthread_cond_t inv_cond;
    bool dirty;
    pthread_cond_t fresh_cond;    /* the inventory thread ended a refresh (see refreshes) */
    unsigned long long refreshes; /* the inventory thread's refreshes so far */
    atomic_llong refreshed_ms;    /* CLOCK_MONOTONIC when the newest whole refresh began */
    struct snapshot *snap;
    unsigned long long snap_gen; /* the published list's generation (its ETag) */
    char stale[VIRT_MAX_STALE][VIR_UUID_STRING_BUFLEN]; /* guests named by events since the
                                                           last refresh (-1 in nstale: more) */
    int nstale; /* -1: too many, re-read every guest's XML */

    pthread_mutex_t refresh_lock; /* one refresh at a time; guards cache */
    atomic_ulong guest_reads;     /* refresh_guest calls so far (a whole refresh's check) */
    struct xml_cache_entry *cache;
    size_t ncache;
    char *cache_tset, *cache_aset; /* the transient and autostart sets the cache was built with */

    struct bus *events; /* see virt_set_events */

    pthread_mutex_t busy_lock;
    struct busy_entry *busy;
    size_t nbusy;

    struct mover *mover; /* move/'s state (virt_mover_open); virt/ never reads it */
};

/* conn.c: starts the event loop thread and opens the connection (0, or -1 with `e`);
 * virt_conn_stop closes it and joins the thread (safe after a failed start). */
int virt_conn_start(struct virt *v, struct err *e);
void virt_conn_stop(struct virt *v);

/* busy.c: what guest `name` is busy with ("migrating", ...) copied into `out`, or NULL. */
const char *virt_busy_what(struct virt *v, const char *name, char *out, size_t len);

/* Whether libvirt sends this connection's lifecycle events (false too while it is closed). */
bool virt_conn_has_events(struct virt *v);

/* Returns a new reference to a live connection, reconnecting if needed. */
virConnectPtr virt_conn_get(struct virt *v, struct err *e);
/* conn.c: the guest with this UUID (string form) looked up over a new connection to this
 * host's libvirt, for one long call (a move's migration, which lasts the whole move):
 * libvirtd serves at most max_client_requests (5) calls of one connection at once and reads
 * nothing more from it meanwhile, so moves sharing the guest list's connection held every
 * other call (and a sixth move) until one ended, and a short call waited up to a keepalive
 * interval (5 s) beside four (measured in the lab). The domain holds the connection's only
 * reference: virDomainFree closes it. NULL when it cannot be opened or the guest is not
 * found there (the caller uses the shared connection). */
virDomainPtr virt_domain_own_conn(struct virt *v, const char *uuid);

/* Sets `e` from libvirt's last error of this thread: "<what>: <libvirt text>". */
int virt_err_libvirt(struct err *e, enum err_code code, enum msg id, const char *what);

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

/* An event named this guest: re-read its XML at the next refresh, which comes soon. */
void virt_inventory_mark_stale(struct virt *v, const char *uuid);

/* Starts/stops the inventory thread (inventory.c). */
int virt_inventory_start(struct virt *v, struct err *e);
void virt_inventory_stop(struct virt *v);

/* Takes a reference to the current snapshot (never NULL after start). */
struct snapshot *virt_snapshot_get(struct virt *v);
void virt_snapshot_put(struct snapshot *s);

/* Index of `name` in the snapshot, or -1. */
long virt_snapshot_find(const struct snapshot *s, const char *name);

#endif
