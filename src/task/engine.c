/* engine.c - the task registry (one mutex), the FIFO queue and its worker threads. */
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
#include "../util/log.h"
#include "../util/trail.h"
#include "task.h"
#include "task_priv.h"

static const char RUNNING[] = "running", FINISHED[] = "finished", FAILED[] = "failed";

struct task {
    long id;
    const char *status; /* RUNNING, FINISHED or FAILED */
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
    pthread_t *threads;
    int nthreads;
    long ttl;
    struct task_store *store;
    char state_dir[1024];   /* for messages */
    char store_error[1024]; /* the last failed write, while writes fail; else empty */
    struct trail *audit;    /* NULL: no audit trail */
    struct bus *events;     /* NULL: no event stream */
};

struct task_ctx {
    struct task_engine *t;
    struct task *task;
};

static json_t *task_to_json_locked(const struct task *k);

/* Tells stream clients the task's state (its GET /tasks/:id object). Under t->lock, so that
 * two threads' updates of one task reach the bus in the order they were made. */
static void announce_locked(struct task_engine *t, const struct task *k)
{
    if (!t->events)
        return;
    json_t *o = task_to_json_locked(k);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text)
        bus_publish(t->events, "task", text);
    free(text);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void task_free(struct task *k)
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

static const char *status_intern(const char *s)
{
    if (s && !strcmp(s, FINISHED))
        return FINISHED;
    if (s && !strcmp(s, FAILED))
        return FAILED;
    return RUNNING;
}

static int append_locked(struct task_engine *t, struct task *k)
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

static long find_locked(struct task_engine *t, long id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->tasks[mid]->id == id)
            return (long)mid;
        if (t->tasks[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
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

/* Writes the task's current state to the store, retrying a failed write a few times (a
 * full disk may get room, a locked database may be released). While writes fail, the task
 * and the engine say so (task JSON "record_error"; new tasks get 507). Returns 0 or -1.
 * Called by the task's only writer. */
static int persist(struct task_engine *t, struct task *k)
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

static void set_message(struct task_engine *t, struct task *k, const char *status, char *msg)
{
    pthread_mutex_lock(&t->lock);
    if (msg) {
        free(k->message);
        k->message = msg;
    }
    k->status = status;
    k->updated = now();
    pthread_mutex_unlock(&t->lock);
    persist(t, k);
    pthread_mutex_lock(&t->lock); /* after the record is written: what clients see is saved */
    announce_locked(t, k);
    if (status != RUNNING) /* a drain may exit right after */
        pthread_cond_broadcast(&t->idle_cond);
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
    set_message(c->t, c->task, RUNNING, msg);
}

/* Replaces one of the task's JSON text fields with `value` (stolen; NULL clears it). */
static void set_json_field(struct task_ctx *c, char **field, json_t *value)
{
    char *s = value ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    pthread_mutex_lock(&c->t->lock);
    free(*field);
    *field = s;
    c->task->updated = now();
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
    persist(c->t, c->task);
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
    if (k->status != RUNNING)
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
    while (k->cancel == CANCEL_ASKED && k->status == RUNNING &&
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
        n += t->tasks[i]->status == RUNNING;
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
        if (k->status == RUNNING && k->cancellable && !cancel_asked(k)) {
            k->cancel = CANCEL_ASKED;
            snprintf(k->cancel_by, sizeof(k->cancel_by), "%s", who);
            log_warn("task %ld: cancelled by %s", k->id, who);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

/* Appends a task to the FIFO and wakes a worker. */
static void enqueue_locked(struct task_engine *t, struct task *k)
{
    if (t->qtail)
        t->qtail->qnext = k;
    else
        t->qhead = k;
    t->qtail = k;
    pthread_cond_signal(&t->cond);
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
        audit_end(t, k, FINISHED, NULL);
        set_message(t, k, FINISHED, NULL);
        log_info("task %ld finished: %s", k->id, k->message);
    } else {
        if (!e.msg[0])
            err_set(&e, ERR_INTERNAL, M_TASK_FAILED, "The task failed.");
        audit_end(t, k, FAILED, e.msg);
        set_message(t, k, FAILED, strdup(e.msg));
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
        pthread_mutex_unlock(&t->lock);
        run_one(t, k);
        pthread_mutex_lock(&t->lock);
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

json_t *task_engine_submit(struct task_engine *t, const char *target_uri, task_run_fn run,
                           void *arg, task_free_fn free_arg, struct err *e)
{
    struct task *k = calloc(1, sizeof(*k));
    if (!k || !(k->message = strdup("queued")) ||
        (target_uri && !(k->target_uri = strdup(target_uri)))) {
        if (k)
            k->free_arg = free_arg, k->arg = arg;
        task_free(k);
        err_set(e, ERR_INTERNAL, M_API_INTERNAL, "Out of memory.");
        return NULL;
    }
    k->status = RUNNING;
    k->created = k->updated = now();
    k->run = run;
    k->arg = arg;
    k->free_arg = free_arg;
    pthread_mutex_lock(&t->lock);
    json_t *out = NULL;
    if (t->stopping || t->draining) {
        err_set(e, ERR_UNAVAILABLE, M_TASK_SHUTDOWN, "kimchid is shutting down; try again later.");
    } else {
        k->id = t->next_id;
        if (append_locked(t, k) < 0)
            err_set(e, ERR_INTERNAL, M_API_INTERNAL, "Out of memory.");
        else
            out = task_to_json_locked(k);
    }
    pthread_mutex_unlock(&t->lock);
    if (!out) {
        task_free(k);
        return NULL;
    }
    /* saved before a worker can see it (the worker is its only writer after this): a task
     * whose record cannot be written is refused, not run without a record */
    if (persist(t, k) < 0) {
        json_decref(out);
        pthread_mutex_lock(&t->lock);
        unlist_locked(t, k);
        err_set(e, ERR_STORAGE, M_TASK_STORAGE,
                "kimchid cannot save task records in its state directory \"%s\" (%s), so it "
                "refuses new tasks until it can. Free space there or fix its permissions, then "
                "try again.",
                t->state_dir, t->store_error);
        pthread_mutex_unlock(&t->lock);
        task_free(k);
        return NULL;
    }
    pthread_mutex_lock(&t->lock);
    enqueue_locked(t, k);
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
        err_set(e, ERR_INTERNAL, M_API_INTERNAL, "Out of memory.");
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

void task_engine_purge(struct task_engine *t)
{
    double cutoff = now() - (double)t->ttl;
    size_t nold = 0;
    long *old = NULL;
    pthread_mutex_lock(&t->lock);
    old = calloc(t->n + 1, sizeof(*old));
    size_t j = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct task *k = t->tasks[i];
        if (old && k->status != RUNNING && k->updated < cutoff) {
            old[nold++] = k->id;
            task_free(k);
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
static void load_record(void *opaque, const struct task_record *r)
{
    struct task_engine *t = opaque;
    struct task *k = calloc(1, sizeof(*k));
    if (!k)
        return;
    k->id = r->id;
    k->status = status_intern(r->status);
    k->target_uri = r->target_uri ? strdup(r->target_uri) : NULL;
    k->progress = r->progress ? strdup(r->progress) : NULL;
    k->created = r->created;
    k->updated = r->updated;
    if (k->status == RUNNING && r->resume) { /* taken up again by task_engine_resume */
        k->orphan = true;
        k->resume = strdup(r->resume);
        k->message = strdup("kimchid restarted while this task ran; it is checking where the "
                            "guest is");
        if (!k->resume || !k->message || append_locked(t, k) < 0)
            task_free(k);
        else
            persist(t, k);
        return;
    }
    if (k->status == RUNNING) {
        k->status = FAILED;
        k->updated = now();
        struct err m;
        err_set(&m, ERR_INTERNAL, M_TASK_INTERRUPTED,
                "The task was interrupted because kimchid stopped while it was running (last "
                "step: \"%s\"). Check the guest's state and start the task again if needed.",
                r->message ? r->message : "");
        k->message = strdup(m.msg);
        if (append_locked(t, k) == 0)
            persist(t, k);
        else
            task_free(k);
        return;
    }
    k->message = strdup(r->message ? r->message : "");
    if (append_locked(t, k) < 0)
        task_free(k);
}

struct task_engine *task_engine_new(const char *db_path, int workers, long ttl_seconds,
                                    struct err *e)
{
    struct task_engine *t = calloc(1, sizeof(*t));
    if (!t) {
        err_set(e, ERR_INTERNAL, M_API_INTERNAL, "Out of memory.");
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
        task_store_load(t->store, load_record, t, e) < 0)
        goto fail;
    t->threads = calloc((size_t)workers, sizeof(pthread_t));
    for (int i = 0; t->threads && i < workers; i++, t->nthreads++)
        if (pthread_create(&t->threads[i], NULL, worker, t) != 0)
            break;
    if (t->nthreads == 0) {
        err_set(e, ERR_INTERNAL, M_TASK_WORKERS, "Cannot start the task workers.");
        goto fail;
    }
    return t;
fail:
    task_engine_free(t);
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
    enqueue_locked(t, k);
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
    int rc = kind && strcmp(kind, "migrate") == 0
                 ? task_migrate_resume(v, r, &run, &arg, &free_arg, &e)
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
    set_message(t, k, FAILED, strdup(e.msg));
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
        set_message(t, k, FAILED, strdup(m.msg));
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
        task_free(t->tasks[i]);
    free(t->tasks);
    free(t->threads);
    task_store_close(t->store);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    pthread_cond_destroy(&t->cancel_cond);
    pthread_cond_destroy(&t->idle_cond);
    free(t);
}
