/* pcdecide.h - what to do next with a post-copy move that broke, decided from both QEMUs'
 * own migration status (query-migrate) and nothing else: a pure function, unit-tested for
 * every combination (tests/unit/test_pcdecide.c). The caller reads both sides, asks, acts,
 * and reads again. */
#ifndef KIMCHID_PCDECIDE_H
#define KIMCHID_PCDECIDE_H

#include <stdbool.h>

/* One side's QEMU, as query-migrate (or its absence) tells it. */
enum pc_status {
    PC_UNKNOWN,    /* no answer: the host, its libvirt or its QEMU's monitor is away or hung */
    PC_GONE,       /* no such guest on that side any more */
    PC_NONE,       /* no migration in that QEMU (it runs, or is paused, on its own) */
    PC_ACTIVE,     /* "postcopy-active": pages still flowing, or the link silently dead */
    PC_PAUSED,     /* "postcopy-paused": QEMU saw the break and waits for recovery */
    PC_RECOVERING, /* "postcopy-recover": a recovery handshake under way */
    PC_COMPLETED,  /* "completed" */
    PC_FAILED,     /* "failed" */
};

struct pc_side {
    enum pc_status status;
    bool moving; /* pages moved since the previous read (PC_ACTIVE, PC_RECOVERING) */
};

/* Whether the destination's QEMU ever ran the guest (its vCPUs started): when its half is
 * gone, this alone says whether the source's half is the whole guest. */
enum pc_ran { PC_RAN_NO, PC_RAN_YES, PC_RAN_UNKNOWN };

enum pc_action {
    PC_DONE,       /* a side completed: the move is done (end the stale source half) */
    PC_WAIT,       /* pages still flowing, or a side not answering: read both again */
    PC_PAUSE,      /* a side is active but nothing moves: pause it (source: abort-job
                      postcopy; destination: QMP migrate-pause) so both reach paused */
    PC_RESUME,     /* both paused: one VIR_MIGRATE_POSTCOPY_RESUME, then read again */
    PC_UNSTICK,    /* a side sits in postcopy-recover with nothing moving: pause it (QEMU
                      7.2 can hang there when the link fails during the handshake) */
    PC_RUN_SOURCE, /* the destination's half is gone and never ran: the source's half is the
                      whole guest; resume it there */
    PC_LOST,       /* a half is gone and the other cannot run alone, or nothing can tell
                      whether the destination ran: stop neither half, report */
};

enum pc_action pc_decide(struct pc_side src, struct pc_side dst, enum pc_ran dst_ran);

/* One side from QMP's answer to query-migrate (`json`, the whole reply text): its "status",
 * and `moving` when the pages transferred grew since `*transferred` (updated). NULL or a
 * reply without a status: PC_UNKNOWN. */
struct pc_side pc_side_from_qmp(const char *json, long long *transferred);

/* The action's name, for logs and task messages. */
const char *pc_action_name(enum pc_action a);

#endif
