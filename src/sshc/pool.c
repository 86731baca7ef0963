/* pool.c - SFTP sessions to other hosts, kept open a short while and reused: a move reads and
 * writes several files on its destination (the checks, qemu.conf, /etc/group, each TLS file),
 * and each used to cost a new ssh connection with its key exchange and login. A session is
 * used by one caller at a time; one idle for POOL_IDLE_MS is closed by a reaper thread that
 * runs while sessions are kept (and by the next look, whichever comes first). A
 * call that fails on a kept session is tried once more on a fresh one (the host may have
 * restarted since), so a kept session never turns a working host into a failure. A move
 * opens its destination's session in the background while libvirt's connection is being made
 * (sshc_sftp_warm): the two logins overlap instead of following each other. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "sshc_priv.h"

#define POOL_MAX 8
#define POOL_IDLE_MS 10000

static struct kept {
    char host[256];
    ssh_session s;
    sftp_session sf;
    bool busy;
    struct timespec last;
} pool[POOL_MAX];
/* Hosts a session is being opened to in the background (sshc_sftp_warm). */
static char warming[POOL_MAX][256];
static size_t nwarming;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
/* the reaper's wake-up and end; a warm-up's end */
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static bool reaper_on, pool_stopping;

static void conn_close(struct sftp_conn *c)
{
    if (c->sf)
        sftp_free(c->sf);
    sshc_close(c->s);
    c->sf = NULL;
    c->s = NULL;
}

/* A fresh SFTP session as root@host with the daemon's key (the move checked that login). */
static int sftp_login(const char *host, const char *path, struct sftp_conn *c, struct err *e)
{
    *c = (struct sftp_conn){0};
    log_debug("ssh: SFTP login to \"%s\" as root", host);
    c->s = sshc_key_login(host, NULL, e);
    if (!c->s)
        return -1;
    c->sf = sftp_new(c->s);
    if (c->sf && sftp_init(c->sf) == SSH_OK)
        return 0;
    err_set(e, ERR_BACKEND, M_SSH_SFTP, "Cannot open an SFTP session to \"%s\" for \"%s\": %s.",
            host, path, ssh_get_error(c->s));
    conn_close(c);
    return -1;
}

/* Which idle kept sessions to let go: those idle too long (host NULL, `all` false), those to
 * `host`, or every one (`all`). */
static bool goes(const struct kept *k, const char *host, bool all)
{
    if (!k->s || k->busy)
        return false;
    return all || (host ? !strcmp(k->host, host) : clock_ms_since(&k->last) >= POOL_IDLE_MS);
}

/* Takes those sessions out of the pool and closes them, outside the lock. */
static void let_go(const char *host, bool all)
{
    struct kept gone[POOL_MAX];
    size_t n = 0;
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < POOL_MAX; i++)
        if (goes(&pool[i], host, all)) {
            gone[n++] = pool[i];
            memset(&pool[i], 0, sizeof(pool[i]));
        }
    pthread_mutex_unlock(&pool_lock);
    for (size_t i = 0; i < n; i++) {
        struct sftp_conn c = {gone[i].s, gone[i].sf, false};
        conn_close(&c);
    }
}

/* Milliseconds until the first idle kept session is idle too long (0: one is), -1: none is
 * idle. Under the lock. */
static long long next_expiry_locked(void)
{
    long long next = -1;
    for (size_t i = 0; i < POOL_MAX; i++)
        if (pool[i].s && !pool[i].busy) {
            long long left = POOL_IDLE_MS - clock_ms_since(&pool[i].last);
            left = left < 0 ? 0 : left;
            next = next < 0 || left < next ? left : next;
        }
    return next;
}

/* Closes idle sessions as they expire; ends when none is idle (a kept one starts it again). */
static void *reaper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool_lock);
    long long wait;
    while (!pool_stopping && (wait = next_expiry_locked()) >= 0) {
        if (wait > 0) {
            struct timespec until = clock_after(CLOCK_REALTIME, (long)wait);
            pthread_cond_timedwait(&pool_cond, &pool_lock, &until);
            continue;
        }
        pthread_mutex_unlock(&pool_lock);
        let_go(NULL, false);
        pthread_mutex_lock(&pool_lock);
    }
    reaper_on = false;
    pthread_cond_broadcast(&pool_cond);
    pthread_mutex_unlock(&pool_lock);
    return NULL;
}

/* Under the lock, once a session is kept: the reaper runs. */
static void reaper_start_locked(void)
{
    pthread_t th;
    pthread_attr_t at;
    if (reaper_on || pool_stopping || pthread_attr_init(&at) != 0)
        return;
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    reaper_on = pthread_create(&th, &at, reaper, NULL) == 0; /* else: closed at the next look */
    pthread_attr_destroy(&at);
}

static long warming_find_locked(const char *host)
{
    for (size_t i = 0; i < nwarming; i++)
        if (!strcmp(warming[i], host))
            return (long)i;
    return -1;
}

/* A kept idle session to `host`, marked busy, or false. Sessions idle too long are closed
 * first. One being opened in the background is waited for (its login is bounded by the ssh
 * connect timeout). */
static bool take_kept(const char *host, struct sftp_conn *c)
{
    let_go(NULL, false);
    bool got = false;
    pthread_mutex_lock(&pool_lock);
    for (;;) {
        for (size_t i = 0; i < POOL_MAX && !got; i++) {
            struct kept *k = &pool[i];
            if (k->s && !k->busy && !strcmp(k->host, host)) {
                k->busy = true;
                *c = (struct sftp_conn){k->s, k->sf, true};
                got = true;
            }
        }
        if (got || warming_find_locked(host) < 0)
            break;
        pthread_cond_wait(&pool_cond, &pool_lock);
    }
    pthread_mutex_unlock(&pool_lock);
    return got;
}

int sshc_sftp_take(const char *host, const char *path, bool fresh, struct sftp_conn *c,
                   struct err *e)
{
    if (!fresh && take_kept(host, c))
        return 0;
    return sftp_login(host, path, c, e);
}

void sshc_sftp_give(const char *host, struct sftp_conn *c, bool ok)
{
    pthread_mutex_lock(&pool_lock);
    struct kept *slot = NULL;
    for (size_t i = 0; i < POOL_MAX && !slot; i++)
        if (c->pooled ? pool[i].s == c->s : !pool[i].s)
            slot = &pool[i];
    if (slot && c->pooled && !ok)
        memset(slot, 0, sizeof(*slot)); /* it may be dead: not kept */
    else if (slot && ok) {
        if (!c->pooled)
            snprintf(slot->host, sizeof(slot->host), "%s", host);
        slot->s = c->s;
        slot->sf = c->sf;
        slot->busy = false;
        clock_gettime(CLOCK_MONOTONIC, &slot->last);
        c->s = NULL; /* kept */
        reaper_start_locked();
    }
    pthread_mutex_unlock(&pool_lock);
    if (c->s)
        conn_close(c);
}

static void *warm(void *arg)
{
    char *host = arg;
    struct sftp_conn c;
    struct err e = {0};
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (sftp_login(host, "the move's reads and writes", &c, &e) == 0) {
        log_debug("ssh: SFTP session to \"%s\" opened ahead in %lld ms", host,
                  clock_ms_since(&start));
        sshc_sftp_give(host, &c, true);
    } else
        log_debug("ssh: no SFTP session opened ahead to \"%s\" (%s); the first read opens one",
                  host, e.msg);
    pthread_mutex_lock(&pool_lock);
    long i = warming_find_locked(host);
    if (i >= 0) {
        nwarming--;
        memmove(warming[i], warming[nwarming], sizeof(warming[0]));
    }
    pthread_cond_broadcast(&pool_cond);
    pthread_mutex_unlock(&pool_lock);
    free(host);
    return NULL;
}

/* Whether a session to `host` is kept or on its way. Under the lock. */
static bool has_locked(const char *host)
{
    for (size_t i = 0; i < POOL_MAX; i++)
        if (pool[i].s && !strcmp(pool[i].host, host))
            return true;
    return warming_find_locked(host) >= 0;
}

void sshc_sftp_warm(const char *host)
{
    char *h = strdup(host);
    pthread_attr_t at;
    bool started = false;
    pthread_mutex_lock(&pool_lock);
    if (h && !pool_stopping && nwarming < POOL_MAX && strlen(host) < sizeof(warming[0]) &&
        !has_locked(host) && pthread_attr_init(&at) == 0) {
        pthread_t th;
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        snprintf(warming[nwarming++], sizeof(warming[0]), "%s", host);
        started = pthread_create(&th, &at, warm, h) == 0;
        if (!started)
            nwarming--;
        pthread_attr_destroy(&at);
    }
    pthread_mutex_unlock(&pool_lock);
    if (!started)
        free(h);
}

void sshc_pool_close(void)
{
    pthread_mutex_lock(&pool_lock);
    pool_stopping = true;
    pthread_cond_broadcast(&pool_cond);
    while (reaper_on || nwarming)
        pthread_cond_wait(&pool_cond, &pool_lock);
    pthread_mutex_unlock(&pool_lock);
    let_go(NULL, true);
    pthread_mutex_lock(&pool_lock);
    pool_stopping = false;
    pthread_mutex_unlock(&pool_lock);
}

void sshc_forget_host(const char *host)
{
    let_go(host, false);
}
