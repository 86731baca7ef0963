/* bus.c - a ring of SSE frames under one mutex and one condition variable. Ids are
 * "<run>.<seq>": <run> is the start time of this kimchid (ms), so an id from before a restart
 * is recognised as such and the client reloads instead of missing what happened meanwhile. */
#include "bus.h"

#include "clock.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct frame {
    uint64_t seq;
    char *text;
    size_t len;
    struct frame *next;
};

struct bus {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t run;
    uint64_t seq; /* the newest frame's */
    struct frame *head, *tail;
    size_t bytes, max_bytes;
    bool closed;
    uint64_t wakes;         /* bus_wake calls: a waiting reader returns when it changes */
    int readers;            /* in bus_read now */
    long long last_read_ms; /* CLOCK_MONOTONIC of the last return from bus_read */
};

struct bus *bus_new(size_t max_bytes)
{
    struct bus *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    b->run = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    b->max_bytes = max_bytes;
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cond, &ca);
    pthread_condattr_destroy(&ca);
    return b;
}

void bus_close(struct bus *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->closed = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

void bus_free(struct bus *b)
{
    if (!b)
        return;
    for (struct frame *f = b->head, *next; f; f = next) {
        next = f->next;
        free(f->text);
        free(f);
    }
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

void bus_publish(struct bus *b, const char *type, const char *data)
{
    if (!b)
        return;
    struct frame *f = calloc(1, sizeof(*f));
    if (!f)
        return;
    pthread_mutex_lock(&b->lock);
    f->seq = b->seq + 1;
    int n = asprintf(&f->text, "id: %" PRIu64 ".%" PRIu64 "\nevent: %s\ndata: %s\n\n", b->run,
                     f->seq, type, data);
    if (n < 0) {
        pthread_mutex_unlock(&b->lock);
        free(f);
        return;
    }
    f->len = (size_t)n;
    b->seq = f->seq;
    if (b->tail)
        b->tail->next = f;
    else
        b->head = f;
    b->tail = f;
    b->bytes += f->len;
    while (b->head != b->tail && b->bytes > b->max_bytes) { /* the oldest go */
        struct frame *old = b->head;
        b->head = old->next;
        b->bytes -= old->len;
        free(old->text);
        free(old);
    }
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

void bus_wake(struct bus *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->wakes++;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

uint64_t bus_now(struct bus *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t seq = b->seq;
    pthread_mutex_unlock(&b->lock);
    return seq;
}

int bus_parse_id(const struct bus *b, const char *text, uint64_t *pos)
{
    uint64_t run, seq;
    int used = 0;
    if (!text || strlen(text) > 41 || text[0] < '0' || text[0] > '9' ||
        sscanf(text, "%" SCNu64 ".%" SCNu64 "%n", &run, &seq, &used) != 2 ||
        (size_t)used != strlen(text))
        return -1;
    pthread_mutex_lock((pthread_mutex_t *)&b->lock);
    bool ours = run == b->run && seq <= b->seq;
    pthread_mutex_unlock((pthread_mutex_t *)&b->lock);
    if (!ours)
        return 1;
    *pos = seq;
    return 0;
}

/* Copies the frames after `*pos` that fit, under the lock. When some of them are gone (too
 * old) or one can never fit, nothing is copied: the client is told to reload, and goes on
 * from the newest frame (older ones would undo what the reload shows). */
static size_t copy_locked(struct bus *b, uint64_t *pos, char *out, size_t len, bool *gap)
{
    size_t used = 0;
    for (struct frame *f = b->head; f; f = f->next) {
        if (f->seq <= *pos)
            continue;
        bool dropped = f == b->head && f->seq > *pos + 1;
        if (dropped || (f->len > len && used == 0)) {
            *gap = true;
            *pos = b->seq;
            return 0;
        }
        if (used + f->len > len)
            break;
        memcpy(out + used, f->text, f->len);
        used += f->len;
        *pos = f->seq;
    }
    return used;
}

ssize_t bus_read(struct bus *b, uint64_t *pos, char *out, size_t len, int timeout_ms, bool *gap)
{
    *gap = false;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->lock);
    uint64_t wakes = b->wakes;
    b->readers++;
    while (!b->closed && b->seq <= *pos && b->wakes == wakes &&
           pthread_cond_timedwait(&b->cond, &b->lock, &until) == 0)
        ;
    b->readers--;
    b->last_read_ms = clock_now_ms();
    ssize_t rc = b->closed ? -1 : (ssize_t)copy_locked(b, pos, out, len, gap);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

bool bus_watched(struct bus *b, int within_ms)
{
    if (!b)
        return false;
    pthread_mutex_lock(&b->lock);
    bool w = b->readers > 0 || (b->last_read_ms && clock_now_ms() - b->last_read_ms <= within_ms);
    pthread_mutex_unlock(&b->lock);
    return w;
}

void bus_format_id(const struct bus *b, uint64_t pos, char *out, size_t len)
{
    snprintf(out, len, "%" PRIu64 ".%" PRIu64, b->run, pos); /* run never changes */
}

void bus_publish_json(struct bus *b, const char *type, json_t *data)
{
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    if (text)
        bus_publish(b, type, text);
    free(text);
}
