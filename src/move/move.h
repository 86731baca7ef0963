/* move.h - moving guests between hosts: the checks on the destination, the move with its
 * progress, convergence and stall rules, where the guest is after a failure (settle), post-copy
 * recovery, following a move after a restart, and the storage a move copies. Built on virt/
 * (this host's libvirt). Thread-safe unless noted. */
#ifndef KIMCHID_MOVE_H
#define KIMCHID_MOVE_H

#include <stdbool.h>
#include <stddef.h>

#include "../virt/virt.h"

/* The mover's own state on `v` (cached remote connections, host facts, its timers): opened
 * after virt_new, closed before virt_free. Main thread. */
int virt_mover_open(struct virt *v, struct err *e);
void virt_mover_close(struct virt *v);

/* Migration job figures; -1 where not (yet) known. */
struct virt_job_info {
    const char *phase; /* "setup", "disks", "memory", "postcopy", "finishing"; static */
    double percent;
    long long data_total, data_processed, data_remaining; /* bytes, disks and memory */
    long long disk_total, disk_processed;                 /* bytes of copied disks */
    long long memory_total, memory_processed;             /* bytes of guest memory */
    long long memory_bps;                                 /* bytes/s */
    long long elapsed_ms, remaining_ms;
    long long downtime_ms;          /* the completed move's; -1 while it runs */
    long long expected_downtime_ms; /* while it runs: libvirt's estimate of the pause */
    long long iteration;            /* pre-copy passes over guest memory */
    long long dirty_bps;            /* how fast the guest writes memory, bytes/s */
    int throttle_pct;               /* how much auto-converge slows the guest's vCPUs */
    int converging;                 /* 1: what remains shrinks; 0: it does not; -1: unknown */
};

/* How a live move converges, as the request asked (kimchid's defaults: auto-converge on,
 * no post-copy). A shut-off guest's move copies no memory and ignores it. */
struct virt_policy {
    unsigned long long bandwidth; /* MiB/s; 0 = unlimited */
    int max_downtime_ms;          /* 0: libvirt's default */
    bool auto_converge;           /* libvirt slows a guest that writes faster than the link */
    bool postcopy;                /* switch to post-copy when pre-copy stops making progress */
    int parallel;                 /* connections for the memory; 0 or 1: one */
    bool compression;             /* XBZRLE: re-sent pages go as their changes */
    bool encrypted;               /* TLS for the memory and disk streams (pki makes it work) */
    int completion_s;             /* the time budget, seconds per GiB of memory and copied
                                   * disks; -1: kimchid's --completion-timeout; 0: none */
    bool completion_postcopy;     /* past the budget: switch to post-copy (else stop) */
};

/* One disk of a guest as a migration sees it (virt_vm_storage). */
struct virt_disk {
    char target[32];                       /* "vda" */
    char format[16];                       /* "qcow2", "raw" */
    char *path;                            /* file or device; NULL for a network disk */
    bool network, block;                   /* a network disk; a block device */
    bool shared;                           /* on storage both hosts see: stays put */
    bool readonly;                         /* CD-ROM or read-only: must exist there already */
    unsigned long long capacity, physical; /* bytes (copied disks) */
    bool created;                          /* its copy's volume exists on the destination */
};

struct virt_storage {
    struct virt_disk *disks;
    size_t n;
};

/* Reads guest `name`'s disks and decides for each whether it stays (shared), is copied
 * (local, writable) or must exist on the destination (local, read-only). Clear `s` after. */
int virt_vm_storage(struct virt *v, const char *name, struct virt_storage *s, struct err *e);

/* True for a disk the migration copies. */
bool virt_disk_copied(const struct virt_disk *d);

/* How many disks the migration copies. */
size_t virt_storage_copies(const struct virt_storage *s);

/* Frees the disks; the struct is zeroed and may be reused. */
void virt_storage_clear(struct virt_storage *s);

/* Called from a helper thread about every half second while a migration runs. */
typedef void (*virt_progress_fn)(void *opaque, const struct virt_job_info *info);

/* Where a guest runs after a migration call failed (virt_vm_migrate settles it). */
enum virt_where {
    VIRT_WHERE_SOURCE,
    VIRT_WHERE_DEST,
    VIRT_WHERE_UNKNOWN,
    VIRT_WHERE_SPLIT /* a post-copy move broke off: part of its memory on each host */
};

struct virt_migrate_opts {
    const char *host;             /* as given: names the remote libvirt (qemu+ssh://root@host) */
    const char *addr;             /* numeric address the migration data goes to */
    bool delete_source;           /* undefine the source definition on success */
    struct virt_policy policy;    /* how a live move converges */
    struct virt_storage *storage; /* from virt_vm_storage: targets are created and filled */
    char *removed;                /* out: the source's copies removed (delete_source) */
    size_t removed_len;
    char *note;                    /* out: the move completed although libvirt reported an */
    size_t note_len;               /* error: what it said and what kimchid did about it */
    void (*calling)(void *opaque); /* called (with the progress opaque) once the destination's
                                    * volumes exist, just before the move starts: from here on
                                    * the move can outlive kimchid */
    enum virt_where *where;        /* out (may be NULL): where the guest is after a failure */
    void (*say)(void *opaque, const char *what); /* (may be NULL) what kimchid does now, for the
                                                  * task's message: post-copy recovery */
};

/* What to do when a destination's QEMU cannot use userfaultfd (post-copy): a format taking
 * the host's name, for both the check before a move and libvirt's words after one. */
#define VIRT_POSTCOPY_ADVICE                                                                       \
    "On \"%s\" run \"sysctl -w vm.unprivileged_userfaultfd=1\" (and put it in /etc/sysctl.d/ to "  \
    "keep it), or move the guest without postcopy."

/* Sets the autostart flag of the guest with this UUID on `host` (NULL: this host), over a
 * fresh connection. The guest autostarts only where it lives: a move turns it off here before
 * the guest leaves (an old definition left behind would otherwise start a second copy at the
 * next boot), on there once it runs there, and back on here when the move fails. Blocking. */
int virt_autostart_set(struct virt *v, const char *host, const char *uuid, bool on, struct err *e);

/* The time budget of a live move when the request gives none: `seconds` per GiB of guest
 * memory and copied disks (0: none), never less than VIRT_BUDGET_FLOOR_MS. Main thread. */
void virt_set_completion_timeout(struct virt *v, long seconds);
#define VIRT_BUDGET_FLOOR_MS 120000

/* The check of the guest's disks (`s`, from virt_vm_storage) against `host`: each copied
 * disk has a pool there and no file of its name yet; what happens to each disk goes into
 * `said` ("vda is copied into pool \"default\" on \"host-b\""). Read-only. Blocking. */
int virt_remote_storage_check(struct virt *v, const char *host, const struct virt_storage *s,
                              char *said, size_t len, struct err *e);

/* Opens the remote libvirt over ssh as root and checks that it is another host (libvirt
 * host UUID) with the same architecture and hypervisor. Blocking: task workers only. */
int virt_remote_check(struct virt *v, const char *host, struct err *e);

/* The version of the remote host's QEMU as libvirt gives it (7002000 for 7.2); 0 when it
 * cannot be read. Blocking: task workers only. */
unsigned long virt_remote_qemu_version(struct virt *v, const char *host);

/* Refuses (ERR_CONFLICT, saying what to do) a move that would collide on the destination:
 * another guest of the same name, this guest (same UUID) already active there, or its UUID
 * under another name. Blocking: task workers only. */
int virt_remote_guest_check(struct virt *v, const char *host, const char *name, struct err *e);

/* Whether the destination's hypervisor can run the guest's CPU (libvirt's
 * virConnectCompareHypervisorCPU of its <cpu> for its domain type, arch and machine):
 * M_MIG_CPU naming what is missing; 0 otherwise, with `warning` set for a CPU that is this
 * host's own (host-passthrough) or one libvirt could not compare. Blocking. */
int virt_remote_cpu_check(struct virt *v, const char *host, const char *name, char *warning,
                          size_t len, struct err *e);

/* The memory guest `name` needs on `host` (its current memory and QEMU's overhead, 256 MiB,
 * estimated) and what `host` has free (free, buffers and page cache), in KiB. Blocking. */
int virt_remote_memory_figures(struct virt *v, const char *host, const char *name,
                               unsigned long long *need_kib, unsigned long long *avail_kib,
                               struct err *e);

/* The memory check on those figures: 0 when `avail_kib` holds `need_kib`, M_MIG_MEMORY
 * otherwise; `note` says the figures. */
int virt_memory_fits(const char *host, const char *name, unsigned long long need_kib,
                     unsigned long long avail_kib, char *note, size_t len, struct err *e);

/* Refuses (M_MIG_DEVICES) a guest with a device of this host passed through (<hostdev>). */
int virt_vm_devices_check(struct virt *v, const char *name, struct err *e);

/* Stops the migration job running on guest `name` (libvirt's abort); ERR_CONFLICT when
 * libvirt cannot stop it any more (switch-over, post-copy, finished). Blocking. */
int virt_vm_abort_job(struct virt *v, const char *name, struct err *e);

/* A migration that moves no data for this long is stopped and fails as stalled. Call
 * before the first migration (start-up). */
void virt_set_stall_timeout(struct virt *v, long seconds);

/* The ssh command libvirt runs for connections to other hosts (sshc_command_install). Call
 * at start-up, before the first migration. */
void virt_set_ssh_command(struct virt *v, const char *path);

/* Migrates guest `name`: live peer-to-peer when active, offline when shut off. On failure
 * the guest stays where it was. `final` gets the completed job's figures. Blocking. */
int virt_vm_migrate(struct virt *v, const char *name, const struct virt_migrate_opts *o,
                    virt_progress_fn progress, void *opaque, struct virt_job_info *final,
                    struct err *e);

/* Runs the post-copy recovery again for guest `name`, which a move to o->host left split
 * between the hosts (o: host, addr, policy, delete_source of that move): both QEMUs' status
 * read and acted on until the halves join or timers.recover_s passes; neither half is ever
 * stopped. Where the guest is (DEST: joined; SPLIT: still apart; UNKNOWN with e: no such
 * guest here), and in note what happened. Blocking: task workers only. */
enum virt_where virt_vm_postcopy_recover(struct virt *v, const char *name,
                                         const struct virt_migrate_opts *o, virt_progress_fn fn,
                                         void *opaque, char *note, size_t len, struct err *e);

/* A guest's UUID, as text. */
#define VIRT_UUID_LEN 37
int virt_vm_uuid(struct virt *v, const char *name, char out[VIRT_UUID_LEN], struct err *e);

/* A move that kimchid started before it restarted (virt_vm_follow). */
struct virt_follow {
    const char *name, *host, *uuid;
    bool offline;                 /* the guest was shut off: its disks and definition move */
    bool delete_source;           /* the request asked for the source's removal */
    struct virt_storage *storage; /* the copied disks (path, and created on the destination) */
    char *note;                   /* out: how the move ended, when it completed */
    size_t note_len;
    enum virt_where *where; /* out (may be NULL): where the guest is, as learnt */
    void (*say)(void *opaque, const char *what); /* (may be NULL) the task's message while
                                                  * kimchid waits to learn where it is */
};

/* After a restart: follows libvirt's job on the guest (progress as for virt_vm_migrate) until
 * it ends, then learns from both hosts where the guest is. 0: it runs on the destination (the
 * source definition is marked or removed as the request said, `final` gets the job's figures
 * when libvirt still has them); -1 with `e` saying where it is and what kimchid did. Blocking. */
int virt_vm_follow(struct virt *v, const struct virt_follow *f, virt_progress_fn fn, void *opaque,
                   struct virt_job_info *final, struct err *e);

/* A live move that stops making progress (what remains does not shrink) for this long is
 * stopped as not converging (M_MIG_NOT_CONVERGING); 0: never. */
void virt_set_converge_timeout(struct virt *v, long seconds);

#endif
