/* test_auth.c - logins under attack: parallel guesses, a full failure table, IPv6 /64
 * addresses, sessions per user. PAM runs for real, with services written for the test
 * (root is needed to write /etc/pam.d; make check runs as root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "auth/auth.h"

#define DENY "kimchid-unit-deny"          /* every password is wrong, at once */
#define SLOW_DENY "kimchid-unit-slowdeny" /* wrong after 50 ms, each PAM run counted */
#define PERMIT "kimchid-unit-permit"      /* every password is right */
#define SWITCH "kimchid-unit-switch"      /* permits or refuses every password (pam_permits) */
#define COUNTER "/tmp/kimchid-unit-pam.count"
#define HOOK "/tmp/kimchid-unit-pam.sh"
#define PASSWORD "kimchid-unit-pw" /* pam_unix: USER's password is "right" */
#define USER "kimchid-unit-pw"

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static int setup_pam(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "test_auth needs root (it writes PAM services to /etc/pam.d)\n");
        return -1;
    }
    write_file("/etc/pam.d/" DENY, "auth requisite pam_deny.so\naccount required pam_permit.so\n",
               0644);
    write_file(HOOK, "#!/bin/sh\necho x >>" COUNTER "\nsleep 0.05\nexit 0\n", 0755);
    write_file("/etc/pam.d/" SLOW_DENY,
               "auth required pam_exec.so quiet " HOOK "\nauth requisite pam_deny.so\n"
               "account required pam_permit.so\n",
               0644);
    /* a real account with a known password, checked by pam_unix as for any login */
    /* its hash is yescrypt, Debian 12's default: slow enough that logins overlap */
    if (system("(id " USER " >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin " USER
               ") && echo " USER ":right | chpasswd -c YESCRYPT") != 0)
        return -1;
    write_file("/etc/pam.d/" PASSWORD, "auth required pam_unix.so\naccount required pam_unix.so\n",
               0644);
    write_file("/etc/pam.d/" PERMIT,
               "auth required pam_permit.so\naccount required pam_permit.so\n", 0644);
    return 0;
}

static int teardown_pam(void **state)
{
    (void)state;
    unlink("/etc/pam.d/" DENY);
    unlink("/etc/pam.d/" SLOW_DENY);
    unlink("/etc/pam.d/" PERMIT);
    unlink("/etc/pam.d/" SWITCH);
    unlink("/etc/pam.d/" PASSWORD);
    if (system("userdel " USER " >/dev/null 2>&1") != 0)
        fprintf(stderr, "could not remove the test account " USER "\n");
    unlink(HOOK);
    unlink(COUNTER);
    return 0;
}

static time_t fake_now = 1800000000;
static time_t fake_clock(void)
{
    return fake_now;
}

static struct auth *new_auth(const char *service, long window)
{
    struct auth_config c = {.pam_service = service,
                            .admin_group = "sudo",
                            .idle_seconds = 600,
                            .lifetime_seconds = 3600,
                            .lockout_seconds = 60,
                            .max_failures = 3,
                            .failure_window_seconds = window,
                            .failure_floor_ms = 0,
                            .clock = fake_clock};
    struct err e;
    struct auth *a = auth_new(&c, &e);
    assert_non_null(a);
    return a;
}

/* 0 ok, else the error code */
static int try_login(struct auth *a, const char *user, const char *addr, char *token)
{
    struct auth_identity id;
    struct err e;
    long retry = 0;
    return auth_login(a, user, "guess", addr, token, &id, &retry, &e) == 0 ? 0 : (int)e.code;
}

struct guesser {
    struct auth *a;
    int code;
};

static void *guess(void *p)
{
    struct guesser *g = p;
    g->code = try_login(g->a, "root", "198.51.100.7", NULL);
    return NULL;
}

static int pam_runs(void)
{
    FILE *f = fopen(COUNTER, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

/* 3 failures lock: of 24 guesses sent at once, no more than 3 may reach PAM. */
static void parallel_guesses_reach_pam_at_most_the_limit(void **state)
{
    (void)state;
    unlink(COUNTER);
    struct auth *a = new_auth(SLOW_DENY, 30);
    struct guesser g[24];
    pthread_t th[24];
    for (int i = 0; i < 24; i++) {
        g[i] = (struct guesser){a, 0};
        assert_int_equal(pthread_create(&th[i], NULL, guess, &g[i]), 0);
    }
    int refused = 0, wrong = 0;
    for (int i = 0; i < 24; i++) {
        pthread_join(th[i], NULL);
        refused += g[i].code == ERR_BUSY;
        wrong += g[i].code == ERR_AUTH;
    }
    assert_true(pam_runs() <= 3);
    assert_int_equal(wrong, pam_runs());
    assert_int_equal(refused + wrong, 24);
    auth_free(a);
}

/* Thousands of failures from fresh addresses fill the table: while it is full of failures that
 * still count, logins are refused (429), never let through unchecked; once they age out of
 * the window, the table takes new keys again. */
static void a_full_failure_table_fails_closed_then_recovers(void **state)
{
    (void)state;
    struct auth *a = new_auth(DENY, 30);
    char user[32], addr[32];
    for (int i = 0; i < 2048; i++) { /* two keys each: the user and the address */
        snprintf(user, sizeof(user), "nosuch%d", i);
        snprintf(addr, sizeof(addr), "10.%d.%d.1", i / 256, i % 256);
        assert_int_equal(try_login(a, user, addr, NULL), ERR_AUTH);
    }
    struct auth_identity id;
    struct err e;
    long retry = 0;
    assert_int_equal(auth_login(a, "root", "guess", "192.0.2.1", NULL, &id, &retry, &e), -1);
    assert_int_equal(e.code, ERR_BUSY);
    assert_non_null(strstr(e.msg, "KCHAUTH0010E"));
    assert_true(retry > 0);
    fake_now += 31; /* the window passes: those failures no longer count */
    assert_int_equal(try_login(a, "root", "192.0.2.1", NULL), ERR_AUTH);
    auth_free(a);
}

/* An IPv6 attacker rotating addresses inside one /64 counts as one address. */
static void ipv6_addresses_count_by_their_64(void **state)
{
    (void)state;
    struct auth *a = new_auth(DENY, 30);
    assert_int_equal(try_login(a, "u1", "2001:db8:1:2::1", NULL), ERR_AUTH);
    assert_int_equal(try_login(a, "u2", "2001:db8:1:2::2", NULL), ERR_AUTH);
    assert_int_equal(try_login(a, "u3", "2001:db8:1:2:ffff::3", NULL), ERR_AUTH);
    assert_int_equal(try_login(a, "u4", "2001:db8:1:2::4", NULL), ERR_BUSY);
    assert_int_equal(try_login(a, "u5", "2001:db8:1:3::1", NULL), ERR_AUTH); /* another /64 */
    auth_free(a);
}

/* Logging in again and again ends only one's own oldest sessions, never someone else's. */
static void sessions_are_capped_per_user_and_never_taken_from_others(void **state)
{
    (void)state;
    struct auth *a = new_auth(PERMIT, 30);
    char other[AUTH_TOKEN_LEN + 1], first[AUTH_TOKEN_LEN + 1], last[AUTH_TOKEN_LEN + 1];
    assert_int_equal(try_login(a, "nobody", "192.0.2.9", other), 0);
    assert_int_equal(try_login(a, "root", "192.0.2.10", first), 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(try_login(a, "root", "192.0.2.10", last), 0);
    struct auth_identity id;
    struct err e;
    assert_int_equal(auth_session(a, other, false, &id, &e), 0);
    assert_string_equal(id.user, "nobody");
    assert_int_equal(auth_session(a, last, false, &id, &e), 0);
    assert_int_equal(auth_session(a, first, false, &id, &e), -1);
    auth_free(a);
}

static int login_pw(struct auth *a, const char *user, const char *password, const char *addr,
                    long *retry)
{
    struct auth_identity id;
    struct err e;
    *retry = 0;
    return auth_login(a, user, password, addr, NULL, &id, retry, &e) == 0 ? 0 : (int)e.code;
}

/* A stranger's failed logins for a user close it to new places, not to the places it logs
 * in from: there the right password still works (and the address's own count still holds). */
static void a_stranger_cannot_lock_a_user_out_of_its_known_places(void **state)
{
    (void)state;
    struct auth *a = new_auth(PASSWORD, 30);
    long retry;
    assert_int_equal(login_pw(a, USER, "right", "192.0.2.50", &retry), 0); /* its desk */
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_pw(a, USER, "wrong", i == 0 ? "203.0.113.1" : "203.0.113.2", &retry),
                         ERR_AUTH);
    assert_int_equal(login_pw(a, USER, "right", "198.51.100.3", &retry), ERR_BUSY);
    assert_int_equal(retry, 60);                                           /* a new place waits */
    assert_int_equal(login_pw(a, USER, "right", "192.0.2.50", &retry), 0); /* it does not */
    for (int i = 0; i < 3; i++) /* ...but its address's own count holds */
        assert_int_equal(login_pw(a, USER, "wrong", "192.0.2.50", &retry), ERR_AUTH);
    assert_int_equal(login_pw(a, USER, "right", "192.0.2.50", &retry), ERR_BUSY);
    fake_now += AUTH_KNOWN_SECONDS + 61; /* a place not used for 30 days is new again */
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_pw(a, USER, "wrong", "203.0.113.3", &retry), ERR_AUTH);
    assert_int_equal(login_pw(a, USER, "right", "192.0.2.51", &retry), ERR_BUSY);
    assert_int_equal(retry, 60); /* an hour after the last lockout, the doubling starts over */
    auth_free(a);
}

struct logger {
    struct auth *a;
    char addr[32];
    int code;
};

static void *log_in_right(void *p)
{
    struct logger *l = p;
    long retry;
    l->code = login_pw(l->a, USER, "right", l->addr, &retry);
    return NULL;
}

/* The account's hash as /etc/shadow has it, its first 3 characters. */
static void hash_kind(char *out, size_t len)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "getent shadow %s | cut -d: -f2 | cut -c1-3", USER);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    out[0] = 0;
    if (!fgets(out, (int)len, p))
        out[0] = 0;
    pclose(p);
    out[strcspn(out, "\n")] = 0;
}

/* 12 correct logins at once, each from a new place (a script's parallel Basic requests, or
 * colleagues logging in together): all get in. Only failed attempts count, so attempts still
 * waiting for PAM's answer lock nobody out. */
static void parallel_correct_logins_all_get_in(void **state)
{
    (void)state;
    char kind[8];
    hash_kind(kind, sizeof(kind));
    assert_string_equal(kind, "$y$");
    struct auth *a = new_auth(PASSWORD, 30);
    struct logger l[12];
    pthread_t th[12];
    for (int i = 0; i < 12; i++) {
        l[i] = (struct logger){.a = a};
        snprintf(l[i].addr, sizeof(l[i].addr), "192.0.2.%d", 100 + i);
        assert_int_equal(pthread_create(&th[i], NULL, log_in_right, &l[i]), 0);
    }
    int in = 0;
    for (int i = 0; i < 12; i++) {
        pthread_join(th[i], NULL);
        in += l[i].code == 0;
    }
    assert_int_equal(in, 12);
    auth_free(a);
}

/* Each lockout in a row lasts twice the one before (60, 120, 240 s); a success ends the run. */
static void lockouts_in_a_row_grow(void **state)
{
    (void)state;
    struct auth *a = new_auth(PASSWORD, 30);
    long retry, want = 60;
    for (int round = 0; round < 3; round++, want *= 2) {
        for (int i = 0; i < 3; i++)
            assert_int_equal(login_pw(a, USER, "wrong", "203.0.113.9", &retry), ERR_AUTH);
        assert_int_equal(login_pw(a, USER, "right", "203.0.113.9", &retry), ERR_BUSY);
        assert_int_equal(retry, want);
        fake_now += want;
    }
    assert_int_equal(login_pw(a, USER, "right", "203.0.113.9", &retry), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_pw(a, "u8", "wrong", "203.0.113.9", &retry), ERR_AUTH);
    assert_int_equal(login_pw(a, "u8", "right", "203.0.113.10", &retry), ERR_BUSY);
    assert_int_equal(retry, 60); /* u8 starts at the first step; so did the address: */
    fake_now += 61;
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_pw(a, "u7", "wrong", "203.0.113.9", &retry), ERR_AUTH);
    assert_int_equal(login_pw(a, "u7", "right", "203.0.113.11", &retry), ERR_BUSY);
    assert_int_equal(login_pw(a, "u6", "right", "203.0.113.9", &retry), ERR_BUSY);
    assert_int_equal(retry, 120); /* the address's second lockout since its success... */
    auth_free(a);
}

static int basic(struct auth *a, const char *password, bool changing)
{
    struct auth_identity id;
    struct err e;
    long retry = 0;
    int rc = auth_basic(a, USER, password, "192.0.2.9", changing, &id, &retry, &e);
    return rc == 0 ? 0 : (int)e.code;
}

/* The switch service: PAM permits every password, or refuses every one. */
static void pam_permits(bool yes)
{
    write_file("/etc/pam.d/" SWITCH,
               yes ? "auth required pam_permit.so\naccount required pam_permit.so\n"
                   : "auth requisite pam_deny.so\naccount required pam_permit.so\n",
               0644);
}

/* Basic credentials PAM accepted are accepted again without PAM (PAM then refuses everyone;
 * the account is read instead, for a change and once the re-read interval passed), until the
 * session lifetime; another password goes to PAM; the 33rd remembered pushes out the least
 * recently accepted. (Not counted with pam_exec: under ThreadSanitizer its fork fails.) */
static void basic_credentials_reach_pam_once(void **state)
{
    (void)state;
    pam_permits(true);
    struct auth *a = new_auth(SWITCH, 30);
    assert_int_equal(basic(a, "one", true), 0);
    pam_permits(false);
    for (int i = 0; i < 10; i++)
        assert_int_equal(basic(a, "one", i % 3 == 0), 0);
    fake_now += AUTH_RECHECK_SECONDS; /* the account is read again: no PAM */
    assert_int_equal(basic(a, "one", false), 0);
    assert_int_equal(basic(a, "two", false), ERR_AUTH); /* another password: PAM refuses */
    fake_now += 3600 - AUTH_RECHECK_SECONDS; /* the lifetime (3600 s) since PAM accepted it */
    assert_int_equal(basic(a, "one", false), ERR_AUTH);
    pam_permits(true);
    char pw[16];
    for (int i = 0; i <= AUTH_BASIC_KEPT; i++) {
        snprintf(pw, sizeof(pw), "p%d", i);
        assert_int_equal(basic(a, pw, false), 0);
    }
    pam_permits(false);
    assert_int_equal(basic(a, "p32", false), 0);       /* the newest: remembered */
    assert_int_equal(basic(a, "p1", false), 0);        /* ...and the oldest kept */
    assert_int_equal(basic(a, "p0", false), ERR_AUTH); /* pushed out: PAM, which refuses */
    auth_free(a);
}

/* A wrong password is never accepted from memory, and counts as a failure. */
static void basic_wrong_password_goes_to_pam(void **state)
{
    (void)state;
    struct auth *a = new_auth(PASSWORD, 30);
    assert_int_equal(basic(a, "right", false), 0);
    assert_int_equal(basic(a, "wrong", false), ERR_AUTH);
    assert_int_equal(basic(a, "right", true), 0);
    auth_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parallel_guesses_reach_pam_at_most_the_limit),
        cmocka_unit_test(a_full_failure_table_fails_closed_then_recovers),
        cmocka_unit_test(ipv6_addresses_count_by_their_64),
        cmocka_unit_test(sessions_are_capped_per_user_and_never_taken_from_others),
        cmocka_unit_test(a_stranger_cannot_lock_a_user_out_of_its_known_places),
        cmocka_unit_test(lockouts_in_a_row_grow),
        cmocka_unit_test(parallel_correct_logins_all_get_in),
        cmocka_unit_test(basic_credentials_reach_pam_once),
        cmocka_unit_test(basic_wrong_password_goes_to_pam),
    };
    return cmocka_run_group_tests(tests, setup_pam, teardown_pam);
}
