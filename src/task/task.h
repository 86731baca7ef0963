/* task.h - long operations as tasks: a registry under one mutex, a FIFO feeding worker
 * threads, and records persisted in SQLite so finished tasks survive a restart. Knows no
 * kind of task: the jobs (jobs.h) register how theirs are taken up after a restart. */
#ifndef KIMCHID_TASK_H
#define KIMCHID_TASK_H

#include <jansson.h>
#include <stdbool.h>

#include "../util/err.h"

struct task_engine;
struct task_ctx;
struct virt;

/* A job: runs in a worker thread; returns 0 (finished) or -1 with `e` (failed).
 * The last message it set stays as the finished task's message. */
typedef int (*task_run_fn)(struct task_ctx *ctx, void *arg, struct err *e);
typedef void (*task_free_fn)(void *arg);

/* Opens (creating) the store at db_path, loads old records (a task that was running is
 * kept for task_engine_resume if it recorded how to take it up again, else marked failed as
 * interrupted) and starts `workers` threads. NULL with `e` on failure. */
struct task_engine *task_engine_new(const char *db_path, int workers, long ttl_seconds,
                                    struct err *e);

/* Stops taking tasks, lets running ones finish, fails queued ones as interrupted, joins
 * the workers and closes the store. NULL is a no-op. */
void task_engine_free(struct task_engine *t);

/* Queues a job. `arg` is stolen (freed with free_arg, also on failure). Returns the new
 * task's JSON object (new reference) or NULL with `e`. */
json_t *task_engine_submit(struct task_engine *t, const char *target_uri, task_run_fn run,
                           void *arg, task_free_fn free_arg, struct err *e);

/* The most worker threads the pool grows to (task_engine_submit_now). */
#define TASK_WORKERS_MAX 64

/* As task_engine_submit, for a job that must start at once: a task that waits for others
 * (an evacuation) and the tasks it waits for. When no worker is idle the pool grows by one
 * (up to TASK_WORKERS_MAX; the caller bounds how many such tasks it runs). */
json_t *task_engine_submit_now(struct task_engine *t, const char *target_uri, task_run_fn run,
                               void *arg, task_free_fn free_arg, struct err *e);

/* How many tasks have ended so far; task_engine_wait_end waits for it to pass `seen`, at most
 * `ms` milliseconds: a job following other tasks (an evacuation) reads the count before it
 * reads their states, so an end between that read and the wait is not missed (it then starts
 * the next move at once, not at its next poll). */
unsigned long task_engine_ends(struct task_engine *t);
void task_engine_wait_end(struct task_engine *t, unsigned long seen, long ms);

/* Snapshot of one task as a JSON object (new reference); ERR_NOT_FOUND when unknown. */
json_t *task_engine_get(struct task_engine *t, const char *id, struct err *e);

/* Snapshot of all tasks, optionally filtered by exact status / target_uri (NULL: any). */
json_t *task_engine_list(struct task_engine *t, const char *status, const char *target_uri);

struct trail;
/* Each task's end goes to this audit trail too (NULL: none). Before the first task. */
void task_engine_set_audit(struct task_engine *t, struct trail *a);

struct bus;
/* Each task's creation, progress and end go to this event bus as "task" frames (its GET
 * /tasks/:id object; NULL: none). Before the first task. */
void task_engine_set_events(struct task_engine *t, struct bus *b);

/* Removes finished and failed tasks last changed more than the TTL ago. */
void task_engine_purge(struct task_engine *t);

/* From a job: sets the task's message (the current step). */
void task_ctx_message(struct task_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* From a job: what a restarted kimchid needs to take this task up again (stolen JSON object
 * with "kind"; NULL clears it). Written to the store at once; cleared when the task ends. */
void task_ctx_resume(struct task_ctx *c, json_t *resume);

/* After start, before serving requests: each task recorded as running when kimchid stopped
 * is taken up again (a migration follows libvirt's job and settles where the guest is); one
 * that cannot be fails saying why. Main thread, once. */
void task_engine_resume(struct task_engine *t, struct virt *v);

/* How a kind of task is taken up after a restart: from its resume data (task_ctx_resume,
 * whose "kind" names it), the job to run (0), or -1 with `e` saying why it cannot be. */
typedef int (*task_resume_fn)(struct virt *v, json_t *resume, task_run_fn *run, void **arg,
                              task_free_fn *free_arg, struct err *e);

/* Registers a kind of task that can be taken up again (at most 8). Main thread, before
 * task_engine_resume. */
void task_engine_kind(struct task_engine *t, const char *kind, task_resume_fn resume);

/* From a job: sets the task's progress object (stolen; NULL clears it). */
void task_ctx_progress(struct task_ctx *c, json_t *progress);

/* Asks a running task to stop (POST /tasks/:id/cancel) on behalf of `user`, and waits a few
 * seconds for the job's answer. 0: it stopped, or stops at its next step; -1 with `e`:
 * ERR_NOT_FOUND, or ERR_CONFLICT saying why not (ended already, past the point of no
 * return, a kind of task that cannot stop). HTTP threads; blocks only on the engine. */
int task_engine_cancel(struct task_engine *t, const char *id, const char *user, struct err *e);

/* Shutdown, first part: refuses new tasks (503) and waits up to `seconds` for the running
 * ones to end. Returns how many still run. Main thread. */
size_t task_engine_drain(struct task_engine *t, long seconds);

/* Asks every running task that can stop to stop (as `who`), without waiting. */
void task_engine_cancel_all(struct task_engine *t, const char *who);

/* From a job: whether it can be stopped now (a task starts as not cancellable); `why_not`
 * is a static string used in the 409. */
void task_ctx_cancellable(struct task_ctx *c, bool yes, const char *why_not);

/* From a job: true once someone asked to cancel it; `by` gets who (may be NULL). */
bool task_ctx_cancel_asked(struct task_ctx *c, char *by, size_t len);

/* From a job: answers a cancel request: stopped, or not (why, shown in the 409). */
void task_ctx_cancel_answer(struct task_ctx *c, bool stopped, const char *why);

/* The running task's id. */
long task_ctx_id(struct task_ctx *c);

/* The running task left a guest split (its JSON says "recoverable": true). */
void task_ctx_recoverable(struct task_ctx *c, bool yes);

/* Marks task `id` as one that left a guest split (its JSON says "recoverable": true), or no
 * longer. */
void task_engine_recoverable(struct task_engine *t, long id, bool yes);

#endif
