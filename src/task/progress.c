/* progress.c - a move's figures as the task's "progress" object (docs/API.md). */
#include "jobs_priv.h"

static json_t *num_or_null(long long v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

json_t *task_progress_json(const struct virt_job_info *i)
{
    json_t *j = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "phase", i->phase ? i->phase : "setup",
        "percent", i->percent >= 0 ? json_integer((json_int_t)(i->percent + 0.5)) : json_null(),
        "data_total", num_or_null(i->data_total), "data_processed", num_or_null(i->data_processed),
        "data_remaining", num_or_null(i->data_remaining), "memory_bps", num_or_null(i->memory_bps),
        "elapsed_ms", num_or_null(i->elapsed_ms), "remaining_ms", num_or_null(i->remaining_ms),
        "downtime_ms", num_or_null(i->downtime_ms));
    if (j) {
        json_object_set_new(j, "disk_total", num_or_null(i->disk_total));
        json_object_set_new(j, "disk_processed", num_or_null(i->disk_processed));
        json_object_set_new(j, "memory_total", num_or_null(i->memory_total));
        json_object_set_new(j, "memory_processed", num_or_null(i->memory_processed));
        json_object_set_new(j, "iteration", num_or_null(i->iteration));
        json_object_set_new(j, "dirty_bps", num_or_null(i->dirty_bps));
        json_object_set_new(j, "expected_downtime_ms", num_or_null(i->expected_downtime_ms));
        json_object_set_new(j, "throttle_percent", num_or_null(i->throttle_pct));
        json_object_set_new(j, "converging",
                            i->converging < 0 ? json_null() : json_boolean(i->converging));
    }
    return j;
}
