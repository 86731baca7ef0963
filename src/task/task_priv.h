/* task_priv.h - the task store, visible to the engine and the unit tests. */
#ifndef KIMCHID_TASK_PRIV_H
#define KIMCHID_TASK_PRIV_H

#include <jansson.h>

#include "../util/err.h"
#include "task.h"

struct task_store;

/* One persisted task. Strings are borrowed. `progress` is JSON text or NULL. */
struct task_record {
    long id;
    const char *status;
    const char *message;
    const char *target_uri;
    const char *progress;
    double created;
    double updated;
    const char *resume; /* JSON text: how to take a running task up after a restart, or NULL */
};

typedef void (*task_record_fn)(void *opaque, const struct task_record *r);

struct task_store *task_store_open(const char *path, struct err *e);
void task_store_close(struct task_store *s);

/* Inserts or replaces a record. */
int task_store_save(struct task_store *s, const struct task_record *r, struct err *e);

/* Calls fn for every record in id order. */
int task_store_load(struct task_store *s, task_record_fn fn, void *opaque, struct err *e);

/* Deletes one record. */
int task_store_delete(struct task_store *s, long id, struct err *e);

#endif
