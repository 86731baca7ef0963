/* recover_job.c - POST /tasks/:id/recover: a move that failed during post-copy and left its
 * guest split between two hosts (neither half can run alone; kimchid stops neither) gets the
 * same recovery again, once whatever kept the halves apart is fixed. The moves that left a
 * guest split are kept here, in memory: a restarted kimchid no longer offers them (the
 * task's message still says what to run by hand). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../move/move.h"
#include "../util/esc.h"
#include "../util/log.h"
#include "jobs.h"
#include "jobs_priv.h"

struct split_move {
    long task; /* the move's task id (0: free slot) */
    char name[256], host[256], addr[64];
    struct virt_policy policy;
    bool delete_source;
    bool busy; /* a recovery of it runs */
};

#define MAX_SPLITS 16
static pthread_mutex_t splits_lock = PTHREAD_MUTEX_INITIALIZER;
static struct split_move splits[MAX_SPLITS];

/* The slot for guest `name`, or a free one, or the oldest. Under splits_lock. */
static struct split_move *slot_for(const char *name)
{
    struct split_move *oldest = &splits[0];
    for (size_t i = 0; i < MAX_SPLITS; i++) {
        if (splits[i].task && strcmp(splits[i].name, name) == 0)
            return &splits[i];
        if (splits[i].task < oldest->task)
            oldest = &splits[i];
    }
    return oldest;
}

void task_split_remember(struct task_ctx *ctx, const char *name, const struct virt_migrate_opts *o)
{
    pthread_mutex_lock(&splits_lock);
    struct split_move *s = slot_for(name);
    *s = (struct split_move){
        .task = task_ctx_id(ctx), .policy = o->policy, .delete_source = o->delete_source};
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->host, sizeof(s->host), "%s", o->host);
    snprintf(s->addr, sizeof(s->addr), "%s", o->addr);
    pthread_mutex_unlock(&splits_lock);
    task_ctx_recoverable(ctx, true);
}

/* Claims the split left by task `id` for one recovery: a copy in *out, or -1 with e. */
static int split_claim(long id, struct split_move *out, struct err *e)
{
    pthread_mutex_lock(&splits_lock);
    struct split_move *s = NULL;
    for (size_t i = 0; i < MAX_SPLITS && !s; i++)
        if (splits[i].task == id)
            s = &splits[i];
    int rc = 0;
    if (!s)
        rc = err_set(e, ERR_CONFLICT, M_MIG_NOT_SPLIT,
                     "Task %ld left no guest split between two hosts (only a move that failed "
                     "during post-copy does, and kimchid forgets it when it restarts), so there "
                     "is nothing to recover.",
                     id);
    else if (s->busy)
        rc = err_set(e, ERR_CONFLICT, M_MIG_NOT_SPLIT,
                     "A recovery of \"%s\" is already running; wait for its task to end.", s->name);
    else {
        s->busy = true;
        *out = *s;
    }
    pthread_mutex_unlock(&splits_lock);
    return rc;
}

/* The recovery ended: the split stays offered (still apart), or is gone (joined). */
static void split_release(long id, bool joined)
{
    pthread_mutex_lock(&splits_lock);
    for (size_t i = 0; i < MAX_SPLITS; i++)
        if (splits[i].task == id) {
            splits[i].busy = false;
            if (joined)
                splits[i].task = 0;
        }
    pthread_mutex_unlock(&splits_lock);
}

struct recover_arg {
    struct virt *virt;
    struct task_engine *engine;
    struct split_move s;
    struct task_ctx *ctx;
    bool claimed; /* holds the guest's busy claim */
};

static void recover_arg_free(void *p)
{
    struct recover_arg *a = p;
    if (!a)
        return;
    if (a->claimed)
        virt_busy_release(a->virt, a->s.name);
    split_release(a->s.task, false);
    free(a);
}

static void on_progress(void *opaque, const struct virt_job_info *info)
{
    struct recover_arg *a = opaque;
    task_ctx_progress(a->ctx, task_progress_json(info));
}

static void on_say(void *opaque, const char *what)
{
    struct recover_arg *a = opaque;
    task_ctx_message(a->ctx, "%s", what);
}

static int run_recover(struct task_ctx *ctx, void *p, struct err *e)
{
    struct recover_arg *a = p;
    a->ctx = ctx;
    task_ctx_cancellable(ctx, false, "a post-copy recovery cannot be stopped halfway");
    task_ctx_message(ctx,
                     "running the post-copy recovery of \"%s\" again (task %ld left it split "
                     "between this host and \"%s\")",
                     a->s.name, a->s.task, a->s.host);
    struct virt_migrate_opts o = {.host = a->s.host,
                                  .addr = a->s.addr,
                                  .policy = a->s.policy,
                                  .delete_source = a->s.delete_source,
                                  .say = on_say};
    char note[1024];
    enum virt_where w =
        virt_vm_postcopy_recover(a->virt, a->s.name, &o, on_progress, a, note, sizeof(note), e);
    task_ctx_progress(ctx, NULL);
    if (w == VIRT_WHERE_UNKNOWN)
        return -1;
    if (w == VIRT_WHERE_DEST) {
        split_release(a->s.task, true);
        task_engine_recoverable(a->engine, a->s.task, false);
        task_ctx_message(ctx, "OK: the halves of \"%s\" joined: it runs on \"%s\"; %s", a->s.name,
                         a->s.host, note);
        return 0;
    }
    return err_set(e, ERR_BACKEND, M_MIG_SPLIT, "The post-copy recovery of \"%s\" failed: %s",
                   a->s.name, note);
}

json_t *task_submit_recover(struct task_engine *t, struct virt *v, const char *id, struct err *e)
{
    json_t *orig = task_engine_get(t, id, e); /* ERR_NOT_FOUND for an unknown id */
    if (!orig)
        return NULL;
    json_decref(orig);
    struct recover_arg *a = calloc(1, sizeof(*a));
    if (!a) {
        err_oom(e);
        return NULL;
    }
    a->virt = v;
    a->engine = t;
    if (split_claim(strtol(id, NULL, 10), &a->s, e) < 0) {
        free(a);
        return NULL;
    }
    if (virt_busy_claim(v, a->s.name, VIRT_BUSY_MIGRATING, e) < 0) {
        recover_arg_free(a);
        return NULL;
    }
    a->claimed = true;
    char uri[1024]; /* a move's target, as the migrate request made it */
    esc_vm_uri(a->s.name, "migrate", uri, sizeof(uri));
    log_info("post-copy recovery of \"%s\" asked again (task %s)", a->s.name, id);
    return task_engine_submit(t, uri, run_recover, a, recover_arg_free, e);
}
