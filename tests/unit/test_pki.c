/* test_pki.c - kimchid's migration CA: created once (key 0600) and loaded again, the
 * certificates it issues are recognised as its own for what they name, and anything else
 * is not (so it is never replaced). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pki/pki_priv.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kimchid-pki-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pki_done();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void ca_is_created_once_and_kept_private(void **state)
{
    (void)state;
    struct err e;
    assert_int_equal(pki_init(dir, &e), 0);
    char key[128], *first = strdup(pki_ca_pem());
    snprintf(key, sizeof(key), "%s/pki/ca-key.pem", dir);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    pki_done();
    assert_null(pki_ca_pem());
    assert_int_equal(pki_init(dir, &e), 0); /* a restart loads the same CA */
    assert_string_equal(pki_ca_pem(), first);
    free(first);
}

static void issued_certificates_are_recognised_for_what_they_name(void **state)
{
    (void)state;
    struct err e;
    struct pki_pair server, client;
    assert_int_equal(pki_init(dir, &e), 0);
    assert_int_equal(pki_issue(PKI_SERVER, "host-b", "198.18.0.2", &server, &e), 0);
    assert_non_null(strstr(server.key, "PRIVATE KEY"));
    assert_int_equal(pki_check(server.cert, PKI_SERVER, "host-b", "198.18.0.2"), 1);
    /* kimchid's own, but for another host, address or role: to be replaced */
    assert_int_equal(pki_check(server.cert, PKI_SERVER, "host-c", "198.18.0.2"), 0);
    assert_int_equal(pki_check(server.cert, PKI_SERVER, "host-b", "198.18.0.3"), 0);
    assert_int_equal(pki_check(server.cert, PKI_CLIENT, "host-a", ""), 0);
    /* a host given by its address: the address is what it names */
    struct pki_pair by_ip;
    assert_int_equal(pki_issue(PKI_SERVER, "198.18.0.2", "198.18.0.2", &by_ip, &e), 0);
    assert_int_equal(pki_check(by_ip.cert, PKI_SERVER, "198.18.0.2", "198.18.0.2"), 1);
    assert_int_equal(pki_issue(PKI_CLIENT, "host-a", "", &client, &e), 0);
    assert_int_equal(pki_check(client.cert, PKI_CLIENT, "host-a", ""), 1);
    /* another CA's certificate (or garbage) is not kimchid's: never replaced */
    char other[80];
    snprintf(other, sizeof(other), "%s-other", dir);
    mkdir(other, 0700);
    pki_done();
    assert_int_equal(pki_init(other, &e), 0);
    assert_int_equal(pki_check(server.cert, PKI_SERVER, "host-b", "198.18.0.2"), -1);
    assert_int_equal(pki_check("not a certificate", PKI_SERVER, "host-b", "198.18.0.2"), -1);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", other);
    assert_int_equal(system(cmd), 0);
    pki_pair_clear(&server);
    pki_pair_clear(&by_ip);
    pki_pair_clear(&client);
    assert_null(server.key);
}

/* Two kimchids moving guests to one host: a certificate the other issued there is kept when
 * its CA is in that host's bundle (and that CA is handed back to be trusted here); an expired
 * one, whichever kimchid issued it, is renewed, never taken for someone else's. */
static void another_kimchids_certificate_is_kept_and_an_expired_one_renewed(void **state)
{
    (void)state;
    struct err e;
    struct pki_pair theirs, expired;
    assert_int_equal(pki_init(dir, &e), 0);
    char *their_ca = strdup(pki_ca_pem());
    assert_int_equal(pki_issue(PKI_SERVER, "host-c", "198.18.0.4", &theirs, &e), 0);
    assert_int_equal(pki_issue_days(PKI_SERVER, "host-c", "198.18.0.4", -2, &expired, &e), 0);
    assert_int_equal(pki_check(expired.cert, PKI_SERVER, "host-c", "198.18.0.4"), 0);
    pki_done();
    char other[80], *issuer = NULL;
    snprintf(other, sizeof(other), "%s-other", dir);
    mkdir(other, 0700);
    assert_int_equal(pki_init(other, &e), 0); /* this kimchid: another CA */
    /* a bundle holding the other kimchid's CA beside ours */
    size_t n = strlen(their_ca) + strlen(pki_ca_pem()) + 1;
    char *bundle = malloc(n);
    snprintf(bundle, n, "%s%s", pki_ca_pem(), their_ca);
    assert_int_equal(pki_judge(theirs.cert, bundle, PKI_SERVER, "host-c", "198.18.0.4", &issuer),
                     1);
    assert_non_null(issuer);
    assert_string_equal(issuer, their_ca);
    free(issuer);
    /* stale for what it must name now: renewed (ours replaces it) */
    assert_int_equal(pki_judge(theirs.cert, bundle, PKI_SERVER, "host-d", "198.18.0.4", &issuer),
                     0);
    assert_null(issuer);
    /* expired: renewed */
    assert_int_equal(pki_judge(expired.cert, bundle, PKI_SERVER, "host-c", "198.18.0.4", &issuer),
                     0);
    /* without the other CA in the bundle, nobody's we know: never replaced */
    assert_int_equal(
        pki_judge(theirs.cert, pki_ca_pem(), PKI_SERVER, "host-c", "198.18.0.4", &issuer), -1);
    assert_int_equal(pki_judge(theirs.cert, NULL, PKI_SERVER, "host-c", "198.18.0.4", &issuer), -1);
    free(bundle);
    free(their_ca);
    pki_pair_clear(&theirs);
    pki_pair_clear(&expired);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", other);
    assert_int_equal(system(cmd), 0);
}

static void an_unreadable_ca_is_refused_with_what_to_do(void **state)
{
    (void)state;
    struct err e;
    char path[128];
    assert_int_equal(pki_init(dir, &e), 0);
    pki_done();
    snprintf(path, sizeof(path), "%s/pki/ca-cert.pem", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("garbage\n", f);
    fclose(f);
    assert_int_equal(pki_init(dir, &e), -1);
    assert_string_equal(e.id, "KCHMIGR0043E");
    assert_non_null(strstr(e.msg, "Remove"));
}

/* QEMU reads these when it accepts a TLS migration; the group must be RFC 7919's ffdhe2048
 * (its prime begins 0xFFFFFFFFFFFFFFFF ADF85458A2BB4A9A: the base64 below). */
static void dh_params_are_the_published_ffdhe2048_group(void **state)
{
    (void)state;
    char *pem = pki_dh_pem();
    assert_non_null(pem);
    assert_non_null(strstr(pem,
                           "-----BEGIN DH PARAMETERS-----\n"
                           "MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz"));
    assert_non_null(strstr(pem, "-----END DH PARAMETERS-----"));
    gnutls_dh_params_t dh;
    assert_int_equal(gnutls_dh_params_init(&dh), 0);
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned int)strlen(pem)};
    assert_int_equal(gnutls_dh_params_import_pkcs3(dh, &d, GNUTLS_X509_FMT_PEM), 0);
    gnutls_datum_t prime, gen;
    unsigned int bits = 0;
    assert_int_equal(gnutls_dh_params_export_raw(dh, &prime, &gen, &bits), 0);
    assert_int_equal(prime.size, 256); /* 2048 bits */
    assert_int_equal(gen.size, 1);
    assert_int_equal(gen.data[0], 2);
    gnutls_free(prime.data);
    gnutls_free(gen.data);
    gnutls_dh_params_deinit(dh);
    free(pem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ca_is_created_once_and_kept_private, setup, teardown),
        cmocka_unit_test_setup_teardown(issued_certificates_are_recognised_for_what_they_name,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            another_kimchids_certificate_is_kept_and_an_expired_one_renewed, setup, teardown),
        cmocka_unit_test_setup_teardown(an_unreadable_ca_is_refused_with_what_to_do, setup,
                                        teardown),
        cmocka_unit_test(dh_params_are_the_published_ffdhe2048_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
