/* records.c - a task's record: written on every change (retried, and said when it fails),
 * loaded at start, purged after the TTL, and a task that ran when kimchid stopped taken up
 * again through the kind its job registered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/array.h"
#include "../util/log.h"
#include "engine_int.h"

const char TASK_RUNNING[] = "running", TASK_FINISHED[] = "finished", TASK_FAILED[] = "failed";

double task_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void task_destroy(struct task *k)
{
    if (!k)
        return;
    if (k->free_arg)
        k->free_arg(k->arg);
    free(k->message);
    free(k->target_uri);
    free(k->progress);
    free(k->resume);
    free(k);
}

const char *task_status_intern(const char *s)
{
    if (s && !strcmp(s, TASK_FINISHED))
        return TASK_FINISHED;
    if (s && !strcmp(s, TASK_FAILED))
        return TASK_FAILED;
    return TASK_RUNNING;
}

int task_append_locked(struct task_engine *t, struct task *k)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct task **nt = realloc(t->tasks, cap * sizeof(*nt));
        if (!nt)
            return -1;
        t->tasks = nt;
        t->cap = cap;
    }
    t->tasks[t->n++] = k;
    if (k->id >= t->next_id)
        t->next_id = k->id + 1;
    return 0;
}

/* Writes the task's current state to the store, retrying a failed write a few times (a
 * full disk may get room, a locked database may be released). While writes fail, the task
 * and the engine say so (task JSON "record_error"; new tasks get 507). Returns 0 or -1.
 * Called by the task's only writer. */
int task_persist(struct task_engine *t, struct task *k)
{
    static const unsigned int backoff_ms[] = {0, 50, 200};
    pthread_mutex_lock(&t->lock);
    struct task_record r = {k->id,       k->status,  k->message, k->target_uri,
                            k->progress, k->created, k->updated, NULL};
    char *msg = strdup(r.message), *prog = r.progress ? strdup(r.progress) : NULL;
    char *resume = k->resume ? strdup(k->resume) : NULL;
    pthread_mutex_unlock(&t->lock);
    r.message = msg ? msg : "";
    r.progress = prog;
    r.resume = resume;
    struct err e;
    int rc = -1;
    for (size_t i = 0; rc < 0 && i < ARRAY_SIZE(backoff_ms); i++) {
        if (backoff_ms[i])
            usleep(backoff_ms[i] * 1000);
        rc = task_store_save(t->store, &r, &e);
    }
    pthread_mutex_lock(&t->lock);
    k->unsaved = rc < 0;
    if (rc < 0)
        snprintf(t->store_error, sizeof(t->store_error), "%s", e.msg);
    else
        t->store_error[0] = 0;
    pthread_mutex_unlock(&t->lock);
    if (rc < 0)
        log_error("task %ld: %s (state directory \"%s\")", k->id, e.msg, t->state_dir);
    free(msg);
    free(prog);
    free(resume);
    return rc;
}

void task_engine_purge(struct task_engine *t)
{
    double cutoff = task_now() - (double)t->ttl;
    size_t nold = 0;
    long *old = NULL;
    pthread_mutex_lock(&t->lock);
    old = calloc(t->n + 1, sizeof(*old));
    size_t j = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct task *k = t->tasks[i];
        if (old && k->status != TASK_RUNNING && k->updated < cutoff) {
            old[nold++] = k->id;
            task_destroy(k);
        } else {
            t->tasks[j++] = k;
        }
    }
    t->n = j;
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < nold; i++) {
        struct err e;
        if (task_store_delete(t->store, old[i], &e) < 0)
            log_warn("purge: %s", e.msg);
    }
    if (nold)
        log_info("purged %zu old task(s)", nold);
    free(old);
}

/* Loads one stored record; a task that was running when kimchid stopped is failed. */
void task_load_record(void *opaque, const struct task_record *r)
{
    struct task_engine *t = opaque;
    struct task *k = calloc(1, sizeof(*k));
    if (!k)
        return;
    k->id = r->id;
    k->status = task_status_intern(r->status);
    k->target_uri = r->target_uri ? strdup(r->target_uri) : NULL;
    k->progress = r->progress ? strdup(r->progress) : NULL;
    k->created = r->created;
    k->updated = r->updated;
    if (k->status == TASK_RUNNING && r->resume) { /* taken up again by task_engine_resume */
        k->orphan = true;
        k->resume = strdup(r->resume);
        k->message = strdup("kimchid restarted while this task ran; it is checking where the "
                            "guest is");
        if (!k->resume || !k->message || task_append_locked(t, k) < 0)
            task_destroy(k);
        else
            task_persist(t, k);
        return;
    }
    if (k->status == TASK_RUNNING) {
        k->status = TASK_FAILED;
        k->updated = task_now();
        struct err m;
        err_set(&m, ERR_INTERNAL, M_TASK_INTERRUPTED,
                "The task was interrupted because kimchid stopped while it was running (last "
                "step: \"%s\"). Check the guest's state and start the task again if needed.",
                r->message ? r->message : "");
        k->message = strdup(m.msg);
        if (task_append_locked(t, k) == 0)
            task_persist(t, k);
        else
            task_destroy(k);
        return;
    }
    k->message = strdup(r->message ? r->message : "");
    if (task_append_locked(t, k) < 0)
        task_destroy(k);
}
