/* virt.h - this host's libvirt: connection, event loop, guest inventory snapshots, actions,
 * clone. Moving guests between hosts is move/'s (move.h).
 * Thread-safe unless noted. Strings returned are new (caller frees) unless noted. */
#ifndef KIMCHID_VIRT_H
#define KIMCHID_VIRT_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/err.h"

struct virt;

enum virt_action {
    VIRT_START,
    VIRT_POWEROFF,
    VIRT_SHUTDOWN,
    VIRT_RESET,
    VIRT_SUSPEND,
    VIRT_RESUME,
    VIRT_START_FORCE, /* start even an old definition whose guest was moved elsewhere */
    VIRT_REBOOT,      /* asks the guest to restart (ACPI, else the guest agent) */
};

/* libvirt's guest states (virDomainState's values), as bits for the rules of what each state
 * allows (the API's route table holds those rules). */
enum virt_state {
    VIRT_ST_NOSTATE,
    VIRT_ST_RUNNING,
    VIRT_ST_BLOCKED,
    VIRT_ST_PAUSED,
    VIRT_ST_SHUTDOWN,
    VIRT_ST_SHUTOFF,
    VIRT_ST_CRASHED,
    VIRT_ST_PMSUSPENDED,
    VIRT_NSTATES
};
#define VIRT_BIT(s) (1u << (s))
#define VIRT_ANY_STATE (VIRT_BIT(VIRT_NSTATES) - 1u)
/* a guest with a QEMU process */
#define VIRT_ACTIVE                                                                                \
    (VIRT_BIT(VIRT_ST_RUNNING) | VIRT_BIT(VIRT_ST_BLOCKED) | VIRT_BIT(VIRT_ST_PAUSED) |            \
     VIRT_BIT(VIRT_ST_SHUTDOWN) | VIRT_BIT(VIRT_ST_PMSUSPENDED) | VIRT_BIT(VIRT_ST_NOSTATE))
/* a guest whose vCPUs run */
#define VIRT_UP (VIRT_BIT(VIRT_ST_RUNNING) | VIRT_BIT(VIRT_ST_BLOCKED))

/* Kimchi's state name for a state ("running", "shutoff", ...). Static string. */
const char *virt_state_name(int state);

/* One action on a guest: its name ("start": POST /vms/:name/start; "delete"), its label in
 * the guests' menu, and the states (VIRT_BIT()s) that allow it. */
struct virt_action_def {
    const char *name;
    const char *label;
    unsigned int states;
};

/* The guests' actions, from the API's route table: each VM object lists those its state
 * allows as "actions" (an extension). Copied. Call once, before virt_new. */
void virt_actions_define(const struct virt_action_def *defs, size_t n);

/* Every action as [{"name", "label"}], in the order defined. New reference (jansson). */
struct json_t *virt_actions_json(void);

/* Called by long operations before each step; `message` is borrowed. */
typedef void (*virt_step_fn)(void *opaque, const char *message);

/* Registers libvirt's event loop (once per process), opens `uri`, starts the event
 * and inventory threads and takes the first snapshot. NULL with `e` on failure. */
struct virt *virt_new(const char *uri, struct err *e);

/* Stops the threads and closes the connection. NULL is a no-op. Main thread only. */
void virt_free(struct virt *v);

/* The guest list as GET /vms serves it, not copied: the published snapshot's body (gzip'd
 * when `gzip` and available), its length and generation (new with each change of the list:
 * its ETag); `ref` holds the snapshot until virt_body_release(ref). */
struct virt_body {
    const char *data;
    size_t len;
    bool gzip;
    unsigned long long gen;
    void *ref;
};
void virt_vms_body(struct virt *v, bool gzip, struct virt_body *out);
void virt_body_release(void *ref);

/* JSON VM object of one guest; ERR_NOT_FOUND when it does not exist. */
char *virt_vm_json(struct virt *v, const char *name, struct err *e);

/* devices.c: a guest's storages, interfaces or snapshots as Kimchi lists them (JSON array
 * text), or, with `one`, the one whose dev, MAC or name it is (404 with Kimchi's id). */
enum virt_devices { VIRT_STORAGES, VIRT_IFACES, VIRT_SNAPSHOTS };
char *virt_vm_devices_json(struct virt *v, const char *name, enum virt_devices kind,
                           const char *one, struct err *e);

/* host.c: Kimchi's /host ({"arch"}) and /host/cpuinfo (the CPU topology libvirt reports), as
 * JSON text. */
char *virt_host_json(struct virt *v, struct err *e);
char *virt_cpuinfo_json(struct virt *v, struct err *e);

/* State name of a guest ("running", "shutoff", ...) into `out` (size >= 16). */
int virt_vm_state(struct virt *v, const char *name, char *out, struct err *e);

/* A guest's state (enum virt_state), or -1 with `e` (ERR_NOT_FOUND when it does not exist). */
int virt_vm_state_id(struct virt *v, const char *name, struct err *e);

/* Runs a lifecycle action; the caller has checked that the state allows it (libvirt refuses
 * what the state does not allow: ERR_BACKEND). */
int virt_vm_action(struct virt *v, const char *name, enum virt_action a, struct err *e);

/* Powers the guest off if needed and removes its definition. Disk images are kept. */
int virt_vm_delete(struct virt *v, const char *name, struct err *e);

/* Marks a guest busy with an operation ("migrating", "cloning") so that other
 * changes get ERR_CONFLICT. Fails with ERR_CONFLICT when already busy. A move claims its guest
 * as VIRT_BUSY_MIGRATING: the inventory reads that claim (it does not re-read such a guest's
 * XML until the move's end). */
#define VIRT_BUSY_MIGRATING "migrating"
int virt_busy_claim(struct virt *v, const char *name, const char *what, struct err *e);

/* Releases a claim taken with virt_busy_claim. */
void virt_busy_release(struct virt *v, const char *name);

/* ERR_CONFLICT when libvirt runs a job on the guest (a migration kimchid did not start, or
 * started before a restart). Makes a libvirt call. */
int virt_vm_job_check(struct virt *v, const char *name, struct err *e);

/* Checks the guest is not busy; ERR_CONFLICT naming the operation if it is. */
int virt_busy_check(struct virt *v, const char *name, struct err *e);

/* Picks "<name>-clone-<n>" not used by any guest or claim, claims it as busy and
 * writes it into out (size outlen). The caller releases it after the clone. */
int virt_clone_name_reserve(struct virt *v, const char *name, char *out, size_t outlen,
                            struct err *e);

/* Claims `name` for a guest about to be created; ERR_CONFLICT when a guest or a claim
 * already has it. Release with virt_busy_release. */
int virt_name_reserve(struct virt *v, const char *name, struct err *e);

/* Clones shut-off guest `name` as `new_name`: new UUID and MACs, copies of the disk
 * volumes (every disk must live in a storage pool). Leaves nothing behind on failure. */
int virt_vm_clone(struct virt *v, const char *name, const char *new_name, virt_step_fn step,
                  void *opaque, struct err *e);

/* A guest's autostart flag (libvirt's: started when its host's libvirtd starts). */
int virt_vm_autostart(struct virt *v, const char *name, bool *on, struct err *e);

/* One guest of this host, as an evacuation plans its moves. */
struct virt_guest_brief {
    char name[256];
    int state; /* enum virt_state (shut off: persistent, a transient guest has no such state) */
};

/* Every guest of this host, by name: a new array in *out (free it), its length in *n. */
int virt_guest_list(struct virt *v, struct virt_guest_brief **out, size_t *n, struct err *e);

struct bus;
/* Guests that appear, go or change (state, stats, definition) go to this event bus as "vm"
 * frames (NULL: none). Call at start-up, before clients connect. */
void virt_set_events(struct virt *v, struct bus *b);

/* Requests a fresh snapshot soon (after an out-of-band change). */
void virt_inventory_poke(struct virt *v);

/* Called before a request reads the list: when its figures are older than 3 s (nobody
 * followed the event stream for a while), a refresh now, waited for at most half a second. */
void virt_inventory_fresh(struct virt *v);

/* Takes a fresh snapshot now, in the calling thread. */
int virt_inventory_refresh(struct virt *v, struct err *e);

/* A fresh snapshot now, in the calling thread, in which only guest `name` is read again (its
 * definition, state and figures; left out when it no longer exists): for a guest kimchid
 * itself just acted on. A whole refresh reads every running guest's figures from its QEMU,
 * which on a host of many guests costs more than the change it is for; the others' figures
 * are the periodic refresh's. */
int virt_inventory_refresh_guest(struct virt *v, const char *name, struct err *e);

/* Validates a guest name taken from a URI or a body (ERR_INVALID). */
int virt_name_check(const char *name, struct err *e);

#endif
