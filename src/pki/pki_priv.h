/* pki_priv.h - internals shared by the files of the pki module. */
#ifndef KIMCHID_PKI_PRIV_H
#define KIMCHID_PKI_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "pki.h"

enum pki_role { PKI_CLIENT, PKI_SERVER };

/* A certificate and its private key, PEM, owned. */
struct pki_pair {
    char *cert;
    char *key;
};

/* ca.c: kimchid's CA certificate (PEM, borrowed), NULL before pki_init. */
const char *pki_ca_pem(void);

/* ca.c: issues a certificate for `role`, signed by kimchid's CA: CN `name`; a server one
 * also names `name` (unless it is an address) and `addr` in its subject alternative names. */
int pki_issue(enum pki_role role, const char *name, const char *addr, struct pki_pair *out,
              struct err *e);

/* ca.c: what an installed certificate is to kimchid: 1 its own, for `role`, naming `name`
 * and `addr` (a server one), valid for 30 more days; 0 its own but to be replaced; -1 not
 * issued by kimchid's CA (or unreadable). */
int pki_check(const char *cert_pem, enum pki_role role, const char *name, const char *addr);

/* ca.c: RFC 7919's ffdhe2048 group as PKCS#3 PEM (malloc'd; NULL when out of memory). QEMU
 * reads dh-params.pem from its certificate directory when it accepts a TLS migration, and
 * without one generates a 2048-bit group on every incoming move (0.3-1.3 s measured in the
 * lab, most of encryption's cost for a small guest). A published group is as safe as a
 * generated one (RFC 7919 section 1) and costs nothing. */
char *pki_dh_pem(void);

/* Frees both PEM strings, wiping the key. */
void pki_pair_clear(struct pki_pair *p);

#endif
