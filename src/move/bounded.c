/* bounded.c - a blocking call on a thread of its own, waited for within a bound (see
 * bounded.h). The caller and the thread share one record; the last to let go frees it. */
#include "bounded.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "../util/clock.h"

struct bounded {
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    int refs;
    bool done;
    int rc;
    int (*fn)(void *arg);
    void *arg;
    void (*free_arg)(void *arg);
    struct timespec started;
};

static void unref(struct bounded *b)
{
    pthread_mutex_lock(&b->lock);
    int left = --b->refs;
    pthread_mutex_unlock(&b->lock);
    if (left)
        return;
    if (b->free_arg)
        b->free_arg(b->arg);
    pthread_cond_destroy(&b->done_cv);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static void *run(void *p)
{
    struct bounded *b = p;
    int rc = b->fn(b->arg);
    pthread_mutex_lock(&b->lock);
    b->rc = rc;
    b->done = true;
    pthread_cond_broadcast(&b->done_cv);
    pthread_mutex_unlock(&b->lock);
    unref(b);
    return NULL;
}

struct bounded *bounded_start(int (*fn)(void *arg), void *arg, void (*free_arg)(void *arg))
{
    struct bounded *b = calloc(1, sizeof(*b));
    if (!b) {
        if (free_arg)
            free_arg(arg);
        return NULL;
    }
    *b = (struct bounded){.refs = 2, .fn = fn, .arg = arg, .free_arg = free_arg};
    pthread_mutex_init(&b->lock, NULL);
    clock_cond_init(&b->done_cv);
    clock_gettime(CLOCK_MONOTONIC, &b->started);
    pthread_t t;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    int started = pthread_create(&t, &ta, run, b);
    pthread_attr_destroy(&ta);
    if (started != 0) {
        b->refs = 1;
        unref(b);
        return NULL;
    }
    return b;
}

bool bounded_wait(struct bounded *b, int ms, int *rc)
{
    struct timespec until = clock_after(CLOCK_MONOTONIC, ms);
    pthread_mutex_lock(&b->lock);
    while (!b->done && pthread_cond_timedwait(&b->done_cv, &b->lock, &until) != ETIMEDOUT)
        ;
    bool done = b->done;
    if (done && rc)
        *rc = b->rc;
    pthread_mutex_unlock(&b->lock);
    return done;
}

void *bounded_arg(struct bounded *b)
{
    return b->arg;
}

long long bounded_age_ms(struct bounded *b)
{
    return clock_ms_since(&b->started);
}

void bounded_release(struct bounded *b)
{
    if (b)
        unref(b);
}
