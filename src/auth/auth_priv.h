/* auth_priv.h - internals shared by the files of the auth module. */
#ifndef KIMCHID_AUTH_PRIV_H
#define KIMCHID_AUTH_PRIV_H

#include <pthread.h>
#include <time.h>

#include "auth.h"

struct session {
    char token[AUTH_TOKEN_LEN + 1];
    struct auth_identity id;
    time_t created, used;
};

struct failure {
    char key[96]; /* "u:<user>" or "a:<address>" */
    time_t times[8];
    int n;
    time_t locked_until;
};

struct auth {
    struct auth_config cfg;
    char pam_service[64];
    char admin_group[64];
    pthread_mutex_t lock; /* sessions and failures; never held across PAM */
    struct session *sessions;
    size_t nsessions, capsessions;
    struct failure *failures;
    size_t nfailures, capfailures;
};

/* PAM authentication and account check; fills id (role from groups). */
int auth_pam_check(struct auth *a, const char *user, const char *password, struct auth_identity *id,
                   struct err *e);

#endif
