/* engine_int.h - the task registry's structures, shared by engine.c (registry, queue,
 * workers, tasks taken up after a restart) and records.c (the registry's array, and what is
 * saved, loaded and purged), which engine.c uses and which uses nothing of engine.c.
 * Nothing else includes it. */
#ifndef KIMCHID_TASK_ENGINE_INT_H
#define KIMCHID_TASK_ENGINE_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "task.h"
#include "task_priv.h"

/* A task's status is one of these three strings (compared by address). */
extern const char TASK_RUNNING[], TASK_FINISHED[], TASK_FAILED[];

struct task {
    long id;
    const char *status; /* TASK_RUNNING, TASK_FINISHED or TASK_FAILED */
    char *message;
    char *target_uri;
    char *progress; /* JSON text or NULL */
    double created, updated;
    task_run_fn run;
    void *arg;
    task_free_fn free_arg;
    struct task *qnext;
    bool unsaved; /* its latest state could not be written to the store */
    char *resume; /* JSON text: what a restarted kimchid needs to take this task up again */
    bool orphan;  /* recorded as running when kimchid stopped; waits for task_engine_resume */
    /* cancellation: the job says when it can be stopped; a request waits for its answer */
    bool cancellable;
    const char *not_cancellable; /* why not, static string */
    enum { CANCEL_NONE, CANCEL_ASKED, CANCEL_DONE, CANCEL_REFUSED } cancel;
    char cancel_by[64];
    char cancel_why[256]; /* why the job could not stop (CANCEL_REFUSED) */
    bool recoverable;     /* it left a guest split: POST /tasks/:id/recover may join it */
};

struct task_engine {
    pthread_mutex_t lock; /* guards everything below but the store */
    pthread_cond_t cond;
    pthread_cond_t cancel_cond; /* a job answered a cancel request */
    struct task **tasks;        /* ascending id */
    size_t n, cap;
    long next_id;
    struct task *qhead, *qtail;
    bool stopping;
    bool draining;            /* shutting down: running tasks go on, new ones are refused */
    pthread_cond_t idle_cond; /* a task ended */
    unsigned long ends;       /* how many tasks ended: task_engine_wait_end's wake-up */
    pthread_t *threads;
    int nthreads, cap_threads;
    int idle; /* workers waiting for a task */
    long ttl;
    struct task_store *store;
    char state_dir[1024];   /* for messages */
    char store_error[1024]; /* the last failed write, while writes fail; else empty */
    struct trail *audit;    /* NULL: no audit trail */
    struct bus *events;     /* NULL: no event stream */
    struct {
        const char *kind;
        task_resume_fn resume;
    } kinds[8]; /* how each kind of task is taken up after a restart (task_engine_kind) */
    size_t nkinds;
};

struct task_ctx {
    struct task_engine *t;
    struct task *task;
};

/* records.c: the clock tasks are stamped with (seconds since the epoch). */
double task_now(void);
/* records.c: frees a task and its job's argument. NULL is a no-op. */
void task_destroy(struct task *k);
/* records.c: the status constant a stored status names (TASK_RUNNING for unknown ones). */
const char *task_status_intern(const char *s);
/* records.c: adds a task to the registry (ascending ids). 0, or -1 out of memory. */
int task_append_locked(struct task_engine *t, struct task *k);
/* records.c: writes the task's current state to the store (0 or -1; see there). */
int task_persist(struct task_engine *t, struct task *k);
/* records.c: task_store_load's callback for one stored record. */
void task_load_record(void *opaque, const struct task_record *r);

#endif
