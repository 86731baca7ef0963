/* jobs.h - the kinds of task kimchid runs: clone, migrate, and the post-copy recovery run
 * again. Each builds on the engine (task.h); the engine knows none of them. */
#ifndef KIMCHID_TASK_JOBS_H
#define KIMCHID_TASK_JOBS_H

#include "../move/move.h"
#include "task.h"

/* Registers the kinds of task that can be taken up after a restart (a move). Before
 * task_engine_resume. */
void task_jobs_register(struct task_engine *t);

/* Job: clone shut-off guest `name` as `new_name` (both copied). `new_name` must have been
 * reserved with virt_clone_name_reserve; the job releases it and the source's claim (and so
 * does a failure here). `target_uri`: the task's, formatted by the API. */
json_t *task_submit_clone(struct task_engine *t, struct virt *v, const char *name,
                          const char *new_name, const char *target_uri, struct err *e);

struct task_migrate_req {
    const char *name;
    const char *remote_host;
    const char *user;              /* NULL: use existing key login */
    char *password;                /* stolen (wiped and freed by the job), NULL with user */
    const char *host_key;          /* "SHA256:..." the destination's ssh key must be; NULL: any */
    const char *migration_address; /* the destination's address memory and disks go to;
                                    * NULL: from --migration-network, else the host's */
    bool delete_source;
    bool start_now;            /* an evacuation's move: starts at once (task_engine_submit_now) */
    char reached[64];          /* the address the POST resolved and found answering just now
                                * ("": none): the task's first step takes it instead of
                                * resolving and probing again */
    struct virt_policy policy; /* bandwidth and how a live move converges */
};

/* A move's policy when the request says nothing: auto-converge, encrypted, one connection,
 * kimchid's time budget. */
struct virt_policy task_migrate_default_policy(void);

/* Job: run the post-copy recovery again for the guest that task `id` (a move) left split
 * between two hosts. ERR_NOT_FOUND for no such task; ERR_CONFLICT when that task left
 * nothing split, or the guest is busy. */
json_t *task_submit_recover(struct task_engine *t, struct virt *v, const char *id, struct err *e);

/* check_only: runs every check a move of `name` to `remote_host` would run, moving nothing
 * and starting no task (with user and password it sets up the ssh trust: that login is the
 * check). {"ready": bool, "checks": [{"id", "ok", "message", "warning"?, "skipped"?}]}, or
 * NULL with `e` when the guest cannot be read. The password is stolen in every case.
 * Blocking (ssh and the other host's libvirt, each within its bound). */
json_t *task_migrate_check(struct virt *v, struct task_migrate_req *r, struct err *e);

/* Part of those checks: the ones that depend only on the two hosts (host, login, libvirt,
 * maintenance, network, TLS, post-copy, lock manager), or only the guest's (guest, storage,
 * CPU, memory, devices; the host's having passed): an evacuation checks each destination once
 * and each guest against it. Same answer's shape. */
enum task_check_part { TASK_CHECK_ALL, TASK_CHECK_HOST, TASK_CHECK_GUEST };
/* What the memory check read, in KiB (both 0 when it read nothing: a shut-off guest, or a
 * part without it), so that a plan sending several guests to one host need not read it
 * again. */
struct task_memory {
    unsigned long long need_kib, avail_kib;
};
json_t *task_migrate_check_part(struct virt *v, struct task_migrate_req *r,
                                enum task_check_part part, struct task_memory *mem, struct err *e);

/* --migration-network: the destination's address in this network (CIDR, checked by the
 * caller) carries a move's memory and disks when the request names none. Start-up only. */
void task_migrate_set_network(const char *cidr);

/* Job: migrate guest `name` to `remote_host`. Claims the guest as busy ("migrating")
 * until the job ends (ERR_CONFLICT if it is busy already). Strings are copied except
 * the password, which is stolen in every case. */
json_t *task_submit_migrate(struct task_engine *t, struct virt *v, struct task_migrate_req *r,
                            const char *target_uri, struct err *e);

/* POST /host/evacuate: every guest of this host moves to one of `dests` (checked by the
 * caller: names, not this host), at most max_parallel at once and EVAC_INCOMING_MAX into one
 * destination; shut-off persistent guests too with include_shutoff. */
struct task_evacuate_req {
    const char *const *dests;
    size_t ndests;
    int max_parallel;
    bool include_shutoff;
};

/* check_only: the plan, moving nothing: {"ready", "guests": [{"name", "destination", "status":
 * "waiting"|"cannot-move"|"skipped", "message"}], "destinations": [...]}. Blocking (each guest
 * checked against each destination). */
json_t *task_evacuate_plan(struct virt *v, const struct task_evacuate_req *r, struct err *e);

/* Job: plans, then moves every guest it can, each through its own move task; one
 * evacuation at a time (ERR_CONFLICT naming the running one). */
json_t *task_submit_evacuate(struct task_engine *t, struct virt *v,
                             const struct task_evacuate_req *r, struct err *e);

#endif
