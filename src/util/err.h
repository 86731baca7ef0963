/* err.h - the daemon's one error carrier and its mapping to HTTP. */
#ifndef KIMCHID_ERR_H
#define KIMCHID_ERR_H

#include <stdbool.h>
#include <stddef.h>

#include "msg.h"

enum err_code {
    ERR_NONE = 0,
    ERR_INVALID,     /* bad input: 400 */
    ERR_STATE,       /* the guest's state forbids it: 400 */
    ERR_AUTH,        /* not authenticated: 401 */
    ERR_FORBIDDEN,   /* not allowed: 403 */
    ERR_NOT_FOUND,   /* 404 */
    ERR_METHOD,      /* 405 */
    ERR_CONFLICT,    /* 409 */
    ERR_TOO_LARGE,   /* 413 */
    ERR_BUSY,        /* 429 */
    ERR_INTERNAL,    /* 500 */
    ERR_BACKEND,     /* libvirt or another backend failed: 500 */
    ERR_UNAVAILABLE, /* 503 */
    ERR_STORAGE      /* kimchid cannot write its records: 507 */
};

/* The message starts with a stable id from msgs.def ("ID: text") and is a whole sentence; the
 * id is also kept apart, so that no caller parses it out of the text. */
struct err {
    enum err_code code;
    char id[16];
    char msg[1024];
};

/* Sets code and a formatted message "ID: text"; returns -1 so callers can
 * write `return err_set(...)`. A NULL carrier is allowed and ignored. */
int err_set(struct err *e, enum err_code code, enum msg id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* err_set for the one failure with no other words: ERR_INTERNAL, "Out of memory." Returns -1. */
int err_oom(struct err *e);

/* Replaces the message's text, keeping its code and id (a step naming its cause). */
int err_reword(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adds formatted text to the end of the message (cut where it no longer fits). */
void err_append(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message without its "ID: " prefix. */
const char *err_text(const struct err *e);

/* Whether the error carries this id. */
bool err_is(const struct err *e, enum msg id);

/* Resets the carrier to "no error". */
void err_clear(struct err *e);

/* HTTP status number for an error code (500 for ERR_NONE, which is a bug). */
int err_http_status(enum err_code code);

/* Status line text for an error code, e.g. "404 Not Found". Static string. */
const char *err_status_line(enum err_code code);

/* Status line text for an HTTP status number. Static string. */
const char *err_status_line_for(int status);

#endif
