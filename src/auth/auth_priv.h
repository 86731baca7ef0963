/* auth_priv.h - internals shared by the files of the auth module. */
#ifndef KIMCHID_AUTH_PRIV_H
#define KIMCHID_AUTH_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "auth.h"

struct session {
    char token[AUTH_TOKEN_LEN + 1];
    struct auth_identity id;
    time_t created, used;
    time_t checked; /* when the account and its groups were last read */
};

/* Failures (and attempts still in PAM) of one user or one address, newest last. */
struct failure {
    char key[96]; /* "u:<user>", "a:<IPv4 address>" or "a:<IPv6 /64>" */
    time_t times[AUTH_MAX_FAILURES];
    int n;
    time_t locked_until;
    int strikes; /* lockouts in a row: each lasts twice the one before (up to an hour) */
};

/* A user and the address key it logged in from, and when it last did. */
struct known {
    char user[64];
    char akey[96];
    time_t at;
};

#define AUTH_BASIC_MAC 32 /* HMAC-SHA256 */

/* Basic credentials PAM accepted (basic.c): their HMAC, never the password. */
struct basic_entry {
    unsigned char mac[AUTH_BASIC_MAC];
    struct auth_identity id;
    time_t accepted, checked; /* when PAM accepted them; when the account was last read */
};

struct auth {
    struct auth_config cfg;
    char pam_service[64];
    char admin_group[64];
    pthread_mutex_t lock;     /* sessions and failures; never held across PAM */
    pthread_mutex_t pam_lock; /* one login at a time, from its admission to its count
                               * (session.c): PAM modules, and libpam's audit logging
                               * (libaudit's static buffer, seen by ThreadSanitizer), are not
                               * all safe to run in parallel */
    struct session *sessions;
    size_t nsessions, capsessions;
    struct failure *failures;
    size_t nfailures, capfailures;
    struct known *known; /* known.c */
    size_t nknown, capknown;
    unsigned char basic_key[32];               /* drawn at start: the HMAC's key */
    struct basic_entry basic[AUTH_BASIC_KEPT]; /* oldest first */
    size_t nbasic;
};

/* known.c (with a->lock held): whether `user` logged in from address key `akey` within
 * AUTH_KNOWN_SECONDS; and recording that it just did. */
bool auth_known_locked(const struct auth *a, const char *user, const char *akey, time_t now);
void auth_known_add_locked(struct auth *a, const char *user, const char *akey, time_t now);

/* The account as it is now (pam.c): -1 when it is gone, locked or expired; else 0 with `id`
 * filled afresh (role from groups). Reads the password and shadow files, no PAM. */
int auth_account_now(struct auth *a, const char *user, struct auth_identity *id);

/* PAM authentication and account check; fills id (role from groups). The caller holds
 * a->pam_lock. */
int auth_pam_check(struct auth *a, const char *user, const char *password, struct auth_identity *id,
                   struct err *e);

#endif
