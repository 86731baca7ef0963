/* config.h - kimchid's options, from the command line and an optional config file. */
#ifndef KIMCHID_CONFIG_H
#define KIMCHID_CONFIG_H

#include <stdbool.h>

#include "util/err.h"
#include "util/log.h"
#include "util/timers.h"

struct config {
    char addr[64];
    int port;
    char *uri;
    char *state_dir;
    char *ui_dir;
    char *tls_cert;
    char *tls_key;
    bool http;
    bool known_hosts_strict; /* no first ssh contact without the key given */
    enum log_level log_level;
    int workers;
    long task_ttl;
    char *pam_service; /* NULL: kimchid, else login */
    char *admin_group;
    char *trusted_proxy;     /* NULL: forwarded headers are ignored */
    char *maintenance_file;  /* this host's maintenance marker (NULL: MAINT_DEFAULT_PATH) */
    char *migration_network; /* CIDR: the destination's address in it carries migrations */
    char *server_names;      /* comma-separated names clients may reach kimchid by, or NULL */
    char *audit_log;         /* NULL: <state_dir>/audit.log */
    long long audit_max;     /* bytes before the trail is rotated; 0: never */
    long session_idle;
    long session_lifetime;
    long lockout;
    long account_recheck;    /* seconds between reads of a logged-in account */
    struct timers timers;    /* the waits of remote steps (main sets the global from these) */
    long stall_timeout;      /* seconds without data moved before a migration is stopped */
    long converge_timeout;   /* seconds not converging before a live migration is stopped */
    long completion_timeout; /* a live migration's time budget, seconds per GiB (0: none) */
    long shutdown_timeout;   /* seconds SIGTERM waits for running tasks before cancelling them */
};

/* Fills `cfg` from a config file given with -c (if any), then the command line.
 * Returns 0 to run, 1 when --help/--version was printed, -1 with `e` on bad input. */
int config_parse(int argc, char **argv, struct config *cfg, struct err *e);

/* Frees the strings of `cfg`. */
void config_free(struct config *cfg);

#endif
