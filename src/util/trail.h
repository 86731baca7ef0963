/* trail.h - the audit trail: who logged in (or failed), who changed what, and how each task
 * ended; one line per event appended to its own file, never a secret. Thread-safe. */
#ifndef KIMCHID_TRAIL_H
#define KIMCHID_TRAIL_H

#include "err.h"

struct trail;

/* Opens (creating, mode 0600) `path` for appending. NULL with `e` on failure. */
struct trail *trail_open(const char *path, struct err *e);

/* NULL is a no-op. */
void trail_close(struct trail *a);

/* Appends one line: time, who ("-" when unknown), from where, what was asked, and its outcome.
 * Values are quoted with control bytes, quotes and backslashes escaped. NULL `a`: nothing. */
void trail_event(struct trail *a, const char *who, const char *addr, const char *what,
                 const char *outcome);

#endif
