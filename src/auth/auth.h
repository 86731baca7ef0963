/* auth.h - who is asking: PAM logins, sessions, roles and lockout of repeated failures.
 * Thread-safe. PAM calls block briefly (local files): HTTP threads may call them. */
#ifndef KIMCHID_AUTH_H
#define KIMCHID_AUTH_H

#include <stdbool.h>
#include <time.h>

#include "../util/err.h"

struct auth;

struct auth_config {
    const char *pam_service; /* NULL: "kimchid" if /etc/pam.d/kimchid exists, else "login" */
    const char *admin_group; /* members are admins, with root */
    long idle_seconds;       /* a session unused this long ends */
    long lifetime_seconds;   /* a session ends this long after login, used or not */
    long lockout_seconds;    /* how long a user or address is refused after failures */
    int max_failures;        /* failures within failure_window_seconds that lock (at most
                              * AUTH_MAX_FAILURES) */
    long failure_window_seconds;
    long failure_floor_ms; /* a failed login answers no sooner (AUTH_FAILURE_FLOOR_MS) */
    long recheck_seconds;  /* an account is read again this often (0: AUTH_RECHECK_SECONDS) */
    time_t (*clock)(void); /* NULL: time(NULL); tests pass one they can move */
};

/* PAM answers at once for a user that does not exist and only after hashing for a wrong
 * password, which would tell which users exist: a failed login takes at least this long. */
#define AUTH_FAILURE_FLOOR_MS 250

#define AUTH_TOKEN_LEN 64   /* hex characters: 256 random bits */
#define AUTH_MAX_FAILURES 8 /* the most failures a lockout may wait for */
/* A user's lockout does not apply where it logged in from within this long (known.c). */
#define AUTH_KNOWN_SECONDS (30L * 86400)
/* Lockouts in a row double, up to this (or lockout_seconds if longer). */
#define AUTH_LOCKOUT_MAX_SECONDS 3600

struct auth_identity {
    char user[64];
    bool admin;
    char pw_mark[17]; /* what the password's hash was at login, as 16 hex digits of its SHA-256
                         ("" where the shadow file cannot be read): a change ends the session */
    char groups[512]; /* JSON array text, e.g. ["root","sudo"] */
};

struct auth *auth_new(const struct auth_config *cfg, struct err *e);
void auth_free(struct auth *a);

/* Checks user/password with PAM (after the lockout check: ERR_BUSY with *retry_after
 * seconds; the user's own lockout is skipped from an address it logged in from before). On success
 * fills `id` and, when token is not NULL, starts a session whose token goes there (AUTH_TOKEN_LEN +
 * 1 bytes). Wrong credentials: ERR_AUTH, one message whether or not the user exists. `password` is
 * borrowed; the caller wipes it. */
int auth_login(struct auth *a, const char *user, const char *password, const char *addr,
               char *token, struct auth_identity *id, long *retry_after, struct err *e);

/* HTTP Basic credentials: auth_login without a session, except that credentials PAM accepted
 * are remembered (as an HMAC, never the password) and accepted again without PAM while their
 * account holds, read again for every `changing` request and at least every
 * auth_recheck_seconds(), for at most the session lifetime (basic.c). */
#define AUTH_BASIC_KEPT                                                                            \
    32 /* Basic credentials remembered at once: the least recently accepted go */
int auth_basic(struct auth *a, const char *user, const char *password, const char *addr,
               bool changing, struct auth_identity *id, long *retry_after, struct err *e);

/* How often a session's account is read again (sooner for a change request), unless
 * --account-recheck says otherwise. */
#define AUTH_RECHECK_SECONDS 60

/* The account re-read interval in force, in seconds. */
long auth_recheck_seconds(const struct auth *a);

/* Looks a session up and refreshes its idle timer. ERR_AUTH when unknown or expired, or when
 * its account was removed, locked or expired or its role changed (the session then ends):
 * checked for every `changing` request, and at least every auth_recheck_seconds(). */
int auth_session(struct auth *a, const char *token, bool changing, struct auth_identity *id,
                 struct err *e);

/* Whether `user`'s account still exists, is neither locked nor expired, has the rights it had
 * (`admin`) and the password it had (`pw_mark`, from its identity at login): what a session is
 * re-checked for, for a stream opened with Basic credentials (no session). Reads the account. */
bool auth_account_holds(struct auth *a, const char *user, bool admin, const char *pw_mark);

/* Ends a session (unknown tokens are ignored); its user goes into `user` ("" when there was
 * none), for the audit trail. */
void auth_logout(struct auth *a, const char *token, char *user, size_t len);

/* The configured session lifetime, for the cookie's Max-Age. */
long auth_lifetime(const struct auth *a);

#endif
