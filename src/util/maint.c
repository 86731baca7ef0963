/* maint.c - see maint.h. */
#include "maint.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "file.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* one writer at a time */
static char marker[512] = MAINT_DEFAULT_PATH;

void maint_init(const char *path)
{
    snprintf(marker, sizeof(marker), "%s", path ? path : MAINT_DEFAULT_PATH);
}

void maint_parse(const char *text, struct maint *m)
{
    *m = (struct maint){0};
    if (!text || !text[0])
        return;
    m->on = true; /* a marker that does not parse still means maintenance */
    json_t *j = json_loads(text, 0, NULL);
    const char *since = json_string_value(json_object_get(j, "since"));
    const char *by = json_string_value(json_object_get(j, "by"));
    snprintf(m->since, sizeof(m->since), "%s", since ? since : "?");
    snprintf(m->by, sizeof(m->by), "%s", by ? by : "?");
    json_decref(j);
}

void maint_get(struct maint *m)
{
    struct err e = {0};
    pthread_mutex_lock(&lock);
    char *text = access(marker, F_OK) == 0 ? file_read(marker, 4096, false, &e) : NULL;
    pthread_mutex_unlock(&lock);
    maint_parse(text ? text : (e.id[0] ? "{}" : ""), m); /* unreadable: on, to be safe */
    free(text);
}

static int write_marker(const char *who, struct err *e)
{
    char since[32], tmp[600];
    time_t now = time(NULL);
    struct tm tm;
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    json_t *j = json_pack("{s:s, s:s}", "since", since, "by", who ? who : "?");
    char *text = j ? json_dumps(j, 0) : NULL;
    json_decref(j);
    if (!text)
        return err_oom(e);
    snprintf(tmp, sizeof(tmp), "%s.kimchid-new", marker);
    unlink(tmp);
    int rc =
        file_write_new(tmp, text, strlen(text), 0644) == 0 && rename(tmp, marker) == 0 ? 0 : -1;
    int saved = errno;
    free(text);
    if (rc == 0)
        return 0;
    unlink(tmp);
    return err_set(e, ERR_INTERNAL, M_HOST_MAINT_WRITE, "Cannot write \"%s\": %s.", marker,
                   strerror(saved));
}

int maint_set(bool on, const char *who, struct err *e)
{
    pthread_mutex_lock(&lock);
    int rc = 0;
    if (on) {
        if (access(marker, F_OK) != 0) /* already on: it keeps its start and who */
            rc = write_marker(who, e);
    } else if (unlink(marker) < 0 && errno != ENOENT)
        rc = err_set(e, ERR_INTERNAL, M_HOST_MAINT_WRITE, "Cannot remove \"%s\": %s.", marker,
                     strerror(errno));
    pthread_mutex_unlock(&lock);
    return rc;
}
