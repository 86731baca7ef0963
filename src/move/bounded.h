/* bounded.h - a blocking libvirt call with a bound. libvirt has no timeout for a call whose
 * answer depends on a QEMU monitor: a QEMU that does not answer (a TCG vCPU waiting for a
 * post-copy page while holding QEMU's big lock, a hung host) holds the call, and whoever
 * waits on it, forever. The call runs on a thread of its own; the caller waits as long as it
 * chooses and may let go of a call that has not returned: the thread then finishes (or
 * never does) on its own and frees what it was given. */
#ifndef KIMCHID_BOUNDED_H
#define KIMCHID_BOUNDED_H

#include <stdbool.h>

struct bounded;

/* Starts fn(arg) on a detached thread. `arg` is the call's own (copies of everything it
 * reads); free_arg(arg) runs when both the thread and the caller have let go. NULL when no
 * thread could be started (arg freed). */
struct bounded *bounded_start(int (*fn)(void *arg), void *arg, void (*free_arg)(void *arg));

/* Waits up to ms for the call; true when it has returned (its result in *rc). */
bool bounded_wait(struct bounded *b, int ms, int *rc);

/* The call's arg, to read its results once bounded_wait said it returned. */
void *bounded_arg(struct bounded *b);

/* How long ago the call started (ms). */
long long bounded_age_ms(struct bounded *b);

/* The caller lets go (a call still running keeps its arg until it returns). NULL is fine. */
void bounded_release(struct bounded *b);

#endif
