/* store.c - task records in SQLite (one connection, serialized by SQLite itself). */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "task_priv.h"

struct task_store {
    sqlite3 *db;
};

static int db_err(struct task_store *s, struct err *e, const char *what)
{
    return err_set(e, ERR_INTERNAL, M_TASK_DB, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* The schema this build writes: 1 = the first release's table, 2 = adds `resume` (what a
 * restarted kimchid needs to take a running task up again). */
#define SCHEMA_VERSION 2

static int user_version(struct task_store *s)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Brings an older database up to SCHEMA_VERSION in place; refuses a newer one, whose records
 * this build could misread. */
static int upgrade(struct task_store *s, const char *path, struct err *e)
{
    int v = user_version(s);
    if (v > SCHEMA_VERSION)
        return err_set(e, ERR_INTERNAL, M_TASK_DB_NEWER,
                       "The task database \"%s\" was written by a newer kimchid (schema %d; this "
                       "one knows up to %d). Run that newer kimchid, or move the file away to "
                       "start with an empty task list.",
                       path, v, SCHEMA_VERSION);
    if (v == SCHEMA_VERSION)
        return 0;
    /* a version-0/1 table was created without `resume` (the CREATE above kept it as it was) */
    if (sqlite3_exec(s->db, "SELECT resume FROM tasks LIMIT 0", NULL, NULL, NULL) != SQLITE_OK &&
        sqlite3_exec(s->db, "ALTER TABLE tasks ADD COLUMN resume TEXT", NULL, NULL, NULL) !=
            SQLITE_OK)
        return db_err(s, e, "Cannot upgrade the task database");
    if (sqlite3_exec(s->db, "PRAGMA user_version = 2", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(s, e, "Cannot upgrade the task database");
    return 0;
}

struct task_store *task_store_open(const char *path, struct err *e)
{
    struct task_store *s = calloc(1, sizeof(*s));
    if (!s) {
        err_oom(e);
        return NULL;
    }
    /* task messages name guests, hosts and users: root's eyes only (SQLite gives its WAL and
     * shared-memory files the database file's mode) */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0) {
        err_set(e, ERR_INTERNAL, M_TASK_DB, "Cannot open the task database \"%s\": %s", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        free(s);
        return NULL;
    }
    close(fd);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    const char *schema = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                         "CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY, status TEXT "
                         "NOT NULL, message TEXT NOT NULL, target_uri TEXT, progress TEXT, "
                         "created REAL NOT NULL, updated REAL NOT NULL, resume TEXT);";
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        err_set(e, ERR_INTERNAL, M_TASK_DB, "Cannot open the task database \"%s\": %s", path,
                s->db ? sqlite3_errmsg(s->db) : "out of memory");
        task_store_close(s);
        return NULL;
    }
    if (upgrade(s, path, e) < 0) {
        task_store_close(s);
        return NULL;
    }
    return s;
}

void task_store_close(struct task_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

int task_store_save(struct task_store *s, const struct task_record *r, struct err *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT OR REPLACE INTO tasks (id, status, message, target_uri, progress, "
                      "created, updated, resume) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(s, e, "Cannot save a task");
    sqlite3_bind_int64(st, 1, r->id);
    bind_text(st, 2, r->status);
    bind_text(st, 3, r->message);
    bind_text(st, 4, r->target_uri);
    bind_text(st, 5, r->progress);
    sqlite3_bind_double(st, 6, r->created);
    sqlite3_bind_double(st, 7, r->updated);
    bind_text(st, 8, r->resume);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(s, e, "Cannot save a task");
    sqlite3_finalize(st);
    return rc;
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int task_store_load(struct task_store *s, task_record_fn fn, void *opaque, struct err *e)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT id, status, message, target_uri, progress, created, updated, "
                      "resume FROM tasks ORDER BY id";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(s, e, "Cannot read the tasks");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct task_record r = {sqlite3_column_int64(st, 0),
                                col(st, 1),
                                col(st, 2),
                                col(st, 3),
                                col(st, 4),
                                sqlite3_column_double(st, 5),
                                sqlite3_column_double(st, 6),
                                col(st, 7)};
        fn(opaque, &r);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_err(s, e, "Cannot read the tasks");
}

int task_store_delete(struct task_store *s, long id, struct err *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM tasks WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return db_err(s, e, "Cannot delete a task");
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(s, e, "Cannot delete a task");
    sqlite3_finalize(st);
    return rc;
}
