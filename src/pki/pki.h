/* pki.h - kimchid's own certificate authority, so that a migration's memory stream is
 * encrypted (libvirt's TLS migration) without the user typing anything: the CA lives in the
 * state directory, and each host kimchid migrates from or to gets, in libvirt's default
 * directory for it (/etc/pki/qemu), kimchid's CA among the trusted ones and a certificate it
 * issued: a client one on this host, a server one naming the destination. */
#ifndef KIMCHID_PKI_H
#define KIMCHID_PKI_H

#include <gnutls/x509.h>

#include "../util/err.h"

/* libvirt's default migrate_tls_x509_cert_dir */
#define PKI_QEMU_DIR "/etc/pki/qemu"

/* Loads kimchid's CA from `state_dir`/pki (ca-key.pem 0600, ca-cert.pem), creating it the
 * first time. Start-up, main thread; later calls are read-only. */
int pki_init(const char *state_dir, struct err *e);

/* Makes sure TLS migration from this host to `host` (numeric address `addr`) can work:
 * this host's PKI_QEMU_DIR trusts kimchid's CA and holds a client certificate it issued;
 * `host`'s (written as root over SFTP with the daemon's key) trusts the CA and holds a
 * server certificate naming `host` and `addr`, and Diffie-Hellman parameters (written when
 * missing, never replaced). Certificates that are valid for this are
 * kept; kimchid's own that expire within 30 days or name other hosts are replaced; a
 * certificate kimchid did not issue is never replaced: refused, saying what to do. A
 * destination found ready in the last 10 minutes is not checked again. Sets `did` to what it
 * had to install (empty: nothing). Blocking: task workers only. */
int pki_migration_ready(const char *host, const char *addr, char *did, size_t didlen,
                        struct err *e);

/* What pki_migration_ready would find, writing nothing: -1 with M_PKI_FOREIGN when a
 * certificate kimchid did not issue holds the place of its own on either host; else 0, and
 * `said` tells whether kimchid's are in place or the move installs them. Blocking. */
int pki_migration_check(const char *host, const char *addr, char *said, size_t len, struct err *e);

/* Forgets that `host` was found ready, so the next move checks it again over ssh (after a
 * move to it failed: its files may have changed). */
void pki_forget(const char *host);

/* What every certificate kimchid makes has: version 3, a random positive serial, valid from
 * an hour ago for `days`, CN `cn`, and `key`. 0, or -1 when GnuTLS refused. */
int pki_cert_base(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn, int days);

/* Frees the CA held in memory. */
void pki_done(void);

#endif
