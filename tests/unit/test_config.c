/* test_config.c - option parsing, the config file, loopback checks, static path safety. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "http/http.h"
#include "http/http_priv.h"
#include "util/net.h"

static int parse(struct config *c, struct err *e, int argc, char **argv)
{
    return config_parse(argc, argv, c, e);
}

static void config_defaults_and_overrides(void **state)
{
    (void)state;
    struct config c;
    struct err e;
    char *a1[] = {"kimchid", NULL};
    assert_int_equal(parse(&c, &e, 1, a1), 0);
    assert_string_equal(c.addr, "0.0.0.0");
    assert_int_equal(c.port, 8001);
    assert_string_equal(c.uri, "qemu:///system");
    assert_string_equal(c.state_dir, "/var/lib/kimchid");
    config_free(&c);
    char *a2[] = {"kimchid", "--listen",  "[::1]:9000", "-u", "test:///default",
                  "--http",  "--workers", "2",          NULL};
    assert_int_equal(parse(&c, &e, 8, a2), 0);
    assert_string_equal(c.addr, "::1");
    assert_int_equal(c.port, 9000);
    assert_string_equal(c.uri, "test:///default");
    assert_true(c.http);
    assert_false(c.known_hosts_strict); /* first contact records the key unless asked */
    assert_int_equal(c.workers, 2);
    assert_int_equal(c.stall_timeout, 60);
    assert_int_equal(c.converge_timeout, 300);
    assert_int_equal(c.completion_timeout, 150);
    assert_int_equal(c.account_recheck, 60);
    config_free(&c);
    char *a3[] = {"kimchid", "--stall-timeout",   "15", "--converge-timeout",
                  "0",       "--account-recheck", "5",  "--known-hosts-strict",
                  NULL};
    assert_int_equal(parse(&c, &e, 8, a3), 0);
    assert_true(c.known_hosts_strict);
    assert_int_equal(c.stall_timeout, 15);
    assert_int_equal(c.converge_timeout, 0);
    assert_int_equal(c.account_recheck, 5);
    config_free(&c);
    char *a9[] = {"kimchid", "--completion-timeout", "0", NULL};
    assert_int_equal(parse(&c, &e, 3, a9), 0);
    assert_int_equal(c.completion_timeout, 0);
    config_free(&c);
    char *a10[] = {"kimchid", "--completion-timeout", "3601", NULL};
    assert_int_equal(parse(&c, &e, 3, a10), -1);
    config_free(&c);
    char *a8[] = {"kimchid", "--settle-interval", "2", "--ssh-connect-timeout", "6", NULL};
    assert_int_equal(parse(&c, &e, 5, a8), 0);
    assert_int_equal(c.timers.settle_every_s, 2);
    assert_int_equal(c.timers.ssh_connect_s, 6);
    assert_int_equal(c.timers.settle_s, 30); /* the others keep their defaults */
    assert_int_equal(c.timers.open_s, 20);
    assert_int_equal(c.timers.recover_s, 600);
    config_free(&c);
    assert_int_equal(parse(&c, &e, 1, a1), 0);
    assert_true(c.audit_max == 64LL << 20); /* the audit trail's default bound */
    config_free(&c);
    char *sizes[][2] = {
        {"64K", "65536"}, {"2m", "2097152"}, {"1G", "1073741824"}, {"0", "0"}, {"70000", "70000"}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *a4[] = {"kimchid", "--audit-max", sizes[i][0], NULL};
        assert_int_equal(parse(&c, &e, 3, a4), 0);
        assert_true(c.audit_max == atoll(sizes[i][1]));
        config_free(&c);
    }
}

static void config_rejects_bad_values_with_a_message(void **state)
{
    (void)state;
    struct config c;
    struct err e;
    char *a1[] = {"kimchid", "--listen", "8001", NULL};
    assert_int_equal(parse(&c, &e, 3, a1), -1);
    assert_non_null(strstr(e.msg, "ADDR:PORT"));
    config_free(&c);
    char *a2[] = {"kimchid", "--workers", "0", NULL};
    assert_int_equal(parse(&c, &e, 3, a2), -1);
    config_free(&c);
    char *a4[] = {"kimchid", "--stall-timeout", "2", NULL};
    assert_int_equal(parse(&c, &e, 3, a4), -1);
    assert_non_null(strstr(e.msg, "stall-timeout"));
    config_free(&c);
    char *a9[] = {"kimchid", "--knock-timeout", "61", NULL};
    assert_int_equal(parse(&c, &e, 3, a9), -1);
    assert_non_null(strstr(e.msg, "--knock-timeout takes a number from 1 to 60"));
    config_free(&c);
    char *a7[] = {"kimchid", "--account-recheck", "0", NULL};
    assert_int_equal(parse(&c, &e, 3, a7), -1);
    assert_non_null(strstr(e.msg, "account-recheck"));
    config_free(&c);
    char *a5[] = {"kimchid", "--converge-timeout", "-1", NULL};
    assert_int_equal(parse(&c, &e, 3, a5), -1);
    assert_non_null(strstr(e.msg, "converge-timeout"));
    config_free(&c);
    const char *bad_sizes[] = {"1000", "63K", "12kb", "K", "-1", "2000G", ""};
    for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
        char *a6[] = {"kimchid", "--audit-max", (char *)bad_sizes[i], NULL};
        assert_int_equal(parse(&c, &e, 3, a6), -1);
        assert_non_null(strstr(e.msg, "--audit-max takes a size in bytes"));
        config_free(&c);
    }
    char *a3[] = {"kimchid", "--bogus", NULL};
    assert_int_equal(parse(&c, &e, 2, a3), -1);
    assert_non_null(strstr(e.msg, "--bogus"));
    config_free(&c);
}

static void config_file_is_read_and_the_command_line_wins(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/kimchid-conf-%d", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("# comment\nlisten = 127.0.0.1:8111\nuri = test:///default\nlog-level = debug\n", f);
    fclose(f);
    struct config c;
    struct err e;
    char *a[] = {"kimchid", "-c", path, "--uri", "qemu:///session", NULL};
    assert_int_equal(parse(&c, &e, 5, a), 0);
    assert_int_equal(c.port, 8111);
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_string_equal(c.uri, "qemu:///session");
    config_free(&c);
    f = fopen(path, "w");
    fputs("colour = blue\n", f);
    fclose(f);
    char *b[] = {"kimchid", "-c", path, NULL};
    assert_int_equal(parse(&c, &e, 3, b), -1);
    assert_non_null(strstr(e.msg, "colour"));
    config_free(&c);
    unlink(path);
}

static void loopback_addresses_are_recognised(void **state)
{
    (void)state;
    assert_true(net_addr_is_loopback("127.0.0.1"));
    assert_true(net_addr_is_loopback("127.8.9.1"));
    assert_true(net_addr_is_loopback("::1"));
    assert_false(net_addr_is_loopback("0.0.0.0"));
    assert_false(net_addr_is_loopback("198.18.0.1"));
    assert_false(net_addr_is_loopback("localhost"));
    assert_true(net_addr_is_loopback("::ffff:127.0.0.1")); /* one check: the HTTP listener's too */
    assert_false(net_addr_is_loopback("::ffff:198.18.0.1"));
}

static void static_paths_cannot_leave_the_ui_dir(void **state)
{
    (void)state;
    char dir[64], file[128], link[128];
    snprintf(dir, sizeof(dir), "/tmp/kimchid-ui-%d", (int)getpid());
    mkdir(dir, 0755);
    snprintf(file, sizeof(file), "%s/index.html", dir);
    fclose(fopen(file, "w"));
    snprintf(link, sizeof(link), "%s/passwd", dir);
    symlink("/etc/passwd", link);
    char *p = http_static_resolve(dir, "/");
    assert_non_null(p);
    assert_non_null(strstr(p, "index.html"));
    free(p);
    assert_null(http_static_resolve(dir, "/../../etc/passwd"));
    assert_null(http_static_resolve(dir, "/./index.html"));
    assert_null(http_static_resolve(dir, "/passwd")); /* symlink out */
    assert_null(http_static_resolve(dir, "/missing.js"));
    unlink(link);
    unlink(file);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_defaults_and_overrides),
        cmocka_unit_test(config_rejects_bad_values_with_a_message),
        cmocka_unit_test(config_file_is_read_and_the_command_line_wins),
        cmocka_unit_test(loopback_addresses_are_recognised),
        cmocka_unit_test(static_paths_cannot_leave_the_ui_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
