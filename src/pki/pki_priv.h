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
/* ca.c: pki_issue, valid for `days` from now (negative: expired; for the tests). */
int pki_issue_days(enum pki_role role, const char *name, const char *addr, int days,
                   struct pki_pair *out, struct err *e);

/* ca.c: what an installed certificate is to kimchid: 1 its own, for `role`, naming `name`
 * and `addr` (a server one), valid for 30 more days; 0 its own but to be replaced; -1 not
 * issued by kimchid's CA (or unreadable). */
int pki_check(const char *cert_pem, enum pki_role role, const char *name, const char *addr);

/* ca.c: pki_check, also knowing the other kimchids' CAs in `bundle` (a host's ca-cert.pem;
 * NULL: none): several kimchids move guests to one host, and each keeps what another issued
 * there instead of replacing it (no certificate flip-flops between them). 1 keep (kimchid's
 * own, or another kimchid's whose CA is in the bundle: *issuer gets that CA's PEM, malloc'd,
 * for this host to trust), 0 issue anew (any kimchid's, stale or expired), -1 not a kimchid's
 * (never replaced). Validity dates never make a kimchid's certificate someone else's. */
int pki_judge(const char *cert_pem, const char *bundle, enum pki_role role, const char *name,
              const char *addr, char **issuer);

/* ca.c: RFC 7919's ffdhe2048 group as PKCS#3 PEM (malloc'd; NULL when out of memory). QEMU
 * reads dh-params.pem from its certificate directory when it accepts a TLS migration, and
 * without one generates a 2048-bit group on every incoming move (0.3-1.3 s measured in the
 * lab, most of encryption's cost for a small guest). A published group is as safe as a
 * generated one (RFC 7919 section 1) and costs nothing. */
char *pki_dh_pem(void);

/* Frees both PEM strings, wiping the key. */
void pki_pair_clear(struct pki_pair *p);

#endif
