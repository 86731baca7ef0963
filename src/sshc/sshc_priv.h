/* sshc_priv.h - internals shared by the files of the sshc module. */
#ifndef KIMCHID_SSHC_PRIV_H
#define KIMCHID_SSHC_PRIV_H

#include <libssh/libssh.h>

#include "sshc.h"

/* ~/.ssh of the daemon user (created 0700 if missing). Static string. */
const char *sshc_dir(void);

/* Connects and verifies the host key (records it on first contact), which must be `want_key`
 * ("SHA256:..."; NULL or "": any) when given. NULL with `e`. */
ssh_session sshc_connect(const char *host, const char *user, const char *want_key, struct err *e);

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
