/* known.c - where each user has logged in from. A stranger's failed logins for a user close
 * that user to new places only: from an address (an IPv6 /64) it logged in from within
 * AUTH_KNOWN_SECONDS, the user still logs in (that address's own count still holds), so
 * nobody can lock an admin and its scripts out from where they work. Kept in memory: a
 * restart forgets it, and the next successful login from each place teaches it again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_priv.h"

#define MAX_KNOWN 4096

static long find(const struct auth *a, const char *user, const char *akey)
{
    for (size_t i = 0; i < a->nknown; i++)
        if (strcmp(a->known[i].user, user) == 0 && strcmp(a->known[i].akey, akey) == 0)
            return (long)i;
    return -1;
}

bool auth_known_locked(const struct auth *a, const char *user, const char *akey, time_t now)
{
    long i = find(a, user, akey);
    return i >= 0 && now - a->known[i].at < AUTH_KNOWN_SECONDS;
}

void auth_known_add_locked(struct auth *a, const char *user, const char *akey, time_t now)
{
    long i = find(a, user, akey);
    if (i < 0 && a->nknown == a->capknown) {
        size_t cap = a->capknown ? a->capknown * 2 : 16;
        struct known *n = cap <= MAX_KNOWN ? realloc(a->known, cap * sizeof(*n)) : NULL;
        if (n) {
            a->known = n;
            a->capknown = cap;
        }
    }
    if (i < 0 && a->nknown < a->capknown) {
        i = (long)a->nknown++;
    } else if (i < 0) { /* full: the place seen longest ago makes room */
        i = 0;
        for (size_t j = 1; j < a->nknown; j++)
            if (a->known[j].at < a->known[i].at)
                i = (long)j;
    }
    if (i < 0)
        return;
    snprintf(a->known[i].user, sizeof(a->known[i].user), "%s", user);
    snprintf(a->known[i].akey, sizeof(a->known[i].akey), "%s", akey);
    a->known[i].at = now;
}
