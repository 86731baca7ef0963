/* statelock.h - one kimchid per state directory: an exclusive lock held for the process's
 * life, so two daemons never write the same task records. */
#ifndef KIMCHID_STATELOCK_H
#define KIMCHID_STATELOCK_H

#include "err.h"

/* Takes the lock on `dir`/kimchid.lock (created 0600) and writes this process's id into it.
 * Returns the descriptor (kept open until exit; the lock ends with the process), or -1
 * with `e` naming the process that holds it. Never blocks. */
int state_lock(const char *dir, struct err *e);

#endif
