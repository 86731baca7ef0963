/* pool.c - SFTP sessions to other hosts, kept open a short while and reused: a move reads and
 * writes several files on its destination (the checks, qemu.conf, /etc/group, each TLS file),
 * and each used to cost a new ssh connection with its key exchange and login. A session is
 * used by one caller at a time; one idle for POOL_IDLE_MS is closed when next looked at. A
 * call that fails on a kept session is tried once more on a fresh one (the host may have
 * restarted since), so a kept session never turns a working host into a failure. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../util/clock.h"
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
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

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

/* A kept idle session to `host`, marked busy, or false. Sessions idle too long are closed
 * first. */
static bool take_kept(const char *host, struct sftp_conn *c)
{
    let_go(NULL, false);
    bool got = false;
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < POOL_MAX && !got; i++) {
        struct kept *k = &pool[i];
        if (k->s && !k->busy && !strcmp(k->host, host)) {
            k->busy = true;
            *c = (struct sftp_conn){k->s, k->sf, true};
            got = true;
        }
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
    }
    pthread_mutex_unlock(&pool_lock);
    if (c->s)
        conn_close(c);
}

void sshc_pool_close(void)
{
    let_go(NULL, true);
}

void sshc_forget_host(const char *host)
{
    let_go(host, false);
}
