/* sshc_priv.h - internals shared by the files of the sshc module. */
#ifndef KIMCHID_SSHC_PRIV_H
#define KIMCHID_SSHC_PRIV_H

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "sshc.h"

/* ~/.ssh of the daemon user (created 0700 if missing). Static string. */
const char *sshc_dir(void);

/* Connects and verifies the host key (records it on first contact), which must be `want_key`
 * ("SHA256:..."; NULL or "": any) when given. NULL with `e`. */
ssh_session sshc_connect(const char *host, const char *user, const char *want_key, struct err *e);

/* An ssh session logged in as root@host with the daemon's key (the host key checked against
 * `want_key` when given); NULL with `e` if refused. */
ssh_session sshc_key_login(const char *host, const char *want_key, struct err *e);

/* pool.c: an SFTP session as root@host, kept from an earlier call when one is idle (unless
 * `fresh`), else new; given back with sshc_sftp_give, `ok` false when the call on it failed
 * (it is then closed, not kept). */
struct sftp_conn {
    ssh_session s;
    sftp_session sf;
    bool pooled; /* taken from the kept ones */
};
int sshc_sftp_take(const char *host, const char *path, bool fresh, struct sftp_conn *c,
                   struct err *e);
void sshc_sftp_give(const char *host, struct sftp_conn *c, bool ok);

/* Disconnects and frees; NULL is a no-op. */
void sshc_close(ssh_session s);

/* Password (or keyboard-interactive) login. */
int sshc_auth_password(ssh_session s, const char *host, const char *user, const char *password,
                       struct err *e);

/* Runs `cmd`, feeding `input` on stdin; collects stderr into errout. Returns the exit
 * status, or -1 with `e`. */
int sshc_run(ssh_session s, const char *cmd, const char *input, size_t inlen, char *errout,
             size_t errlen, struct err *e);

#endif
