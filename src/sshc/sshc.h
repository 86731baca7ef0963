/* sshc.h - password-less ssh login set-up with libssh: the daemon user's key pair, host
 * key checks against ~/.ssh/known_hosts, and adding the key to root's authorized_keys on
 * a remote host. All calls block (network): task workers only. */
#ifndef KIMCHID_SSHC_H
#define KIMCHID_SSHC_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/err.h"

/* Makes sure ~/.ssh/id_ed25519 (0600) and .pub exist, creating an ed25519 pair if
 * missing, and copies the public key line into `pub`. */
int sshc_key_ensure(char *pub, size_t publen, struct err *e);

/* Logs in to `user`@`host` with `password` (borrowed; the caller wipes it), checks or
 * records the host key (which must be `want_key`, "SHA256:...", when given; NULL: any), and
 * appends `pubkey` to root's authorized_keys there: directly when `user` is root, through
 * `sudo -S` otherwise. No line is added twice. */
int sshc_trust_setup(const char *host, const char *user, const char *password, const char *pubkey,
                     const char *want_key, struct err *e);

/* Checks that root@`host` accepts the daemon's key (and records the host key on first
 * contact, refusing a changed one, or one that is not `want_key` when given). */
int sshc_key_login_check(const char *host, const char *want_key, struct err *e);

/* The fingerprint ("SHA256:...") of the ssh host key `host` presents, and whether
 * known_hosts holds it; nothing is recorded, no login made. A changed key is an error. */
int sshc_host_key(const char *host, char *fp, size_t len, bool *known, struct err *e);

/* --known-hosts-strict: refuse a first contact whose key was not given. Start-up only. */
void sshc_set_strict(bool on);

/* Whether `path` exists on `host`, looked up over SFTP as root with the daemon's key:
 * 1 yes, 0 no, -1 with `e` when it cannot be told. */
int sshc_remote_file_exists(const char *host, const char *path, struct err *e);

/* Reads up to len-1 bytes of `path` on `host` over SFTP (as root, with the daemon's key)
 * into buf, NUL-terminated. Returns the bytes read (0 for a missing file), or -1 with `e`. */
long sshc_remote_read(const char *host, const char *path, char *buf, size_t len, struct err *e);

/* Writes `len` bytes to `path` on `host` over SFTP (as root, with the daemon's key; no
 * remote shell sees the path or the data): into a new file beside it with `mode` and, when
 * gid >= 0, that group, then put in place of `path`. Missing parent directories are created
 * (0755). */
int sshc_remote_write(const char *host, const char *path, const char *data, size_t len,
                      unsigned int mode, long gid, struct err *e);

/* What to say of an ssh server that took the connection and then said nothing: host, the
 * seconds waited, host (libssh's connections here, libvirt's in move/cause.c). */
#define SSHC_HUNG_FMT                                                                              \
    "the ssh server on \"%s\" accepted the connection but did not answer within %ld s (it may "    \
    "be hung or overloaded). Check sshd on \"%s\", then try again."

/* Opens an SFTP session to `host` (root, the daemon's key) on a thread of its own and keeps
 * it, for a caller about to do something else remote first (libvirt's connection): the
 * first read or write there waits for it instead of logging in again. Reports nothing: if it
 * fails, that read opens its own session and says why. Nothing is done when a session to
 * `host` is kept or on its way. */
void sshc_sftp_warm(const char *host);

/* Closes the SFTP sessions kept for reuse (pool.c), after the ones on their way. At shutdown,
 * once no task runs. */
void sshc_pool_close(void);

/* Closes the kept sessions to `host` (after a failed move: the next one starts afresh). */
void sshc_forget_host(const char *host);

/* Writes `dir`/ssh (0700), the ssh command libvirt runs for qemu+ssh connections (kimchid's,
 * and the source libvirtd's during a move): /usr/bin/ssh with a connect timeout
 * (timers.ssh_connect_s: TCP, banner, key exchange) and keepalives (timers.ssh_alive_s).
 * Its path goes into `path`. Start-up, main thread. */
int sshc_command_install(const char *dir, char *path, size_t len, struct err *e);

/* peers.c: the hosts kimchid logs in to with its key, kept in `state_dir`/peers (start-up,
 * before the first migration); sshc_peer_note adds one (once); sshc_peers_text gives them,
 * one a line (a new string, "" when none). */
void sshc_peers_init(const char *state_dir);
void sshc_peer_note(const char *host);
char *sshc_peers_text(void);

/* Path of the daemon user's known_hosts file, for messages. Static string. */
const char *sshc_known_hosts_path(void);

#endif
