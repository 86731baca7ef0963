/* evacuate_job.c - POST /host/evacuate: every guest of this host checked against every
 * destination with the move's own checks, assigned by fit (evacplan.c), then moved through the
 * migrate job, each guest its own task, a few at a time. The evacuation is a task of its own
 * that follows its moves; cancelling it stops what has not started and cancels what runs. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/clock.h"
#include "../util/esc.h"
#include "../util/log.h"
#include "../util/msg.h"
#include "evacplan.h"
#include "jobs.h"

enum evac_status {
    EV_WAITING,
    EV_MOVING,
    EV_MOVED,
    EV_FAILED,
    EV_CANNOT,
    EV_SKIPPED,
    EV_CANCELLED
};
static const char *const status_name[] = {"waiting",     "moving",  "moved",    "failed",
                                          "cannot-move", "skipped", "cancelled"};

struct evac_item {
    char name[256];
    bool offline; /* shut off: its definition and disks move, no memory */
    enum evac_status status;
    long task;         /* its move's task, 0 before one started */
    char message[768]; /* why it cannot move, or its move's message */
    double percent;    /* its move's, -1 unknown */
};

struct evac_run {
    struct virt *v;
    struct task_engine *t;
    struct task_ctx *ctx; /* NULL while planning for check_only */
    char dests[EVAC_DESTS_MAX][256];
    size_t nd;
    unsigned long long avail_kib[EVAC_DESTS_MAX]; /* free memory seen while planning, 0 unseen */
    char down[EVAC_DESTS_MAX][512]; /* why a destination failed its own checks: nothing goes
                                     * there */
    int max_parallel;
    bool include_shutoff;
    struct evac_item *items;
    struct evac_guest *plan; /* parallel to items */
    size_t n;
    char cancelled_by[64];
    char *shown;          /* the progress last published (JSON text) */
    long long started_ms; /* CLOCK_MONOTONIC */
};

/* One evacuation at a time: set while one is submitted or runs, with its task id. */
static atomic_bool running;
static atomic_long running_task;

static void run_free(void *p)
{
    struct evac_run *r = p;
    if (!r)
        return;
    free(r->items);
    free(r->plan);
    free(r->shown);
    free(r);
}

static struct evac_run *run_new(struct virt *v, struct task_engine *t,
                                const struct task_evacuate_req *q)
{
    struct evac_run *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->v = v;
    r->t = t;
    r->nd = q->ndests < EVAC_DESTS_MAX ? q->ndests : EVAC_DESTS_MAX;
    for (size_t j = 0; j < r->nd; j++)
        snprintf(r->dests[j], sizeof(r->dests[j]), "%s", q->dests[j]);
    r->max_parallel = q->max_parallel;
    r->include_shutoff = q->include_shutoff;
    return r;
}

static void item_say(struct evac_item *it, enum evac_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void item_say(struct evac_item *it, enum evac_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->message, sizeof(it->message), fmt, ap);
    va_end(ap);
    it->status = st;
}

/* ---- the plan ---- */

/* Which guests leave: running and paused ones live, shut-off persistent ones with
 * include_shutoff; a crashed guest or one another task holds cannot. */
static int list_guests(struct evac_run *r, struct err *e)
{
    struct virt_guest_brief *gs = NULL;
    size_t n = 0;
    if (virt_guest_list(r->v, &gs, &n, e) < 0)
        return -1;
    if (n > EVAC_GUESTS_MAX)
        n = EVAC_GUESTS_MAX;
    r->items = calloc(n ? n : 1, sizeof(*r->items));
    r->plan = calloc(n ? n : 1, sizeof(*r->plan));
    if (!r->items || !r->plan) {
        free(gs);
        return err_oom(e);
    }
    for (size_t i = 0; i < n; i++) {
        struct evac_item *it = &r->items[r->n];
        struct err be = {0};
        snprintf(it->name, sizeof(it->name), "%s", gs[i].name);
        it->percent = -1;
        it->offline = gs[i].state == VIRT_ST_SHUTOFF;
        r->plan[r->n++].dest = -1;
        if (gs[i].state == VIRT_ST_CRASHED)
            item_say(it, EV_CANNOT, "it has crashed: start it again or shut it off first");
        else if (it->offline && !r->include_shutoff)
            item_say(it, EV_SKIPPED, "shut off, and include_shutoff is false: it stays here");
        else if (virt_busy_check(r->v, it->name, &be) < 0)
            item_say(it, EV_CANNOT, "%s", be.msg);
    }
    free(gs);
    return 0;
}

/* One destination's part of the plan, checked on a thread of its own (the destinations'
 * checks are independent: each is mostly waiting for its host). */
struct dest_check {
    struct evac_run *r;
    size_t j;
    bool *ok;                 /* per guest */
    bool *runs_there;         /* per guest: this destination already runs it (same UUID) */
    char (*why)[512];         /* per guest: why not */
    unsigned long long *need; /* per guest, KiB */
    pthread_t thread;
    bool started;
};

/* The checks of `part` for guest i against the destination: ready, or why not (the first
 * failed check's words). */
static bool run_checks_part(struct evac_run *r, size_t i, size_t j, enum task_check_part part,
                            struct task_memory *mem, char *why, size_t len)
{
    struct task_migrate_req q = {.name = r->items[i].name,
                                 .remote_host = r->dests[j],
                                 .delete_source = true,
                                 .policy = task_migrate_default_policy()};
    struct err e = {0};
    json_t *out = task_migrate_check_part(r->v, &q, part, mem, &e);
    if (!out) {
        snprintf(why, len, "%.500s", e.msg);
        return false;
    }
    bool ready = json_is_true(json_object_get(out, "ready"));
    size_t k;
    json_t *c;
    why[0] = '\0';
    json_array_foreach(json_object_get(out, "checks"), k, c)
    {
        if (!why[0] && !json_is_true(json_object_get(c, "ok")))
            snprintf(why, len, "%s", json_string_value(json_object_get(c, "message")));
    }
    json_decref(out);
    return ready;
}

static bool cancel_asked(struct evac_run *r)
{
    return r->ctx && task_ctx_cancel_asked(r->ctx, r->cancelled_by, sizeof(r->cancelled_by));
}

/* The destination's own checks once (a failure: nothing goes there), then each guest's and
 * what its memory needs there. */
static void *check_dest(void *p)
{
    struct dest_check *d = p;
    struct evac_run *r = d->r;
    size_t first = r->n;
    for (size_t i = 0; i < r->n && first == r->n; i++)
        if (r->items[i].status == EV_WAITING)
            first = i;
    if (first == r->n)
        return NULL;
    if (!run_checks_part(r, first, d->j, TASK_CHECK_HOST, NULL, r->down[d->j],
                         sizeof(r->down[d->j])))
        return NULL; /* each guest's reason is this (reasons()) */
    r->down[d->j][0] = '\0';
    /* NULL: this thread does not write who cancelled (the main one reads it after) */
    for (size_t i = 0; i < r->n && !(r->ctx && task_ctx_cancel_asked(r->ctx, NULL, 0)); i++) {
        struct task_memory mem = {0, 0};
        struct err e = {0};
        if (r->items[i].status != EV_WAITING)
            continue;
        if (!run_checks_part(r, i, d->j, TASK_CHECK_GUEST, &mem, d->why[i], sizeof(d->why[i]))) {
            d->runs_there[i] =
                !strncmp(d->why[i], msg_id(M_MIG_RUNS_THERE), strlen(msg_id(M_MIG_RUNS_THERE)));
            continue;
        }
        /* a shut-off guest's check reads no memory: the free memory is read for it only when
         * no guest before it showed it */
        if (!mem.avail_kib && !r->avail_kib[d->j] &&
            virt_remote_memory_figures(r->v, r->dests[d->j], r->items[i].name, &mem.need_kib,
                                       &mem.avail_kib, &e) < 0) {
            snprintf(d->why[i], sizeof(d->why[i]), "%.500s", e.msg);
            continue;
        }
        d->need[i] = mem.need_kib;
        if (!r->avail_kib[d->j])
            r->avail_kib[d->j] = mem.avail_kib; /* the first look counts: this thread's slot */
        d->ok[i] = true;
    }
    return NULL;
}

/* Why guest i goes nowhere: each destination's reason. */
static void reasons(struct evac_run *r, size_t i, const struct dest_check *d)
{
    struct evac_item *it = &r->items[i];
    it->message[0] = '\0';
    for (size_t j = 0; j < r->nd; j++) {
        size_t used = strlen(it->message);
        const char *why = d[j].why && d[j].why[i][0] ? d[j].why[i]
                          : r->down[j][0]            ? r->down[j]
                                                     : "not checked (cancelled)";
        if (!d[j].ok || !d[j].ok[i])
            snprintf(it->message + used, sizeof(it->message) - used, "%s%s: %s", used ? "; " : "",
                     r->dests[j], why);
    }
}

static void check_all(struct evac_run *r)
{
    struct dest_check d[EVAC_DESTS_MAX] = {{0}};
    if (r->ctx) /* NULL: check_only, which has no task */
        task_ctx_message(r->ctx, "planning: checking %zu guest(s) against %zu host(s)", r->n,
                         r->nd);
    size_t n = r->n ? r->n : 1;
    for (size_t j = 0; j < r->nd; j++) {
        d[j] = (struct dest_check){.r = r, .j = j};
        d[j].ok = calloc(n, sizeof(*d[j].ok));
        d[j].why = calloc(n, sizeof(*d[j].why));
        d[j].need = calloc(n, sizeof(*d[j].need));
        d[j].runs_there = calloc(n, sizeof(*d[j].runs_there));
        if (d[j].ok && d[j].why && d[j].need && d[j].runs_there)
            d[j].started = pthread_create(&d[j].thread, NULL, check_dest, &d[j]) == 0;
        if (!d[j].started && d[j].why)
            snprintf(r->down[j], sizeof(r->down[j]), "kimchid could not check it (no memory)");
    }
    for (size_t j = 0; j < r->nd; j++)
        if (d[j].started)
            pthread_join(d[j].thread, NULL);
    for (size_t i = 0; i < r->n; i++) {
        bool elsewhere = false; /* this is an old definition of a guest a destination runs */
        for (size_t j = 0; j < r->nd; j++) {
            r->plan[i].ready[j] = d[j].ok && d[j].ok[i];
            elsewhere |= d[j].runs_there && d[j].runs_there[i];
            if (r->plan[i].ready[j] && !r->items[i].offline && d[j].need[i] > r->plan[i].need_kib)
                r->plan[i].need_kib = d[j].need[i];
        }
        if (r->items[i].status == EV_WAITING)
            reasons(r, i, d);
        if (elsewhere) /* moving it elsewhere would leave the guest defined on two hosts */
            memset(r->plan[i].ready, 0, sizeof(r->plan[i].ready));
    }
    for (size_t j = 0; j < r->nd; j++) {
        free(d[j].ok);
        free(d[j].why);
        free(d[j].need);
        free(d[j].runs_there);
    }
}

static void assign(struct evac_run *r)
{
    struct evac_dest d[EVAC_DESTS_MAX] = {{0}};
    for (size_t j = 0; j < r->nd; j++)
        d[j].avail_kib = r->avail_kib[j];
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].status != EV_WAITING)
            memset(r->plan[i].ready, 0, sizeof(r->plan[i].ready));
    evac_assign(r->plan, r->n, d, r->nd);
    for (size_t i = 0; i < r->n; i++) {
        struct evac_item *it = &r->items[i];
        bool anywhere = false;
        for (size_t j = 0; j < r->nd; j++)
            anywhere |= r->plan[i].ready[j];
        if (it->status != EV_WAITING)
            continue;
        if (r->plan[i].dest >= 0)
            item_say(it, EV_WAITING, "to %s", r->dests[r->plan[i].dest]);
        else if (anywhere)
            item_say(it, EV_CANNOT,
                     "it needs %llu MiB, and no destination has that much left beside the other "
                     "guests the plan sends there: free memory there, or move fewer guests",
                     r->plan[i].need_kib / 1024);
        else
            it->status = EV_CANNOT; /* its message lists each destination's reason */
    }
}

static int plan(struct evac_run *r, struct err *e)
{
    if (list_guests(r, e) < 0)
        return -1;
    check_all(r);
    assign(r);
    return 0;
}

/* ---- what it shows ---- */

static json_t *item_json(const struct evac_run *r, size_t i)
{
    const struct evac_item *it = &r->items[i];
    int dest = r->plan[i].dest;
    json_t *o = json_pack("{s:s, s:s?, s:s, s:s, s:b}", "name", it->name, "destination",
                          dest >= 0 ? r->dests[dest] : NULL, "status", status_name[it->status],
                          "message", it->message, "live", !it->offline);
    if (o && it->task) {
        char id[24];
        snprintf(id, sizeof(id), "%ld", it->task);
        json_object_set_new(o, "task", json_string(id));
    }
    if (o && it->percent >= 0)
        json_object_set_new(o, "percent", json_real(it->percent));
    return o;
}

static int count(const struct evac_run *r, enum evac_status st)
{
    int n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->items[i].status == st;
    return n;
}

static json_t *dests_json(const struct evac_run *r)
{
    json_t *a = json_array();
    for (size_t j = 0; a && j < r->nd; j++) {
        int planned = 0;
        for (size_t i = 0; i < r->n; i++)
            planned += r->plan[i].dest == (int)j;
        json_array_append_new(a, json_pack("{s:s, s:I, s:i, s:s?}", "name", r->dests[j], "free_mib",
                                           (json_int_t)(r->avail_kib[j] / 1024), "guests", planned,
                                           "why_not", r->down[j][0] ? r->down[j] : NULL));
    }
    return a;
}

static json_t *run_json(const struct evac_run *r)
{
    json_t *gs = json_array();
    for (size_t i = 0; gs && i < r->n; i++)
        json_array_append_new(gs, item_json(r, i));
    return json_pack("{s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:i}", "guests", gs ? gs : json_array(),
                     "destinations", dests_json(r), "max_parallel", r->max_parallel, "waiting",
                     count(r, EV_WAITING), "moving", count(r, EV_MOVING), "moved",
                     count(r, EV_MOVED), "failed", count(r, EV_FAILED) + count(r, EV_CANCELLED),
                     "cannot_move", count(r, EV_CANNOT));
}

/* Publishes the progress when it changed (each publication is an event on the live page). */
static void show(struct evac_run *r)
{
    json_t *p = run_json(r);
    char *text = p ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (text && (!r->shown || strcmp(text, r->shown))) {
        free(r->shown);
        r->shown = text;
        task_ctx_progress(r->ctx, p);
        return;
    }
    free(text);
    json_decref(p);
}

/* ---- the moves ---- */

static void start_move(struct evac_run *r, size_t i)
{
    struct evac_item *it = &r->items[i];
    const char *dest = r->dests[r->plan[i].dest];
    struct task_migrate_req q = {.name = it->name,
                                 .remote_host = dest,
                                 .delete_source = true, /* the guest lives there from now on */
                                 .start_now = true,
                                 .policy = task_migrate_default_policy()};
    char uri[1024];
    esc_vm_uri(it->name, "migrate", uri, sizeof(uri));
    struct err e = {0};
    json_t *t = task_submit_migrate(r->t, r->v, &q, uri, &e);
    if (!t) {
        item_say(it, EV_FAILED, "%s", e.msg);
        return;
    }
    it->task = strtol(json_string_value(json_object_get(t, "id")), NULL, 10);
    item_say(it, EV_MOVING, "moving to %s (task %ld)", dest, it->task);
    json_decref(t);
}

/* Reads a running move's task: its end, its message and its percentage. */
static void follow_move(struct evac_run *r, struct evac_item *it)
{
    char id[24];
    snprintf(id, sizeof(id), "%ld", it->task);
    struct err e = {0};
    json_t *t = task_engine_get(r->t, id, &e);
    if (!t)
        return;
    const char *st = json_string_value(json_object_get(t, "status"));
    const char *msg = json_string_value(json_object_get(t, "message"));
    json_t *pc = json_object_get(json_object_get(t, "progress"), "percent");
    it->percent = json_is_number(pc) ? json_number_value(pc) : -1;
    if (st && strcmp(st, "running"))
        item_say(it, strcmp(st, "finished") ? EV_FAILED : EV_MOVED, "%s", msg ? msg : st);
    else
        snprintf(it->message, sizeof(it->message), "%s", msg ? msg : "");
    if (it->status == EV_MOVED)
        it->percent = 100;
    json_decref(t);
}

/* Cancelled: nothing more starts; each running move is asked to stop (a move past its point
 * of no return finishes, and its guest is then there). */
static void cancel_moves(struct evac_run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        struct evac_item *it = &r->items[i];
        if (it->status == EV_WAITING)
            item_say(it, EV_CANCELLED,
                     "not started: the evacuation was cancelled by %s; it "
                     "stays on this host",
                     r->cancelled_by);
        else if (it->status == EV_MOVING) {
            char id[24];
            struct err e = {0};
            snprintf(id, sizeof(id), "%ld", it->task);
            if (task_engine_cancel(r->t, id, r->cancelled_by, &e) < 0)
                log_info("evacuation: %s's move goes on: %s", it->name, e.msg);
        }
    }
}

/* Starts what the limits allow, in the plan's order. */
static void start_moves(struct evac_run *r)
{
    int moving = count(r, EV_MOVING), incoming[EVAC_DESTS_MAX] = {0};
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].status == EV_MOVING)
            incoming[r->plan[i].dest]++;
    for (size_t i = 0; i < r->n; i++) {
        int d = r->plan[i].dest;
        if (r->items[i].status != EV_WAITING ||
            !evac_may_start(moving, r->max_parallel, incoming[d]))
            continue;
        start_move(r, i);
        if (r->items[i].status == EV_MOVING)
            moving++, incoming[d]++;
    }
}

#define EVAC_POLL_MS 250

static void run_moves(struct evac_run *r)
{
    bool cancelling = false;
    for (;;) {
        unsigned long ends = task_engine_ends(r->t); /* before the states it wakes us for */
        for (size_t i = 0; i < r->n; i++)
            if (r->items[i].status == EV_MOVING)
                follow_move(r, &r->items[i]);
        if (!cancelling && cancel_asked(r)) {
            cancelling = true;
            task_ctx_cancel_answer(r->ctx, true, NULL); /* what runs is asked to stop next */
            cancel_moves(r);
        }
        if (!cancelling)
            start_moves(r);
        int moving = count(r, EV_MOVING);
        task_ctx_message(r->ctx, "evacuating: %d moved, %d moving, %d waiting%s",
                         count(r, EV_MOVED), moving, count(r, EV_WAITING),
                         cancelling ? " (cancelled)" : "");
        show(r);
        if (!moving && !count(r, EV_WAITING))
            return;
        task_engine_wait_end(r->t, ends, EVAC_POLL_MS); /* a move's end starts the next */
    }
}

/* The names of the guests in `st`, for the final message. */
static void names_in(const struct evac_run *r, enum evac_status st, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < r->n; i++) {
        size_t used = strlen(out);
        if (r->items[i].status == st)
            snprintf(out + used, len - used, "%s\"%s\"", used ? ", " : "", r->items[i].name);
    }
}

static int finish(struct evac_run *r, struct err *e)
{
    int moved = count(r, EV_MOVED), failed = count(r, EV_FAILED), cannot = count(r, EV_CANNOT),
        stayed = count(r, EV_CANCELLED), skipped = count(r, EV_SKIPPED);
    double took = (double)(clock_now_ms() - r->started_ms) / 1000.0;
    char failed_names[1024], cannot_names[1024];
    names_in(r, EV_FAILED, failed_names, sizeof(failed_names));
    names_in(r, EV_CANNOT, cannot_names, sizeof(cannot_names));
    if (r->cancelled_by[0])
        return err_set(e, ERR_CONFLICT, M_EVAC_CANCELLED,
                       "The evacuation was cancelled by %s after %.0f s: %d guest(s) moved, %d "
                       "stay on this host (%d not started, %d whose move stopped or failed, %d "
                       "that cannot move). This host stays in maintenance until you end it.",
                       r->cancelled_by, took, moved, stayed + failed + cannot, stayed, failed,
                       cannot);
    if (failed || cannot)
        return err_set(e, ERR_BACKEND, M_EVAC_FAILED,
                       "The evacuation ended in %.0f s with guests still on this host: %d moved; "
                       "%d failed to move%s%s%s; %d cannot move%s%s%s (each guest's reason is in "
                       "the task's progress). This host stays in maintenance.",
                       took, moved, failed, failed ? " (" : "", failed_names, failed ? ")" : "",
                       cannot, cannot ? " (" : "", cannot_names, cannot ? ")" : "");
    task_ctx_message(r->ctx,
                     "This host is evacuated: %d guest(s) moved in %.0f s%s. It stays in "
                     "maintenance until an administrator ends it.",
                     moved, took,
                     skipped ? "; shut-off guests were left here (include_shutoff)" : "");
    return 0;
}

static int run_evacuate(struct task_ctx *ctx, void *p, struct err *e)
{
    struct evac_run *r = p;
    r->ctx = ctx;
    r->started_ms = clock_now_ms();
    task_ctx_cancellable(ctx, true, NULL);
    int rc = plan(r, e);
    if (rc == 0) {
        show(r);
        run_moves(r);
        rc = finish(r, e);
    }
    show(r);
    running = false;
    return rc;
}

json_t *task_evacuate_plan(struct virt *v, const struct task_evacuate_req *q, struct err *e)
{
    struct evac_run *r = run_new(v, NULL, q);
    if (!r) {
        err_oom(e);
        return NULL;
    }
    json_t *out = NULL;
    if (plan(r, e) == 0 && (out = run_json(r)))
        json_object_set_new(out, "ready", json_boolean(!count(r, EV_CANNOT)));
    else if (!e->msg[0])
        err_oom(e);
    run_free(r);
    return out;
}

json_t *task_submit_evacuate(struct task_engine *t, struct virt *v,
                             const struct task_evacuate_req *q, struct err *e)
{
    bool idle = false;
    if (!atomic_compare_exchange_strong(&running, &idle, true)) {
        long id = running_task;
        err_set(e, ERR_CONFLICT, M_EVAC_RUNNING,
                "An evacuation of this host is already running (task %ld): follow it, or cancel "
                "it (POST /plugins/kimchi/tasks/%ld/cancel) before starting another.",
                id, id);
        return NULL;
    }
    struct evac_run *r = run_new(v, t, q);
    json_t *out =
        r ? task_engine_submit_now(t, "/plugins/kimchi/host/evacuate", run_evacuate, r, run_free, e)
          : NULL;
    if (!r)
        err_oom(e);
    if (out)
        running_task = strtol(json_string_value(json_object_get(out, "id")), NULL, 10);
    else
        running = false;
    return out;
}
