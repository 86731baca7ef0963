/* virt_priv.h - internals shared by the files of the virt module. */
#ifndef KIMCHID_VIRT_PRIV_H
#define KIMCHID_VIRT_PRIV_H

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "virt.h"

/* Facts about one guest read from its XML. Strings owned by the struct. */
struct vm_info {
    char *name;
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *title;
    char *description;
    unsigned long long memory_kib;     /* <currentMemory> */
    unsigned long long maxmemory_kib;  /* <maxMemory> or <memory> */
    unsigned int vcpus;
    unsigned int maxvcpus;
    char *graphics_type;               /* NULL: none */
    char *graphics_listen;
    int graphics_port;                 /* -1: none or not yet assigned */
};

/* One published view of all guests; immutable once published, reference counted. */
struct snapshot {
    atomic_int refs;
    size_t n;
    char **names;  /* sorted */
    char **jsons;  /* VM object per name */
    char *list_json;
};

/* Cached per-guest XML facts, keyed by UUID; `stale` forces a new XML read. */
struct xml_cache_entry {
    char uuid[VIR_UUID_STRING_BUFLEN];
    int state;
    bool stale;
    struct vm_info info;
};

struct busy_entry {
    char *name;
    char *what;
};

/* An open connection to a remote host's libvirt, kept for later migrations. */
struct remote_entry {
    char *host;
    virConnectPtr conn;
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
    char stale[32][VIR_UUID_STRING_BUFLEN]; /* guests named by events since the last refresh */
    int nstale;                             /* -1: too many, re-read every guest's XML */

    pthread_mutex_t refresh_lock; /* one refresh at a time; guards cache */
    struct xml_cache_entry *cache;
    size_t ncache;

    pthread_mutex_t remote_lock; /* guards remotes; never held across a libvirt call */
    struct remote_entry *remotes;
    size_t nremotes;

    pthread_mutex_t busy_lock;
    struct busy_entry *busy;
    size_t nbusy;
};

/* Returns a new reference to a live connection, reconnecting if needed. */
virConnectPtr virt_conn_get(struct virt *v, struct err *e);

/* Sets `e` from libvirt's last error of this thread: "<what>: <libvirt text>". */
int virt_err_libvirt(struct err *e, enum err_code code, const char *id, const char *what);

/* Looks a guest up by name; ERR_NOT_FOUND with Kimchi's message when unknown. */
virDomainPtr virt_domain_lookup(virConnectPtr c, const char *name, struct err *e);

/* Parses domain XML into `info` (zeroed first). */
int virt_domxml_parse(const char *xml, struct vm_info *info, struct err *e);

/* Frees the strings of `info`. */
void virt_vm_info_clear(struct vm_info *info);

/* Kimchi's state name for a libvirt state number. Static string. */
const char *virt_state_name(int state);

/* A new reference to a live connection to root@host's libvirt over ssh, reusing a cached
 * one (remote.c). NULL with `e` when it cannot be opened. */
virConnectPtr virt_remote_get(struct virt *v, const char *host, struct err *e);

/* "qemu+ssh://root@HOST/system?no_tty=1", with brackets for an IPv6 address. */
void virt_remote_uri(const char *host, char *out, size_t len);

/* Closes the cached remote connections (virt_free). */
void virt_remote_close_all(struct virt *v);

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
