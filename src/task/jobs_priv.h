/* jobs_priv.h - what the jobs share among themselves. */
#ifndef KIMCHID_TASK_JOBS_PRIV_H
#define KIMCHID_TASK_JOBS_PRIV_H

#include "jobs.h"

/* progress.c: a live move's progress as the task's "progress" object. */
json_t *task_progress_json(const struct virt_job_info *i);

/* recover_job.c: the running task (a move) left guest `name` split between this host and
 * o->host: kept (in memory) so that POST /tasks/:id/recover can run the recovery again, and
 * the task says "recoverable". */
void task_split_remember(struct task_ctx *ctx, const char *name, const struct virt_migrate_opts *o);

#endif
