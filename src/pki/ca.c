/* ca.c - kimchid's migration CA (GnuTLS): created once in the state directory, then used to
 * issue and recognise the hosts' certificates. QEMU checks what it loads (key usage, purpose,
 * basic constraints), so each certificate carries exactly what it asks for. */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../util/file.h"
#include "../util/log.h"
#include "pki_priv.h"

#define CA_DAYS 3650
#define LEAF_DAYS 397
#define RENEW_DAYS 30
#define PEM_MAX (64 * 1024)
#define CA_CN_PREFIX "kimchid migration CA (" /* and the host's name, ")" */

static struct {
    char *cert_pem;
    gnutls_x509_crt_t crt;
    gnutls_x509_privkey_t key;
} ca;

const char *pki_ca_pem(void)
{
    return ca.cert_pem;
}

static int new_key(gnutls_x509_privkey_t *key)
{
    return gnutls_x509_privkey_init(key) < 0 ||
                   gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA,
                                                GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                                                0) < 0
               ? -1
               : 0;
}

int pki_cert_base(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn, int days)
{
    unsigned char serial[16];
    time_t t = time(NULL);
    if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
        return -1;
    serial[0] &= 0x7f; /* a positive serial */
    int rc = gnutls_x509_crt_set_version(crt, 3);
    rc |= gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
    rc |= gnutls_x509_crt_set_activation_time(crt, t - 3600);
    rc |= gnutls_x509_crt_set_expiration_time(crt, t + (time_t)days * 86400);
    rc |= gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                        (unsigned int)strlen(cn));
    rc |= gnutls_x509_crt_set_key(crt, key);
    return rc ? -1 : 0;
}

/* A new string from a GnuTLS export (wiped and freed), or NULL when it failed. */
static char *take_pem(int rc, gnutls_datum_t *d)
{
    char *s = rc >= 0 ? strndup((const char *)d->data, d->size) : NULL;
    if (d->data) {
        gnutls_memset(d->data, 0, d->size);
        gnutls_free(d->data);
    }
    return s;
}

static char *crt_pem(gnutls_x509_crt_t crt)
{
    gnutls_datum_t d = {NULL, 0};
    return take_pem(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d), &d);
}

static char *key_pem(gnutls_x509_privkey_t key)
{
    gnutls_datum_t d = {NULL, 0};
    return take_pem(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d), &d);
}

static int create_ca(const char *cert_path, const char *key_path, struct err *e)
{
    char host[256] = "localhost", cn[320];
    gethostname(host, sizeof(host) - 1);
    snprintf(cn, sizeof(cn), CA_CN_PREFIX "%s)", host);
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    char *kp = NULL, *cp = NULL;
    int rc = -1;
    if (new_key(&key) < 0 || gnutls_x509_crt_init(&crt) < 0 ||
        pki_cert_base(crt, key, cn, CA_DAYS) < 0 ||
        gnutls_x509_crt_set_basic_constraints(crt, 1, 0) < 0 ||
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN) < 0 ||
        gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0 || !(kp = key_pem(key)) ||
        !(cp = crt_pem(crt))) {
        err_set(e, ERR_INTERNAL, M_PKI_CA, "Cannot create kimchid's migration CA.");
    } else if (file_write_new(key_path, kp, strlen(kp), 0600) < 0 ||
               file_write_new(cert_path, cp, strlen(cp), 0644) < 0) {
        err_set(e, ERR_INTERNAL, M_D_WRITE, "Cannot write kimchid's migration CA in \"%s\": %s.",
                key_path, strerror(errno));
    } else {
        log_info("created kimchid's migration CA in \"%s\"", cert_path);
        rc = 0;
    }
    if (kp)
        explicit_bzero(kp, strlen(kp));
    free(kp);
    free(cp);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return rc;
}

static int load_ca(const char *cert_path, const char *key_path, struct err *e)
{
    char *kp = file_read(key_path, PEM_MAX, false, e);
    ca.cert_pem = kp ? file_read(cert_path, PEM_MAX, false, e) : NULL;
    gnutls_datum_t kd = {(unsigned char *)kp, kp ? (unsigned int)strlen(kp) : 0};
    gnutls_datum_t cd = {(unsigned char *)ca.cert_pem,
                         ca.cert_pem ? (unsigned int)strlen(ca.cert_pem) : 0};
    int rc = -1;
    if (ca.cert_pem && (gnutls_x509_crt_init(&ca.crt) < 0 ||
                        gnutls_x509_crt_import(ca.crt, &cd, GNUTLS_X509_FMT_PEM) < 0 ||
                        gnutls_x509_privkey_init(&ca.key) < 0 ||
                        gnutls_x509_privkey_import(ca.key, &kd, GNUTLS_X509_FMT_PEM) < 0))
        err_set(e, ERR_INTERNAL, M_PKI_CA,
                "kimchid's migration CA in \"%s\" cannot be read. Remove \"%s\" and \"%s\" to "
                "get a new one (hosts then receive new certificates).",
                cert_path, cert_path, key_path);
    else if (ca.cert_pem)
        rc = 0;
    if (kp)
        explicit_bzero(kp, strlen(kp));
    free(kp);
    return rc;
}

int pki_init(const char *state_dir, struct err *e)
{
    char dir[1024], cert_path[1100], key_path[1100];
    snprintf(dir, sizeof(dir), "%s/pki", state_dir);
    snprintf(cert_path, sizeof(cert_path), "%s/ca-cert.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/ca-key.pem", dir);
    if (file_mkdir(dir, 0700) < 0)
        return err_set(e, ERR_INTERNAL, M_D_WRITE, "Cannot create \"%s\": %s.", dir,
                       strerror(errno));
    if (access(key_path, F_OK) < 0 && access(cert_path, F_OK) < 0 &&
        create_ca(cert_path, key_path, e) < 0)
        return -1;
    return load_ca(cert_path, key_path, e);
}

void pki_done(void)
{
    free(ca.cert_pem);
    gnutls_x509_crt_deinit(ca.crt);
    gnutls_x509_privkey_deinit(ca.key);
    memset(&ca, 0, sizeof(ca));
}

/* The address as bytes for a SAN (4 or 16), or 0 when it is not one. */
static unsigned int ip_bytes(const char *addr, unsigned char out[16])
{
    if (inet_pton(AF_INET, addr, out) == 1)
        return 4;
    return inet_pton(AF_INET6, addr, out) == 1 ? 16 : 0;
}

static int leaf_names(gnutls_x509_crt_t crt, enum pki_role role, const char *name, const char *addr)
{
    if (role == PKI_CLIENT)
        return 0;
    unsigned char ip[16];
    unsigned int n;
    int rc = 0;
    if (!ip_bytes(name, ip))
        rc |= gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name,
                                                   (unsigned int)strlen(name), GNUTLS_FSAN_APPEND);
    if ((n = ip_bytes(addr, ip)))
        rc |= gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, n,
                                                   GNUTLS_FSAN_APPEND);
    return rc;
}

int pki_issue(enum pki_role role, const char *name, const char *addr, struct pki_pair *out,
              struct err *e)
{
    return pki_issue_days(role, name, addr, LEAF_DAYS, out, e);
}

int pki_issue_days(enum pki_role role, const char *name, const char *addr, int days,
                   struct pki_pair *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    int rc = -1;
    if (ca.cert_pem && new_key(&key) == 0 && gnutls_x509_crt_init(&crt) == 0 &&
        pki_cert_base(crt, key, name, days) == 0 && leaf_names(crt, role, name, addr) == 0 &&
        gnutls_x509_crt_set_basic_constraints(crt, 0, -1) == 0 &&
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                               GNUTLS_KEY_KEY_ENCIPHERMENT) == 0 &&
        gnutls_x509_crt_set_key_purpose_oid(
            crt, role == PKI_SERVER ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT, 0) ==
            0 &&
        gnutls_x509_crt_sign2(crt, ca.crt, ca.key, GNUTLS_DIG_SHA256, 0) == 0 &&
        (out->key = key_pem(key)) && (out->cert = crt_pem(crt)))
        rc = 0;
    else
        err_set(e, ERR_INTERNAL, M_PKI_CA, "Cannot issue a %s certificate for \"%s\".",
                role == PKI_SERVER ? "server" : "client", name);
    if (rc < 0)
        pki_pair_clear(out);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return rc;
}

void pki_pair_clear(struct pki_pair *p)
{
    if (p->key)
        explicit_bzero(p->key, strlen(p->key));
    free(p->key);
    free(p->cert);
    memset(p, 0, sizeof(*p));
}

static bool names_ok(gnutls_x509_crt_t crt, const char *name, const char *addr)
{
    unsigned char ip[16];
    unsigned int n = ip_bytes(addr, ip);
    bool by_name = ip_bytes(name, ip) || gnutls_x509_crt_check_hostname2(crt, name, 0);
    return by_name && n && gnutls_x509_crt_check_ip(crt, ip, n, 0);
}

static bool has_purpose(gnutls_x509_crt_t crt, const char *oid)
{
    char buf[128];
    for (unsigned int i = 0;; i++) {
        size_t len = sizeof(buf);
        if (gnutls_x509_crt_get_key_purpose_oid(crt, i, buf, &len, NULL) < 0)
            return false;
        if (!strcmp(buf, oid))
            return true;
    }
}

/* Whether `ca` signed `crt` (its validity dates aside: an expired certificate is renewed, not
 * taken for someone else's). */
static bool signed_by(gnutls_x509_crt_t crt, gnutls_x509_crt_t ca_crt)
{
    unsigned int status = 1;
    return gnutls_x509_crt_verify(crt, &ca_crt, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status) ==
               0 &&
           status == 0;
}

/* Another kimchid's CA: its common name is the one create_ca gives. */
static bool kimchid_ca(gnutls_x509_crt_t c)
{
    char cn[320];
    size_t size = sizeof(cn);
    return gnutls_x509_crt_get_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &size) == 0 &&
           !strncmp(cn, CA_CN_PREFIX, strlen(CA_CN_PREFIX));
}

/* The other kimchid CA in `bundle` that signed `crt`, as PEM (malloc'd), or NULL. */
static char *other_issuer(gnutls_x509_crt_t crt, const char *bundle)
{
    gnutls_x509_crt_t *list = NULL;
    unsigned int n = 0;
    gnutls_datum_t d = {(unsigned char *)bundle, (unsigned int)strlen(bundle)};
    char *pem = NULL;
    if (gnutls_x509_crt_list_import2(&list, &n, &d, GNUTLS_X509_FMT_PEM, 0) < 0)
        return NULL;
    for (unsigned int i = 0; i < n; i++) {
        if (!pem && kimchid_ca(list[i]) && signed_by(crt, list[i]))
            pem = crt_pem(list[i]);
        gnutls_x509_crt_deinit(list[i]);
    }
    gnutls_free(list);
    return pem;
}

int pki_judge(const char *cert_pem, const char *bundle, enum pki_role role, const char *name,
              const char *addr, char **issuer)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t d = {(unsigned char *)cert_pem, (unsigned int)strlen(cert_pem)};
    int rc = -1;
    *issuer = NULL;
    if (ca.cert_pem && gnutls_x509_crt_init(&crt) == 0 &&
        gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) == 0 &&
        (signed_by(crt, ca.crt) || (bundle && (*issuer = other_issuer(crt, bundle))))) {
        bool fresh = gnutls_x509_crt_get_expiration_time(crt) > time(NULL) + RENEW_DAYS * 86400L;
        bool purpose = has_purpose(crt, role == PKI_SERVER ? GNUTLS_KP_TLS_WWW_SERVER
                                                           : GNUTLS_KP_TLS_WWW_CLIENT);
        rc = fresh && purpose && (role == PKI_CLIENT || names_ok(crt, name, addr)) ? 1 : 0;
    }
    if (rc != 1) { /* only a certificate that stays needs its issuer trusted */
        free(*issuer);
        *issuer = NULL;
    }
    gnutls_x509_crt_deinit(crt);
    return rc;
}

int pki_check(const char *cert_pem, enum pki_role role, const char *name, const char *addr)
{
    char *issuer = NULL;
    return pki_judge(cert_pem, NULL, role, name, addr, &issuer);
}

char *pki_dh_pem(void)
{
    gnutls_dh_params_t dh = NULL;
    gnutls_datum_t out = {NULL, 0};
    char *pem = NULL;
    if (gnutls_dh_params_init(&dh) == 0 &&
        gnutls_dh_params_import_raw(dh, &gnutls_ffdhe_2048_group_prime,
                                    &gnutls_ffdhe_2048_group_generator) == 0 &&
        gnutls_dh_params_export2_pkcs3(dh, GNUTLS_X509_FMT_PEM, &out) == 0)
        pem = strndup((const char *)out.data, out.size);
    gnutls_free(out.data);
    gnutls_dh_params_deinit(dh);
    return pem;
}
