/* basic.c - HTTP Basic credentials that PAM accepted, remembered for a while. A script that
 * polls with Basic (curl -u, Kimchi's API clients) would otherwise run a whole PAM login on
 * every request: the password's hash computed again (yescrypt on Debian 12: tens of ms of
 * CPU), one login at a time under pam_lock. bench/migrate.sh polling a task every 20 ms that
 * way slowed the very migration it timed by 5-8 % on 2 cores (libvirt's call 869-920 ms,
 * against 838-851 ms without the polling).
 *
 * The password is not kept: an entry holds an HMAC-SHA256 of user and password under a key
 * drawn at start, which only the same credentials match. An entry holds as a session does:
 * its account is read again (no PAM) for every changing request and at least every
 * recheck_seconds, and the entry goes when the account was removed, locked or expired or its
 * rights or password changed; where the password's hash cannot be read (no pw_mark), a change
 * of password could not be seen, so such an entry lives recheck_seconds only. A wrong
 * password never matches an entry: it goes through PAM, the lockout and the failure floor as
 * before. */
#include <gnutls/crypto.h>
#include <string.h>

#include "auth_priv.h"

static int mac_of(const struct auth *a, const char *user, const char *password, unsigned char *out)
{
    size_t ul = strlen(user), pl = strlen(password);
    char msg[1024];
    if (ul + 1 + pl > sizeof(msg))
        return -1;             /* too long to remember: PAM each time */
    memcpy(msg, user, ul + 1); /* the NUL keeps "ab"+"c" apart from "a"+"bc" */
    memcpy(msg + ul + 1, password, pl);
    int rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, a->basic_key, sizeof(a->basic_key), msg,
                              ul + 1 + pl, out);
    explicit_bzero(msg, sizeof(msg));
    return rc == 0 ? 0 : -1;
}

static bool mac_eq(const unsigned char *x, const unsigned char *y)
{
    unsigned char d = 0;
    for (size_t i = 0; i < AUTH_BASIC_MAC; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

static long basic_find_locked(const struct auth *a, const unsigned char *mac)
{
    for (size_t i = 0; i < a->nbasic; i++)
        if (mac_eq(a->basic[i].mac, mac))
            return (long)i;
    return -1;
}

static void basic_remove_locked(struct auth *a, size_t i)
{
    memmove(&a->basic[i], &a->basic[i + 1], (a->nbasic - i - 1) * sizeof(a->basic[0]));
    a->nbasic--;
    explicit_bzero(&a->basic[a->nbasic], sizeof(a->basic[0]));
}

static void basic_add(struct auth *a, const unsigned char *mac, const struct auth_identity *id,
                      time_t now)
{
    pthread_mutex_lock(&a->lock);
    long i = basic_find_locked(a, mac);
    if (i >= 0)
        basic_remove_locked(a, (size_t)i);
    if (a->nbasic == AUTH_BASIC_KEPT) /* the least recently accepted goes */
        basic_remove_locked(a, 0);
    struct basic_entry *b = &a->basic[a->nbasic++];
    memcpy(b->mac, mac, AUTH_BASIC_MAC);
    b->id = *id;
    b->accepted = b->checked = now;
    pthread_mutex_unlock(&a->lock);
}

enum hit { MISS, HIT, STALE };

static enum hit basic_lookup(struct auth *a, const unsigned char *mac, bool changing, time_t now,
                             struct auth_identity *id)
{
    enum hit h = MISS;
    pthread_mutex_lock(&a->lock);
    long i = basic_find_locked(a, mac);
    const struct basic_entry *b = i >= 0 ? &a->basic[i] : NULL;
    long life = b && b->id.pw_mark[0] ? a->cfg.lifetime_seconds : a->cfg.recheck_seconds;
    if (b && (life <= 0 || now - b->accepted < life)) {
        *id = b->id;
        h = changing || now - b->checked >= a->cfg.recheck_seconds ? STALE : HIT;
    } else if (b) {
        basic_remove_locked(a, (size_t)i);
    }
    pthread_mutex_unlock(&a->lock);
    return h;
}

/* After the account was read again: kept (checked now) or dropped. */
static void basic_rechecked(struct auth *a, const unsigned char *mac, bool holds, time_t now)
{
    pthread_mutex_lock(&a->lock);
    long i = basic_find_locked(a, mac);
    if (i >= 0 && holds)
        a->basic[i].checked = now;
    else if (i >= 0)
        basic_remove_locked(a, (size_t)i);
    pthread_mutex_unlock(&a->lock);
}

int auth_basic(struct auth *a, const char *user, const char *password, const char *addr,
               bool changing, struct auth_identity *id, long *retry_after, struct err *e)
{
    unsigned char mac[AUTH_BASIC_MAC];
    time_t now = a->cfg.clock ? a->cfg.clock() : time(NULL);
    bool keyed = mac_of(a, user, password, mac) == 0;
    enum hit h = keyed ? basic_lookup(a, mac, changing, now, id) : MISS;
    bool holds = h == HIT;
    if (h == STALE) {
        holds = auth_account_holds(a, id->user, id->admin, id->pw_mark);
        basic_rechecked(a, mac, holds, now); /* not holding: PAM decides afresh below */
    }
    int rc = 0;
    if (!holds) {
        rc = auth_login(a, user, password, addr, NULL, id, retry_after, e);
        if (rc == 0 && keyed)
            basic_add(a, mac, id, now);
    }
    explicit_bzero(mac, sizeof(mac));
    return rc;
}
