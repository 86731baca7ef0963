/* session.c - sessions (random tokens, idle and absolute expiry) and the lockout of users
 * and addresses after repeated failures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "../util/log.h"
#include "auth_priv.h"

#define MAX_SESSIONS 4096
#define MAX_FAILURE_KEYS 4096

struct auth *auth_new(const struct auth_config *cfg, struct err *e)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (!a) {
        err_set(e, ERR_INTERNAL, "KCHAPI0010E", "Out of memory.");
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
    pthread_mutex_init(&a->lock, NULL);
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
    pthread_mutex_destroy(&a->lock);
    free(a);
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
    time_t now = time(NULL);
    if (new_token(token) < 0)
        return err_set(e, ERR_INTERNAL, "KCHAUTH0005E", "No randomness for a session token.");
    pthread_mutex_lock(&a->lock);
    drop_expired_locked(a, now);
    if (a->nsessions == MAX_SESSIONS) /* forget the oldest */
        memmove(a->sessions, a->sessions + 1, --a->nsessions * sizeof(*a->sessions));
    if (a->nsessions == a->capsessions) {
        size_t cap = a->capsessions ? a->capsessions * 2 : 16;
        struct session *n = realloc(a->sessions, cap * sizeof(*n));
        if (!n) {
            pthread_mutex_unlock(&a->lock);
            return err_set(e, ERR_INTERNAL, "KCHAPI0010E", "Out of memory.");
        }
        a->sessions = n;
        a->capsessions = cap;
    }
    struct session *s = &a->sessions[a->nsessions++];
    memcpy(s->token, token, AUTH_TOKEN_LEN + 1);
    s->id = *id;
    s->created = s->used = now;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

int auth_session(struct auth *a, const char *token, struct auth_identity *id, struct err *e)
{
    time_t now = time(NULL);
    int rc = -1;
    if (token && strlen(token) == AUTH_TOKEN_LEN) {
        pthread_mutex_lock(&a->lock);
        drop_expired_locked(a, now);
        for (size_t i = 0; i < a->nsessions && rc < 0; i++)
            if (token_eq(a->sessions[i].token, token)) {
                a->sessions[i].used = now;
                *id = a->sessions[i].id;
                rc = 0;
            }
        pthread_mutex_unlock(&a->lock);
    }
    if (rc < 0)
        err_set(e, ERR_AUTH, "KCHAUTH0002E",
                "Your session has expired or is not valid. Log in again.");
    return rc;
}

void auth_logout(struct auth *a, const char *token)
{
    if (!token || strlen(token) != AUTH_TOKEN_LEN)
        return;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->nsessions; i++)
        if (token_eq(a->sessions[i].token, token)) {
            a->sessions[i] = a->sessions[--a->nsessions];
            explicit_bzero(&a->sessions[a->nsessions], sizeof(*a->sessions));
            break;
        }
    pthread_mutex_unlock(&a->lock);
}

static struct failure *failure_find_locked(struct auth *a, const char *key, bool create)
{
    for (size_t i = 0; i < a->nfailures; i++)
        if (strcmp(a->failures[i].key, key) == 0)
            return &a->failures[i];
    if (!create || a->nfailures == MAX_FAILURE_KEYS)
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
    struct failure *f = failure_find_locked(a, key, false);
    return f && f->locked_until > now ? (long)(f->locked_until - now) : 0;
}

static void record_failure_locked(struct auth *a, const char *key, time_t now)
{
    struct failure *f = failure_find_locked(a, key, true);
    if (!f)
        return;
    int keep = 0;
    for (int i = 0; i < f->n; i++) /* only failures inside the window count */
        if (now - f->times[i] < a->cfg.failure_window_seconds)
            f->times[keep++] = f->times[i];
    f->n = keep;
    if (f->n < 8)
        f->times[f->n++] = now;
    if (f->n >= a->cfg.max_failures) {
        f->locked_until = now + a->cfg.lockout_seconds;
        f->n = 0;
        log_warn("too many failed logins for %s: refused for %ld s", key, a->cfg.lockout_seconds);
    }
}

int auth_login(struct auth *a, const char *user, const char *password, const char *addr,
               char *token, struct auth_identity *id, long *retry_after, struct err *e)
{
    char ukey[96], akey[96];
    snprintf(ukey, sizeof(ukey), "u:%.64s", user);
    snprintf(akey, sizeof(akey), "a:%.64s", addr ? addr : "?");
    time_t now = time(NULL);
    pthread_mutex_lock(&a->lock);
    long wait_u = locked_for_locked(a, ukey, now), wait_a = locked_for_locked(a, akey, now);
    pthread_mutex_unlock(&a->lock);
    *retry_after = wait_u > wait_a ? wait_u : wait_a;
    if (*retry_after > 0)
        return err_set(e, ERR_BUSY, "KCHAUTH0006E",
                       "Too many failed logins. Try again in %ld seconds.", *retry_after);
    if (auth_pam_check(a, user, password, id, e) < 0) {
        pthread_mutex_lock(&a->lock);
        record_failure_locked(a, ukey, now);
        record_failure_locked(a, akey, now);
        pthread_mutex_unlock(&a->lock);
        return -1;
    }
    return token ? session_add(a, id, token, e) : 0;
}
