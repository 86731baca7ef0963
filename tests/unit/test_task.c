/* test_task.c - the task engine: running jobs, failures, persistence, restart, purge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "task/task.h"
#include "task/task_priv.h"

static char dbpath[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dbpath, sizeof(dbpath), "/tmp/kimchid-unit-%d.db", (int)getpid());
    unlink(dbpath);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[300];
    unlink(dbpath);
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", dbpath);
    unlink(p);
    return 0;
}

static int job_ok(struct task_ctx *ctx, void *arg, struct err *e)
{
    (void)arg;
    (void)e;
    task_ctx_message(ctx, "step one");
    task_ctx_progress(ctx, json_pack("{s:i}", "percent", 50));
    task_ctx_message(ctx, "OK");
    return 0;
}

static int job_fail(struct task_ctx *ctx, void *arg, struct err *e)
{
    (void)arg;
    task_ctx_message(ctx, "trying");
    return err_set(e, ERR_BACKEND, M_TASK_FAILED, "It broke in step \"%s\".", "trying");
}

static int freed;
static void count_free(void *p)
{
    (void)p;
    freed++;
}

/* Polls until the task leaves "running"; returns its JSON (new reference). */
static json_t *wait_done(struct task_engine *t, const char *id)
{
    for (int i = 0; i < 500; i++) {
        struct err e;
        json_t *o = task_engine_get(t, id, &e);
        if (o && strcmp(json_string_value(json_object_get(o, "status")), "running") != 0)
            return o;
        json_decref(o);
        usleep(10000);
    }
    fail_msg("task %s did not finish", id);
    return NULL;
}

static void task_runs_to_finished_with_last_message(void **state)
{
    (void)state;
    struct err e;
    freed = 0;
    struct task_engine *t = task_engine_new(dbpath, 2, 3600, &e);
    assert_non_null(t);
    json_t *k = task_engine_submit(t, "/plugins/kimchi/vms/x", job_ok, NULL, count_free, &e);
    assert_non_null(k);
    assert_string_equal(json_string_value(json_object_get(k, "status")), "running");
    assert_string_equal(json_string_value(json_object_get(k, "id")), "1");
    json_decref(k);
    json_t *done = wait_done(t, "1");
    assert_string_equal(json_string_value(json_object_get(done, "status")), "finished");
    assert_string_equal(json_string_value(json_object_get(done, "message")), "OK");
    assert_string_equal(json_string_value(json_object_get(done, "target_uri")),
                        "/plugins/kimchi/vms/x");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(done, "progress"), "percent")), 50);
    json_decref(done);
    task_engine_free(t);
    assert_int_equal(freed, 1);
}

static void task_failure_keeps_the_error_message(void **state)
{
    (void)state;
    struct err e;
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    json_decref(task_engine_submit(t, NULL, job_fail, NULL, NULL, &e));
    json_t *done = wait_done(t, "1");
    assert_string_equal(json_string_value(json_object_get(done, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(done, "message")),
                        "KCHTASK0003E: It broke in step \"trying\".");
    json_decref(done);
    assert_null(task_engine_get(t, "99", &e));
    assert_int_equal(e.code, ERR_NOT_FOUND);
    assert_null(task_engine_get(t, "1x", &e));
    task_engine_free(t);
}

static void tasks_survive_a_restart_and_ids_continue(void **state)
{
    (void)state;
    struct err e;
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    json_decref(task_engine_submit(t, "/a", job_ok, NULL, NULL, &e));
    json_decref(wait_done(t, "1"));
    task_engine_free(t);
    t = task_engine_new(dbpath, 1, 3600, &e);
    json_t *old = task_engine_get(t, "1", &e);
    assert_non_null(old);
    assert_string_equal(json_string_value(json_object_get(old, "status")), "finished");
    json_decref(old);
    json_t *k = task_engine_submit(t, "/b", job_ok, NULL, NULL, &e);
    assert_string_equal(json_string_value(json_object_get(k, "id")), "2");
    json_decref(k);
    json_decref(wait_done(t, "2"));
    json_t *list = task_engine_list(t, "finished", "/b");
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    task_engine_free(t);
}

static void a_task_running_at_stop_reads_failed_interrupted(void **state)
{
    (void)state;
    struct err e;
    struct task_store *s = task_store_open(dbpath, &e);
    struct task_record r = {7, "running", "migrating", "/vms/x", NULL, 1.0, 1.0, NULL};
    assert_int_equal(task_store_save(s, &r, &e), 0);
    task_store_close(s);
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    json_t *k = task_engine_get(t, "7", &e);
    assert_string_equal(json_string_value(json_object_get(k, "status")), "failed");
    const char *msg = json_string_value(json_object_get(k, "message"));
    assert_non_null(strstr(msg, "interrupted"));
    assert_non_null(strstr(msg, "migrating"));
    json_decref(k);
    task_engine_free(t);
    t = task_engine_new(dbpath, 1, 3600, &e); /* the failure itself was persisted */
    k = task_engine_get(t, "7", &e);
    assert_string_equal(json_string_value(json_object_get(k, "status")), "failed");
    json_decref(k);
    task_engine_free(t);
}

static const char *status_of(struct task_engine *t, const char *id, char *msg, size_t len)
{
    struct err e;
    json_t *k = task_engine_get(t, id, &e);
    static char st[16];
    snprintf(st, sizeof(st), "%s", k ? json_string_value(json_object_get(k, "status")) : "none");
    if (msg)
        snprintf(msg, len, "%s", k ? json_string_value(json_object_get(k, "message")) : "");
    json_decref(k);
    return st;
}

/* A task that recorded how to take it up again stays running after a restart until
 * task_engine_resume decides; a kind this build does not know fails, saying so. */
static void a_task_with_resume_data_waits_for_resume(void **state)
{
    (void)state;
    struct err e;
    struct task_store *s = task_store_open(dbpath, &e);
    struct task_record r = {9,    "running", "migrating", "/vms/x/migrate",
                            NULL, 1.0,       1.0,         "{\"kind\":\"teleport\"}"};
    assert_int_equal(task_store_save(s, &r, &e), 0);
    task_store_close(s);
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    char msg[1024];
    assert_string_equal(status_of(t, "9", msg, sizeof(msg)), "running");
    assert_non_null(strstr(msg, "kimchid restarted while this task ran"));
    task_engine_resume(t, NULL);
    assert_string_equal(status_of(t, "9", msg, sizeof(msg)), "failed");
    assert_non_null(strstr(msg, "KCHTASK0002E"));
    assert_non_null(strstr(msg, "cannot be taken up again: unknown kind of task"));
    task_engine_free(t);
    t = task_engine_new(dbpath, 1, 3600, &e); /* and that was persisted */
    assert_string_equal(status_of(t, "9", NULL, 0), "failed");
    task_engine_free(t);
}

static void resume_seen(void *opaque, const struct task_record *r)
{
    int *n = opaque;
    *n += r->resume != NULL;
}

static int stored_during = -1; /* records with resume data seen from inside the job */

static int job_records_resume(struct task_ctx *ctx, void *arg, struct err *e)
{
    (void)arg;
    task_ctx_resume(ctx, json_pack("{s:s}", "kind", "migrate"));
    struct task_store *s = task_store_open(dbpath, e);
    stored_during = 0;
    if (s)
        task_store_load(s, resume_seen, &stored_during, e);
    task_store_close(s);
    task_ctx_message(ctx, "OK");
    return 0;
}

/* Resume data is written at once while the task runs, and dropped when it ends. */
static void resume_data_is_stored_and_cleared_at_the_end(void **state)
{
    (void)state;
    struct err e;
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    json_decref(task_engine_submit(t, "/r", job_records_resume, NULL, NULL, &e));
    json_decref(wait_done(t, "1"));
    task_engine_free(t);
    assert_int_equal(stored_during, 1);
    struct task_store *s = task_store_open(dbpath, &e);
    int with = 0;
    assert_int_equal(task_store_load(s, resume_seen, &with, &e), 0);
    assert_int_equal(with, 0);
    task_store_close(s);
}

static void run_sql(const char *sql)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sqlite3 %s \"%s\"", dbpath, sql);
    assert_int_equal(system(cmd), 0);
}

/* The task database and its WAL are readable by root only, whatever the umask. */
static void the_database_is_private(void **state)
{
    (void)state;
    struct err e;
    mode_t old = umask(022);
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    json_decref(task_engine_submit(t, "/p", job_ok, NULL, NULL, &e));
    json_decref(wait_done(t, "1"));
    struct stat st;
    char wal[300];
    snprintf(wal, sizeof(wal), "%s-wal", dbpath);
    assert_int_equal(stat(dbpath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    task_engine_free(t);
    chmod(dbpath, 0644); /* an older kimchid's file is tightened too */
    t = task_engine_new(dbpath, 1, 3600, &e);
    assert_int_equal(stat(dbpath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    task_engine_free(t);
    umask(old);
}

/* A database written by today's release (schema 2: the resume column, user_version 2), frozen
 * here as that release writes it: every later kimchid must open it with its records, a
 * migration's resume data included (the package's upgrade path). */
static void a_database_of_todays_release_opens_with_its_records(void **state)
{
    (void)state;
    run_sql("CREATE TABLE tasks (id INTEGER PRIMARY KEY, status TEXT NOT NULL, message TEXT NOT "
            "NULL, target_uri TEXT, progress TEXT, created REAL NOT NULL, updated REAL NOT NULL, "
            "resume TEXT); PRAGMA user_version = 2;"
            "INSERT INTO tasks VALUES (7, 'finished', 'OK: moved', "
            "'/plugins/kimchi/vms/a/migrate', '{\\\"percent\\\":100}', 1e12, 1e12, NULL);");
    struct err e;
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    assert_non_null(t);
    char msg[256];
    assert_string_equal(status_of(t, "7", msg, sizeof(msg)), "finished");
    assert_string_equal(msg, "OK: moved");
    json_t *task = task_engine_get(t, "7", &e);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(task, "progress"), "percent")), 100);
    json_decref(task);
    json_decref(task_engine_submit(t, "/n", job_ok, NULL, NULL, &e)); /* ids go on after it */
    json_decref(wait_done(t, "8"));
    task_engine_free(t);
}

/* A database written by the first release's schema (no resume column, user_version 0) is
 * upgraded in place and its records kept; one from a newer schema is refused. */
static void an_older_database_is_upgraded_a_newer_one_refused(void **state)
{
    (void)state;
    run_sql("CREATE TABLE tasks (id INTEGER PRIMARY KEY, status TEXT NOT NULL, message TEXT NOT "
            "NULL, target_uri TEXT, progress TEXT, created REAL NOT NULL, updated REAL NOT NULL);"
            "INSERT INTO tasks VALUES (4, 'finished', 'OK: old', '/vms/a/clone', NULL, 1e12, "
            "1e12);");
    struct err e;
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    assert_non_null(t);
    char msg[256];
    assert_string_equal(status_of(t, "4", msg, sizeof(msg)), "finished");
    assert_string_equal(msg, "OK: old");
    json_decref(task_engine_submit(t, "/n", job_ok, NULL, NULL, &e));
    json_decref(wait_done(t, "5"));
    task_engine_free(t);
    run_sql("PRAGMA user_version = 99");
    assert_null(task_engine_new(dbpath, 1, 3600, &e));
    assert_non_null(strstr(e.msg, "KCHTASK0010E"));
    assert_non_null(
        strstr(e.msg, "written by a newer kimchid (schema 99; this one knows up to 2)"));
}

static void purge_removes_old_finished_tasks_only(void **state)
{
    (void)state;
    struct err e;
    struct task_store *s = task_store_open(dbpath, &e);
    struct task_record old = {1, "finished", "OK", NULL, NULL, 1.0, 1.0, NULL};
    struct task_record fresh = {2, "failed", "no", NULL, NULL, 1e12, 1e12, NULL};
    task_store_save(s, &old, &e);
    task_store_save(s, &fresh, &e);
    task_store_close(s);
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    task_engine_purge(t);
    json_t *gone = task_engine_get(t, "1", &e);
    assert_null(gone);
    json_t *kept = task_engine_get(t, "2", &e);
    assert_non_null(kept);
    json_decref(kept);
    task_engine_free(t);
    t = task_engine_new(dbpath, 1, 3600, &e);
    assert_null(task_engine_get(t, "1", &e)); /* gone from the database too */
    task_engine_free(t);
}

/* A job that can be stopped until it reaches its "point of no return" (arg: 1 = it
 * refuses the request, as a migration past its switch-over does). */
static int job_cancellable(struct task_ctx *ctx, void *arg, struct err *e)
{
    bool refuse = arg != NULL;
    task_ctx_cancellable(ctx, true, NULL);
    task_ctx_message(ctx, "working"); /* wait_started() sees it: cancellable from now on */
    char by[64];
    for (int i = 0; i < 1000; i++) {
        if (task_ctx_cancel_asked(ctx, by, sizeof(by))) {
            task_ctx_cancel_answer(ctx, !refuse, refuse ? "it is switching over" : NULL);
            if (!refuse)
                return err_set(e, ERR_CONFLICT, M_MIG_CANCELLED, "Cancelled by %s.", by);
            break;
        }
        usleep(2000);
    }
    task_ctx_cancellable(ctx, false, "it has ended");
    task_ctx_message(ctx, "OK");
    return 0;
}

static int job_slow(struct task_ctx *ctx, void *arg, struct err *e)
{
    (void)arg;
    (void)e;
    task_ctx_message(ctx, "working");
    usleep(200000);
    return 0;
}

static void wait_started(struct task_engine *t, const char *id)
{
    struct err e;
    for (int i = 0; i < 200; i++) {
        json_t *o = task_engine_get(t, id, &e);
        bool queued = o && strcmp(json_string_value(json_object_get(o, "message")), "queued") == 0;
        json_decref(o);
        if (!queued)
            return;
        usleep(5000);
    }
}

/* With every worker busy (one, held by a job that waits), a task submitted "now" still runs
 * at once: the pool grows by a worker, as an evacuation's moves need. */
static void submit_now_runs_beside_a_busy_pool(void **state)
{
    (void)state;
    struct err e;
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    json_decref(task_engine_submit(t, NULL, job_cancellable, NULL, NULL, &e));
    wait_started(t, "1");
    json_decref(task_engine_submit_now(t, NULL, job_ok, NULL, NULL, &e));
    json_t *done = wait_done(t, "2");
    assert_string_equal(json_string_value(json_object_get(done, "status")), "finished");
    json_decref(done);
    json_t *first = task_engine_get(t, "1", &e);
    assert_string_equal(json_string_value(json_object_get(first, "status")), "running");
    json_decref(first);
    assert_int_equal(task_engine_cancel(t, "1", "root", &e), 0);
    json_decref(wait_done(t, "1"));
    task_engine_free(t);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* A follower (an evacuation) reads the end count, then the tasks' states, then waits: an end
 * between the read and the wait wakes it at once, not at the end of its poll; with no end the
 * wait lasts its bound. */
static void wait_end_sees_an_end_before_the_wait(void **state)
{
    (void)state;
    struct err e;
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    unsigned long seen = task_engine_ends(t);
    json_decref(task_engine_submit(t, NULL, job_ok, NULL, NULL, &e));
    json_decref(wait_done(t, "1"));
    long long t0 = mono_ms();
    task_engine_wait_end(t, seen, 5000);
    assert_true(mono_ms() - t0 < 1000);
    assert_true(task_engine_ends(t) == seen + 1);
    t0 = mono_ms();
    task_engine_wait_end(t, task_engine_ends(t), 200);
    long long waited = mono_ms() - t0;
    assert_true(waited >= 190 && waited < 2000);
    task_engine_free(t);
}

static void cancel_stops_a_job_that_can_stop(void **state)
{
    (void)state;
    struct err e;
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    json_decref(task_engine_submit(t, NULL, job_cancellable, NULL, NULL, &e));
    wait_started(t, "1");
    assert_int_equal(task_engine_cancel(t, "1", "root", &e), 0);
    json_t *done = wait_done(t, "1");
    assert_string_equal(json_string_value(json_object_get(done, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(done, "message")),
                        "KCHMIGR0016E: Cancelled by root.");
    json_decref(done);
    assert_int_equal(task_engine_cancel(t, "1", "root", &e), -1);
    assert_int_equal(e.code, ERR_CONFLICT);
    assert_string_equal(e.msg,
                        "KCHTASK0007E: Task 1 has already failed; there is nothing to cancel.");
    assert_int_equal(task_engine_cancel(t, "99", "root", &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    assert_int_equal(task_engine_cancel(t, "x1", "root", &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    task_engine_free(t);
}

static void cancel_past_the_point_of_no_return_is_refused(void **state)
{
    (void)state;
    struct err e;
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    json_decref(task_engine_submit(t, NULL, job_cancellable, (void *)1, NULL, &e));
    wait_started(t, "1");
    assert_int_equal(task_engine_cancel(t, "1", "root", &e), -1);
    assert_int_equal(e.code, ERR_CONFLICT);
    assert_string_equal(e.msg, "KCHTASK0008E: Task 1 cannot be cancelled: it is switching over.");
    json_t *done = wait_done(t, "1");
    assert_string_equal(json_string_value(json_object_get(done, "status")), "finished");
    json_decref(done);
    task_engine_free(t);
}

static void a_job_that_never_allows_it_cannot_be_cancelled(void **state)
{
    (void)state;
    struct err e;
    struct task_engine *t = task_engine_new(dbpath, 1, 3600, &e);
    json_decref(task_engine_submit(t, NULL, job_slow, NULL, NULL, &e));
    wait_started(t, "1");
    assert_int_equal(task_engine_cancel(t, "1", "root", &e), -1);
    assert_int_equal(e.code, ERR_CONFLICT);
    assert_string_equal(e.msg,
                        "KCHTASK0008E: Task 1 cannot be cancelled: this kind of task cannot be "
                        "stopped.");
    json_decref(wait_done(t, "1"));
    task_engine_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(task_runs_to_finished_with_last_message, setup, teardown),
        cmocka_unit_test_setup_teardown(task_failure_keeps_the_error_message, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_survive_a_restart_and_ids_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(a_task_running_at_stop_reads_failed_interrupted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(purge_removes_old_finished_tasks_only, setup, teardown),
        cmocka_unit_test_setup_teardown(a_task_with_resume_data_waits_for_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(resume_data_is_stored_and_cleared_at_the_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_database_of_todays_release_opens_with_its_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_older_database_is_upgraded_a_newer_one_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_database_is_private, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_stops_a_job_that_can_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(submit_now_runs_beside_a_busy_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(wait_end_sees_an_end_before_the_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_past_the_point_of_no_return_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_job_that_never_allows_it_cannot_be_cancelled, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
