/* maint.h - this host's maintenance: while it is on, guests are not started here (unless
 * forced) and other kimchids' pre-flight refuses this host as a destination. The state is a
 * small JSON file, {"since": ISO time, "by": user}, at a path every kimchid knows (so that a
 * peer reads it over the ssh trust it already has) and that survives restarts; no file: not
 * in maintenance. Thread-safe. */
#ifndef KIMCHID_MAINT_H
#define KIMCHID_MAINT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Where a libvirt host's maintenance marker is (with the libvirt host it describes): what a
 * peer reads, and this kimchid's default (--maintenance-file). */
#define MAINT_DEFAULT_PATH "/var/lib/libvirt/kimchid-maintenance"

struct maint {
    bool on;
    char since[32]; /* "2026-12-07T04:20:00Z" */
    char by[64];    /* who started it */
};

/* Uses `path` (NULL: MAINT_DEFAULT_PATH) for this host's marker. Start-up only. */
void maint_init(const char *path);

/* This host's state, read from its marker each time (an operator may remove it by hand). */
void maint_get(struct maint *m);

/* Enters (`on`, by `who`) or ends maintenance: the marker is written whole or removed. */
int maint_set(bool on, const char *who, struct err *e);

/* A marker's text (a peer's, read over SFTP; "" when it has none) into *m. */
void maint_parse(const char *text, struct maint *m);

#endif
