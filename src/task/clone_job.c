/* clone_job.c - the clone task: adapts virt_vm_clone's steps to task messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../virt/virt.h"
#include "jobs.h"

struct clone_arg {
    struct virt *virt;
    char *name;
    char *new_name;
    bool claimed; /* holds both names' busy claims */
};

static void clone_arg_free(void *p)
{
    struct clone_arg *a = p;
    if (!a)
        return;
    if (a->claimed) {
        virt_busy_release(a->virt, a->name);
        virt_busy_release(a->virt, a->new_name);
    }
    free(a->name);
    free(a->new_name);
    free(a);
}

static void step(void *opaque, const char *message)
{
    task_ctx_message(opaque, "%s", message);
}

static int run_clone(struct task_ctx *ctx, void *p, struct err *e)
{
    struct clone_arg *a = p;
    if (virt_vm_clone(a->virt, a->name, a->new_name, step, ctx, e) < 0)
        return -1;
    task_ctx_message(ctx, "OK");
    return 0;
}

json_t *task_submit_clone(struct task_engine *t, struct virt *v, const char *name,
                          const char *new_name, const char *target_uri, struct err *e)
{
    struct clone_arg *a = calloc(1, sizeof(*a));
    bool built = a && (a->name = strdup(name)) && (a->new_name = strdup(new_name));
    if (!built)
        err_oom(e);
    if (built && virt_busy_claim(v, name, "being cloned", e) == 0) {
        a->virt = v;
        a->claimed = true; /* from here the task owns both claims, failure or not */
        return task_engine_submit(t, target_uri, run_clone, a, clone_arg_free, e);
    }
    virt_busy_release(v, new_name); /* the reservation handed to us */
    clone_arg_free(a);
    return NULL;
}
