/* session.c - sessions (random tokens, idle and absolute expiry) and the lockout of users
 * and addresses after repeated failures. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "../util/log.h"
#include "../util/net.h"
#include "auth_priv.h"

#define MAX_SESSIONS 4096
#define MAX_SESSIONS_PER_USER 64
#define MAX_FAILURE_KEYS 4096

struct auth *auth_new(const struct auth_config *cfg, struct err *e)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (!a) {
        err_oom(e);
        return NULL;
    }
    a->cfg = *cfg;
    const char *svc = cfg->pam_service;
    if (!svc)
        svc = access("/etc/pam.d/kimchid", R_OK) == 0 ? "kimchid" : "login";
    snprintf(a->pam_service, sizeof(a->pam_service), "%s", svc);
    snprintf(a->admin_group, sizeof(a->admin_group), "%s", cfg->admin_group);
    a->cfg.pam_service = a->pam_service;
    a->cfg.admin_group = a->admin_group;
    if (a->cfg.max_failures > AUTH_MAX_FAILURES)
        a->cfg.max_failures = AUTH_MAX_FAILURES;
    if (a->cfg.recheck_seconds <= 0)
        a->cfg.recheck_seconds = AUTH_RECHECK_SECONDS;
    if (a->cfg.max_failures < 1)
        a->cfg.max_failures = 1;
    if (getrandom(a->basic_key, sizeof(a->basic_key), 0) != (ssize_t)sizeof(a->basic_key)) {
        free(a);
        err_set(e, ERR_INTERNAL, M_AUTH_NO_RANDOM,
                "Cannot draw the random key for remembering Basic credentials (getrandom).");
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->pam_lock, NULL);
    return a;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    if (a->sessions)
        explicit_bzero(a->sessions, a->capsessions * sizeof(*a->sessions));
    free(a->sessions);
    free(a->failures);
    free(a->known);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->pam_lock);
    explicit_bzero(a, sizeof(*a));
    free(a);
}

/* The time sessions and failures are measured in (a test may set its own clock). */
static time_t clock_now(const struct auth *a)
{
    return a->cfg.clock ? a->cfg.clock() : time(NULL);
}

long auth_lifetime(const struct auth *a)
{
    return a->cfg.lifetime_seconds;
}

/* Constant-time comparison of two tokens of AUTH_TOKEN_LEN characters. */
static bool token_eq(const char *x, const char *y)
{
    unsigned char diff = 0;
    for (int i = 0; i < AUTH_TOKEN_LEN; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff == 0;
}

static bool expired(const struct auth *a, const struct session *s, time_t now)
{
    return now - s->used > a->cfg.idle_seconds || now - s->created > a->cfg.lifetime_seconds;
}

static void drop_expired_locked(struct auth *a, time_t now)
{
    size_t j = 0;
    for (size_t i = 0; i < a->nsessions; i++)
        if (!expired(a, &a->sessions[i], now))
            a->sessions[j++] = a->sessions[i];
    if (j < a->nsessions)
        explicit_bzero(a->sessions + j, (a->nsessions - j) * sizeof(*a->sessions));
    a->nsessions = j;
}

/* The index of the session with this token, or -1. */
static long session_find_locked(struct auth *a, const char *token)
{
    for (size_t i = 0; i < a->nsessions; i++)
        if (token_eq(a->sessions[i].token, token))
            return (long)i;
    return -1;
}

static void session_remove_locked(struct auth *a, size_t i) /* keeps login order */
{
    memmove(&a->sessions[i], &a->sessions[i + 1], (a->nsessions - i - 1) * sizeof(*a->sessions));
    a->nsessions--;
    explicit_bzero(&a->sessions[a->nsessions], sizeof(*a->sessions));
}

/* A user at MAX_SESSIONS_PER_USER loses their own oldest session (the array is in login
 * order), so that no one can crowd others out by logging in again and again. */
static void drop_users_oldest_locked(struct auth *a, const char *user)
{
    size_t n = 0, oldest = 0;
    for (size_t i = a->nsessions; i-- > 0;)
        if (strcmp(a->sessions[i].id.user, user) == 0) {
            n++;
            oldest = i;
        }
    if (n >= MAX_SESSIONS_PER_USER)
        session_remove_locked(a, oldest);
}

static int new_token(char *out)
{
    unsigned char raw[AUTH_TOKEN_LEN / 2];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++)
        sprintf(out + 2 * i, "%02x", raw[i]);
    explicit_bzero(raw, sizeof(raw));
    return 0;
}

static int session_add(struct auth *a, const struct auth_identity *id, char *token, struct err *e)
{
    time_t now = clock_now(a);
    if (new_token(token) < 0)
        return err_set(e, ERR_INTERNAL, M_AUTH_NO_RANDOM, "No randomness for a session token.");
    pthread_mutex_lock(&a->lock);
    drop_expired_locked(a, now);
    drop_users_oldest_locked(a, id->user);
    if (a->nsessions == MAX_SESSIONS) { /* never end another user's session to make room */
        pthread_mutex_unlock(&a->lock);
        return err_set(e, ERR_UNAVAILABLE, M_AUTH_SESSIONS_FULL,
                       "kimchid holds as many sessions as it can (%d). Try again when some have "
                       "ended, or log out of sessions you no longer use.",
                       MAX_SESSIONS);
    }
    if (a->nsessions == a->capsessions) {
        size_t cap = a->capsessions ? a->capsessions * 2 : 16;
        struct session *n = realloc(a->sessions, cap * sizeof(*n));
        if (!n) {
            pthread_mutex_unlock(&a->lock);
            return err_oom(e);
        }
        a->sessions = n;
        a->capsessions = cap;
    }
    struct session *s = &a->sessions[a->nsessions++];
    memcpy(s->token, token, AUTH_TOKEN_LEN + 1);
    s->id = *id;
    s->created = s->used = s->checked = now;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

bool auth_account_holds(struct auth *a, const char *user, bool admin, const char *pw_mark)
{
    struct auth_identity fresh;
    return auth_account_now(a, user, &fresh) == 0 && fresh.admin == admin &&
           strcmp(fresh.pw_mark, pw_mark) == 0;
}

/* A session holds only while its account does, with the rights it had at login: read the
 * account again (outside the lock: it reads files) and end the session if it was deleted,
 * locked or expired, or gained or lost admin rights. */
static int recheck(struct auth *a, const char *token, const struct auth_identity *had, time_t now,
                   struct err *e)
{
    bool holds = auth_account_holds(a, had->user, had->admin, had->pw_mark);
    pthread_mutex_lock(&a->lock);
    long i = session_find_locked(a, token);
    if (i >= 0 && holds)
        a->sessions[i].checked = now;
    else if (i >= 0)
        session_remove_locked(a, (size_t)i);
    pthread_mutex_unlock(&a->lock);
    if (holds)
        return 0;
    log_warn("session of \"%s\" ended: the account was removed, locked or expired, or its "
             "rights or password changed",
             had->user);
    return err_set(e, ERR_AUTH, M_AUTH_ACCOUNT_CHANGED,
                   "Your account changed since you logged in (removed, locked, expired, or its "
                   "rights or password changed), so this session has ended. Log in again.");
}

long auth_recheck_seconds(const struct auth *a)
{
    return a->cfg.recheck_seconds;
}

int auth_session(struct auth *a, const char *token, bool changing, struct auth_identity *id,
                 struct err *e)
{
    time_t now = clock_now(a);
    long i = -1;
    bool stale = false;
    if (token && strlen(token) == AUTH_TOKEN_LEN) {
        pthread_mutex_lock(&a->lock);
        drop_expired_locked(a, now);
        i = session_find_locked(a, token);
        if (i >= 0) {
            a->sessions[i].used = now;
            *id = a->sessions[i].id;
            stale = changing || now - a->sessions[i].checked >= a->cfg.recheck_seconds;
        }
        pthread_mutex_unlock(&a->lock);
    }
    if (i < 0)
        return err_set(e, ERR_AUTH, M_AUTH_REQUIRED,
                       "Your session has expired or is not valid. Log in again.");
    return stale ? recheck(a, token, id, now, e) : 0;
}

void auth_logout(struct auth *a, const char *token, char *user, size_t len)
{
    if (len)
        user[0] = '\0';
    if (!token || strlen(token) != AUTH_TOKEN_LEN)
        return;
    pthread_mutex_lock(&a->lock);
    long i = session_find_locked(a, token);
    if (i >= 0) {
        snprintf(user, len, "%s", a->sessions[i].id.user);
        session_remove_locked(a, (size_t)i);
    }
    pthread_mutex_unlock(&a->lock);
}

/* Drops what no longer counts: failures outside the window, ended lockouts. */
static void prune_locked(struct auth *a, struct failure *f, time_t now)
{
    int keep = 0;
    for (int i = 0; i < f->n; i++)
        if (now - f->times[i] < a->cfg.failure_window_seconds)
            f->times[keep++] = f->times[i];
    f->n = keep;
}

/* Forgets keys with nothing left to count, so that the table cannot fill up for good. */
static void expire_failures_locked(struct auth *a, time_t now)
{
    size_t j = 0;
    for (size_t i = 0; i < a->nfailures; i++) {
        struct failure *f = &a->failures[i];
        prune_locked(a, f, now);
        bool remembered = f->strikes > 0 && now - f->locked_until < AUTH_LOCKOUT_MAX_SECONDS;
        if (f->n > 0 || f->locked_until > now || remembered)
            a->failures[j++] = *f;
    }
    a->nfailures = j;
}

/* The entry for key; with create, a new one. NULL when the table is full of keys that still
 * count (the caller then refuses the attempt: a full table fails closed). */
static struct failure *failure_find_locked(struct auth *a, const char *key, bool create, time_t now)
{
    for (size_t i = 0; i < a->nfailures; i++)
        if (strcmp(a->failures[i].key, key) == 0)
            return &a->failures[i];
    if (!create)
        return NULL;
    if (a->nfailures == MAX_FAILURE_KEYS)
        expire_failures_locked(a, now);
    if (a->nfailures == MAX_FAILURE_KEYS)
        return NULL;
    if (a->nfailures == a->capfailures) {
        size_t cap = a->capfailures ? a->capfailures * 2 : 16;
        struct failure *n = realloc(a->failures, cap * sizeof(*n));
        if (!n)
            return NULL;
        a->failures = n;
        a->capfailures = cap;
    }
    struct failure *f = &a->failures[a->nfailures++];
    memset(f, 0, sizeof(*f));
    snprintf(f->key, sizeof(f->key), "%s", key);
    return f;
}

/* Seconds until `key` may try again, 0 when it may now. */
static long locked_for_locked(struct auth *a, const char *key, time_t now)
{
    struct failure *f = failure_find_locked(a, key, false, now);
    return f && f->locked_until > now ? (long)(f->locked_until - now) : 0;
}

enum admission { ADMIT, TOO_MANY, TABLE_FULL };

/* Whether an attempt may reach PAM: not while its user's or its address's failures in the
 * window reach the limit. Only failed attempts count, and the caller holds pam_lock, so every
 * attempt admitted before this one has already been counted (parallel guesses cannot all
 * pass the check, and parallel correct logins never count against anyone). */
static enum admission admit_locked(struct auth *a, const char *ukey, const char *akey, time_t now)
{
    struct failure *fu = ukey ? failure_find_locked(a, ukey, true, now) : NULL;
    struct failure *fa = fu || !ukey ? failure_find_locked(a, akey, true, now) : NULL;
    if (fa && ukey) /* the second lookup may have compacted the table */
        fu = failure_find_locked(a, ukey, false, now);
    if ((ukey && !fu) || !fa)
        return TABLE_FULL;
    if (a->cfg.lockout_seconds <= 0)
        return ADMIT;
    if (fu)
        prune_locked(a, fu, now);
    prune_locked(a, fa, now);
    if ((fu && fu->n >= a->cfg.max_failures) || fa->n >= a->cfg.max_failures)
        return TOO_MANY;
    return ADMIT;
}

/* How long the next lockout of f lasts: lockout_seconds, doubling with each one in a row. */
static long lockout_for(const struct auth *a, const struct failure *f)
{
    long cap = a->cfg.lockout_seconds > AUTH_LOCKOUT_MAX_SECONDS ? a->cfg.lockout_seconds
                                                                 : AUTH_LOCKOUT_MAX_SECONDS;
    long s = a->cfg.lockout_seconds;
    for (int i = 0; i < f->strikes && s < cap; i++)
        s *= 2;
    return s < cap ? s : cap;
}

/* The attempt failed: it counts, and enough of them lock the key. */
static void failed_locked(struct auth *a, const char *key, time_t now)
{
    struct failure *f = key ? failure_find_locked(a, key, false, now) : NULL;
    if (!f || a->cfg.lockout_seconds <= 0)
        return;
    if (f->n < AUTH_MAX_FAILURES)
        f->times[f->n++] = now;
    if (f->n < a->cfg.max_failures)
        return;
    if (f->strikes > 0 && now - f->locked_until >= AUTH_LOCKOUT_MAX_SECONDS)
        f->strikes = 0; /* quiet for an hour: the run is over */
    long secs = lockout_for(a, f);
    f->locked_until = now + secs;
    f->n = 0;
    f->strikes++;
    log_warn("too many failed logins for %s: refused for %ld s%s", key, secs,
             key[0] == 'u' ? " (except from addresses it logged in from)" : "");
}

/* The attempt succeeded: the lockouts in a row are over. */
static void succeeded_locked(struct auth *a, const char *key, time_t now)
{
    struct failure *f = key ? failure_find_locked(a, key, false, now) : NULL;
    if (f)
        f->strikes = 0;
}

/* The key of an address: "a:" and its site (util/net.c: an IPv6 address by its /64). */
static void address_key(const char *addr, char *out, size_t len)
{
    char site[INET6_ADDRSTRLEN + 8];
    net_site_key(addr, site, sizeof(site));
    snprintf(out, len, "a:%s", site);
}

/* See AUTH_FAILURE_FLOOR_MS. */
static void pad_failure(const struct timespec *start, long floor_ms)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* in microseconds, rounded up: milliseconds truncated (a negative nanosecond difference
     * rounds toward zero) made a failure answer up to 1 ms before its floor */
    long long spent_us =
        (now.tv_sec - start->tv_sec) * 1000000LL + (now.tv_nsec - start->tv_nsec) / 1000LL;
    long long floor_us = floor_ms * 1000LL;
    if (spent_us < floor_us)
        usleep((useconds_t)(floor_us - spent_us + 1));
}

/* Whether this attempt may reach PAM now (with a->lock held): not while its user or address is
 * locked out or has reached the limit. From where the user logged in before, a stranger's
 * failures for it do not count (*uk is then NULL). */
static enum admission admission_locked(struct auth *a, const char *user, const char *ukey,
                                       const char *akey, time_t now, const char **uk,
                                       long *retry_after)
{
    *uk = auth_known_locked(a, user, akey, now) ? NULL : ukey;
    long wait_u = *uk ? locked_for_locked(a, *uk, now) : 0;
    long wait_a = locked_for_locked(a, akey, now);
    *retry_after = wait_u > wait_a ? wait_u : wait_a;
    return *retry_after > 0 ? TOO_MANY : admit_locked(a, *uk, akey, now);
}

static int refused(const struct auth *a, enum admission adm, long *retry_after, struct err *e)
{
    if (adm == TOO_MANY) {
        if (*retry_after <= 0)
            *retry_after = a->cfg.failure_window_seconds;
        return err_set(e, ERR_BUSY, M_AUTH_LOCKED,
                       "Too many failed logins. Try again in %ld seconds.", *retry_after);
    }
    *retry_after = a->cfg.failure_window_seconds;
    log_warn("login refused: failed logins from too many users and addresses to track");
    return err_set(e, ERR_BUSY, M_AUTH_FLOOD,
                   "kimchid is refusing logins for a moment: it sees failed logins from too "
                   "many users and addresses at once. Try again in %ld seconds.",
                   *retry_after);
}

/* Only a wrong password counts as a failure (PAM being unavailable is no guess). */
static void count_attempt(struct auth *a, const char *user, const char *uk, const char *akey,
                          time_t now, int rc, const struct err *e)
{
    pthread_mutex_lock(&a->lock);
    if (rc < 0 && e->code == ERR_AUTH) {
        failed_locked(a, uk, now);
        failed_locked(a, akey, now);
    } else if (rc == 0) {
        succeeded_locked(a, uk, now);
        succeeded_locked(a, akey, now);
        auth_known_add_locked(a, user, akey, now);
    }
    pthread_mutex_unlock(&a->lock);
}

int auth_login(struct auth *a, const char *user, const char *password, const char *addr,
               char *token, struct auth_identity *id, long *retry_after, struct err *e)
{
    char ukey[96], akey[96];
    const char *uk;
    snprintf(ukey, sizeof(ukey), "u:%.64s", user);
    address_key(addr, akey, sizeof(akey));
    /* a locked-out attempt is refused at once, not after the logins waiting for PAM */
    pthread_mutex_lock(&a->lock);
    enum admission adm = admission_locked(a, user, ukey, akey, clock_now(a), &uk, retry_after);
    pthread_mutex_unlock(&a->lock);
    if (adm != ADMIT)
        return refused(a, adm, retry_after, e);
    /* then one attempt at a time, from the check to the count: the check sees every earlier
     * attempt's outcome */
    pthread_mutex_lock(&a->pam_lock);
    time_t now = clock_now(a);
    pthread_mutex_lock(&a->lock);
    adm = admission_locked(a, user, ukey, akey, now, &uk, retry_after);
    pthread_mutex_unlock(&a->lock);
    if (adm != ADMIT) {
        pthread_mutex_unlock(&a->pam_lock);
        return refused(a, adm, retry_after, e);
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int rc = auth_pam_check(a, user, password, id, e);
    count_attempt(a, user, uk, akey, now, rc, e);
    pthread_mutex_unlock(&a->pam_lock);
    if (rc < 0) {
        pad_failure(&start, a->cfg.failure_floor_ms);
        return -1;
    }
    return token ? session_add(a, id, token, e) : 0;
}
