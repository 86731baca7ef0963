/* trail.h - the audit trail: who logged in (or failed), who changed what, and how each task
 * ended; one line per event appended to its own file, never a secret. Thread-safe. */
#ifndef KIMCHID_TRAIL_H
#define KIMCHID_TRAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct trail;

/* One line read back: the values unescaped (a \xNN stays as written). */
struct trail_rec {
    char time[32]; /* "2026-11-26T14:51:02Z" */
    char user[128];
    char from[64];
    char request[2048];
    char outcome[2048];
};

/* Opens (creating, mode 0600) `path` for appending; past `max` bytes (0: never) it is renamed
 * `path`.1, replacing the one before, and a new one starts. NULL with `e` on failure. */
struct trail *trail_open(const char *path, size_t max, struct err *e);

/* Writes the summary of refused requests held back, if any. NULL is a no-op. */
void trail_close(struct trail *a);

/* How many lines trail_refused writes in a minute. */
#define TRAIL_REFUSED_PER_MINUTE 20

/* Appends one line: time, who ("-" when unknown), from where, what was asked, and its outcome.
 * Values are quoted with control bytes, quotes and backslashes escaped. NULL `a`: nothing. */
void trail_event(struct trail *a, const char *who, const char *addr, const char *what,
                 const char *outcome);

/* What trail_refused counts: each kind has its own budget. */
enum trail_kind {
    TRAIL_ANONYMOUS,    /* a request from nobody logged in, whatever its answer */
    TRAIL_LOGIN_FAILED, /* a failed login */
    TRAIL_KINDS
};

/* As trail_event, for a request from nobody logged in, which anyone can send as fast as they
 * like: past TRAIL_REFUSED_PER_MINUTE lines of its kind in a minute, the rest are counted, and
 * one line says how many ("requests without a login", or "failed logins" with the users and
 * addresses counted) when the next minute's first one of that kind comes, or the trail
 * closes. */
void trail_refused(struct trail *a, enum trail_kind k, const char *who, const char *addr,
                   const char *what, const char *outcome);

/* Calls fn for the lines of the trail, newest first, reading at most the last `max_bytes` of
 * the file; fn returns false to stop. Returns -1 with `e` when the file cannot be read. */
int trail_each(const struct trail *a, size_t max_bytes,
               bool (*fn)(void *ctx, const struct trail_rec *r), void *ctx, struct err *e);

#endif
