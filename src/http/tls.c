/* tls.c - loads the TLS certificate, or makes a self-signed one on first start. */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../pki/pki.h"
#include "../util/file.h"
#include "../util/log.h"
#include "http.h"

#define CERT_FILE "kimchid-cert.pem"
#define KEY_FILE "kimchid-key.pem"
#define CERT_DAYS 825
#define PEM_MAX (1024 * 1024) /* a certificate chain or key file larger than this is a mistake */

/* The pair must be usable before HTTP starts, or libmicrohttpd's refusal would read like a
 * busy port. */
static int check_pair(const char *cert_path, const char *key_path, const char *cert_pem,
                      const char *key_pem, struct err *e)
{
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_datum_t c = {(unsigned char *)cert_pem, (unsigned int)strlen(cert_pem)};
    gnutls_datum_t k = {(unsigned char *)key_pem, (unsigned int)strlen(key_pem)};
    int rc = gnutls_certificate_allocate_credentials(&cred);
    if (rc >= 0)
        rc = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_certificate_free_credentials(cred);
    if (rc >= 0)
        return 0;
    return err_set(e, ERR_INVALID, M_D_TLS_BAD,
                   "The TLS certificate \"%s\" and key \"%s\" cannot be used: %s. Give a PEM "
                   "certificate (chain) and its unencrypted PEM private key.",
                   cert_path, key_path, gnutls_strerror(rc));
}

/* Writes a new file with `mode`, refusing to replace one. */
static int write_new(const char *path, const gnutls_datum_t *d, mode_t mode, struct err *e)
{
    if (file_write_new(path, d->data, d->size, mode) < 0)
        return err_set(e, ERR_INTERNAL, M_D_WRITE, "Cannot write \"%s\": %s.", path,
                       strerror(errno));
    return 0;
}

static int add_names(gnutls_x509_crt_t crt, const char *host)
{
    const unsigned char lo[4] = {127, 0, 0, 1};
    int rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host,
                                                  (unsigned int)strlen(host), GNUTLS_FSAN_APPEND);
    rc |= gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9,
                                               GNUTLS_FSAN_APPEND);
    rc |=
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, lo, 4, GNUTLS_FSAN_APPEND);
    return rc;
}

static int make_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    int rc = pki_cert_base(crt, key, host, CERT_DAYS);
    rc |= add_names(crt, host);
    rc |= gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
    rc |= gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
    rc |= gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
    rc |= gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
    return rc ? -1 : 0;
}

static int generate(const char *cert_path, const char *key_path, struct err *e)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t kd = {NULL, 0}, cd = {NULL, 0};
    int rc = -1;
    if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crt_init(&crt) < 0 ||
        gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
        make_cert(crt, key) < 0 || gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &kd) < 0 ||
        gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cd) < 0) {
        err_set(e, ERR_INTERNAL, M_D_SELF_SIGNED, "Cannot generate a self-signed certificate.");
        goto cleanup;
    }
    if (write_new(key_path, &kd, 0600, e) < 0 || write_new(cert_path, &cd, 0644, e) < 0)
        goto cleanup;
    log_info("generated a self-signed certificate in \"%s\"", cert_path);
    rc = 0;
cleanup:
    if (kd.data) {
        gnutls_memset(kd.data, 0, kd.size);
        gnutls_free(kd.data);
    }
    gnutls_free(cd.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return rc;
}

/* A private key every user of the host can read lets any of them impersonate kimchid (and
 * read its logins' passwords off the wire): refused, never used silently. A group may read it
 * (Debian's ssl-cert group, 0640). Its owner may do anything with it, whatever the mode: a
 * key owned by another user than root or kimchid's is refused too. */
static int key_private(const char *key_path, struct err *e)
{
    struct stat st;
    if (stat(key_path, &st) < 0 || !S_ISREG(st.st_mode))
        return 0; /* a missing or odd file gets file_read's own message */
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        struct passwd pw, *found = NULL;
        char buf[1024];
        getpwuid_r(st.st_uid, &pw, buf, sizeof(buf), &found);
        return err_set(e, ERR_INVALID, M_D_TLS_KEY_OWNER,
                       "The TLS private key \"%s\" belongs to the user %s (uid %u), who can read "
                       "or replace it whatever its mode, and so pose as kimchid. Run \"chown "
                       "root %s\" (or chown it to the user kimchid runs as), then start kimchid "
                       "again.",
                       key_path, found ? found->pw_name : "?", (unsigned int)st.st_uid, key_path);
    }
    if (!(st.st_mode & (S_IROTH | S_IWOTH)))
        return 0;
    return err_set(e, ERR_INVALID, M_D_TLS_KEY_MODE,
                   "The TLS private key \"%s\" can be %s by every user of this host (mode "
                   "%04o), so any of them could pose as kimchid. Run \"chmod 600 %s\" (or 640 "
                   "for a group such as ssl-cert), then start kimchid again.",
                   key_path, st.st_mode & S_IWOTH ? "changed" : "read",
                   (unsigned int)(st.st_mode & 07777), key_path);
}

int http_tls_load(const char *state_dir, const char *cert_path, const char *key_path,
                  char **cert_pem, char **key_pem, struct err *e)
{
    char cbuf[4096], kbuf[4096];
    *cert_pem = *key_pem = NULL;
    if (!cert_path != !key_path)
        return err_set(e, ERR_INVALID, M_D_TLS_PAIR,
                       "Give both --tls-cert and --tls-key, or neither for a self-signed one.");
    if (!cert_path) {
        snprintf(cbuf, sizeof(cbuf), "%s/%s", state_dir, CERT_FILE);
        snprintf(kbuf, sizeof(kbuf), "%s/%s", state_dir, KEY_FILE);
        cert_path = cbuf;
        key_path = kbuf;
        bool has_c = access(cbuf, F_OK) == 0, has_k = access(kbuf, F_OK) == 0;
        if (has_c != has_k)
            return err_set(e, ERR_INTERNAL, M_D_TLS_HALF,
                           "Only one of \"%s\" and \"%s\" exists; remove it to get a new pair.",
                           cbuf, kbuf);
        if (!has_c && generate(cbuf, kbuf, e) < 0)
            return -1;
    }
    if (key_private(key_path, e) < 0)
        return -1;
    if (!(*cert_pem = file_read(cert_path, PEM_MAX, false, e)) ||
        !(*key_pem = file_read(key_path, PEM_MAX, false, e)) ||
        check_pair(cert_path, key_path, *cert_pem, *key_pem, e) < 0) {
        free(*cert_pem);
        *cert_pem = NULL;
        if (*key_pem)
            explicit_bzero(*key_pem, strlen(*key_pem));
        free(*key_pem);
        *key_pem = NULL;
        return -1;
    }
    return 0;
}
