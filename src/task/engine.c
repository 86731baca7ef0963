/* engine.c - the task registry (one mutex), the FIFO queue and its worker threads; what is
 * saved and taken up after a restart is records.c's. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/array.h"
#include "../util/bus.h"
#include "../util/clock.h"
#include "../util/log.h"
#include "../util/trail.h"
#include "engine_int.h"

static json_t *task_to_json_locked(const struct task *k);

/* Tells stream clients the task's state (its GET /tasks/:id object). Under t->lock, so that
 * two threads' updates of one task reach the bus in the order they were made. */
static void announce_locked(struct task_engine *t, const struct task *k)
{
    if (!t->events)
        return;
    bus_publish_json(t->events, "task", task_to_json_locked(k));
}

static int cmp_id(const void *key, const void *elem)
{
    long id = *(const long *)key, other = (*(struct task *const *)elem)->id;
    return (id > other) - (id < other);
}

static long find_locked(struct task_engine *t, long id)
{
    struct task **hit = t->n ? bsearch(&id, t->tasks, t->n, sizeof(*t->tasks), cmp_id) : NULL;
    return hit ? (long)(hit - t->tasks) : -1;
}

/* The task whose id is the decimal text `id` (from a URI), or NULL with ERR_NOT_FOUND. */
static struct task *find_text_locked(struct task_engine *t, const char *id, struct err *e)
{
    char *end = NULL;
    long n = strtol(id, &end, 10);
    long i = (*id && end && !*end && n > 0) ? find_locked(t, n) : -1;
    if (i < 0)
        err_set(e, ERR_NOT_FOUND, M_TASK_NOT_FOUND, "Task \"%.32s\" does not exist.", id);
    return i >= 0 ? t->tasks[i] : NULL;
}

void task_set_message(struct task_engine *t, struct task *k, const char *status, char *msg)
{
    pthread_mutex_lock(&t->lock);
    if (msg) {
        free(k->message);
        k->message = msg;
    }
    k->status = status;
    k->updated = task_now();
    pthread_mutex_unlock(&t->lock);
    task_persist(t, k);
    pthread_mutex_lock(&t->lock); /* after the record is written: what clients see is saved */
    announce_locked(t, k);
    if (status != TASK_RUNNING) { /* a drain may exit right after */
        t->ends++;
        pthread_cond_broadcast(&t->idle_cond);
    }
    pthread_mutex_unlock(&t->lock);
}

unsigned long task_engine_ends(struct task_engine *t)
{
    pthread_mutex_lock(&t->lock);
    unsigned long n = t->ends;
    pthread_mutex_unlock(&t->lock);
    return n;
}

void task_engine_wait_end(struct task_engine *t, unsigned long seen, long ms)
{
    struct timespec until = clock_after(CLOCK_REALTIME, ms);
    pthread_mutex_lock(&t->lock);
    while (t->ends == seen && pthread_cond_timedwait(&t->idle_cond, &t->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&t->lock);
}

void task_ctx_message(struct task_ctx *c, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    task_set_message(c->t, c->task, TASK_RUNNING, msg);
}

/* Replaces one of the task's JSON text fields with `value` (stolen; NULL clears it). */
static void set_json_field(struct task_ctx *c, char **field, json_t *value)
{
    char *s = value ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    pthread_mutex_lock(&c->t->lock);
    free(*field);
    *field = s;
    c->task->updated = task_now();
    pthread_mutex_unlock(&c->t->lock);
}

void task_ctx_progress(struct task_ctx *c, json_t *progress)
{
    set_json_field(c, &c->task->progress, progress);
    pthread_mutex_lock(&c->t->lock);
    announce_locked(c->t, c->task);
    pthread_mutex_unlock(&c->t->lock);
}

void task_ctx_resume(struct task_ctx *c, json_t *resume)
{
    set_json_field(c, &c->task->resume, resume);
    task_persist(c->t, c->task);
}

/* A cancel request is pending or was honoured. */
static bool cancel_asked(const struct task *k)
{
    return k->cancel == CANCEL_ASKED || k->cancel == CANCEL_DONE;
}

long task_ctx_id(struct task_ctx *c)
{
    return c->task->id;
}

void task_ctx_recoverable(struct task_ctx *c, bool yes)
{
    pthread_mutex_lock(&c->t->lock);
    c->task->recoverable = yes;
    pthread_mutex_unlock(&c->t->lock);
}

void task_engine_recoverable(struct task_engine *t, long id, bool yes)
{
    pthread_mutex_lock(&t->lock);
    long i = find_locked(t, id);
    struct task *k = i >= 0 ? t->tasks[i] : NULL;
    if (k && k->recoverable != yes) {
        k->recoverable = yes;
        announce_locked(t, k);
    }
    pthread_mutex_unlock(&t->lock);
}

void task_ctx_cancellable(struct task_ctx *c, bool yes, const char *why_not)
{
    pthread_mutex_lock(&c->t->lock);
    c->task->cancellable = yes;
    c->task->not_cancellable = why_not;
    pthread_mutex_unlock(&c->t->lock);
}

bool task_ctx_cancel_asked(struct task_ctx *c, char *by, size_t len)
{
    pthread_mutex_lock(&c->t->lock);
    bool asked = cancel_asked(c->task);
    if (asked && by)
        snprintf(by, len, "%s", c->task->cancel_by);
    pthread_mutex_unlock(&c->t->lock);
    return asked;
}

void task_ctx_cancel_answer(struct task_ctx *c, bool stopped, const char *why)
{
    pthread_mutex_lock(&c->t->lock);
    if (c->task->cancel == CANCEL_ASKED) {
        c->task->cancel = stopped ? CANCEL_DONE : CANCEL_REFUSED;
        snprintf(c->task->cancel_why, sizeof(c->task->cancel_why), "%s", why ? why : "");
        if (!stopped)
            c->task->cancellable = false;
        pthread_cond_broadcast(&c->t->cancel_cond);
    }
    pthread_mutex_unlock(&c->t->lock);
}

/* How long a cancel request waits for the job to say whether it stopped. */
#define CANCEL_WAIT_S 5

static int cancel_refusal(struct task *k, const char *why, struct err *e)
{
    return err_set(e, ERR_CONFLICT, M_TASK_NOT_CANCELLABLE, "Task %ld cannot be cancelled: %s.",
                   k->id, why);
}

static int cancel_locked(struct task_engine *t, struct task *k, const char *user, struct err *e)
{
    if (k->status != TASK_RUNNING)
        return err_set(e, ERR_CONFLICT, M_TASK_FINISHED,
                       "Task %ld has already %s; there is nothing to cancel.", k->id, k->status);
    if (!k->cancellable)
        return cancel_refusal(
            k, k->not_cancellable ? k->not_cancellable : "this kind of task cannot be stopped", e);
    if (!cancel_asked(k)) {
        k->cancel = CANCEL_ASKED;
        snprintf(k->cancel_by, sizeof(k->cancel_by), "%s", user);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += CANCEL_WAIT_S;
    while (k->cancel == CANCEL_ASKED && k->status == TASK_RUNNING &&
           pthread_cond_timedwait(&t->cancel_cond, &t->lock, &until) == 0)
        ;
    if (k->cancel == CANCEL_REFUSED)
        return cancel_refusal(k, k->cancel_why, e);
    return 0; /* stopped, or stopping at the job's next step */
}

int task_engine_cancel(struct task_engine *t, const char *id, const char *user, struct err *e)
{
    pthread_mutex_lock(&t->lock);
    struct task *k = find_text_locked(t, id, e); /* a running task is never purged */
    int rc = k ? cancel_locked(t, k, user, e) : -1;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static size_t running_locked(struct task_engine *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += t->tasks[i]->status == TASK_RUNNING;
    return n;
}

size_t task_engine_drain(struct task_engine *t, long seconds)
{
    pthread_mutex_lock(&t->lock);
    t->draining = true;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    size_t n;
    while ((n = running_locked(t)) > 0 &&
           pthread_cond_timedwait(&t->idle_cond, &t->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&t->lock);
    return n;
}

void task_engine_cancel_all(struct task_engine *t, const char *who)
{
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->n; i++) {
        struct task *k = t->tasks[i];
        if (k->status == TASK_RUNNING && k->cancellable && !cancel_asked(k)) {
            k->cancel = CANCEL_ASKED;
            snprintf(k->cancel_by, sizeof(k->cancel_by), "%s", who);
            log_warn("task %ld: cancelled by %s", k->id, who);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

/* Appends a task to the FIFO and wakes a worker. */
void task_enqueue_locked(struct task_engine *t, struct task *k)
{
    if (t->qtail)
        t->qtail->qnext = k;
    else
        t->qhead = k;
    t->qtail = k;
    pthread_cond_signal(&t->cond);
}

static int queued_locked(struct task_engine *t)
{
    int n = 0;
    for (struct task *k = t->qhead; k; k = k->qnext)
        n++;
    return n;
}

static struct task *pop_locked(struct task_engine *t)
{
    struct task *k = t->qhead;
    if (k) {
        t->qhead = k->qnext;
        if (!t->qhead)
            t->qtail = NULL;
        k->qnext = NULL;
    }
    return k;
}

void task_engine_set_audit(struct task_engine *t, struct trail *a)
{
    t->audit = a;
}

void task_engine_set_events(struct task_engine *t, struct bus *b)
{
    t->events = b;
}

/* The task's end, for the audit trail (who started it is in the line of its request): written
 * before the task shows it ended, so whoever sees the end finds it in the trail too. msg NULL:
 * the task's current message. */
static void audit_end(struct task_engine *t, struct task *k, const char *status, const char *msg)
{
    char what[600];
    snprintf(what, sizeof(what), "task %ld %s", k->id, k->target_uri ? k->target_uri : "");
    pthread_mutex_lock(&t->lock);
    char *outcome = NULL;
    if (!msg)
        msg = k->message ? k->message : "";
    if (asprintf(&outcome, "%s: %.400s", status, msg) < 0)
        outcome = NULL;
    pthread_mutex_unlock(&t->lock);
    trail_event(t->audit, "-", "-", what, outcome ? outcome : status);
    free(outcome);
}

static void run_one(struct task_engine *t, struct task *k)
{
    struct task_ctx ctx = {t, k};
    struct err e;
    err_clear(&e);
    int rc = k->run(&ctx, k->arg, &e);
    if (k->free_arg)
        k->free_arg(k->arg);
    k->arg = NULL;
    k->free_arg = NULL;
    pthread_mutex_lock(&t->lock);
    k->cancellable = false;
    free(k->resume); /* an ended task has nothing to take up again */
    k->resume = NULL;
    if (rc == 0 && k->cancel == CANCEL_ASKED) { /* it finished before the job could answer */
        k->cancel = CANCEL_REFUSED;
        snprintf(k->cancel_why, sizeof(k->cancel_why), "it finished meanwhile");
    }
    pthread_cond_broadcast(&t->cancel_cond); /* a waiting cancel request sees the end */
    pthread_mutex_unlock(&t->lock);
    if (rc == 0) {
        audit_end(t, k, TASK_FINISHED, NULL);
        task_set_message(t, k, TASK_FINISHED, NULL);
        log_info("task %ld finished: %s", k->id, k->message);
    } else {
        if (!e.msg[0])
            err_set(&e, ERR_INTERNAL, M_TASK_FAILED, "The task failed.");
        audit_end(t, k, TASK_FAILED, e.msg);
        task_set_message(t, k, TASK_FAILED, strdup(e.msg));
        log_warn("task %ld failed: %s", k->id, k->message);
    }
}

static void *worker(void *arg)
{
    struct task_engine *t = arg;
    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (!t->stopping && !t->qhead)
            pthread_cond_wait(&t->cond, &t->lock);
        if (t->stopping)
            break;
        struct task *k = pop_locked(t);
        t->idle--; /* counted idle from its start (add_worker_locked) */
        pthread_mutex_unlock(&t->lock);
        run_one(t, k);
        pthread_mutex_lock(&t->lock);
        t->idle++;
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* "2026-11-26T18:30:48.123Z" from seconds since the epoch. */
static json_t *iso_time(double t)
{
    time_t secs = (time_t)t;
    struct tm tm;
    char out[40];
    if (!gmtime_r(&secs, &tm))
        return json_null();
    size_t n = strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, sizeof(out) - n, ".%03dZ", (int)((t - (double)secs) * 1000.0) % 1000);
    return json_string(out);
}

static json_t *task_to_json_locked(const struct task *k)
{
    char id[24];
    snprintf(id, sizeof(id), "%ld", k->id);
    json_t *progress = k->progress ? json_loads(k->progress, 0, NULL) : NULL;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:o}", "id", id, "status", k->status, "message",
                          k->message ? k->message : "", "target_uri", k->target_uri, "progress",
                          progress ? progress : json_null());
    if (o) { /* extensions: when it began and last changed (the history page's durations) */
        json_object_set_new(o, "created", iso_time(k->created));
        json_object_set_new(o, "updated", iso_time(k->updated));
    }
    if (o && k->recoverable) /* extension: the page offers POST /tasks/:id/recover */
        json_object_set_new(o, "recoverable", json_true());
    if (o && k->unsaved) /* extension, only while this state is not on disk */
        json_object_set_new(o, "record_error",
                            json_string("kimchid could not save this task's latest state; it "
                                        "will be lost if kimchid restarts now"));
    return o;
}

/* Takes a task that never ran out of the registry again (its first save failed). */
static void unlist_locked(struct task_engine *t, struct task *k)
{
    long i = find_locked(t, k->id);
    if (i < 0)
        return;
    memmove(&t->tasks[i], &t->tasks[i + 1], (t->n - (size_t)i - 1) * sizeof(*t->tasks));
    t->n--;
}

/* One more worker (the pool grows for task_engine_submit_now); false when none can start. */
static bool add_worker_locked(struct task_engine *t)
{
    if (t->nthreads >= TASK_WORKERS_MAX)
        return false;
    if (t->nthreads == t->cap_threads) {
        int cap = t->cap_threads ? t->cap_threads * 2 : 4;
        pthread_t *grown = realloc(t->threads, (size_t)cap * sizeof(*grown));
        if (!grown)
            return false;
        t->threads = grown;
        t->cap_threads = cap;
    }
    if (pthread_create(&t->threads[t->nthreads], NULL, worker, t) != 0)
        return false;
    t->nthreads++;
    t->idle++; /* counted at once: the next submit_now must not start another for this one */
    return true;
}

static json_t *submit(struct task_engine *t, const char *target_uri, task_run_fn run, void *arg,
                      task_free_fn free_arg, bool now, struct err *e);

json_t *task_engine_submit(struct task_engine *t, const char *target_uri, task_run_fn run,
                           void *arg, task_free_fn free_arg, struct err *e)
{
    return submit(t, target_uri, run, arg, free_arg, false, e);
}

json_t *task_engine_submit_now(struct task_engine *t, const char *target_uri, task_run_fn run,
                               void *arg, task_free_fn free_arg, struct err *e)
{
    return submit(t, target_uri, run, arg, free_arg, true, e);
}

static json_t *submit(struct task_engine *t, const char *target_uri, task_run_fn run, void *arg,
                      task_free_fn free_arg, bool now, struct err *e)
{
    struct task *k = calloc(1, sizeof(*k));
    if (!k || !(k->message = strdup("queued")) ||
        (target_uri && !(k->target_uri = strdup(target_uri)))) {
        if (k)
            k->free_arg = free_arg, k->arg = arg;
        task_destroy(k);
        err_oom(e);
        return NULL;
    }
    k->status = TASK_RUNNING;
    k->created = k->updated = task_now();
    k->run = run;
    k->arg = arg;
    k->free_arg = free_arg;
    pthread_mutex_lock(&t->lock);
    json_t *out = NULL;
    if (t->stopping || t->draining) {
        err_set(e, ERR_UNAVAILABLE, M_TASK_SHUTDOWN, "kimchid is shutting down; try again later.");
    } else {
        k->id = t->next_id;
        if (task_append_locked(t, k) < 0)
            err_oom(e);
        else
            out = task_to_json_locked(k);
    }
    pthread_mutex_unlock(&t->lock);
    if (!out) {
        task_destroy(k);
        return NULL;
    }
    /* saved before a worker can see it (the worker is its only writer after this): a task
     * whose record cannot be written is refused, not run without a record */
    if (task_persist(t, k) < 0) {
        json_decref(out);
        pthread_mutex_lock(&t->lock);
        unlist_locked(t, k);
        err_set(e, ERR_STORAGE, M_TASK_STORAGE,
                "kimchid cannot save task records in its state directory \"%s\" (%s), so it "
                "refuses new tasks until it can. Free space there or fix its permissions, then "
                "try again.",
                t->state_dir, t->store_error);
        pthread_mutex_unlock(&t->lock);
        task_destroy(k);
        return NULL;
    }
    pthread_mutex_lock(&t->lock);
    if (now && t->idle <= queued_locked(t) && !add_worker_locked(t))
        log_warn("task %ld: no worker thread could be added; it waits for one", k->id);
    task_enqueue_locked(t, k);
    announce_locked(t, k);
    pthread_mutex_unlock(&t->lock);
    return out;
}

json_t *task_engine_get(struct task_engine *t, const char *id, struct err *e)
{
    pthread_mutex_lock(&t->lock);
    struct task *k = find_text_locked(t, id, e);
    json_t *out = k ? task_to_json_locked(k) : NULL;
    pthread_mutex_unlock(&t->lock);
    if (k && !out)
        err_oom(e);
    return out;
}

json_t *task_engine_list(struct task_engine *t, const char *status, const char *target_uri)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->n; i++) {
        struct task *k = t->tasks[i];
        if (status && strcmp(status, k->status))
            continue;
        if (target_uri && (!k->target_uri || strcmp(target_uri, k->target_uri)))
            continue;
        json_array_append_new(arr, task_to_json_locked(k));
    }
    pthread_mutex_unlock(&t->lock);
    return arr;
}

struct task_engine *task_engine_new(const char *db_path, int workers, long ttl_seconds,
                                    struct err *e)
{
    struct task_engine *t = calloc(1, sizeof(*t));
    if (!t) {
        err_oom(e);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    pthread_cond_init(&t->cancel_cond, NULL);
    pthread_cond_init(&t->idle_cond, NULL);
    t->next_id = 1;
    t->ttl = ttl_seconds;
    snprintf(t->state_dir, sizeof(t->state_dir), "%s", db_path);
    char *slash = strrchr(t->state_dir, '/');
    if (slash)
        *slash = 0;
    if (!(t->store = task_store_open(db_path, e)) ||
        task_store_load(t->store, task_load_record, t, e) < 0)
        goto fail;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < workers; i++)
        if (!add_worker_locked(t))
            break;
    pthread_mutex_unlock(&t->lock);
    if (t->nthreads == 0) {
        err_set(e, ERR_INTERNAL, M_TASK_WORKERS, "Cannot start the task workers.");
        goto fail;
    }
    return t;
fail:
    task_engine_free(t);
    return NULL;
}

void task_engine_kind(struct task_engine *t, const char *kind, task_resume_fn resume)
{
    if (t->nkinds < ARRAY_SIZE(t->kinds)) {
        t->kinds[t->nkinds].kind = kind;
        t->kinds[t->nkinds++].resume = resume;
    }
}

static task_resume_fn kind_resume(struct task_engine *t, const char *kind)
{
    for (size_t i = 0; kind && i < t->nkinds; i++)
        if (!strcmp(t->kinds[i].kind, kind))
            return t->kinds[i].resume;
    return NULL;
}

/* Queues an orphan with its job (the worker is its only writer from now on). */
static void requeue_locked(struct task_engine *t, struct task *k, task_run_fn run, void *arg,
                           task_free_fn free_arg)
{
    k->orphan = false;
    k->run = run;
    k->arg = arg;
    k->free_arg = free_arg;
    task_enqueue_locked(t, k);
}

/* Takes one orphan up: its job, or failed saying why it cannot be. */
static void resume_one(struct task_engine *t, struct task *k, struct virt *v)
{
    json_t *r = json_loads(k->resume, 0, NULL);
    const char *kind = json_string_value(json_object_get(r, "kind"));
    task_run_fn run = NULL;
    void *arg = NULL;
    task_free_fn free_arg = NULL;
    struct err e;
    err_clear(&e);
    task_resume_fn resume = kind_resume(t, kind);
    int rc = resume ? resume(v, r, &run, &arg, &free_arg, &e)
                    : err_set(&e, ERR_INTERNAL, M_TASK_BAD_RECORD, "unknown kind of task");
    json_decref(r);
    if (rc == 0) {
        pthread_mutex_lock(&t->lock);
        requeue_locked(t, k, run, arg, free_arg);
        pthread_mutex_unlock(&t->lock);
        log_info("task %ld: taken up again after the restart", k->id);
        return;
    }
    k->orphan = false;
    free(k->resume);
    k->resume = NULL;
    char cause[sizeof(e.msg)];
    snprintf(cause, sizeof(cause), "%s", err_text(&e));
    err_set(&e, ERR_INTERNAL, M_TASK_INTERRUPTED,
            "The task was interrupted because kimchid stopped while it was running, and it "
            "cannot be taken up again: %s. Check the guest's state and start the task again "
            "if needed.",
            cause);
    task_set_message(t, k, TASK_FAILED, strdup(e.msg));
    log_warn("task %ld failed: %s", k->id, k->message);
}

void task_engine_resume(struct task_engine *t, struct virt *v)
{
    /* orphans exist only from loading; nothing else adds or removes them meanwhile (a
     * running task is never purged), so the array is walked without holding the lock */
    for (size_t i = 0; i < t->n; i++)
        if (t->tasks[i]->orphan)
            resume_one(t, t->tasks[i], v);
}

static void fail_queued(struct task_engine *t)
{
    struct task *k;
    while ((k = pop_locked(t))) {
        pthread_mutex_unlock(&t->lock);
        struct err m;
        err_set(&m, ERR_INTERNAL, M_TASK_INTERRUPTED,
                "The task was interrupted because kimchid stopped before it started. Start it "
                "again.");
        task_set_message(t, k, TASK_FAILED, strdup(m.msg));
        pthread_mutex_lock(&t->lock);
    }
}

void task_engine_free(struct task_engine *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    for (int i = 0; i < t->nthreads; i++)
        pthread_join(t->threads[i], NULL);
    pthread_mutex_lock(&t->lock);
    if (t->store)
        fail_queued(t);
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < t->n; i++)
        task_destroy(t->tasks[i]);
    free(t->tasks);
    free(t->threads);
    task_store_close(t->store);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    pthread_cond_destroy(&t->cancel_cond);
    pthread_cond_destroy(&t->idle_cond);
    free(t);
}
