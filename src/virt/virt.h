/* virt.h - libvirt: connection, event loop, guest inventory snapshots, actions, clone.
 * Thread-safe unless noted. Strings returned are new (caller frees) unless noted. */
#ifndef KIMCHID_VIRT_H
#define KIMCHID_VIRT_H

#include <stdbool.h>

#include "../util/err.h"

struct virt;

enum virt_action {
    VIRT_START,
    VIRT_POWEROFF,
    VIRT_SHUTDOWN,
    VIRT_RESET,
    VIRT_SUSPEND,
    VIRT_RESUME,
};

/* Called by long operations before each step; `message` is borrowed. */
typedef void (*virt_step_fn)(void *opaque, const char *message);

/* Registers libvirt's event loop (once per process), opens `uri`, starts the event
 * and inventory threads and takes the first snapshot. NULL with `e` on failure. */
struct virt *virt_new(const char *uri, struct err *e);

/* Stops the threads and closes the connection. NULL is a no-op. Main thread only. */
void virt_free(struct virt *v);

/* JSON array of all guests (Kimchi's VM objects), from the current snapshot. */
char *virt_vms_json(struct virt *v, struct err *e);

/* JSON VM object of one guest; ERR_NOT_FOUND when it does not exist. */
char *virt_vm_json(struct virt *v, const char *name, struct err *e);

/* State name of a guest ("running", "shutoff", ...) into `out` (size >= 16). */
int virt_vm_state(struct virt *v, const char *name, char *out, struct err *e);

/* Runs a lifecycle action after checking the state allows it (ERR_STATE if not). */
int virt_vm_action(struct virt *v, const char *name, enum virt_action a, struct err *e);

/* Powers the guest off if needed and removes its definition. Disk images are kept. */
int virt_vm_delete(struct virt *v, const char *name, struct err *e);

/* Marks a guest busy with an operation ("migrating", "cloning") so that other
 * changes get ERR_CONFLICT. Fails with ERR_CONFLICT when already busy. */
int virt_busy_claim(struct virt *v, const char *name, const char *what, struct err *e);

/* Releases a claim taken with virt_busy_claim. */
void virt_busy_release(struct virt *v, const char *name);

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

/* Migration job figures; -1 where not (yet) known. */
struct virt_job_info {
    double percent;
    long long data_total, data_processed, data_remaining; /* bytes */
    long long memory_bps;                                  /* bytes/s */
    long long elapsed_ms, remaining_ms, downtime_ms;
};

/* Called from a helper thread about every half second while a migration runs. */
typedef void (*virt_progress_fn)(void *opaque, const struct virt_job_info *info);

struct virt_migrate_opts {
    const char *host;             /* as given: names the remote libvirt (qemu+ssh://root@host) */
    const char *addr;             /* numeric address the migration data goes to */
    bool delete_source;           /* undefine the source definition on success */
    unsigned long long bandwidth; /* MiB/s; 0 = unlimited */
};

/* Opens the remote libvirt over ssh as root and checks that it is another host (libvirt
 * host UUID) with the same architecture and hypervisor. Blocking: task workers only. */
int virt_remote_check(struct virt *v, const char *host, struct err *e);

/* Migrates guest `name`: live peer-to-peer when active, offline when shut off. On failure
 * the guest stays where it was. `final` gets the completed job's figures. Blocking. */
int virt_vm_migrate(struct virt *v, const char *name, const struct virt_migrate_opts *o,
                    virt_progress_fn progress, void *opaque, struct virt_job_info *final,
                    struct err *e);

/* Requests a fresh snapshot soon (after an out-of-band change). */
void virt_inventory_poke(struct virt *v);

/* Takes a fresh snapshot now, in the calling thread. */
int virt_inventory_refresh(struct virt *v, struct err *e);

/* Validates a guest name taken from a URI or a body (ERR_INVALID). */
int virt_name_check(const char *name, struct err *e);

#endif
